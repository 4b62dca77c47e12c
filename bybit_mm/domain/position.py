"""Position accounting for linear perpetuals: fills, PnL, fees and funding.

Leverage never enters PnL: it only sets margin (see ``margin``) and ROI. ``realized_pnl`` is
trading PnL on closed quantity, gross; fees and funding are kept apart (``fees_paid``,
``funding_paid``, both positive when paid) so that the wallet moves by
``realized_pnl - fees_paid - funding_paid`` (``net_realized_pnl``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from bybit_mm.domain.margin import position_margin
from bybit_mm.domain.orders import PositionSide, Side

ZERO = Decimal(0)


@dataclass(frozen=True)
class Position:
    """A one-way-mode position: signed ``qty`` (+ long, - short) at an average ``entry_price``."""

    symbol: str
    qty: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    funding_paid: Decimal = ZERO

    @classmethod
    def flat(cls, symbol: str) -> Position:
        """An empty position with no history."""
        return cls(symbol)

    @property
    def is_flat(self) -> bool:
        """No open quantity."""
        return self.qty == 0

    @property
    def side(self) -> PositionSide | None:
        """LONG, SHORT, or None when flat."""
        if self.qty > 0:
            return PositionSide.LONG
        if self.qty < 0:
            return PositionSide.SHORT
        return None

    @property
    def size(self) -> Decimal:
        """Absolute open quantity."""
        return abs(self.qty)

    def notional(self, price: Decimal) -> Decimal:
        """Position value at ``price`` (always >= 0)."""
        return abs(self.qty) * price

    @property
    def entry_value(self) -> Decimal:
        """Position value at the entry price (what isolated margin is computed on)."""
        return abs(self.qty) * self.entry_price

    @property
    def net_realized_pnl(self) -> Decimal:
        """Realised PnL after fees and funding: what the wallet gained from this position."""
        return self.realized_pnl - self.fees_paid - self.funding_paid


@dataclass(frozen=True)
class FillEffect:
    """What one fill did: PnL realised (gross), fee charged, quantity opened and closed."""

    realized_pnl: Decimal
    fee: Decimal
    opened_qty: Decimal
    closed_qty: Decimal

    @property
    def cash_flow(self) -> Decimal:
        """Net change of the wallet balance from this fill: realised PnL minus fee."""
        return self.realized_pnl - self.fee


def fill_fee(qty: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    """Trading fee of a fill: ``qty x price x rate`` (negative rate: a rebate, negative fee)."""
    return qty * price * fee_rate


def apply_fill(pos: Position, side: Side, qty: Decimal, price: Decimal,
               fee_rate: Decimal) -> tuple[Position, FillEffect]:
    """The position after a fill of ``qty`` (> 0) at ``price`` on ``side``, and the fill's effect.

    Adds average the entry by quantity; a reduce realises ``closed x (exit - entry)`` (sign by
    side) and keeps the entry; a fill larger than the position closes it and opens the rest on
    the other side at the fill price. The fee is charged on the whole fill.
    """
    if qty <= 0:
        raise ValueError(f"fill qty must be positive, got {qty}")
    if price <= 0:
        raise ValueError(f"fill price must be positive, got {price}")
    side = Side.parse(side)
    fee = fill_fee(qty, price, fee_rate)
    signed = qty * side.sign
    old = pos.qty
    if old == 0 or (old > 0) == (signed > 0):
        new_qty = old + signed
        entry = (abs(old) * pos.entry_price + qty * price) / abs(new_qty)
        effect = FillEffect(ZERO, fee, qty, ZERO)
        new = replace(pos, qty=new_qty, entry_price=entry, fees_paid=pos.fees_paid + fee)
        return new, effect
    closed = min(qty, abs(old))
    direction = 1 if old > 0 else -1
    pnl = closed * (price - pos.entry_price) * direction
    opened = qty - closed
    new_qty = old + signed
    if new_qty == 0:
        entry = ZERO
    elif opened > 0:
        entry = price
    else:
        entry = pos.entry_price
    new = replace(pos, qty=new_qty, entry_price=entry, realized_pnl=pos.realized_pnl + pnl,
                  fees_paid=pos.fees_paid + fee)
    return new, FillEffect(pnl, fee, opened, closed)


def unrealized_pnl(pos: Position, mark: Decimal) -> Decimal:
    """Long ``qty x (mark - entry)``, short ``qty x (entry - mark)``; zero when flat."""
    if pos.qty == 0:
        return ZERO
    return pos.qty * (mark - pos.entry_price)


def total_pnl(pos: Position, mark: Decimal) -> Decimal:
    """Realised (after fees and funding) plus unrealised PnL at ``mark``."""
    return pos.net_realized_pnl + unrealized_pnl(pos, mark)


def funding_payment(pos: Position, mark: Decimal, rate: Decimal) -> Decimal:
    """What the position PAYS at a funding time: ``qty x mark x rate``, signed.

    Positive rate: a long pays (positive result), a short receives (negative result);
    a negative rate reverses both. A flat position pays nothing.
    """
    return pos.qty * mark * rate


def apply_funding(pos: Position, mark: Decimal, rate: Decimal) -> tuple[Position, Decimal]:
    """The position after a funding settlement, and the amount it paid (negative: received)."""
    paid = funding_payment(pos, mark, rate)
    return replace(pos, funding_paid=pos.funding_paid + paid), paid


def roi(pos: Position, mark: Decimal, leverage: Decimal, *, taker_rate: Decimal,
        extra_margin: Decimal = ZERO) -> Decimal:
    """Return on the position margin, as a fraction: ``uPnL / (IM + extra + fee to close)``.

    Bybit's example: 0.2 long @ 7,000, 10x, price 7,500, taker 0.055% -> 100 / 140.693 = 71.0767%.
    Leverage changes ROI (not PnL): without the fee to close the same move is 50 times the return
    at 50x as at 1x. Zero when flat.
    """
    if pos.is_flat:
        return ZERO
    margin = position_margin(pos.side, pos.entry_price, pos.size, leverage, taker_rate,  # type: ignore[arg-type]
                             extra_margin)
    return unrealized_pnl(pos, mark) / margin
