"""From model prices to the orders the engine should work: ticks, the book, fees, inventory limits.

The hot path is integer ticks: model prices (floats) become ticks with floor for the bid and
ceil for the ask, every constraint is applied in ticks, and only the result is turned into
``Decimal`` (``ticks * tick`` is exact, so no further rounding happens). At the Decimal boundary
(the book's prices, sizes) the domain's rounding functions are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from bybit_mm.domain.orders import Side
from bybit_mm.domain.rounding import round_price, round_qty
from bybit_mm.quoting.models import Quote

_EPS = 1e-9


def _slack(x: float) -> float:
    # Absorbs binary floating-point error of price / tick (100.3 / 0.1 = 1002.9999999999999), a few
    # ulps of x, so a price already on the grid stays put; far smaller than any real price step.
    return 1e-9 + 4e-15 * abs(x)


def bid_ticks(price: float, tick: float) -> int:
    """A bid price in whole ticks, rounded down (a bid never rounds up towards the ask)."""
    x = price / tick
    return math.floor(x + _slack(x))


def ask_ticks(price: float, tick: float) -> int:
    """An ask price in whole ticks, rounded up (an ask never rounds down towards the bid)."""
    x = price / tick
    return math.ceil(x - _slack(x))


@dataclass(frozen=True, slots=True)
class OrderTargets:
    """What the engine should have resting: a price on the tick and a size per side, or None.

    ``notes`` says why a side is missing or was moved (``"bid: inventory limit"``, ...).
    """

    bid_price: Decimal | None
    bid_qty: Decimal | None
    ask_price: Decimal | None
    ask_qty: Decimal | None
    notes: tuple[str, ...] = ()

    @property
    def quoting(self) -> bool:
        """True when at least one side is quoted."""
        return self.bid_price is not None or self.ask_price is not None

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly view."""
        return {"bid_price": self.bid_price, "bid_qty": self.bid_qty, "ask_price": self.ask_price,
                "ask_qty": self.ask_qty, "notes": list(self.notes)}


def min_spread_ticks(mid: float, maker_fee: float, tick: float) -> int:
    """The smallest spread, in ticks, whose round trip (two maker fills) pays its fees; at least 1.

    Buying at ``b`` and selling at ``a`` nets ``a - b - fee (a + b)``; ``>= 0`` needs
    ``a - b >= fee (a + b) ~ 2 fee mid``. A maker rebate (negative fee) gives the 1-tick floor.
    """
    need = 2.0 * maker_fee * mid / tick
    return max(1, math.ceil(need - _slack(need)))


def shape_orders(quote: Quote, *, tick: Decimal, order_qty: Decimal, qty_step: Decimal,
                 position: Decimal = Decimal(0), max_position: Decimal | None = None,
                 best_bid: Decimal | None = None, best_ask: Decimal | None = None,
                 maker_fee: float = 0.0, min_qty: Decimal | None = None,
                 shape_sizes: bool = False) -> OrderTargets:
    """Turn a model quote into order targets.

    In order: round to the tick (bid down, ask up); widen symmetrically about the quote centre to
    the fee-covering minimum spread (:func:`min_spread_ticks`); keep clear of the book (bid at most
    ``best_ask - tick``, ask at least ``best_bid + tick``, so a post-only order never takes); size
    each side so the position stays within ``max_position`` (a side that would grow ``|position|``
    past it shrinks, or is dropped when nothing is left); optionally shrink the side that adds to
    the position linearly with ``|position| / max_position`` (``shape_sizes``). Sizes are rounded
    down to ``qty_step`` and a side below ``min_qty`` (default one step) is dropped.
    ``position``, ``max_position``, ``order_qty`` are in the instrument's base units.

    Every step after rounding only lowers the bid or raises the ask, so ``bid < ask`` always holds,
    even against a crossed book.
    """
    notes: list[str] = []
    tick_f = float(tick)
    b = bid_ticks(quote.bid, tick_f)
    a = ask_ticks(quote.ask, tick_f)
    need = min_spread_ticks(0.5 * (quote.bid + quote.ask), maker_fee, tick_f)
    if a - b < need:
        centre = 0.5 * (quote.bid + quote.ask) / tick_f
        b = math.floor(centre - need / 2.0 + _EPS)
        a = b + need
        notes.append(f"spread widened to {need} ticks (fees)")
    if best_ask is not None:
        limit = int(round_price(best_ask - tick, tick, Side.BUY) / tick)
        if b > limit:
            b = limit
            notes.append("bid: held below the best ask")
    if best_bid is not None:
        limit = int(round_price(best_bid + tick, tick, Side.SELL) / tick)
        if a < limit:
            a = limit
            notes.append("ask: held above the best bid")

    bid_qty: Decimal | None = order_qty
    ask_qty: Decimal | None = order_qty
    if max_position is not None:
        room_long = max_position - position
        room_short = max_position + position
        if shape_sizes and max_position > 0:
            long_frac = max(Decimal(0), min(Decimal(1), position / max_position))
            short_frac = max(Decimal(0), min(Decimal(1), -position / max_position))
            bid_qty = order_qty * (1 - long_frac)
            ask_qty = order_qty * (1 - short_frac)
        bid_qty = min(bid_qty, room_long)
        ask_qty = min(ask_qty, room_short)
    smallest = qty_step if min_qty is None else max(min_qty, qty_step)
    bid_qty = round_qty(bid_qty, qty_step)
    ask_qty = round_qty(ask_qty, qty_step)

    bid_price: Decimal | None = tick * b
    ask_price: Decimal | None = tick * a
    if bid_qty < smallest:
        bid_price = bid_qty = None
        notes.append("bid: inventory limit")
    if ask_qty < smallest:
        ask_price = ask_qty = None
        notes.append("ask: inventory limit")
    if b <= 0 and bid_price is not None:
        bid_price = bid_qty = None
        notes.append("bid: not a positive price")
    return OrderTargets(bid_price, bid_qty, ask_price, ask_qty, tuple(notes))
