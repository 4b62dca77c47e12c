"""The liquidation event: mark-price trigger, bankruptcy-price settlement, margin-only loss."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.liquidation import is_liquidated, settle_liquidation
from bybit_mm.domain.margin import isolated_liquidation
from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import Position, apply_fill, unrealized_pnl


@pytest.mark.parametrize("side, mark, lp, expected", [
    ("long", D(9851), D(9850), False), ("long", D(9850), D(9850), True), ("long", D(9000), D(9850), True),
    ("short", D(10149), D(10150), False), ("short", D(10150), D(10150), True),
])
def test_trigger(side: str, mark: D, lp: D, expected: bool) -> None:
    assert is_liquidated(side, mark, lp) is expected


def test_triggered_by_mark_not_last_trade() -> None:
    # A wick trades at 9,840 but the mark stays at 9,860: no liquidation (the caller passes MARK).
    last, mark, lp = D(9840), D(9860), D(9850)
    assert last < lp
    assert not is_liquidated("long", mark, lp)


def test_isolated_liquidation_loses_the_margin_and_nothing_else() -> None:
    btc = get_instrument("BTCUSDT")
    wallet = D(1000)
    pos, fx = apply_fill(Position.flat("BTCUSDT"), Side.BUY, D(1), D(10000), D(0))
    info = isolated_liquidation(btc, "long", D(10000), D(1), D(50))
    margin = info.initial_margin
    assert margin == 200
    # The mark gaps far below the liquidation price: the mark-to-market loss (1,000) is larger
    # than the margin, yet only the margin is lost.
    mark = D(9000)
    assert is_liquidated("long", mark, info.liquidation_price)
    assert -unrealized_pnl(pos, mark) == 1000
    flat, loss = settle_liquidation(pos, info.bankruptcy_price, margin)
    wallet_after = wallet - loss
    assert loss == 200 and flat.is_flat and flat.realized_pnl == -200
    assert wallet_after == 800  # the other 800 USDT of the wallet are untouched
    # Closing at the bankruptcy price realises exactly minus the margin.
    assert unrealized_pnl(pos, info.bankruptcy_price) == -margin


def test_extra_margin_is_lost_too() -> None:
    btc = get_instrument("BTCUSDT")
    pos = Position("BTCUSDT", D(-1), D(10000))
    info = isolated_liquidation(btc, "short", D(10000), D(1), D(50), extra_margin=D(100))
    assert unrealized_pnl(pos, info.bankruptcy_price) == -(info.initial_margin + 100)
    assert info.position_margin == info.initial_margin + 100 == 300
    _, loss = settle_liquidation(pos, info.bankruptcy_price, info.position_margin)
    assert loss == 300


def test_settling_a_flat_position_is_a_no_op() -> None:
    flat = Position.flat("BTCUSDT")
    assert settle_liquidation(flat, D(1), D(10)) == (flat, 0)
