"""A small seeded BTCUSDT-like feed of event rows (bybit_mm.data.events) for backtest tests."""

from __future__ import annotations

import random

import numpy as np

from bybit_mm.data.events import ASK, BID, BOOK_CLEAR, EVENT_DTYPE, FLAG_LAST, FUNDING, MARK, TRADE_BUY, TRADE_SELL

TICK = 0.1
MS = 1_000_000


def make_feed(seconds: float = 600.0, *, seed: int = 3, start_ms: int = 1_767_225_600_000, step_ms: int = 100,
              sigma_ticks: float = 6.0, trades_per_s: float = 8.0, marks: bool = False,
              funding: tuple[float, int] | None = None) -> np.ndarray:
    """Book deltas every ``step_ms`` (a snapshot first), prints at or through the touch, and
    optionally MARK rows (the mid) and a FUNDING row (rate, next funding time in ms)."""
    rng = random.Random(seed)
    rows: list[tuple[int, int, int, int, float, float]] = []

    def add(kind: int, ts: int, px: float, qty: float, last: bool = False) -> None:
        rows.append((kind, FLAG_LAST if last else 0, ts * MS, ts * MS, px, qty))

    mid = 950_000.5  # in ticks
    bids: dict[int, float] = {}
    asks: dict[int, float] = {}
    t = start_ms
    add(BOOK_CLEAR, t, 0.0, 0.0)
    bb = int(mid)
    for i in range(25):
        bids[bb - i] = round(rng.uniform(0.001, 2.0), 3)
        asks[bb + 1 + i] = round(rng.uniform(0.001, 2.0), 3)
    items = [(BID, k, v) for k, v in bids.items()] + [(ASK, k, v) for k, v in asks.items()]
    for j, (kind, k, v) in enumerate(items):
        add(kind, t, k * TICK, v, j == len(items) - 1)
    if funding is not None:
        add(FUNDING, t, funding[0], funding[1] * MS, True)
    end = start_ms + int(seconds * 1000)
    while t < end:
        t += step_ms
        # prints since the last book update, at the touch or a few ticks through it
        n = np.random.default_rng(rng.randrange(1 << 30)).poisson(trades_per_s * step_ms / 1000)
        bb, ba = max(bids), min(asks)
        for j in range(n):
            buy = rng.random() < 0.5
            through = rng.choice((0, 0, 0, 1, 2, 5))
            px = (ba + through if buy else bb - through) * TICK
            add(TRADE_BUY if buy else TRADE_SELL, t - step_ms // 2 + j, px, round(rng.uniform(0.001, 1.5), 3), True)
        mid += rng.gauss(0.0, sigma_ticks)
        new_bb = int(mid)
        changes: list[tuple[int, int, float]] = []
        for k in [k for k in bids if k > new_bb]:
            del bids[k]
            changes.append((BID, k, 0.0))
        for k in [k for k in asks if k <= new_bb]:
            del asks[k]
            changes.append((ASK, k, 0.0))
        for _ in range(rng.randint(5, 25)):
            buy = rng.random() < 0.5
            k = (new_bb - rng.randint(0, 24)) if buy else (new_bb + 1 + rng.randint(0, 24))
            q = 0.0 if rng.random() < 0.15 and k not in (new_bb, new_bb + 1) else round(rng.uniform(0.001, 2.0), 3)
            (bids if buy else asks)[k] = q
            if q == 0.0:
                (bids if buy else asks).pop(k)
            changes.append((BID if buy else ASK, k, q))
        if new_bb not in bids:
            bids[new_bb] = 0.5
            changes.append((BID, new_bb, 0.5))
        if new_bb + 1 not in asks:
            asks[new_bb + 1] = 0.5
            changes.append((ASK, new_bb + 1, 0.5))
        for j, (kind, k, q) in enumerate(changes):
            add(kind, t, k * TICK, q, j == len(changes) - 1)
        if marks:
            add(MARK, t, round((max(bids) + min(asks)) / 2 * TICK, 2), 0.0, True)
    return np.array(rows, dtype=EVENT_DTYPE)
