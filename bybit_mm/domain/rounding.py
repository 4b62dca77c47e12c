"""The one place prices and quantities are rounded to an instrument's grid, and orders checked.

Bids round DOWN and asks UP to the tick (a rounded quote is never more aggressive than asked);
quantities round DOWN to the step.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.orders import Side
from bybit_mm.errors import OrderRejected


class OrderTooSmall(OrderRejected):
    """An order that fails the instrument's trading filters.

    Mostly too small (below min qty / min notional), but also off the qty step or price tick,
    or priced outside min..max price. ``reason`` is a short code: ``min_qty``, ``min_notional``,
    ``qty_step``, ``max_qty``, ``tick_size``, ``price_range``, ``non_positive``.
    """

    def __init__(self, message: str, *, reason: str, hint: str | None = None,
                 ret_code: int | None = None) -> None:
        super().__init__(message, hint=hint, ret_code=ret_code)
        self.reason = reason


def _to_grid(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    if step <= 0:
        raise ValueError(f"grid step must be positive, got {step}")
    units = (value / step).to_integral_value(rounding=rounding)
    return (units * step).quantize(step)


def round_price(price: Decimal, tick: Decimal, side: Side) -> Decimal:
    """``price`` on the tick grid: a buy (bid) rounds down, a sell (ask) rounds up."""
    return _to_grid(price, tick, ROUND_FLOOR if Side.parse(side) is Side.BUY else ROUND_CEILING)


def round_liquidation_price(price: Decimal, tick: Decimal, side: Side | str) -> Decimal:
    """A position's liquidation price as the exchange shows it: on the tick grid, toward the mark
    (a long's rounded up, a short's down), so the shown price is never beyond the real one."""
    return _to_grid(price, tick, ROUND_CEILING if Side.parse(side) is Side.BUY else ROUND_FLOOR)


def round_qty(qty: Decimal, step: Decimal) -> Decimal:
    """``qty`` rounded down to a multiple of ``step`` (never more than asked)."""
    return _to_grid(qty, step, ROUND_FLOOR)


def on_grid(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is an exact multiple of ``step``."""
    return value % step == 0


def check_order(instrument: Instrument, qty: Decimal, price: Decimal) -> None:
    """Raise OrderTooSmall (with the reason) unless ``qty`` @ ``price`` passes Bybit's filters."""
    sym = instrument.symbol
    if qty <= 0 or price <= 0:
        raise OrderTooSmall(f"{sym}: qty and price must be positive (qty {qty}, price {price})",
                            reason="non_positive")
    if qty < instrument.min_qty:
        raise OrderTooSmall(f"{sym}: qty {qty} is below the minimum order qty {instrument.min_qty}",
                            reason="min_qty")
    if qty > instrument.max_qty:
        raise OrderTooSmall(f"{sym}: qty {qty} is above the maximum order qty {instrument.max_qty}",
                            reason="max_qty")
    if not on_grid(qty, instrument.qty_step):
        raise OrderTooSmall(f"{sym}: qty {qty} is not a multiple of the qty step {instrument.qty_step}",
                            reason="qty_step", hint=f"use {round_qty(qty, instrument.qty_step)}")
    if not on_grid(price, instrument.tick_size):
        raise OrderTooSmall(f"{sym}: price {price} is not a multiple of the tick size {instrument.tick_size}",
                            reason="tick_size")
    if not instrument.min_price <= price <= instrument.max_price:
        raise OrderTooSmall(f"{sym}: price {price} is outside {instrument.min_price}..{instrument.max_price}",
                            reason="price_range")
    notional = qty * price
    if notional < instrument.min_notional:
        raise OrderTooSmall(f"{sym}: order value {notional} USDT is below the minimum "
                            f"{instrument.min_notional} USDT", reason="min_notional", ret_code=110094)


class GridDecimals:
    """Whole ticks and lot steps as the exchange's Decimals (``tick x tick_size``, ``steps x qty_step``
    on the step), each made once: hot paths work in integers and meet the same prices again and
    again (one Decimal object per price also computes its hash once, for the memos keyed by it)."""

    __slots__ = ("tick_size", "qty_step", "_prices", "_qtys", "_mids")

    #: Entries kept per table before it starts afresh.
    LIMIT = 4096

    def __init__(self, tick_size: Decimal, qty_step: Decimal) -> None:
        self.tick_size = tick_size
        self.qty_step = qty_step
        self._prices: dict[int, Decimal] = {}
        self._qtys: dict[int, Decimal] = {}
        self._mids: dict[int, Decimal] = {}

    def price(self, ticks: int) -> Decimal:
        """``ticks`` ticks as a price."""
        got = self._prices.get(ticks)
        if got is None:
            if len(self._prices) >= self.LIMIT:
                self._prices.clear()
            got = self._prices[ticks] = self.tick_size * ticks
        return got

    def qty(self, steps: int) -> Decimal:
        """``steps`` lot steps as a quantity, on the step."""
        got = self._qtys.get(steps)
        if got is None:
            if len(self._qtys) >= self.LIMIT:
                self._qtys.clear()
            got = self._qtys[steps] = (self.qty_step * steps).quantize(self.qty_step)
        return got

    def mid(self, ticks2: int) -> Decimal:
        """The mid of a touch whose bid and ask ticks add up to ``ticks2`` (exact: half a tick at most
        off the grid)."""
        got = self._mids.get(ticks2)
        if got is None:
            if len(self._mids) >= self.LIMIT:
                self._mids.clear()
            got = self._mids[ticks2] = ticks2 * self.tick_size / 2
        return got
