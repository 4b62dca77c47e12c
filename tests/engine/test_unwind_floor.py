"""The core's unwinding quote: held at the entry's fee floor, released when the risk guard asks to reduce."""

from __future__ import annotations

from decimal import Decimal as D

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.orders import Side
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.core import AccountView, StrategyCore
from bybit_mm.quoting.estimators import IntensityFit


class _Vol:
    def sigma(self, now_ms: float | None = None) -> float:
        return 0.000105


def _core(**cfg: object) -> StrategyCore:
    config = EngineConfig(symbol="ARBUSDT", leverage=D(50), order_notional=D(100), risk_aversion=0.05,
                          max_inventory_usdt=D(1000)).with_(**cfg)
    core = StrategyCore(config, get_instrument("ARBUSDT"), maker_fee=D("0.0002"), taker_fee=D("0.00055"))
    # The estimators as the thin-alt preset has them: sigma 2.1 bps/sqrt(s), k 0.29 /bps, A 0.61/s.
    core.vol = _Vol()  # type: ignore[assignment]
    core._intensity_fit = lambda now_ms: IntensityFit(A=0.61, k=5867.0, trades=500, levels=10,  # type: ignore[method-assign]
                                                     window_s=600.0)
    core.on_book(1_000, 4999, 5003)  # touch 0.4999 / 0.5003, mid 0.5001
    return core


def _targets(core: StrategyCore, qty: str, entry: str, *, mark: str = "0.5001", liq: str | None = None) -> tuple:
    account = AccountView(position_qty=D(qty), entry_price=D(entry), liq_price=None if liq is None else D(liq),
                          wallet_balance=D(10000), equity=D(10000), available=D(10000), mark=D(mark))
    decision = core.guard.judge(1_000, 1_000, account)
    mid = core.mid(account.mark)
    quote, buy, sell, notes = core._targets(1_000, mid, float(mid), account, decision, [])
    return quote, {Side.BUY: buy, Side.SELL: sell}, notes


def test_a_long_position_is_offered_no_lower_than_entry_plus_both_fees() -> None:
    core = _core()
    # Long 800 ARB (400 USDT) bought at 0.5004: the model skews the ask down to the touch, but
    # closing below 0.5004 x 1.0002 / 0.9998 = 0.50060... would lose after fees: ask 0.5007.
    quote, targets, notes = _targets(core, "800", "0.5004")
    assert quote is not None and quote.ask < 0.5007
    assert targets[Side.SELL].tick == 5007
    assert "ask: held at the unwind floor 5007 (entry + fees)" in notes
    # The opening bid keeps the model's (skewed) price.
    assert targets[Side.BUY].tick < 4999


def test_a_short_position_is_bid_no_higher_than_entry_minus_both_fees() -> None:
    core = _core()
    quote, targets, notes = _targets(core, "-800", "0.4998")
    # 0.4998 x 0.9998 / 1.0002 = 0.49960... -> 0.4996
    assert targets[Side.BUY].tick == 4996
    assert "bid: held at the unwind floor 4996 (entry - fees)" in notes


def test_the_floor_holds_at_the_limit_and_is_released_beyond_it() -> None:
    core = _core()
    # The limit: 1,000 USDT / 0.5001 = 1,999.6 ARB (down to the 0.1 step). At it, the bid stops and
    # the ask keeps its floor.
    quote, targets, notes = _targets(core, "1999.6", "0.5004")
    assert targets[Side.BUY] is None and targets[Side.SELL].tick == 5007
    # 2,000 ARB at 0.5001 = 1,000.2 USDT: beyond max_inventory_usdt; the ask goes back to the model's price.
    quote, targets, notes = _targets(core, "2000", "0.5004")
    assert targets[Side.SELL].tick < 5007
    assert "ask: unwind floor released (inventory beyond its limit)" in notes
    assert targets[Side.BUY] is None


def test_the_floor_is_released_when_the_liquidation_guard_is_in_danger() -> None:
    core = _core()
    # Long at 0.5004, liquidation at 0.4980 (0.48% at entry; trigger 0.096%): mark 0.4981 is 0.02% away.
    quote, targets, notes = _targets(core, "800", "0.5004", mark="0.4981", liq="0.4980")
    assert "ask: unwind floor released (liquidation guard)" in notes
    assert not any("held at the unwind floor" in n for n in notes)
