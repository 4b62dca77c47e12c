"""Long runs cost the same per call and keep a flat memory (issue 12, "cost flat as runs grow"):
reads are indexed rather than scans, and what the sim keeps is bounded."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bybit_mm.domain.orders import Side
from bybit_mm.sim import exchange as sim_exchange
from bybit_mm.sim.executions import ExecutionLog
from bybit_mm.sim.market import _DAY, MarketParams, SyntheticMarket
from bybit_mm.sim.models import Execution
from tests.sim.conftest import DAY0, make_exchange
from tests.sim.test_sim_market import BTC

ZERO = Decimal(0)


def _scan_stats(m: SyntheticMarket) -> tuple:
    """The 24h stats by a plain scan of every candle (the definition)."""
    rows = [c for c in m.minute_candles() if c[0] >= m.ts_ms - _DAY] or [m.minute_candles()[-1]]
    return (max(c[2] for c in rows) * m.tick, min(c[3] for c in rows) * m.tick, rows[0][1] * m.tick,
            sum(c[5] for c in rows) * m.qty_step, sum(c[6] for c in rows) * m.tick * m.qty_step)


def test_24h_stats_match_a_full_scan_over_days_and_a_rebase() -> None:
    mp = MarketParams(history_minutes=5, step_ms=1000)  # coarse steps: days of market in a second
    sparse = replace(mp.for_symbol("BTCUSDT", BTC), trades_per_second=0.05)
    m = SyntheticMarket(BTC, sparse, seed=5, start_ms=DAY0, market_params=mp)
    rng = random.Random(1)
    t = m.ts_ms
    for i in range(800):
        t += rng.choice([1_000, 37_000, 600_000])
        m.step_until(t, None)
        assert m.stats_24h() == _scan_stats(m), i
        if i == 400:
            m.rebase(50_000.0)
            assert m.stats_24h() == _scan_stats(m)
    assert m.ts_ms - DAY0 > 2 * _DAY  # the window moved past whole days


def _ex(i: int, ts: int, symbol: str = "BTCUSDT", order: str = "") -> Execution:
    return Execution(f"e{i}", order or f"o{i % 7}", "", symbol, Side.BUY, Decimal(100), Decimal(1), ZERO, ZERO,
                     True, ts, "Trade", ZERO)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-3_000, 10_000), st.sampled_from(["BTCUSDT", "ETHUSDT"])), max_size=120),
       st.integers(1, 50), st.integers(0, 12_000), st.integers(1, 200))
def test_execution_log_reads_equal_a_plain_filter(rows, maxlen, start, limit) -> None:
    """Times that go back a little (a fed print older than the last fill) are still found."""
    log = ExecutionLog(maxlen)
    kept: list[Execution] = []
    ts = 0
    for i, (step, symbol) in enumerate(rows):
        ts = max(0, ts + step)
        ex = _ex(i, ts, symbol)
        log.append(ex)
        kept = (kept + [ex])[-maxlen:]
    assert list(log) == kept
    for symbol in (None, "ETHUSDT"):
        want = [e for e in reversed(kept) if (symbol is None or e.symbol == symbol) and e.ts_ms >= start][:limit]
        assert log.newest_first(symbol, limit, start_ms=start) == want
    assert log.since_seq(log.next_seq - 3) == kept[-3:] if len(kept) >= 3 else True
    assert log.of_order("o1") == [e for e in kept if e.order_id == "o1"]


def test_closed_orders_and_executions_are_bounded(monkeypatch) -> None:
    monkeypatch.setattr(sim_exchange, "_MAX_CLOSED_ORDERS", 20)
    monkeypatch.setattr(sim_exchange, "_MAX_EXECUTIONS", 15)
    ex = make_exchange()
    placed = []
    for i in range(60):
        o = ex.place_order(symbol="BTCUSDT", side=Side.BUY if i % 2 else Side.SELL, order_type="Market",
                           qty=Decimal("0.001"), order_link_id=f"m-{i}")
        placed.append(o.order_id)
        ex.run_until(ex.clock.now_ms() + 1000)
    assert len(ex.executions(limit=1_000_000)) == 15
    assert len(ex._orders) <= 20
    # the newest closed orders (what a client asks about right after) are still there, the oldest went
    assert ex.get_order(order_id=placed[-1]) is not None and ex.get_order(order_link_id="m-59") is not None
    assert ex.get_order(order_id=placed[0]) is None and ex.get_order(order_link_id="m-0") is None
    # executions since a time are found by the index: the last second's fill
    assert [e.order_id for e in ex.executions(start_ms=ex.executions(limit=1)[0].ts_ms)] == [placed[-1]]
