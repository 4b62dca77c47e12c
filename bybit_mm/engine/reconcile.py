"""Order reconciliation: from target quotes and working orders to the fewest order actions.

Per side the engine keeps at most one working quote. A target that moved at least
``requote_ticks`` ticks (or changed size) is reached by AMENDING the working order (one request,
keeps the order id); a new order is placed only when there is nothing to amend, and orders are
cancelled when a side must not be quoted or there are extras (e.g. left by a retried create).
Reduce-only orders belong to the risk guard; drivers leave them out of the working orders.

Everything here is integer ticks and lot steps; the drivers turn an action into the exchange's
Decimals (price ``tick x tick_size``, quantity ``steps x qty_step``) when they send it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from bybit_mm.domain.orders import Side

ActionKind = Literal["place", "amend", "cancel"]


class Working(NamedTuple):
    """One of our working (open, not reduce-only) orders as the core sees it."""

    side: Side
    #: Price in ticks.
    tick: int
    #: What is left to fill, in lot steps.
    steps: int
    #: What has filled, in lot steps.
    filled_steps: int
    #: The driver's handle on the order (the async driver: its OrderInfo; the backtest: its id).
    ref: Any


class Target(NamedTuple):
    """A quote the engine wants resting: price in ticks, size in lot steps."""

    side: Side
    tick: int
    steps: int


class Action(NamedTuple):
    """One request to send. ``order`` is the working order acted on (amend, cancel).

    ``tick``: the price in ticks (place, amend); ``steps``: the order's TOTAL size in lot steps
    (place: the target's; amend: what already filled plus the wanted remainder)."""

    kind: ActionKind
    side: Side
    tick: int | None = None
    steps: int | None = None
    order: Working | None = None
    reason: str = ""


def _side_plan(side: Side, target: Target | None, working: list[Working], requote_ticks: int) -> list[Action]:
    if target is None:
        return [Action("cancel", side, order=o, reason="side not quoted") for o in working]
    if not working:
        return [Action("place", side, target.tick, target.steps, reason="new quote")]
    if len(working) == 1:
        keep = working[0]
        actions: list[Action] = []
    else:  # keep the order closest to the target, cancel the rest
        keep = min(working, key=lambda o: abs(o.tick - target.tick))
        actions = [Action("cancel", side, order=o, reason="extra order") for o in working if o is not keep]
    moved = abs(keep.tick - target.tick)
    move = moved > 0 and moved >= requote_ticks
    resized = keep.steps != target.steps
    if move or resized:
        # Amend takes the order's new TOTAL qty: what already filled plus the wanted remainder.
        actions.append(Action("amend", side, target.tick if move else keep.tick, keep.filled_steps + target.steps,
                              order=keep, reason="requote" if move else "resize"))
    return actions


def plan_actions(buy: Target | None, sell: Target | None, working: Sequence[Working], *,
                 requote_ticks: int) -> list[Action]:
    """The actions that turn ``working`` (our open non-reduce-only orders) into the targets
    ``buy`` and ``sell`` (None: that side is not quoted).

    Cancels come first (they free margin and can never hurt), then amends, then new orders.
    """
    if len(working) == 2 and buy is not None and sell is not None:
        b, a = working
        if b.side is not Side.BUY:
            b, a = a, b
        if (b.side is Side.BUY and a.side is Side.SELL and b.tick == buy.tick and b.steps == buy.steps
                and a.tick == sell.tick and a.steps == sell.steps):
            return []  # both quotes already there (most decisions)
    actions: list[Action] = []
    bids: list[Working] = []
    asks: list[Working] = []
    for o in working:
        (bids if o.side is Side.BUY else asks).append(o)
    for side, target, mine in ((Side.BUY, buy, bids), (Side.SELL, sell, asks)):
        if (target is not None and len(mine) == 1 and mine[0].tick == target.tick
                and mine[0].steps == target.steps):
            continue  # already there
        if target is None and not mine:
            continue
        actions.extend(_side_plan(side, target, mine, requote_ticks))
    if len(actions) < 2:
        return actions
    return sorted(actions, key=lambda a: _ACTION_ORDER[a.kind])


_ACTION_ORDER = {"cancel": 0, "amend": 1, "place": 2}


class RateBudget:
    """Token buckets per endpoint on the engine clock (Bybit limits each order endpoint per second)."""

    def __init__(self, per_second: float, *, burst: float | None = None) -> None:
        self.per_second = per_second
        self.burst = burst if burst is not None else per_second
        self._tokens: dict[str, float] = {}
        self._last: dict[str, int] = {}
        self.denied = 0

    def try_take(self, endpoint: str, now_ms: int) -> bool:
        """Spend one request on ``endpoint`` if the bucket allows it at ``now_ms``."""
        tokens = self._tokens.get(endpoint, self.burst)
        last = self._last.get(endpoint, now_ms)
        tokens = min(self.burst, tokens + (now_ms - last) / 1000.0 * self.per_second)
        self._last[endpoint] = now_ms
        if tokens >= 1.0:
            self._tokens[endpoint] = tokens - 1.0
            return True
        self._tokens[endpoint] = tokens
        self.denied += 1
        return False


_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


class OrderIds:
    """Deterministic client order ids (Bybit orderLinkId: <= 36 chars of ``[A-Za-z0-9_-]``).

    ``mm-<run start ms, base36>-<sequence, base36><b|a|r>``: unique across runs (runs start at
    different times) and within a run (the sequence only grows; a resumed run continues it).
    """

    def __init__(self, run_start_ms: int, start_seq: int = 0, prefix: str = "mm") -> None:
        self.base = f"{prefix}-{_base36(run_start_ms)}"
        self.seq = start_seq

    def next(self, kind: str) -> str:
        """A fresh id; ``kind`` is ``b`` (bid), ``a`` (ask) or ``r`` (reduce / flatten)."""
        self.seq += 1
        cid = f"{self.base}-{_base36(self.seq)}{kind}"
        assert len(cid) <= 36
        return cid
