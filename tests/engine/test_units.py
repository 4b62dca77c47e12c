"""Pure parts of the engine: reconciliation planner, rate budget, order ids, risk guard, journal."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.orders import Side
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.journal import Journal
from bybit_mm.engine.ledger import Ledger, book_executions
from bybit_mm.engine.reconcile import OrderIds, RateBudget, Target, Working, plan_actions
from bybit_mm.engine.risk import AccountView, RiskGuard
from bybit_mm.engine.snapshot import pnl_split
from bybit_mm.exchange.port import Execution, OrderInfo

D = Decimal


def exchange_order(side: Side, price: str, qty: str = "0.001", oid: str = "o1") -> OrderInfo:
    return OrderInfo(order_id=oid, client_order_id=f"mm-x-{oid}", symbol="BTCUSDT", side=side,
                     order_type="Limit", price=D(price), qty=D(qty), filled_qty=D(0), avg_fill_price=None,
                     status="new", time_in_force="PostOnly", reduce_only=False)


def order(side: Side, tick: int, steps: int = 1, filled: int = 0, oid: str = "o1") -> Working:
    return Working(side, tick, steps, filled, oid)


def test_places_when_nothing_works_and_cancels_first() -> None:
    acts = plan_actions(Target(Side.BUY, 1000, 1), None, [order(Side.SELL, 1010)], requote_ticks=1)
    assert [(a.kind, a.side) for a in acts] == [("cancel", Side.SELL), ("place", Side.BUY)]
    assert (acts[1].tick, acts[1].steps) == (1000, 1)


@pytest.mark.parametrize("new_tick, requote, expect", [
    (1000, 1, []), (1001, 1, ["amend"]), (1001, 2, []), (1002, 2, ["amend"]), (1001, 0, ["amend"]), (1000, 0, []),
])
def test_amends_only_when_the_target_moves_enough(new_tick: int, requote: int, expect: list[str]) -> None:
    acts = plan_actions(Target(Side.BUY, new_tick, 1), None, [order(Side.BUY, 1000)], requote_ticks=requote)
    assert [a.kind for a in acts] == expect


def test_amend_of_a_partly_filled_order_asks_for_filled_plus_wanted() -> None:
    acts = plan_actions(Target(Side.BUY, 995, 2), None, [order(Side.BUY, 1000, steps=2, filled=1)], requote_ticks=1)
    assert len(acts) == 1 and acts[0].kind == "amend"
    assert acts[0].steps == 3 and acts[0].tick == 995


def test_a_resize_keeps_the_price() -> None:
    acts = plan_actions(None, Target(Side.SELL, 1010, 3), [order(Side.SELL, 1010, steps=1, filled=1)],
                        requote_ticks=5)
    assert [(a.kind, a.tick, a.steps, a.reason) for a in acts] == [("amend", 1010, 4, "resize")]


@pytest.mark.parametrize("working", [
    [order(Side.BUY, 1000, oid="b"), order(Side.SELL, 1010, oid="a")],
    [order(Side.SELL, 1010, oid="a"), order(Side.BUY, 1000, oid="b")],
])
def test_nothing_to_do_when_both_quotes_are_already_there(working: list[Working]) -> None:
    assert plan_actions(Target(Side.BUY, 1000, 1), Target(Side.SELL, 1010, 1), working, requote_ticks=1) == []
    acts = plan_actions(Target(Side.BUY, 1000, 1), Target(Side.SELL, 1011, 1), working, requote_ticks=1)
    assert [(a.kind, a.side, a.tick) for a in acts] == [("amend", Side.SELL, 1011)]
    two_bids = [order(Side.BUY, 1000, oid="b"), order(Side.BUY, 1000, oid="c")]
    acts = plan_actions(Target(Side.BUY, 1000, 1), Target(Side.SELL, 1010, 1), two_bids, requote_ticks=1)
    assert sorted(a.kind for a in acts) == ["cancel", "place"]


def test_extra_orders_on_a_side_are_cancelled() -> None:
    working = [order(Side.BUY, 1000, oid="a"), order(Side.BUY, 980, oid="b")]
    acts = plan_actions(Target(Side.BUY, 1000, 1), None, working, requote_ticks=1)
    assert [(a.kind, a.order.ref) for a in acts if a.order] == [("cancel", "b")]


def test_rate_budget_allows_the_rate_and_refills_with_time() -> None:
    b = RateBudget(10)
    assert sum(b.try_take("create", 0) for _ in range(15)) == 10
    assert not b.try_take("create", 50)
    assert b.try_take("create", 150)  # 0.15 s refilled 1.5 tokens
    assert b.try_take("amend", 150)  # endpoints have their own buckets


def test_order_ids_are_short_unique_and_deterministic() -> None:
    ids = OrderIds(1_767_225_600_000)
    made = [ids.next(k) for k in "bar" * 1000]
    assert len(set(made)) == len(made)
    assert all(len(c) <= 36 and re.fullmatch(r"[A-Za-z0-9_-]+", c) for c in made)
    assert OrderIds(1_767_225_600_000).next("b") == made[0]
    assert OrderIds(1_767_225_600_001).next("b") != made[0]


def guard(**kw: object) -> RiskGuard:
    return RiskGuard(EngineConfig(leverage=D(50)).with_(**kw), get_instrument("BTCUSDT"))


def inputs(*, now_ms: int = 10_000, market_ts_ms: int = 10_000, **kw: object) -> tuple[int, int, AccountView]:
    """``judge``'s arguments: the time, the market's time and the account."""
    base = dict(mark=D(10000), position_qty=D(0), entry_price=D(0), liq_price=None, wallet_balance=D(1000),
                equity=D(1000), available=D(1000))
    base.update(kw)
    return now_ms, market_ts_ms, AccountView(**base)  # type: ignore[arg-type]


def test_max_position_is_balance_times_leverage_times_pct() -> None:
    # 1,000 x 50 x 0.5 = 25,000 USDT at 10,000 -> 2.5 BTC (below a 30,000 USDT inventory cap)
    assert guard(max_inventory_usdt=30_000).judge(*inputs()).max_position == D("2.500")


def test_max_position_is_the_smaller_of_the_margin_cap_and_max_inventory_usdt() -> None:
    # margin cap 25,000 USDT; max_inventory_usdt 1,000 USDT at 10,000 -> 0.1 BTC; 1,234 -> 0.123 (down to the step)
    assert guard(max_inventory_usdt=1000).judge(*inputs()).max_position == D("0.100")
    assert guard(max_inventory_usdt=1234).judge(*inputs()).max_position == D("0.123")
    assert guard(max_inventory_usdt=1000, max_position_pct=0.01).judge(*inputs()).max_position == D("0.050")


def test_liquidation_guard_fires_below_the_threshold_in_stages() -> None:
    # Bybit's example: long 1 @ 10,000 at 50x, MMR 0.5% -> LP 9,850: 1.5% at entry; trigger 0.3%.
    g = guard()
    pos = dict(position_qty=D(1), entry_price=D(10000), liq_price=D(9850))
    ok = g.judge(*inputs(mark=D(9950), **pos))
    assert g.judge(*inputs(mark=D(9900), **pos)).liq_level == "warn"  # within twice the trigger
    assert ok.reduce_qty == 0 and ok.allow[Side.BUY] and ok.liq_level == "ok"
    hit = g.judge(*inputs(mark=D(9875), **pos))  # distance 0.253% < 0.3%
    assert hit.liq_level == "danger" and not hit.allow[Side.BUY] and hit.allow[Side.SELL]
    assert (hit.reduce_side, hit.reduce_qty) == (Side.SELL, D("0.500"))
    again = g.judge(*inputs(mark=D(9874), position_qty=D("0.5"), entry_price=D(10000), liq_price=D(9850)))
    assert again.reduce_qty == 0  # same stage: no second reduction
    deeper = g.judge(*inputs(mark=D(9860), position_qty=D("0.5"), entry_price=D(10000), liq_price=D(9850)))
    assert deeper.reduce_qty == D("0.250")  # below half the trigger distance: the next stage
    g.judge(*inputs(mark=D(9990), position_qty=D("0.25"), entry_price=D(10000), liq_price=D(9850)))
    assert g.stage == 0  # re-armed once clear


def test_short_positions_are_guarded_the_other_way() -> None:
    d = guard().judge(*inputs(mark=D(10125), position_qty=D(-1), entry_price=D(10000), liq_price=D(10150)))
    assert d.liq_level == "danger" and not d.allow[Side.SELL] and d.reduce_side is Side.BUY


def test_kill_switch_on_drawdown_from_the_peak() -> None:
    g = guard(max_drawdown_pct=5.0)
    assert g.judge(*inputs(equity=D(1100))).kill_reason is None
    assert g.judge(*inputs(equity=D(1046))).kill_reason is None
    assert g.judge(*inputs(equity=D(1045))).kill_reason.startswith("kill switch: drawdown 5.00%")


def test_the_kill_switch_decides_exactly_at_its_limit() -> None:
    # Peak 1000, limit 5 %: 950 is exactly 5.00 % down (the exact Decimals decide there), 950.00000001 is not.
    g = guard(max_drawdown_pct=5.0)
    g.judge(*inputs(equity=D(1000)))
    assert g.judge(*inputs(equity=D("950.00000001"))).kill_reason is None
    d = g.judge(*inputs(equity=D(950)))
    assert d.kill_reason.startswith("kill switch: drawdown 5.00%") and d.drawdown_pct == D(5)
    far = guard(max_drawdown_pct=5.0)
    far.judge(*inputs(equity=D(1000)))
    assert far.judge(*inputs(equity=D(990))).drawdown_pct == D(1)  # computed when read


def test_the_same_account_view_gets_the_same_verdict_but_the_liquidation_stages_still_advance() -> None:
    g = guard()
    flat = inputs()
    assert g.judge(*flat) is g.judge(*flat)
    ok = inputs(mark=D(10000), position_qty=D("0.25"), entry_price=D(10000), liq_price=D(9850))
    first = g.judge(*ok)
    assert first.liq_level == "ok" and g.judge(*ok) is first
    # The same view again, stale now: a new verdict.
    assert g.judge(ok[0] + 60_000, ok[1], ok[2]).stale
    # In danger the exact guard answers every call: one reduction, then none for the same distance.
    danger = inputs(mark=D(9870), position_qty=D("0.25"), entry_price=D(10000), liq_price=D(9850))
    assert g.judge(*danger).reduce_qty > 0
    again = g.judge(*danger)
    assert again.liq_level == "danger" and again.reduce_qty == 0 and again.reduce_side is None


def test_stale_market_data_blocks_both_sides() -> None:
    d = guard(stale_after_s=5.0).judge(*inputs(now_ms=20_001, market_ts_ms=15_000))
    assert d.stale and not any(d.allow.values())
    assert not guard().judge(*inputs(now_ms=20_000, market_ts_ms=15_000)).stale


def test_an_order_that_would_itself_be_liquidated_is_refused() -> None:
    g = guard()
    kw = dict(position_qty=D(0), entry_price=D(0), available=D(100000), fee_rate=D("0.00055"))
    assert g.order_is_safe(Side.BUY, D(10000), D(1), mark=D(10000), **kw)[0]
    # A bid far above the mark (a crossed or stale quote) would open with the mark beyond the guard.
    safe, why = g.order_is_safe(Side.BUY, D(10140), D(1), mark=D(10000), **kw)
    assert not safe and "liquidation" in why
    # Not enough margin for 1 BTC at 50x (200 USDT + fees) with 150 available.
    kw["available"] = D(150)
    assert g.order_is_safe(Side.BUY, D(10000), D(1), mark=D(10000), **kw) == (False, "not enough available margin")
    # Reducing is always allowed.
    assert g.order_is_safe(Side.SELL, D(9000), D("0.5"), position_qty=D(1), entry_price=D(10000), mark=D(9000),
                           available=D(0), fee_rate=D("0.00055"))[0]


def fill(i: int, side: Side, price: str, qty: str, fee: str, ts: int) -> Execution:
    return Execution(f"e{i}", f"o{i}", f"mm-x-{i}b", "BTCUSDT", side, D(price), D(qty), D(fee), True, ts)


def test_ledger_books_pnl_fees_and_spread_capture() -> None:
    L = Ledger("BTCUSDT", D(1000))
    counters = {"liquidations": 0}
    book_executions(L, [fill(1, Side.BUY, "100", "2", "0.04", 1)], counters=counters, mid=100.5)
    assert not L.apply(fill(1, Side.BUY, "100", "2", "0.04", 1))  # seen
    book_executions(L, [fill(2, Side.SELL, "102", "1", "0.0204", 2)], counters=counters, mid=101.5)
    assert L.realized_pnl == D(2) and L.fees == D("0.0604")
    assert L.attribution.capture == 1.5  # 0.5 x 2 + 0.5 x 1
    assert L.equity(D(103)) == D(1000) + D(2) + D(3) - D("0.0604")
    split = pnl_split(L, D(103))  # nothing resolved at 60 s: no adverse selection yet
    assert (split.spread_capture, split.adverse_selection, split.inventory_pnl) == (D("1.5"), 0, D(2) + D(3) - D("1.5"))
    assert (L.fills, L.buy_fills, L.sell_fills, L.max_abs_position) == (2, 1, 1, D(2))


def test_journal_round_trip_and_resume_state(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    assert not j.has_session("BTCUSDT") and j.resume_state("BTCUSDT") is None
    j.start_run("BTCUSDT", "paper", 1000, D("10000"), resumed=False)
    j.record_fill(fill(1, Side.BUY, "100", "2", "0.04", 1500), D("100.5"))
    j.record_fill(fill(1, Side.BUY, "100", "2", "0.04", 1500), D("100.5"))  # idempotent
    j.record_funding("BTCUSDT", 2000, D("0.3"))
    j.record_order(exchange_order(Side.BUY, "99.0"), 2500)
    j.set_state(**{"BTCUSDT.peak_equity": "10001", "BTCUSDT.counters": {"placed": 3}})
    j.close()
    state = Journal(tmp_path / "j.sqlite").resume_state("BTCUSDT")
    assert state is not None
    assert state.starting_balance == D("10000") and state.last_ts_ms == 2500
    assert [(e.exec_id, m) for e, m in state.fills] == [("e1", D("100.5"))]
    assert state.funding == D("0.3") and state.peak_equity == D("10001")
    assert state.counters == {"placed": 3}


def test_margin_check_at_the_exact_boundary_is_decided_in_decimal() -> None:
    # 1 BTC at 10,000, 50x, taker 0.055%: cost 200 + 2 x 5.5 = 211 exactly; enough means cost <= available.
    g = guard()
    kw = dict(position_qty=D(0), entry_price=D(0), mark=D(10000), fee_rate=D("0.00055"))
    assert g.order_is_safe(Side.BUY, D(10000), D(1), available=D(211), **kw)[0]
    assert g.order_is_safe(Side.BUY, D(10000), D(1), available=D("210.99999999999"), **kw) == (
        False, "not enough available margin")


def test_the_core_refits_intensity_at_most_once_per_interval() -> None:
    from bybit_mm.engine.core import StrategyCore
    from bybit_mm.quoting.estimators import IntensityEstimator

    core = StrategyCore(EngineConfig(interval_s=1.0), get_instrument("BTCUSDT"), maker_fee=D("0.0002"),
                        taker_fee=D("0.00055"))
    est = core.intensity = IntensityEstimator(1.0, window_s=60, min_trades=10, min_span_s=1, event_ms=10)

    def trades(t0: int) -> None:
        for i in range(200):
            est.on_trade(t0 + i * 10, 100.0 + (i % 7) * (1 + i % 3), 100.0)

    trades(0)
    first = core.fit = core._intensity_fit(2_000)
    assert first is not None
    trades(2_000)
    assert core._intensity_fit(2_999) is first  # within the refit period: the last fit
    core.fit = core._intensity_fit(3_000)
    assert core.fit is not first and core.fit.trades == 400
