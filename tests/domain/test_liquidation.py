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


TAKER = D("0.00055")


def test_isolated_liquidation_loses_the_position_margin_and_nothing_else() -> None:
    btc = get_instrument("BTCUSDT")
    wallet = D(1000)
    pos, fx = apply_fill(Position.flat("BTCUSDT"), Side.BUY, D(1), D(10000), D(0))
    info = isolated_liquidation(btc, "long", D(10000), D(1), D(50), taker_rate=TAKER)
    assert info.position_margin == 200 + D(9800) * TAKER == D("205.39")
    # The mark gaps far below the liquidation price: the mark-to-market loss (1,000) is larger
    # than the margin, yet only the position margin is lost.
    mark = D(9000)
    assert is_liquidated("long", mark, info.liquidation_price)
    assert -unrealized_pnl(pos, mark) == 1000
    flat, effect = settle_liquidation(pos, info.bankruptcy_price, info.position_margin, TAKER)
    assert flat.is_flat and effect.closed_qty == 1 and effect.opened_qty == 0
    # Taken over at the bankruptcy price: the trading loss is the IM, the fee to close is charged.
    assert effect.realized_pnl == -200 == unrealized_pnl(pos, info.bankruptcy_price)
    assert effect.fee == D("5.39") and flat.fees_paid == D("5.39") and flat.realized_pnl == -200
    assert wallet + effect.cash_flow == D("794.61")  # the other 794.61 USDT are untouched


def test_bybit_liquidation_loss_1_btc_at_95000_50x_is_1951_205() -> None:
    """Issue 13: Bybit loses IM 1,900 + fee to close 93,100 x 0.055% = 51.205; the sim lost 1,900."""
    info = isolated_liquidation(get_instrument("BTCUSDT"), "long", D(95000), D(1), D(50), taker_rate=TAKER)
    assert info.bankruptcy_price == 93100 and info.fee_to_close == D("51.205")
    pos = Position("BTCUSDT", D(1), D(95000))
    _, effect = settle_liquidation(pos, info.bankruptcy_price, info.position_margin, TAKER)
    assert -effect.cash_flow == D("1951.205")


def test_extra_margin_is_lost_too() -> None:
    btc = get_instrument("BTCUSDT")
    pos = Position("BTCUSDT", D(-1), D(10000))
    info = isolated_liquidation(btc, "short", D(10000), D(1), D(50), taker_rate=TAKER, extra_margin=D(100))
    assert unrealized_pnl(pos, info.bankruptcy_price) == -(info.initial_margin + 100)
    # The fee to close is charged where the position is taken over: the bankruptcy price 10,300.
    assert info.bankruptcy_price == 10300 and info.fee_to_close == D(10300) * TAKER
    assert info.position_margin == info.initial_margin + 100 + info.fee_to_close == D("305.665")
    _, effect = settle_liquidation(pos, info.bankruptcy_price, info.position_margin, TAKER)
    assert -effect.cash_flow == D("305.665") and effect.realized_pnl == -300


def test_settling_a_flat_position_is_a_no_op() -> None:
    flat = Position.flat("BTCUSDT")
    after, effect = settle_liquidation(flat, D(1), D(10), TAKER)
    assert after == flat and effect.cash_flow == 0 and effect.closed_qty == 0
