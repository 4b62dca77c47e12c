"""The liquidation event: triggered by the mark price, settled at the bankruptcy price.

An isolated position can lose its position margin and nothing more: the rest of the wallet is
never touched (whatever the mark price did past the liquidation price is the insurance fund's).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bybit_mm.domain.orders import PositionSide, Side
from bybit_mm.domain.position import ZERO, Position


def is_liquidated(side: PositionSide | Side | str, mark: Decimal, liq_price: Decimal) -> bool:
    """Whether the MARK price (not the last trade) has reached the liquidation price."""
    s = PositionSide.parse(side)
    return mark <= liq_price if s is PositionSide.LONG else mark >= liq_price


def settle_liquidation(pos: Position, bankruptcy_price: Decimal,
                       position_margin: Decimal) -> tuple[Position, Decimal]:
    """Close ``pos`` at ``bankruptcy_price``; return the flat position and the realised loss.

    The loss is exactly ``position_margin`` (IM plus any extra margin): at the bankruptcy price
    the closing PnL equals minus the margin; any gap (a price beyond the LP, tick rounding) is
    absorbed by the insurance fund, never by the wallet. The returned position is flat and keeps
    its history, with the loss added to its realised PnL.
    """
    if pos.is_flat:
        return pos, ZERO
    if position_margin < 0:
        raise ValueError(f"position margin cannot be negative, got {position_margin}")
    if bankruptcy_price < 0:
        raise ValueError(f"bankruptcy price cannot be negative, got {bankruptcy_price}")
    # Closed at the bankruptcy price the trader's loss is, by definition, the whole margin.
    loss = position_margin
    flat = replace(pos, qty=ZERO, entry_price=ZERO, realized_pnl=pos.realized_pnl - loss)
    return flat, loss
