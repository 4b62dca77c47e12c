"""Synthetic days in Bybit's exact history-file formats, for tests and benchmarks.

:func:`write_bybit_day` writes ``YYYY-MM-DD_SYMBOL_ob500.data.zip`` (one ``orderbook.500``
message a line, a snapshot first, then deltas every 100 ms) and ``SYMBOLYYYY-MM-DD.csv.gz``
(Bybit's trade columns, with the header) from a seeded random walk of a BTCUSDT-like book whose
depth wanders between 5 and 25 levels a side. The lower-level writers take messages and trade
rows as given, so a test can write exactly the lines it needs (a gap, a corrupt line...).
"""

from __future__ import annotations

import gzip
import json
import math
import random
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date as Date
from datetime import datetime, timezone
from pathlib import Path

#: A trade row: (timestamp in seconds as text, side "Buy"/"Sell", size text, price text).
TradeRow = tuple[str, str, str, str]


def book_file_name(symbol: str, day: Date) -> str:
    """Bybit's order book file name: ``YYYY-MM-DD_SYMBOL_ob500.data.zip``."""
    return f"{day.isoformat()}_{symbol}_ob500.data.zip"


def trades_file_name(symbol: str, day: Date) -> str:
    """Bybit's trades file name: ``SYMBOLYYYY-MM-DD.csv.gz``."""
    return f"{symbol}{day.isoformat()}.csv.gz"


def book_line(symbol: str, kind: str, ts_ms: int, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]],
              u: int, seq: int, *, depth: int = 500) -> str:
    """One line of an ob500 file, keys in Bybit's order."""
    msg = {"topic": f"orderbook.{depth}.{symbol}", "ts": ts_ms, "type": kind,
           "data": {"s": symbol, "b": [list(x) for x in bids], "a": [list(x) for x in asks], "u": u, "seq": seq},
           "cts": ts_ms - 2}
    return json.dumps(msg, separators=(",", ":"))


def write_book_zip(path: Path, lines: Iterable[str]) -> Path:
    """An ob500 zip: one member ``<name without .zip>`` holding ``lines`` (deflated, as Bybit's)."""
    path = Path(path)
    member = path.name[:-len(".zip")] if path.name.endswith(".zip") else path.name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open(member, "w") as f:
            batch: list[str] = []
            for line in lines:
                batch.append(line)
                if len(batch) >= 4096:
                    f.write(("\n".join(batch) + "\n").encode())
                    batch = []
            if batch:
                f.write(("\n".join(batch) + "\n").encode())
    return path


def trade_csv_line(symbol: str, row: TradeRow, trade_id: str) -> str:
    """One line of a Bybit trades CSV (grossValue in 1e-8 quote units, as Bybit writes it)."""
    ts, side, size, price = row
    notional = float(size) * float(price)
    tick = "PlusTick" if side == "Buy" else "MinusTick"
    return f"{ts},{symbol},{side},{size},{price},{tick},{trade_id},{notional * 1e8:.0f},{size},{notional:.8g}"


def write_trades_gz(path: Path, symbol: str, rows: Iterable[TradeRow], *, header: bool = True, seed: int = 0) -> Path:
    """A Bybit trades ``.csv.gz`` from ``rows`` (with or without Bybit's header line)."""
    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1, newline="") as f:
        if header:
            f.write("timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional\n")
        batch: list[str] = []
        for row in rows:
            batch.append(trade_csv_line(symbol, row, str(uuid.UUID(int=rng.getrandbits(128), version=4))))
            if len(batch) >= 4096:
                f.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            f.write("\n".join(batch) + "\n")
    return Path(path)


def write_bybit_day(directory: Path, symbol: str = "BTCUSDT", day: Date | str = "2026-01-01",
                    n_events: int = 1_000_000, seed: int = 1, *, header: bool = True,
                    start_price: float = 60_000.0, tick: float = 0.1) -> tuple[Path, Path]:
    """Write one synthetic day (book zip, trades csv.gz) of about ``n_events`` event rows in
    total; return (book path, trades path). Deterministic in ``seed``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    d = day if isinstance(day, Date) else Date.fromisoformat(day)
    book_lines, trades = _simulate(symbol, d, n_events, seed, start_price, tick)
    book = write_book_zip(directory / book_file_name(symbol, d), book_lines)
    trade_path = write_trades_gz(directory / trades_file_name(symbol, d), symbol, trades, header=header, seed=seed)
    return book, trade_path


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw by inversion (small means only)."""
    k, p = 0, math.exp(-mean)
    cdf, u = p, rng.random()
    while u > cdf:
        k += 1
        p *= mean / k
        cdf += p
    return k


def _simulate(symbol: str, day: Date, n_events: int, seed: int, start_price: float, tick: float
              ) -> tuple[list[str], list[TradeRow]]:
    rng = random.Random(seed)
    t0 = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
    digits = max(0, -math.floor(math.log10(tick)))
    best_bid = round(start_price / tick)
    depth = [15, 15]  # levels a side
    sides: list[dict[int, float]] = [{}, {}]  # bid, ask: price in ticks -> size

    def price(ticks: int) -> str:
        return f"{ticks * tick:.{digits}f}"

    def size() -> float:
        return round(rng.expovariate(1 / 1.5) + 0.001, 3)

    def wanted(side: int) -> set[int]:
        top = best_bid if side == 0 else best_bid + 1
        step = -1 if side == 0 else 1
        return {top + step * i for i in range(depth[side])}

    for s in (0, 1):
        sides[s] = {p: size() for p in wanted(s)}
    u, seq, ts = 1, 10_000_000, t0 + 100
    lines = [book_line(symbol, "snapshot", ts,
                       [(price(p), f"{sides[0][p]:.3f}") for p in sorted(sides[0], reverse=True)],
                       [(price(p), f"{sides[1][p]:.3f}") for p in sorted(sides[1])], u, seq)]
    events = 1 + len(sides[0]) + len(sides[1])
    trades: list[TradeRow] = []
    while events < n_events:
        ts += 100
        seq += rng.randint(1, 49)
        # Trades in the last 100 ms (about one message in two has some).
        for _ in range(_poisson(rng, 0.6)):
            buy = rng.random() < 0.5
            t = ts - 100 + rng.randrange(100)
            trades.append((f"{t // 1000}.{(t % 1000) * 10 + rng.randrange(10):04d}", "Buy" if buy else "Sell",
                           f"{round(rng.expovariate(20) + 0.001, 3):.3f}",
                           price(best_bid + 1 if buy else best_bid)))
            events += 1
        changes: list[dict[int, float]] = [{}, {}]
        best_bid += rng.choice((-1, 0, 0, 0, 1))
        for s in (0, 1):
            depth[s] = min(25, max(5, depth[s] + rng.choice((-1, 0, 1))))
            want = wanted(s)
            for p in list(sides[s]):
                if p not in want:
                    del sides[s][p]
                    changes[s][p] = 0.0
            for p in want - sides[s].keys():
                sides[s][p] = changes[s][p] = size()
            for p in rng.sample(sorted(sides[s]), rng.randint(1, 3)):
                sides[s][p] = changes[s][p] = size()
        u += 1
        bids = [(price(p), f"{q:.3f}" if q else "0") for p, q in sorted(changes[0].items(), reverse=True)]
        asks = [(price(p), f"{q:.3f}" if q else "0") for p, q in sorted(changes[1].items())]
        lines.append(book_line(symbol, "delta", ts, bids, asks, u, seq))
        events += len(bids) + len(asks)
    trades.sort(key=lambda r: float(r[0]))
    return lines, trades
