"""Order and position sides, in Bybit's spelling, and the fill price of a resting limit order."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum


class Side(str, Enum):
    """An order's side, spelled as Bybit's V5 API spells it."""

    BUY = "Buy"
    SELL = "Sell"

    @property
    def sign(self) -> int:
        """+1 for a buy (adds to a long), -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SELL if self is Side.BUY else Side.BUY

    @classmethod
    def parse(cls, text: str | Side) -> Side:
        """``Buy``/``buy``/``b``/``bid`` or ``Sell``/``sell``/``s``/``ask``; ValueError otherwise."""
        if isinstance(text, Side):
            return text
        key = str(text).strip().lower()
        if key in ("buy", "b", "bid"):
            return cls.BUY
        if key in ("sell", "s", "ask"):
            return cls.SELL
        raise ValueError(f"unknown order side {text!r} (expected Buy or Sell)")


class PositionSide(str, Enum):
    """The direction of an open position."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        """+1 for long, -1 for short (the sign of a signed position quantity)."""
        return 1 if self is PositionSide.LONG else -1

    @property
    def open_side(self) -> Side:
        """The order side that opens or adds to this position."""
        return Side.BUY if self is PositionSide.LONG else Side.SELL

    @property
    def close_side(self) -> Side:
        """The order side that reduces or closes this position."""
        return self.open_side.opposite

    @classmethod
    def parse(cls, value: str | PositionSide | Side) -> PositionSide:
        """``long``/``short`` (any case), or an order Side (Buy opens long); ValueError otherwise."""
        if isinstance(value, PositionSide):
            return value
        if isinstance(value, Side):
            return cls.LONG if value is Side.BUY else cls.SHORT
        key = str(value).strip().lower()
        if key in ("long", "buy"):
            return cls.LONG
        if key in ("short", "sell"):
            return cls.SHORT
        raise ValueError(f"unknown position side {value!r} (expected long or short)")


def resting_fill_price(side: Side, limit_price: Decimal, trade_price: Decimal) -> Decimal | None:
    """The price a RESTING limit order fills at when the market trades at ``trade_price``.

    A resting buy fills when the market trades at or below its price, a resting sell at or above;
    either way it fills at its OWN limit price, never at the (better) trade price that crossed it.
    Returns None when the trade does not reach the order.
    """
    if side is Side.BUY:
        return limit_price if trade_price <= limit_price else None
    return limit_price if trade_price >= limit_price else None
