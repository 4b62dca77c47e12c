"""The liquidation event: triggered by the mark price, settled at the bankruptcy price.

An isolated position can lose its position margin (IM + extra + fee to close) and nothing more:
the rest of the wallet is never touched (whatever the mark price did past the liquidation price
is the insurance fund's). Liquidated cross positions lose the whole cross margin balance.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bybit_mm.domain.orders import PositionSide, Side
from bybit_mm.domain.position import ZERO, FillEffect, Position


def is_liquidated(side: PositionSide | Side | str, mark: Decimal, liq_price: Decimal) -> bool:
    """Whether the MARK price (not the last trade) has reached the liquidation price."""
    s = PositionSide.parse(side)
    return mark <= liq_price if s is PositionSide.LONG else mark >= liq_price


def settle_liquidation(pos: Position, bankruptcy_price: Decimal, loss: Decimal,
                       taker_rate: Decimal) -> tuple[Position, FillEffect]:
    """Close ``pos`` at ``bankruptcy_price`` as Bybit's liquidation engine does; the wallet loses ``loss``.

    ``loss`` is the margin standing behind the position: for an isolated position its position
    margin (IM + extra + fee to close), for a cross position its share of the cross margin
    balance. The fee to close (``size x bankruptcy price x taker rate``) is charged as a fee and
    the rest of ``loss`` is realised as trading PnL, so that ``fee - realised == loss`` exactly:
    any gap between the bankruptcy price and where the market really was (a mark beyond the LP,
    tick rounding) is the insurance fund's, never the wallet's. The returned position is flat
    and keeps its history. A flat position settles nothing.
    """
    if pos.is_flat:
        return pos, FillEffect(ZERO, ZERO, ZERO, ZERO)
    if bankruptcy_price < 0:
        raise ValueError(f"bankruptcy price cannot be negative, got {bankruptcy_price}")
    fee = pos.size * bankruptcy_price * taker_rate
    realised = fee - loss
    flat = replace(pos, qty=ZERO, entry_price=ZERO, realized_pnl=pos.realized_pnl + realised,
                   fees_paid=pos.fees_paid + fee)
    return flat, FillEffect(realised, fee, ZERO, pos.size)
