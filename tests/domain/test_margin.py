"""Margin, liquidation and bankruptcy prices, distance, cross margin and position sizing."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.margin import (bankruptcy_price, cross_bankruptcy_price, cross_close_fee_rate,
                                    cross_liquidation_price, cross_margin_liquidated, fee_to_close,
                                    initial_margin, isolated_liquidation,
                                    liquidation_distance, liquidation_price, maintenance_margin,
                                    max_position_qty, order_cost_per_unit)
from bybit_mm.domain.orders import PositionSide
from bybit_mm.errors import RiskLimitError

BTC = get_instrument("BTCUSDT")


def test_extra_margin_moves_liquidation_and_bankruptcy_away() -> None:
    # 100 USDT extra on 1 BTC moves both prices 100 further from entry.
    assert liquidation_price("long", D(10000), D(1), D(50), D("0.005"), extra_margin=D(100)) == 9750
    assert bankruptcy_price("long", D(10000), D(50), qty=D(1), extra_margin=D(100)) == 9700
    assert liquidation_price("short", D(10000), D(2), D(50), D("0.005"), extra_margin=D(100)) == 10200
    assert bankruptcy_price("short", D(10000), D(50), qty=D(2), extra_margin=D(100)) == 10250


def test_bankruptcy_with_extra_margin_needs_qty() -> None:
    with pytest.raises(ValueError):
        bankruptcy_price("long", D(10000), D(50), extra_margin=D(1))


def test_long_prices_never_go_below_zero() -> None:
    assert liquidation_price("long", D(100), D(1), D(1), D("0.005"), extra_margin=D(1000)) == 0
    assert bankruptcy_price("long", D(100), D(1)) == 0


def test_deduction_lowers_mm_and_pushes_lp_away() -> None:
    with_ded = liquidation_price("long", D(10000), D(1), D(50), D("0.005"), mm_deduction=D(10))
    assert with_ded == 9840


def test_maintenance_margin_picks_the_instruments_tier() -> None:
    assert maintenance_margin(D(10000), BTC) == 50
    # 2,300,000 is in BTC's second tier: 0.56% - 1,200 deduction.
    assert maintenance_margin(D(2_300_000), BTC) == D(2_300_000) * D("0.0056") - 1200


TAKER = D("0.00055")


def test_isolated_liquidation_uses_the_tier() -> None:
    info = isolated_liquidation(BTC, "long", D(10000), D(1), D(50), taker_rate=TAKER)
    assert (info.liquidation_price, info.bankruptcy_price) == (9850, 9800)
    assert (info.initial_margin, info.maintenance_margin, info.mmr) == (200, 50, D("0.005"))
    assert (info.fee_to_close, info.position_margin) == (D("5.39"), D("205.39"))
    assert info.reported_maintenance_margin == D("55.39")
    assert info.to_dict()["liquidation_price"] == 9850 and info.to_dict()["position_margin"] == D("205.39")
    big = isolated_liquidation(BTC, "short", D(100000), D(23), D(50), taker_rate=TAKER)  # 2.3M USDT: tier 2
    assert big.mmr == D("0.0056") and big.mm_deduction == 1200
    assert big.liquidation_price == D(100000) + (big.initial_margin - big.maintenance_margin) / 23


def test_isolated_liquidation_refuses_leverage_above_the_tier() -> None:
    with pytest.raises(RiskLimitError):
        isolated_liquidation(BTC, "long", D(100000), D(23), D(95), taker_rate=TAKER)  # tier 2 allows 90x


def test_isolated_liquidation_refuses_a_position_beyond_the_known_tiers() -> None:
    """Issue 13: 5 M USDT at 50x used to reuse the last tier and report LP 98,536."""
    with pytest.raises(RiskLimitError, match="beyond the known risk-limit tiers"):
        isolated_liquidation(BTC, "long", D(100000), D(50), D(50), taker_rate=TAKER)


def test_leverage_change_reprices_margin_and_liquidation() -> None:
    at50 = isolated_liquidation(BTC, "long", D(10000), D(1), D(50), taker_rate=TAKER)
    at25 = isolated_liquidation(BTC, "long", D(10000), D(1), D(25), taker_rate=TAKER)
    assert at25.initial_margin == 2 * at50.initial_margin == 400
    assert at25.fee_to_close == D(9600) * TAKER < at50.fee_to_close  # at the lower bankruptcy price
    assert at25.maintenance_margin == at50.maintenance_margin
    assert (at25.liquidation_price, at25.bankruptcy_price) == (9650, 9600)


def test_liquidation_distance() -> None:
    assert liquidation_distance("long", D(10000), D(9850)) == (150, D("1.5"))
    assert liquidation_distance("short", D(10000), D(10150)) == (150, D("1.5"))
    dist, pct = liquidation_distance(PositionSide.LONG, D(9800), D(9850))
    assert dist == -50 and pct < 0  # already beyond


def test_cross_margin_liquidation_condition() -> None:
    assert cross_margin_liquidated(D(50), D(50))
    assert not cross_margin_liquidated(D("50.01"), D(50))


@pytest.mark.parametrize("side", ["long", "short"])
def test_cross_liquidation_price_is_where_equity_meets_mm(side: str) -> None:
    entry, qty, balance, mmr = D(10000), D(2), D(1000), D("0.005")
    p = cross_liquidation_price(side, entry, qty, balance, mmr)
    sign = 1 if side == "long" else -1
    equity = balance + sign * qty * (p - entry)
    assert abs(equity - qty * p * mmr) < D("1e-18")
    # More free balance moves the cross liquidation price away from entry.
    further = cross_liquidation_price(side, entry, qty, balance * 2, mmr)
    assert abs(further - entry) > abs(p - entry)


@pytest.mark.parametrize("side", ["long", "short"])
def test_cross_liquidation_price_with_the_fee_to_close_in_mm(side: str) -> None:
    """Cross MM as Bybit reports it holds the fee to close at the bankruptcy price of the mark."""
    entry, qty, balance, mmr, lev = D(10000), D(2), D(1000), D("0.005"), D(50)
    c = cross_close_fee_rate(side, lev, TAKER)
    assert c == (D(1) - D("0.02") if side == "long" else D("1.02")) * TAKER
    p = cross_liquidation_price(side, entry, qty, balance, mmr, D(0), c)
    sign = 1 if side == "long" else -1
    equity = balance + sign * qty * (p - entry)
    fee = fee_to_close(qty, bankruptcy_price(side, p, lev), TAKER)
    assert abs(equity - (qty * p * mmr + fee)) < D("1e-18")
    # The fee makes the MM larger: liquidated a little closer to entry than without it.
    assert abs(p - entry) < abs(cross_liquidation_price(side, entry, qty, balance, mmr) - entry)


@pytest.mark.parametrize("side", ["long", "short"])
def test_cross_bankruptcy_price_leaves_nothing_after_the_fee_to_close(side: str) -> None:
    entry, qty, balance = D(10000), D(2), D(1000)
    p = cross_bankruptcy_price(side, entry, qty, balance, TAKER)
    sign = 1 if side == "long" else -1
    assert abs(balance + sign * qty * (p - entry) - qty * p * TAKER) < D("1e-18")


def test_max_position_qty_pays_margin_and_both_fees() -> None:
    balance, lev, price, rate = D(1000), D(50), D(10000), D("0.00055")
    qty = max_position_qty(balance, lev, price, BTC, rate)
    unit = order_cost_per_unit("long", price, lev, rate)
    assert unit == 200 + D("5.5") + D(9800) * rate
    assert qty == D("4.741")
    assert qty * unit <= balance < (qty + BTC.qty_step) * unit


def test_max_position_qty_edges() -> None:
    assert max_position_qty(D(0), D(50), D(10000), BTC, D(0)) == 0
    assert max_position_qty(D("0.1"), D(50), D(10000), BTC, D(0)) == 0       # below min qty
    assert max_position_qty(D("0.04"), D(100), D(4000), BTC, D(0)) == 0      # 0.001 @ 4,000 < 5 USDT
    assert max_position_qty(D(1000), D(101), D(10000), BTC, D(0)) == 0       # above max leverage
    # A huge balance at 95x: no tier allows it except the first (100x, 2,000,000 USDT).
    assert max_position_qty(D(10**9), D(95), D(10000), BTC, D(0)) == 200
    assert max_position_qty(D(10**9), D(50), D(10000), BTC, D(0)) == 260


def test_initial_margin_rejects_zero_leverage() -> None:
    with pytest.raises(ValueError):
        initial_margin(D(100), D(0))
