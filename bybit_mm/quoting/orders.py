"""From model prices to the orders the engine should work: ticks, the book, fees, inventory limits.

The hot path is integer ticks: model prices (floats) become ticks with floor for the bid and
ceil for the ask, every constraint is applied in ticks, and only the result is turned into
``Decimal`` (``ticks * tick`` is exact, so no further rounding happens). At the Decimal boundary
(the book's prices, sizes) the domain's rounding functions are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

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


def unwind_floor_tick(entry: Decimal, maker_fee: Decimal, tick: Decimal, *, long: bool) -> int:
    """The least favourable price, in ticks, at which closing a position at ``entry`` nets >= 0
    after both legs' maker fees: the ask's floor for a long, the bid's ceiling for a short.

    A long bought at ``E`` paid ``E (1 + f)`` per unit; selling at ``a`` receives ``a (1 - f)``, so
    ``a >= E (1 + f) / (1 - f)`` (rounded up to the tick). A short sold at ``E`` received
    ``E (1 - f)``; buying back at ``b`` costs ``b (1 + f)``, so ``b <= E (1 - f) / (1 + f)``
    (rounded down). A rebate (``f < 0``) lets the close sit inside the entry. Decimal arithmetic:
    an entry on the grid with ``f = 0`` gives the entry's own tick.
    """
    one = Decimal(1)
    if long:
        return int((entry * (one + maker_fee) / (one - maker_fee) / tick).to_integral_value(rounding=ROUND_CEILING))
    return int((entry * (one - maker_fee) / (one + maker_fee) / tick).to_integral_value(rounding=ROUND_FLOOR))


_NOTES: dict[tuple[str, int], str] = {}
_NOTE_TEXT = {"widened": "spread widened to {} ticks (fees)",
              "ask floor": "ask: held at the unwind floor {} (entry + fees)",
              "bid floor": "bid: held at the unwind floor {} (entry - fees)"}


def _note(kind: str, ticks: int) -> str:
    """A shaping note that names a number of ticks, made once per number (most decisions repeat it)."""
    note = _NOTES.get((kind, ticks))
    if note is None:
        if len(_NOTES) >= 4096:
            _NOTES.clear()
        note = _NOTES[(kind, ticks)] = _NOTE_TEXT[kind].format(ticks)
    return note


class TickTargets(NamedTuple):
    """:class:`OrderTargets` on the grid: prices in whole ticks, sizes in whole lot steps (None: not quoted)."""

    bid_tick: int | None
    bid_steps: int | None
    ask_tick: int | None
    ask_steps: int | None
    notes: tuple[str, ...] = ()


def shape_ticks(quote: Quote, tick: float, order_steps: int, position_steps: int = 0,
                max_position_steps: int | None = None, best_bid_tick: int | None = None,
                best_ask_tick: int | None = None, maker_fee: float = 0.0, min_steps: int = 1,
                shape_sizes: bool = False, unwind_floor: int | None = None) -> TickTargets:
    """:func:`shape_orders` in integer ticks and lot steps (the strategy core's hot path).

    ``best_bid_tick`` / ``best_ask_tick`` are the touch in ticks; ``order_steps``,
    ``position_steps`` (signed), ``max_position_steps`` and ``min_steps`` in lot steps.
    ``unwind_floor`` (ticks, :func:`unwind_floor_tick`): the side that reduces the position is
    kept at or beyond it (a long's ask at least, a short's bid at most), so closing never gives the
    fees away; None: no floor (flat, or the risk guard asks to reduce).
    """
    notes: tuple[str, ...] = ()
    b = bid_ticks(quote.bid, tick)
    a = ask_ticks(quote.ask, tick)
    need = min_spread_ticks(0.5 * (quote.bid + quote.ask), maker_fee, tick)
    if a - b < need:
        centre = 0.5 * (quote.bid + quote.ask) / tick
        b = math.floor(centre - need / 2.0 + _EPS)
        a = b + need
        notes += (_note("widened", need),)
    if best_ask_tick is not None and b > best_ask_tick - 1:
        b = best_ask_tick - 1
        notes += ("bid: held below the best ask",)
    if best_bid_tick is not None and a < best_bid_tick + 1:
        a = best_bid_tick + 1
        notes += ("ask: held above the best bid",)
    if unwind_floor is not None and position_steps > 0 and a < unwind_floor:
        a = unwind_floor
        notes += (_note("ask floor", unwind_floor),)
    elif unwind_floor is not None and position_steps < 0 and b > unwind_floor:
        b = unwind_floor
        notes += (_note("bid floor", unwind_floor),)

    bid_steps = ask_steps = order_steps
    if max_position_steps is not None:
        if shape_sizes and max_position_steps > 0:
            # order x (1 - clamp(position / max, 0, 1)), rounded down: exact in integers.
            long_part = max(0, min(max_position_steps, position_steps))
            short_part = max(0, min(max_position_steps, -position_steps))
            bid_steps = order_steps * (max_position_steps - long_part) // max_position_steps
            ask_steps = order_steps * (max_position_steps - short_part) // max_position_steps
        if bid_steps > max_position_steps - position_steps:
            bid_steps = max_position_steps - position_steps
        if ask_steps > max_position_steps + position_steps:
            ask_steps = max_position_steps + position_steps
    bid_t: int | None = b
    ask_t: int | None = a
    bs: int | None = bid_steps
    as_: int | None = ask_steps
    if bid_steps < min_steps:
        bid_t = bs = None
        notes += ("bid: inventory limit",)
    if ask_steps < min_steps:
        ask_t = as_ = None
        notes += ("ask: inventory limit",)
    if b <= 0 and bid_t is not None:
        bid_t = bs = None
        notes += ("bid: not a positive price",)
    return TickTargets(bid_t, bs, ask_t, as_, notes)


def shape_orders(quote: Quote, *, tick: Decimal, order_qty: Decimal, qty_step: Decimal,
                 position: Decimal = Decimal(0), max_position: Decimal | None = None,
                 best_bid: Decimal | None = None, best_ask: Decimal | None = None,
                 maker_fee: float = 0.0, min_qty: Decimal | None = None,
                 shape_sizes: bool = False, entry_price: Decimal | None = None) -> OrderTargets:
    """Turn a model quote into order targets.

    In order: round to the tick (bid down, ask up); widen symmetrically about the quote centre to
    the fee-covering minimum spread (:func:`min_spread_ticks`); keep clear of the book (bid at most
    ``best_ask - tick``, ask at least ``best_bid + tick``, so a post-only order never takes); size
    each side so the position stays within ``max_position`` (a side that would grow ``|position|``
    past it shrinks, or is dropped when nothing is left); optionally shrink the side that adds to
    the position linearly with ``|position| / max_position`` (``shape_sizes``); with an
    ``entry_price``, keep the side that reduces the position at its unwind floor
    (:func:`unwind_floor_tick`). Sizes are rounded
    down to ``qty_step`` and a side below ``min_qty`` (default one step) is dropped.
    ``position``, ``max_position``, ``order_qty`` are in the instrument's base units (a position
    is a whole number of steps, as on the exchange).

    Every step after rounding only lowers the bid or raises the ask, so ``bid < ask`` always holds,
    even against a crossed book. The work is done in ticks and steps by :func:`shape_ticks`.
    """
    def steps(q: Decimal) -> int:
        return int((q / qty_step).to_integral_value(rounding=ROUND_FLOOR))

    smallest = qty_step if min_qty is None else max(min_qty, qty_step)
    floor = (None if entry_price is None or position == 0 else
             unwind_floor_tick(entry_price, Decimal(str(maker_fee)), tick, long=position > 0))
    t = shape_ticks(
        quote, tick=float(tick), order_steps=steps(order_qty), position_steps=steps(position),
        max_position_steps=None if max_position is None else steps(max_position),
        best_bid_tick=None if best_bid is None else int((best_bid / tick).to_integral_value(rounding=ROUND_CEILING)),
        best_ask_tick=None if best_ask is None else int((best_ask / tick).to_integral_value(rounding=ROUND_FLOOR)),
        maker_fee=maker_fee, min_steps=int((smallest / qty_step).to_integral_value(rounding=ROUND_CEILING)),
        shape_sizes=shape_sizes, unwind_floor=floor)
    return OrderTargets(None if t.bid_tick is None else tick * t.bid_tick,
                        None if t.bid_steps is None else (qty_step * t.bid_steps).quantize(qty_step),
                        None if t.ask_tick is None else tick * t.ask_tick,
                        None if t.ask_steps is None else (qty_step * t.ask_steps).quantize(qty_step),
                        t.notes)
