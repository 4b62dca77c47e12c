"""Rounding to the instrument grid and Bybit's order filters."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.orders import Side
from bybit_mm.domain.rounding import OrderTooSmall, check_order, round_price, round_qty
from bybit_mm.errors import EXIT_REJECTED, OrderRejected

BTC = get_instrument("BTCUSDT")


@pytest.mark.parametrize("price, tick, side, expected", [
    (D("100.05"), D("0.1"), Side.BUY, D("100.0")),
    (D("100.05"), D("0.1"), Side.SELL, D("100.1")),
    (D("100.1"), D("0.1"), Side.BUY, D("100.1")),     # on the tick: unchanged
    (D("100.1"), D("0.1"), Side.SELL, D("100.1")),
    (D("0.123456"), D("0.0005"), Side.BUY, D("0.1230")),
    (D("0.123456"), D("0.0005"), Side.SELL, D("0.1235")),
    (D("64123.47"), D("0.10"), Side.BUY, D("64123.40")),
])
def test_bids_round_down_asks_round_up(price: D, tick: D, side: Side, expected: D) -> None:
    got = round_price(price, tick, side)
    assert got == expected and got.as_tuple().exponent == tick.as_tuple().exponent


def test_side_may_be_bybits_string() -> None:
    assert round_price(D("100.05"), D("0.1"), "Sell") == D("100.1")  # type: ignore[arg-type]
    assert round_price(D("100.05"), D("0.1"), "Buy") == D("100.0")  # type: ignore[arg-type]


@pytest.mark.parametrize("qty, step, expected", [
    (D("0.0019"), D("0.001"), D("0.001")),
    (D("0.002"), D("0.001"), D("0.002")),
    (D("17"), D("10"), D("10")),
    (D("0.0009"), D("0.001"), D("0.000")),
])
def test_qty_rounds_down_to_step(qty: D, step: D, expected: D) -> None:
    assert round_qty(qty, step) == expected


def test_a_valid_order_passes() -> None:
    check_order(BTC, D("0.001"), D("60000.0"))


@pytest.mark.parametrize("qty, price, reason", [
    (D("0.0005"), D("60000"), "min_qty"),
    (D("0.001"), D("4000"), "min_notional"),          # 4 USDT < 5 USDT
    (D("0.0015"), D("60000"), "qty_step"),
    (D("101"), D("60000"), "max_qty"),
    (D("0.001"), D("60000.05"), "tick_size"),
    (D("0.001"), D("250000"), "price_range"),
    (D("0"), D("60000"), "non_positive"),
])
def test_bad_orders_are_refused_with_a_reason(qty: D, price: D, reason: str) -> None:
    with pytest.raises(OrderTooSmall) as info:
        check_order(BTC, qty, price)
    assert info.value.reason == reason
    assert isinstance(info.value, OrderRejected) and info.value.exit_code == EXIT_REJECTED
    assert "BTCUSDT" in info.value.one_line()


def test_min_notional_carries_bybits_ret_code() -> None:
    with pytest.raises(OrderTooSmall) as info:
        check_order(BTC, D("0.001"), D("4000"))
    assert info.value.ret_code == 110094


def test_round_qty_rejects_a_zero_step() -> None:
    with pytest.raises(ValueError):
        round_qty(D(1), D(0))
