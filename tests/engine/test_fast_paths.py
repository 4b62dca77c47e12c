"""The decision path's float fast paths give the exact Decimal answers, and the backtest driver's
working-order records follow the exchange."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from replay_feed import make_feed

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.margin import isolated_liquidation
from bybit_mm.domain.orders import PositionSide, Side
from bybit_mm.engine.backtest import Backtest, BacktestSettings
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.core import AccountView
from bybit_mm.engine.risk import RiskGuard
from bybit_mm.errors import RiskLimitError
from bybit_mm.sim.latency import ConstantLatency

D = Decimal
BTC = get_instrument("BTCUSDT")
FEE = D("0.00055")


def _account(rng: random.Random, mark: Decimal) -> AccountView:
    steps = rng.choice([0, 0, rng.randint(-400, 400)])
    qty = (BTC.qty_step * steps).quantize(BTC.qty_step)
    entry = (mark * D(1 + rng.uniform(-0.02, 0.02))).quantize(BTC.tick_size) if steps else D(0)
    liq = None
    if steps:
        liq = (entry * D(1 - 0.018 if steps > 0 else 1 + 0.018) + D(rng.uniform(-60, 60))).quantize(BTC.tick_size)
    wallet = D(rng.uniform(50, 5000)).quantize(D("0.00000001"))
    return AccountView(position_qty=qty, entry_price=entry, liq_price=liq, wallet_balance=wallet,
                       equity=wallet + D(rng.uniform(-30, 30)).quantize(D("0.0001")),
                       available=D(rng.uniform(0, 400)).quantize(D("0.0001")), mark=mark)


def test_order_is_safe_ticks_answers_as_order_is_safe() -> None:
    rng = random.Random(3)
    guard = RiskGuard(EngineConfig(), BTC)
    seen = set()
    for _ in range(3000):
        mark = BTC.tick_size * rng.randint(590_000, 610_000)
        a = _account(rng, mark)
        side = rng.choice([Side.BUY, Side.SELL])
        tick = int(mark / BTC.tick_size) + rng.randint(-2000, 2000)
        steps = rng.randint(1, 300)
        pos_steps = int(a.position_qty / BTC.qty_step)
        # The available margin sometimes exactly the order's cost (the Decimals decide there).
        price, qty = BTC.tick_size * tick, (BTC.qty_step * steps).quantize(BTC.qty_step)
        if rng.random() < 0.2:
            a = a._replace(available=qty * price / D(50) + qty * price * FEE * 2 + rng.choice([D(0), D("1e-10"), -D("1e-10")]))
        want = guard.order_is_safe(side, price, qty, position_qty=a.position_qty, entry_price=a.entry_price,
                                   mark=a.mark, available=a.available, fee_rate=FEE)
        got = guard.order_is_safe_ticks(side, tick, steps, pos_steps, a, float(a.available), lambda side: a.available, FEE)
        assert got == want, (side, tick, steps, a)
        seen.add(want)
    assert len(seen) >= 3  # safe, out of margin, inside the guard all met


@pytest.mark.parametrize("leverage", [D(10), D(50), D(100)])
def test_the_liquidation_line_is_the_domains_price(leverage: Decimal) -> None:
    # Every new quote price used to cost the domain's Decimal liquidation picture; the line
    # drawn from two of its answers gives its price to float rounding (far inside the guard's
    # exact margin), and None where the tiers refuse the position, across the tiers' bounds.
    guard = RiskGuard(EngineConfig(leverage=leverage), BTC)
    rng = random.Random(11)
    from_lines = 0
    for side in PositionSide:
        for steps in (1, 3, 50, 2_000, 21_000, 30_000):
            qty = guard.qty_of(steps)
            for _ in range(150):
                # an order's price, or a position's weighted entry (off the tick grid)
                entry = guard.price_of(rng.randrange(100_000, 2_000_000)) + D(rng.choice([0, 7])) / 3
                drawn = guard._lines.get((side, qty, FEE))
                got = guard.liquidation_f(side, entry, qty, FEE)
                try:
                    want: float | None = float(isolated_liquidation(BTC, side, entry, qty, leverage,
                                                                    taker_rate=FEE).liquidation_price)
                except RiskLimitError:
                    want = None
                if want is None or got is None:
                    assert got == want
                    continue
                assert abs(got - want) <= 1e-13 * want
                from_lines += drawn is not None
    assert from_lines > 1000


def test_judge_answers_as_the_exact_guard() -> None:
    rng = random.Random(5)
    levels: set[str] = set()
    for _ in range(2000):
        mark = BTC.tick_size * rng.randint(590_000, 610_000)
        a = _account(rng, mark)
        fast, exact = RiskGuard(EngineConfig(), BTC), RiskGuard(EngineConfig(), BTC)
        got = fast.judge(10_000, 9_000, a)
        side = None if a.position_qty == 0 or a.liq_price is None else (
            PositionSide.LONG if a.position_qty > 0 else PositionSide.SHORT)
        exact.peak_equity = a.equity
        dd, kill = exact._kill_switch(a.equity, a.equity)
        want_limit = exact.max_position_qty(a.wallet_balance, a.mark)
        assert got.max_position == want_limit
        if side is None:
            assert got.liq_level == "flat" and got.liq_distance_pct is None
            continue
        want = exact._judge_exact(False, a, side, got.max_position_steps, dd, kill)
        levels.add(got.liq_level)
        for key in ("liq_level", "allow", "reduce_qty", "reduce_side", "notes", "liq_distance_pct",
                    "entry_liq_distance_pct"):
            assert getattr(got, key) == getattr(want, key), key
        assert fast.stage == exact.stage
    assert levels == {"ok", "warn", "danger"}


def test_judge_reads_the_account_view() -> None:
    g = RiskGuard(EngineConfig(max_inventory_usdt=D(30_000)), BTC)  # the margin cap binds: 25,000 USDT
    x = AccountView(mark=D(10000), position_qty=D(1), entry_price=D(10000), liq_price=D(9850),
                    wallet_balance=D(1000), equity=D(1000), available=D(100))
    d = g.judge(1, 1, x)
    assert d.liq_level == "ok" and d.liq_distance_pct == D("1.5") and d.max_position == D("2.500")


@pytest.mark.parametrize("queue", ["trade_through", "queue"])
def test_the_backtests_working_orders_are_the_exchanges_at_every_decision(queue: str) -> None:
    events = make_feed(400, seed=9)
    config = EngineConfig(vol_window_s=60.0, intensity_window_s=120.0, interval_s=1.0, bootstrap_trades=0)
    bt = Backtest(events, config, BTC, BacktestSettings(fee_tier="SVIP", queue_model=queue, requote_s=0.0,
                                                        latency=ConstantLatency(20, 30, 10)))
    decide = bt.decide
    checked = [0]

    def checking(now_ms: int) -> Any:
        mine = [(w.side, w.tick, w.steps, w.filled_steps, w.ref) for w in bt._working_orders()]
        views = sorted(reversed(bt.exchange.open_orders()), key=lambda o: o.created_ms)
        theirs = [(o.side, int(o.price / BTC.tick_size), int((o.qty - o.filled_qty) / BTC.qty_step),
                   int(o.filled_qty / BTC.qty_step), o.order_id) for o in views if not o.reduce_only]
        assert mine == theirs
        checked[0] += 1
        return decide(now_ms)

    bt.decide = checking  # type: ignore[method-assign]
    result = bt.run()
    assert checked[0] > 100 and result.summary.fills > 0 and result.summary.orders_amended > 50


@pytest.mark.parametrize("leverage, balance", [(D(50), D(100)), (D(10), D(200_000)), (D(100), D(30))])
def test_the_replays_fit_check_never_passes_what_the_exact_check_refuses(leverage: Decimal, balance: Decimal) -> None:
    from bybit_mm.sim.errors import SimError
    from bybit_mm.sim.matching import TradeThroughModel
    from bybit_mm.sim.replay import ReplayExchange

    rng = random.Random(11)
    ex = ReplayExchange(BTC, balance=balance, maker_fee=D(0), taker_fee=FEE, leverage=leverage,
                        margin_mode="isolated", queue=TradeThroughModel())
    ex.bid_tick, ex.ask_tick = 1_000_000, 1_000_001
    ex.mark = 100_000.05
    ex.ledger.fill("BTCUSDT", Side.BUY, D("0.01"), D(100_000), D(0), 0)
    resting = [ex.place_ticks(Side.BUY, 999_000, 3, "b"), ex.place_ticks(Side.SELL, 1_001_000, 2, "a")]
    fits = refused = 0
    for _ in range(3000):
        side = rng.choice([Side.BUY, Side.SELL])
        tick = 1_000_000 + rng.randint(-5000, 5000) * (1 if side is Side.SELL else -1)
        steps = rng.randint(1, 40_000) if rng.random() < 0.5 else rng.randint(1, 200)
        exclude = rng.choice([None, *resting])
        if exclude is not None and exclude.side is not side:
            exclude = None
        qty = (BTC.qty_step * steps).quantize(BTC.qty_step)
        try:
            ex._check(side, qty, BTC.tick_size * tick, exclude)
            ok = True
        except SimError:
            ok = False
            refused += 1
        if ex._fits(side, tick, steps, exclude):
            fits += 1
            assert ok, (side, tick, steps)
    assert fits > 100 and refused > 100


def test_the_replay_reads_the_day_a_chunk_at_a_time_with_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import bybit_mm.sim.replay as replay

    events = make_feed(400, seed=9)
    config = EngineConfig(vol_window_s=60.0, intensity_window_s=120.0, interval_s=1.0, bootstrap_trades=0)

    def run() -> dict[str, Any]:
        bt = Backtest(events, config, BTC, BacktestSettings(fee_tier="SVIP", requote_s=0.0,
                                                            latency=ConstantLatency(20, 30, 10)))
        r = bt.run()
        return {**r.summary.to_dict(), "decisions": r.decisions, "events": r.events}

    whole = run()
    monkeypatch.setattr(replay, "_CHUNK", 7)  # chunk edges fall inside book updates and between decisions
    assert run() == whole and whole["fills"] > 0 and whole["events"] == len(events)


def test_recent_values_give_the_percentiles_of_a_sort_of_the_window() -> None:
    from bybit_mm.engine.trader import RecentValues

    rng = random.Random(7)
    recent = RecentValues(50)
    window: list[float] = []
    assert recent.percentiles(50, 99) == (None, None)
    for _ in range(400):
        value = rng.choice([0.5, 1.25, rng.uniform(0, 3)])  # repeats: removal must find an equal value
        recent.add(value)
        window = (window + [value])[-50:]
        ordered = sorted(window)
        n = len(ordered)
        expected = tuple(ordered[min(n - 1, max(0, -(-p * n // 100) - 1))] for p in (50, 99, 1))
        assert recent.percentiles(50, 99, 1) == expected
