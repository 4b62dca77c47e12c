"""Position accounting: adds, reduces, flips, fees, funding, PnL and ROI."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bybit_mm.domain.orders import PositionSide, Side
from bybit_mm.domain.position import (Position, apply_fill, apply_funding, funding_payment, roi,
                                      total_pnl, unrealized_pnl)

FLAT = Position.flat("BTCUSDT")


def test_flat_position() -> None:
    assert FLAT.is_flat and FLAT.side is None and FLAT.notional(D(100)) == 0
    assert unrealized_pnl(FLAT, D(123)) == 0


def test_short_add_averages_entry_and_keeps_sign() -> None:
    pos, _ = apply_fill(FLAT, Side.SELL, D(1), D(100), D(0))
    pos, fx = apply_fill(pos, "Sell", D(3), D(200), D(0))
    assert pos.qty == -4 and pos.entry_price == 175 and pos.side is PositionSide.SHORT
    assert (fx.opened_qty, fx.closed_qty, fx.realized_pnl) == (3, 0, 0)
    assert pos.notional(D(100)) == 400


def test_short_partial_close_realises_on_closed_qty() -> None:
    pos, _ = apply_fill(FLAT, Side.SELL, D(2), D(100), D(0))
    pos, fx = apply_fill(pos, Side.BUY, D("0.5"), D(90), D(0))
    assert fx.realized_pnl == 5 and fx.closed_qty == D("0.5")
    assert pos.qty == D("-1.5") and pos.entry_price == 100


def test_exact_close_leaves_flat_with_history() -> None:
    pos, _ = apply_fill(FLAT, Side.BUY, D(2), D(100), D("0.001"))
    pos, fx = apply_fill(pos, Side.SELL, D(2), D(110), D("0.001"))
    assert pos.is_flat and pos.entry_price == 0
    assert pos.realized_pnl == 20 and pos.fees_paid == D("0.2") + D("0.22")
    assert fx.cash_flow == 20 - D("0.22")


def test_short_flips_to_long_at_fill_price() -> None:
    pos, _ = apply_fill(FLAT, Side.SELL, D(1), D(100), D(0))
    pos, fx = apply_fill(pos, Side.BUY, D("1.5"), D(80), D(0))
    assert pos.qty == D("0.5") and pos.entry_price == 80 and pos.side is PositionSide.LONG
    assert fx.realized_pnl == 20 and fx.closed_qty == 1 and fx.opened_qty == D("0.5")


def test_fee_is_charged_on_the_whole_flip() -> None:
    pos, _ = apply_fill(FLAT, Side.BUY, D(1), D(100), D(0))
    _, fx = apply_fill(pos, Side.SELL, D(3), D(100), D("0.001"))
    assert fx.fee == D("0.3")


def test_negative_maker_rate_is_a_rebate() -> None:
    pos, fx = apply_fill(FLAT, Side.BUY, D(1), D(10000), D("-0.0001"))
    assert fx.fee == -1 and pos.fees_paid == -1 and pos.net_realized_pnl == 1


@pytest.mark.parametrize("qty, price", [(D(0), D(1)), (D(-1), D(1)), (D(1), D(0))])
def test_rejects_nonsense_fills(qty: D, price: D) -> None:
    with pytest.raises(ValueError):
        apply_fill(FLAT, Side.BUY, qty, price, D(0))


@pytest.mark.parametrize("qty, rate, paid", [
    (D(1), D("0.0001"), D(1)),        # long pays a positive rate
    (D(-1), D("0.0001"), D(-1)),      # short receives it
    (D(1), D("-0.0001"), D(-1)),      # negative rate: long receives
    (D(-1), D("-0.0001"), D(1)),      # and short pays
    (D(0), D("0.0001"), D(0)),        # flat: nothing
])
def test_funding_sign_by_side(qty: D, rate: D, paid: D) -> None:
    pos = Position("BTCUSDT", qty, D(9000))
    assert funding_payment(pos, D(10000), rate) == paid
    new, amount = apply_funding(pos, D(10000), rate)
    assert amount == paid and new.funding_paid == paid and new.qty == qty


def test_total_pnl_counts_fees_funding_and_upnl() -> None:
    pos, _ = apply_fill(FLAT, Side.BUY, D(1), D(10000), D("0.0002"))  # fee 2
    pos, _ = apply_funding(pos, D(10000), D("0.0001"))                # pays 1
    assert total_pnl(pos, D(10100)) == 100 - 2 - 1


def test_roi_scales_with_leverage_pnl_does_not() -> None:
    pos = Position("BTCUSDT", D(1), D(10000))
    assert unrealized_pnl(pos, D(10100)) == 100
    # Without the fee to close ROI is exactly proportional to leverage.
    assert roi(pos, D(10100), D(1), taker_rate=D(0)) == D("0.01")
    assert roi(pos, D(10100), D(50), taker_rate=D(0)) == D("0.5")
    assert roi(pos, D(10100), D(50), taker_rate=D(0), extra_margin=D(200)) == D("0.25")
    # Bybit's position margin holds the fee to close at the bankruptcy price: 200 + 9,800 x 0.055%.
    assert roi(pos, D(10100), D(50), taker_rate=D("0.00055")) == 100 / D("205.39")
    assert roi(FLAT, D(1), D(50), taker_rate=D("0.00055")) == 0
