"""The synthetic day's prints take liquidity from its book, as real trades do."""

from __future__ import annotations

import gzip
import json
import zipfile
from collections import defaultdict
from pathlib import Path

from bybit_mm.data.synthetic import write_bybit_day


def test_prints_take_the_levels_they_hit_and_larger_ones_walk_the_book(tmp_path: Path) -> None:
    book_path, trades_path = write_bybit_day(tmp_path, "BTCUSDT", "2026-01-01", n_events=60_000, seed=7)
    with zipfile.ZipFile(book_path) as z:
        messages = [json.loads(line) for line in z.read(z.namelist()[0]).decode().splitlines()]
    with gzip.open(trades_path, "rt") as f:
        rows = [line.split(",") for line in f.read().splitlines()[1:]]
    prints: dict[int, list[tuple[str, float, float]]] = defaultdict(list)  # message time -> prints before it
    for ts, _, side, size, price, *_ in rows:
        sec, frac = ts.split(".")
        t = int(sec) * 1000 + int(frac[:3])  # milliseconds (the fourth digit is below them)
        prints[t - t % 100 + 100].append((side, float(price), float(size)))
    book: dict[str, dict[float, float]] = {"b": {}, "a": {}}
    walks = taken_whole = 0
    for msg in messages:
        ts, data = msg["ts"], msg["data"]
        levels: dict[float, float] = defaultdict(float)
        for side, price, size in prints.get(ts, []):
            # A print hits a level of the book as last published, on the side it takes from.
            resting = book["a" if side == "Buy" else "b"]
            assert price in resting, (ts, side, price)
            levels[price] += size
        for key in ("a", "b"):
            for p, q in levels.items():
                if p in book[key] and abs(book[key][p] - q) < 1e-9:
                    taken_whole += 1
                    # a level taken whole is gone (or refilled) in this message
                    assert any(float(x[0]) == p for x in data[key]), (ts, p)
        stamps = defaultdict(set)
        for side, price, _ in prints.get(ts, []):
            stamps[side].add(price)
        walks += sum(1 for s in stamps.values() if len(s) > 1)
        if msg["type"] == "snapshot":
            book = {"b": {}, "a": {}}
        for key in ("b", "a"):
            for p, q in data[key]:
                if float(q) == 0:
                    book[key].pop(float(p), None)
                else:
                    book[key][float(p)] = float(q)
        assert max(book["b"]) < min(book["a"])
    assert walks > 20 and taken_whole > 20
