"""Bybit's own worked examples (BYBIT.md section 1), reproduced exactly."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bybit_mm.domain import fees
from bybit_mm.domain.instruments import RiskTier, continuous_tiers
from bybit_mm.domain.margin import (bankruptcy_price, fee_to_close, initial_margin, liquidation_price,
                                    maintenance_margin, order_cost_per_unit, position_margin)
from bybit_mm.domain.orders import PositionSide, Side
from bybit_mm.domain.position import Position, apply_fill, roi, unrealized_pnl

#: Bybit's standard (VIP 0) taker rate, the one its current help-centre examples use.
TAKER = D("0.00055")


def _rel(a: D, b: D) -> D:
    return abs(a - b) / abs(b)


def test_long_1_btc_at_10000_50x_liquidates_at_9850_and_goes_bankrupt_at_9800() -> None:
    value = D(1) * D(10000)
    assert initial_margin(value, D(50)) == 200
    assert maintenance_margin(value, RiskTier(D(2_000_000), D("0.005"), D(0), D(100))) == 50
    assert liquidation_price(PositionSide.LONG, D(10000), D(1), D(50), D("0.005")) == 9850
    assert bankruptcy_price(PositionSide.LONG, D(10000), D(50)) == 9800


def test_the_same_short_mirrors_it() -> None:
    assert liquidation_price("short", D(10000), D(1), D(50), D("0.005")) == 10150
    assert bankruptcy_price("short", D(10000), D(50)) == 10200


@pytest.mark.parametrize("qty, entry, mark, expected", [
    (D("0.2"), D(7000), D(7500), D(100)),     # long 0.2 @ 7,000, price 7,500
    (D("-0.4"), D(6000), D(5000), D(400)),    # short 0.4 @ 6,000, price 5,000
])
def test_unrealised_pnl_examples(qty: D, entry: D, mark: D, expected: D) -> None:
    assert unrealized_pnl(Position("BTCUSDT", qty, entry), mark) == expected


def test_entry_averaging_0_5_at_5000_plus_0_3_at_6000_is_5375() -> None:
    pos, _ = apply_fill(Position.flat("BTCUSDT"), Side.BUY, D("0.5"), D(5000), D(0))
    pos, _ = apply_fill(pos, Side.BUY, D("0.3"), D(6000), D(0))
    assert pos.qty == D("0.8")
    assert pos.entry_price == 5375


def test_tiered_maintenance_margin_is_92_5_for_3500() -> None:
    tiers = continuous_tiers([(D(1000), D("0.02"), D(50)), (D(2000), D("0.025"), D(40)),
                              (D(3000), D("0.03"), D(33)), (D(4000), D("0.035"), D(28))])
    assert [t.mm_deduction for t in tiers] == [0, 5, 15, 30]
    tier = next(t for t in tiers if D(3500) <= t.limit_value)
    assert maintenance_margin(D(3500), tier) == D("92.5")


@pytest.mark.parametrize("tier_name, maker, expected", [("VIP0", True, 16), ("VIP0", False, 44)])
def test_fee_on_10_btc_at_8000(tier_name: str, maker: bool, expected: int) -> None:
    t = fees.tier(tier_name)
    rate = t.maker if maker else t.taker
    _, effect = apply_fill(Position.flat("BTCUSDT"), Side.BUY, D(10), D(8000), rate)
    assert effect.fee == expected


def test_position_margin_of_1_btc_at_10000_50x_is_205_39() -> None:
    """Position margin = IM + fee to close = 200 + 1 x 9,800 x 0.055% (issue 13: we showed 200)."""
    assert fee_to_close(D(1), D(9800), TAKER) == D("5.39")
    assert position_margin("long", D(10000), D(1), D(50), TAKER) == D("205.39")


def test_roi_of_0_2_btc_at_7000_10x_price_7500_is_71_0767_pct() -> None:
    """Bybit's "Profit and Loss calculations (USDT Contract)": 100 / (140 + 6,300 x 0.2 x 0.055%)
    = 71.07% (the sim said 71.4286%, leaving out the fee to close)."""
    pos = Position("BTCUSDT", D("0.2"), D(7000))
    assert position_margin("long", D(7000), D("0.2"), D(10), TAKER) == D("140.693")
    ratio = roi(pos, D(7500), D(10), taker_rate=TAKER)
    assert ratio == D(100) / D("140.693")
    assert _rel(ratio * 100, D("71.0767")) < D("1e-6")


def test_order_cost_of_1_btc_at_10000_50x_at_the_old_0_075_pct_is_214_85() -> None:
    """Bybit's "Order Cost (USDT Contract)": IM 200 + fee to open 7.5 + fee to close 9,800 x 0.075%
    = 7.35 -> 214.85 (the taker rate of that article's time)."""
    assert order_cost_per_unit("long", D(10000), D(50), D("0.00075")) == D("214.85")


def test_recorded_position_im_and_mm_both_carry_the_fee_to_close() -> None:
    """A recorded Bybit position push (SOLUSDT, cross, 0.2 @ 233.02, 10x, MMR 0.5%, taker 0.055% plus
    0.0099% GST): positionIM 4.6876214 and positionMM 0.2602414, each the formula value plus the
    fee to close 0.2 x 209.718 x 0.0649% = 0.0272214."""
    rate = D("0.00055") + D("0.000099")
    qty, entry, lev = D("0.2"), D("233.02"), D(10)
    fee = fee_to_close(qty, bankruptcy_price("long", entry, lev), rate)
    assert fee == D("0.0272213964")  # Bybit prints it to 7 places
    assert _rel(position_margin("long", entry, qty, lev, rate), D("4.6876214")) < D("1e-6")
    mm = maintenance_margin(qty * entry, RiskTier(D(50000), D("0.005"), D(0), D(50)))
    assert _rel(mm + fee, D("0.2602414")) < D("1e-6")


@pytest.mark.parametrize("side, extra, expected", [("long", D(0), D(19700)), ("short", D(3000), D(23300))])
def test_liquidation_price_usdt_contract_examples_have_no_fee_term(side: str, extra: D, expected: D) -> None:
    """Bybit's "Liquidation Price (USDT Contract)": 1 BTC @ 20,000, 50x, MMR 0.5% -> IM 400, MM 100,
    long LP 19,700; the short with 3,000 USDT added -> 23,300. The fee to close sits in both IM and
    MM, so it leaves the LP where these examples put it."""
    assert liquidation_price(side, D(20000), D(1), D(50), D("0.005"), extra_margin=extra) == expected
