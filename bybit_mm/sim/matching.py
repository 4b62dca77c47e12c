"""How our resting limit orders get filled by the synthetic market's trades: the queue models.

Our orders are not in the synthetic book; they fill only from the market's prints, always at
THEIR OWN limit price (never the better trade price). A print can fill several of our orders,
best price first, but never more than its own quantity in total. Two models, chosen by name:

``trade_through`` (conservative, the default)
    A resting buy fills only when a sell trade prints strictly BELOW its price (a sell: a buy
    strictly above). Prints at our price never fill us: we assume we are last in the queue.
    Fill size ≤ the print's quantity.

``queue`` (probabilistic queue position)
    When an order becomes active it joins behind the size displayed at its price level (0 if
    it improves on the synthetic touch). Prints AT our price consume the queue ahead first, and
    what is left fills us; prints through our price fill us directly. Every book step a random
    fraction of the queue ahead cancels (``cancel_rate_per_s`` on average), and if the synthetic
    touch moves behind our price nobody is left ahead of us.

On replayed market data (the backtest, :mod:`bybit_mm.sim.replay`) the displayed size at our
level is known after every book update: ``on_depth`` moves us up when it shrinks below the
queue ahead (hftbacktest's risk-averse rule: ``ahead = min(ahead, displayed)``), and the random
cancellations of ``on_step`` are not used.

``power`` and ``log`` (probabilistic queue position driven by depth, hftbacktest's
``ProbQueueModel`` with ``PowerProbQueueFunc(3)`` / ``LogProbQueueFunc``)
    Join behind the displayed size. Prints at our price eat the queue ahead first (what is left
    fills us); prints through it fill us directly. When the displayed size at our level
    changes (every book update on replayed data, every book step on the synthetic market):
    an increase joins behind us (ahead is only capped by the new size); a decrease, net of the
    volume printed at our level since the last change (already taken off the queue ahead: one
    traded unit is never counted twice), is a cancellation split between ahead and behind us
    by its expected value: with ``front`` ahead and ``back = previous − front`` behind,
    ``p = f(back) / (f(back) + f(front))`` is the probability that it came from behind,
    ``f(x) = x³`` (``power``) or ``ln(1 + x)`` (``log``), and
    ``ahead ← min(front − (1 − p)·chg + min(back − p·chg, 0), displayed)``.

The models are small objects with the same few methods, so another one can be added without
touching the exchange. :func:`match_print` is the
one place where a print is matched against our resting orders, for the simulated exchange and
the backtest alike (integer ticks and lot steps).
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Protocol

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.orders import Side
from bybit_mm.domain.rounding import OrderTooSmall, check_order
from bybit_mm.sim import errors as E
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.models import SimOrder

ZERO = Decimal(0)


def new_id(salt: str, seq: int) -> str:
    """An order or execution id: a UUID hashed from (salt, sequence), so runs are reproducible."""
    digest = hashlib.blake2b(f"{salt}-{seq}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def check_amend(o: OrderRecord, new_price: Decimal, new_qty: Decimal) -> None:
    """Bybit's refusals of an amend that changes nothing (10001) or leaves no more than what has
    filled (110064), as SimErrors."""
    if new_qty == o.qty and new_price == o.price:
        raise SimError(E.PARAMS_ERROR, "The order remains unchanged as the parameters entered match "
                                       "the existing ones")
    if new_qty <= o.filled:
        raise SimError(110064, "The number of contracts modified cannot be less than or equal to the "
                               "filled quantity")


def validate_size(inst: Instrument, qty: Decimal, price: Decimal) -> None:
    """The instrument's size and value rules for an order, as Bybit's retCodes (SimError)."""
    try:
        check_order(inst, qty, price)
    except OrderTooSmall as e:
        code = {"min_notional": E.NOTIONAL_TOO_SMALL, "price_range": E.PRICE_OUT_OF_RANGE}.get(
            e.reason, E.PARAMS_ERROR)
        # Bybit's own words for quantities outside the lot-size filter.
        message = {"max_qty": "The number of contracts exceeds maximum limit allowed: too large",
                   "min_qty": "The number of contracts exceeds minimum limit allowed"}.get(e.reason, e.message)
        raise SimError(code, message) from None


class OrderRecord:
    """The exchange's live, mutable copy of one of our orders (``view()`` gives a SimOrder)."""

    __slots__ = ("order_id", "order_link_id", "symbol", "side", "order_type", "price", "tick", "qty",
                 "filled", "value", "time_in_force", "reduce_only", "status", "reject_reason",
                 "created_ms", "updated_ms", "active_ms", "active", "queue_ahead", "queue_level",
                 "queue_traded", "seq", "create_type", "stop_order_type")

    def __init__(self, *, order_id: str, order_link_id: str, symbol: str, side: Side, order_type: str,
                 price: Decimal, tick: int, qty: Decimal, time_in_force: str, reduce_only: bool,
                 created_ms: int, active_ms: int, seq: int) -> None:
        self.order_id = order_id
        self.order_link_id = order_link_id
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.price = price
        self.tick = tick
        self.qty = qty
        self.filled = ZERO
        self.value = ZERO
        self.time_in_force = time_in_force
        self.reduce_only = reduce_only
        self.status = "New"
        self.reject_reason = "EC_NoError"
        self.created_ms = created_ms
        self.updated_ms = created_ms
        self.active_ms = active_ms
        self.active = False
        self.queue_ahead = 0.0
        self.queue_level = 0  # the displayed size at the order's level when last seen (depth models)
        self.queue_traded = 0  # steps printed at the order's level since then (depth models)
        self.seq = seq
        self.create_type = "CreateByUser"
        self.stop_order_type = ""

    @property
    def leaves(self) -> Decimal:
        """Quantity still to fill."""
        return self.qty - self.filled

    @property
    def is_live(self) -> bool:
        """New or PartiallyFilled."""
        return self.status in ("New", "PartiallyFilled")

    def view(self) -> SimOrder:
        """A frozen snapshot."""
        avg = (self.value / self.filled) if self.filled else None
        return SimOrder(self.order_id, self.order_link_id, self.symbol, self.side, self.order_type,
                        self.price, self.qty, self.filled, avg, self.time_in_force, self.reduce_only,
                        self.status, self.reject_reason, self.created_ms, self.updated_ms,
                        self.create_type, self.stop_order_type)


class QueueModel(Protocol):
    """Decides how much of a print reaches one of our resting orders."""

    name: str

    def on_join(self, order: OrderRecord, displayed_steps: int) -> None:
        """The order became active (or was re-priced) with ``displayed_steps`` shown at its level."""

    def on_step(self, order: OrderRecord, displayed_steps: int, step_ms: int) -> None:
        """A book step passed; ``displayed_steps`` is the size now shown at the order's level."""

    def on_depth(self, order: OrderRecord, displayed_steps: int) -> None:
        """Replayed data: the size displayed at the order's level is now ``displayed_steps``."""

    def fillable(self, order: OrderRecord, through: bool, print_steps: int) -> int:
        """Of a print of ``print_steps`` at (``through=False``) or through our price, how many
        steps may fill this order (the caller caps by the order's leaves)."""


class TradeThroughModel:
    """Fill only on prints strictly through our price."""

    name = "trade_through"

    def on_join(self, order: OrderRecord, displayed_steps: int) -> None:
        order.queue_ahead = 0.0

    def on_step(self, order: OrderRecord, displayed_steps: int, step_ms: int) -> None:
        return None

    def on_depth(self, order: OrderRecord, displayed_steps: int) -> None:
        return None

    def fillable(self, order: OrderRecord, through: bool, print_steps: int) -> int:
        return print_steps if through else 0


class QueuePositionModel:
    """Join behind the displayed size; prints at our level eat the queue ahead first."""

    name = "queue"

    def __init__(self, rng: random.Random, cancel_rate_per_s: float = 0.05) -> None:
        self._rng = rng
        self.cancel_rate_per_s = cancel_rate_per_s

    def on_join(self, order: OrderRecord, displayed_steps: int) -> None:
        order.queue_ahead = float(displayed_steps)

    def on_step(self, order: OrderRecord, displayed_steps: int, step_ms: int) -> None:
        if order.queue_ahead <= 0:
            return
        if displayed_steps == 0:
            order.queue_ahead = 0.0
            return
        # Uniform draw with mean cancel_rate·dt: cancellations ahead of us move us up.
        order.queue_ahead *= 1.0 - 2.0 * self.cancel_rate_per_s * step_ms / 1000.0 * self._rng.random()

    def on_depth(self, order: OrderRecord, displayed_steps: int) -> None:
        if displayed_steps < order.queue_ahead:
            order.queue_ahead = float(displayed_steps)

    def fillable(self, order: OrderRecord, through: bool, print_steps: int) -> int:
        if through:
            order.queue_ahead = 0.0
            return print_steps
        ahead = order.queue_ahead
        if ahead >= print_steps:
            order.queue_ahead = ahead - print_steps
            return 0
        order.queue_ahead = 0.0
        return print_steps - int(ahead + 0.999999)


class ProbQueueModel:
    """Queue position advanced by prints at our price and by depth decreases split by ``prob``."""

    def __init__(self, name: str, f: Callable[[float], float]) -> None:
        self.name = name
        self._f = f

    def on_join(self, order: OrderRecord, displayed_steps: int) -> None:
        order.queue_ahead = float(displayed_steps)
        order.queue_level = displayed_steps
        order.queue_traded = 0

    def on_step(self, order: OrderRecord, displayed_steps: int, step_ms: int) -> None:
        self.on_depth(order, displayed_steps)

    def on_depth(self, order: OrderRecord, displayed_steps: int) -> None:
        prev = order.queue_level
        if displayed_steps == prev:
            return
        order.queue_level = displayed_steps
        chg = prev - displayed_steps - order.queue_traded  # the prints were taken off already
        order.queue_traded = 0
        front = order.queue_ahead
        if chg > 0:
            back = max(prev - front, 0.0)
            fb, ff = self._f(back), self._f(front)
            p = fb / (fb + ff) if fb + ff > 0 else 1.0  # P(the cancelled volume was behind us)
            front = front - (1.0 - p) * chg + min(back - p * chg, 0.0)
        order.queue_ahead = max(0.0, min(front, float(displayed_steps)))

    def fillable(self, order: OrderRecord, through: bool, print_steps: int) -> int:
        if through:
            order.queue_ahead = 0.0
            return print_steps
        order.queue_traded += print_steps
        ahead = order.queue_ahead
        if ahead >= print_steps:
            order.queue_ahead = ahead - print_steps
            return 0
        order.queue_ahead = 0.0
        return print_steps - math.ceil(ahead - 1e-9)


def match_print(resting: Sequence[OrderRecord], price_tick: int, qty_steps: int, ts_ms: int,
                queue: QueueModel, fill: Callable[[OrderRecord, int], int], *, late: bool = False) -> None:
    """Match one print against our resting orders on the side it can reach.

    ``resting``: our live orders on that side (bids for a sell print, asks for a buy print), best
    price first. Each order the print reaches (at or through its price) is offered what the queue
    model allows of what is left of the print; ``fill(order, steps)`` books it at the order's own
    price and returns the steps it filled. ``late``: prints older than an order's activation never
    fill it (a replayed or external feed can deliver them).
    """
    remaining = qty_steps
    for o in list(resting):
        if late and o.active_ms > ts_ms:
            continue
        if o.side is Side.BUY:
            if o.tick < price_tick:
                break
            through = price_tick < o.tick
        else:
            if o.tick > price_tick:
                break
            through = price_tick > o.tick
        n = queue.fillable(o, through, remaining)
        if n <= 0:
            continue
        remaining -= fill(o, n)
        if remaining <= 0:
            break


QUEUE_MODELS = ("trade_through", "queue", "power", "log")


def make_queue_model(name: str, rng: random.Random) -> QueueModel:
    """The queue model called ``name`` (see the module docstring); ValueError if unknown."""
    if name == "trade_through":
        return TradeThroughModel()
    if name == "queue":
        return QueuePositionModel(rng)
    if name == "power":
        return ProbQueueModel(name, lambda x: x ** 3)
    if name == "log":
        return ProbQueueModel(name, math.log1p)
    raise ValueError(f"unknown queue model {name!r} (known: {', '.join(QUEUE_MODELS)})")
