"""The engine remembers booked execution ids in flat memory and never books one twice."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from bybit_mm.domain.orders import Side
from bybit_mm.engine.ledger import Ledger, SeenIds
from bybit_mm.exchange.port import Execution

HOUR = 3_600_000


def _fill(i: int, ts: int) -> Execution:
    return Execution(f"x{i}", "o", "mm-1", "BTCUSDT", Side.BUY if i % 2 else Side.SELL, Decimal(100),
                     Decimal("0.001"), Decimal("0.00002"), True, ts)


def test_ids_are_forgotten_behind_the_window_and_older_executions_count_as_booked() -> None:
    seen = SeenIds(window_ms=HOUR)
    for i in range(10_000):
        seen.add(f"x{i}", i * 1000)  # a fill a second for ~2.8 h
    assert len(seen) <= HOUR // 1000 + 1  # only the last hour is remembered
    assert seen.floor_ms == 9_999_000 - HOUR - 1000  # the newest forgotten
    assert seen.booked("x0", 0) and seen.booked("new-but-ancient", seen.floor_ms)
    assert not seen.booked("new", seen.newest_ms)


def test_at_most_max_ids_are_remembered() -> None:
    seen = SeenIds(window_ms=HOUR, max_ids=100)
    for i in range(1_000):
        seen.add(f"x{i}", 5_000 + i)  # a burst: all inside the window
    assert len(seen) == 100 and seen.floor_ms == 5_000 + 899
    assert seen.booked("x0", 5_000) and seen.booked("x950", 5_950) and not seen.booked("y", 5_950)


def test_ledger_books_each_fill_once_whatever_reads_redeliver() -> None:
    """Fills redelivered (REST since a cursor, the stream, a resume) are booked once, and the set of
    ids stays bounded over a long run."""
    ledger = Ledger("BTCUSDT", Decimal(10_000))
    rng = random.Random(3)
    fills = [_fill(i, i * 2_000) for i in range(20_000)]  # 11 hours of fills
    booked = 0
    for i, ex in enumerate(fills):
        booked += ledger.apply(ex)
        # a reader asks again for what happened since a cursor a few seconds back
        for old in fills[max(0, i - rng.randint(0, 5)):i + 1]:
            assert not ledger.apply(old)
    assert booked == ledger.fills == len(fills)
    for ex in fills[:100]:  # a resume replaying the oldest fills again
        assert not ledger.apply(ex)
    assert ledger.fills == len(fills) and len(ledger.seen) <= HOUR // 2_000 + 1


def test_funding_ids_added_without_a_time_are_kept() -> None:
    ledger = Ledger("BTCUSDT", Decimal(10_000))
    ledger.apply(_fill(1, 5 * HOUR))
    ledger.seen |= {"funding-1"}
    funding = Execution("funding-1", "", "", "BTCUSDT", Side.BUY, Decimal(100), Decimal(1), Decimal("0.01"),
                        False, 5 * HOUR - 10, "funding")
    assert not ledger.apply(funding) and ledger.funding == 0


def _fresh_reference(trades: list, seen: set, order: Any, last_ts: int) -> list:
    """The engine's first dedup of a trades read: one trade at a time."""
    fresh = []
    for t in trades:
        if t.trade_id in seen or t.ts_ms < last_ts - 60_000:
            continue
        if len(order) == order.maxlen:
            seen.discard(order[0])
        order.append(t.trade_id)
        seen.add(t.trade_id)
        fresh.append(t)
    return fresh


def test_fresh_trades_are_the_one_at_a_time_dedups(config: Any) -> None:
    """Overlapping reads, duplicates within a read, late prints and forgotten ids (a small memory)."""
    from collections import deque

    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.exchange.port import PublicTrade
    from bybit_mm.sim.clock import WallClock

    rng = random.Random(11)
    trader = LiveTrader(object(), WallClock(1.0), config)  # type: ignore[arg-type]
    trader._seen_trades = deque(maxlen=30)
    seen: set[str] = set()
    order: deque[str] = deque(maxlen=30)
    last_ts = 0
    tape = [PublicTrade(f"t{i}", "BTCUSDT", i * 700 - rng.choice([0, 0, 0, 90_000]), Decimal(100), Decimal(1),
                        Side.BUY) for i in range(600)]
    for end in range(5, 600, 7):
        read = tape[max(0, end - rng.randint(1, 40)):end]
        read += rng.sample(read, min(len(read), rng.randint(0, 3)))  # a read may repeat prints
        if rng.random() < 0.1:
            read += tape[max(0, end - 80):end - 60]  # old ones again (some forgotten by now)
        expected = _fresh_reference(read, seen, order, last_ts)
        if expected:
            last_ts = max(last_ts, max(t.ts_ms for t in expected))
        assert trader._fresh_trades(read) == expected
        assert set(trader._seen_trades) == set(order) == trader._seen_trade_set == seen
