"""Synthetic days in Bybit's exact history-file formats, for tests and benchmarks.

:func:`write_bybit_day` writes ``YYYY-MM-DD_SYMBOL_ob500.data.zip`` (one ``orderbook.500``
message a line, a snapshot first, then deltas every 100 ms) and ``SYMBOLYYYY-MM-DD.csv.gz``
(Bybit's trade columns, with the header) from a seeded random walk of a BTCUSDT-like book whose
depth wanders between 5 and 25 levels a side (every tick near the touch, sparser further out).
Prints take liquidity as real ones do: a print at the best ask consumes what it takes of it, a
larger one walks the levels (one trade row per level, at that level's price), and the book's next
message shows the levels taken; now and then a burst of sweeps (an aggressive order taking most
of a side, message after message) moves the price fast. The lower-level writers take messages
and trade rows as given, so a test can write exactly the lines it needs (a gap, a corrupt line...).
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


#: Chance, per 100 ms book message, that a burst of sweeps starts, and its length in messages.
_BURST_P = 1 / 300
_BURST_MESSAGES = (2, 6)
#: Chance that a print outside a burst is a large one (it walks a level or two).
_LARGE_P = 0.1


#: Levels a side on every tick from the touch; beyond them, levels sit on every ``_ROUND``-th tick.
_DENSE = 10
_ROUND = 10


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
        out = {top + step * i for i in range(min(depth[side], _DENSE))}
        edge = top + step * (_DENSE - 1)
        # Further out, resting size gathers on round prices (anchored to the grid, not the touch).
        first = (edge // _ROUND + 1) * _ROUND if step > 0 else ((edge - 1) // _ROUND) * _ROUND
        out.update(first + step * _ROUND * i for i in range(depth[side] - _DENSE))
        return out

    for s in (0, 1):
        sides[s] = {p: size() for p in wanted(s)}
    u, seq, ts = 1, 10_000_000, t0 + 100
    lines = [book_line(symbol, "snapshot", ts,
                       [(price(p), f"{sides[0][p]:.3f}") for p in sorted(sides[0], reverse=True)],
                       [(price(p), f"{sides[1][p]:.3f}") for p in sorted(sides[1])], u, seq)]
    events = 1 + len(sides[0]) + len(sides[1])
    trades: list[TradeRow] = []
    burst, burst_buy = 0, True

    def take(buy: bool, qty: float, t: int, changes: list[dict[int, float]]) -> int:
        """A print of ``qty`` taking the opposite side from its best level on: a trade row per level
        it reaches; returns the rows written. The touch moves past what it emptied."""
        nonlocal best_bid
        s = 1 if buy else 0
        book = sides[s]
        stamp = f"{t // 1000}.{(t % 1000) * 10 + rng.randrange(10):04d}"
        rows = 0
        for p in sorted(book, reverse=not buy):
            if qty <= 0.0005:
                break
            got = min(qty, book[p])
            qty = round(qty - got, 3)
            trades.append((stamp, "Buy" if buy else "Sell", f"{got:.3f}", price(p)))
            rows += 1
            left = round(book[p] - got, 3)
            if left > 0:
                book[p] = changes[s][p] = left
            else:
                del book[p]
                changes[s][p] = 0.0
        # The emptied levels are gone: the touch is the first level left (a 1-tick spread again).
        if book:
            best_bid = min(book) - 1 if buy else max(book)
        return rows

    while events < n_events:
        ts += 100
        seq += rng.randint(1, 49)
        changes: list[dict[int, float]] = [{}, {}]
        # Trades in the last 100 ms (about one message in two has some).
        for _ in range(_poisson(rng, 0.6)):
            buy = rng.random() < 0.5
            large = rng.random() < _LARGE_P
            qty = round((rng.expovariate(1 / 2.0) if large else rng.expovariate(20)) + 0.001, 3)
            events += take(buy, qty, ts - 100 + rng.randrange(100), changes)
        if burst == 0 and rng.random() < _BURST_P:
            burst, burst_buy = rng.randint(*_BURST_MESSAGES), rng.random() < 0.5
        if burst:
            # An aggressive order sweeping half to all of the side's visible size.
            burst -= 1
            side_size = sum(sides[1 if burst_buy else 0].values())
            events += take(burst_buy, round(side_size * rng.uniform(0.5, 1.0), 3), ts - 1, changes)
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
