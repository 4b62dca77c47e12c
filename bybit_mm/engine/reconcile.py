"""Order reconciliation: from target quotes and working orders to the fewest order actions.

Per side the engine keeps at most one working quote. A target that moved at least
``requote_ticks`` ticks (or changed size) is reached by AMENDING the working order (one request,
keeps the order id); a new order is placed only when there is nothing to amend, and orders are
cancelled when a side must not be quoted or there are extras (e.g. left by a retried create).
Reduce-only orders belong to the risk guard and are left alone here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bybit_mm.domain.orders import Side
from bybit_mm.exchange.port import OrderInfo

ActionKind = Literal["place", "amend", "cancel"]


@dataclass(frozen=True)
class Target:
    """A quote the engine wants resting: price on the tick, total qty (rounded to the step)."""

    side: Side
    price: Decimal
    qty: Decimal


@dataclass(frozen=True)
class Action:
    """One request to send. ``order`` is the working order acted on (amend, cancel)."""

    kind: ActionKind
    side: Side
    price: Decimal | None = None
    qty: Decimal | None = None
    order: OrderInfo | None = None
    reason: str = ""


def _side_plan(side: Side, target: Target | None, working: list[OrderInfo], tick: Decimal,
               requote_ticks: int) -> list[Action]:
    if target is None:
        return [Action("cancel", side, order=o, reason="side not quoted") for o in working]
    if not working:
        return [Action("place", side, target.price, target.qty, reason="new quote")]
    if len(working) == 1 and working[0].price == target.price and working[0].remaining_qty == target.qty:
        return []  # already there
    # Keep the order closest to the target, cancel the rest.
    keep = min(working, key=lambda o: abs((o.price or Decimal(0)) - target.price))
    actions = [Action("cancel", side, order=o, reason="extra order") for o in working if o is not keep]
    moved_ticks = abs((keep.price or Decimal(0)) - target.price) / tick
    move = moved_ticks > 0 and moved_ticks >= requote_ticks
    resized = keep.remaining_qty != target.qty
    if move or resized:
        # Amend takes the order's new TOTAL qty: what already filled plus the wanted remainder.
        actions.append(Action("amend", side, target.price if move else keep.price,
                              keep.filled_qty + target.qty, order=keep,
                              reason="requote" if move else "resize"))
    return actions


def plan_actions(targets: dict[Side, Target | None], working: list[OrderInfo], *, tick: Decimal,
                 requote_ticks: int) -> list[Action]:
    """The actions that turn ``working`` (our open non-reduce-only orders) into ``targets``.

    Cancels come first (they free margin and can never hurt), then amends, then new orders.
    """
    actions: list[Action] = []
    for side in (Side.BUY, Side.SELL):
        mine = [o for o in working if o.side is side and not o.reduce_only and o.is_open]
        actions.extend(_side_plan(side, targets.get(side), mine, tick, requote_ticks))
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
