"""The sim's objects as Bybit JSON with what each serializer needs from the rest of the sim.

REST handlers and the WebSocket streams both call these, so an order, execution or position is
built by one serializer (:mod:`.serialize`) whichever way it leaves the emulator.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bybit_mm.emulator import serialize as ser
from bybit_mm.emulator.context import HandlerContext
from bybit_mm.sim.models import Execution, PositionView, SimOrder


def cum_fee(ctx: HandlerContext, order: SimOrder) -> Decimal:
    """Total fee charged on ``order``'s fills (the sim keeps fees per execution)."""
    if order.filled_qty == 0:
        return Decimal(0)
    return sum((e.fee for e in ctx.exchange.order_executions(order.order_id) if e.exec_type == "Trade"),
               Decimal(0))


def order(ctx: HandlerContext, o: SimOrder, fee: Decimal | None = None) -> dict[str, Any]:
    """An order (REST and ``order`` stream); ``fee`` is its cumulative fee when the caller knows it."""
    ex = ctx.exchange
    return ser.order_json(o, cum_fee(ctx, o) if fee is None else fee, ex.journal.order_closed_pnl(o.order_id),
                          ex.instrument(o.symbol))


def execution(ctx: HandlerContext, e: Execution, o: SimOrder | None) -> dict[str, Any]:
    """An execution (REST and ``execution`` stream)."""
    return ser.execution_json(e, o, ctx.next_seq(), ctx.exchange.instrument(e.symbol))


def position(ctx: HandlerContext, p: PositionView) -> dict[str, Any]:
    """A position (REST and ``position`` stream)."""
    _maker, taker = ctx.exchange.fee_rates(p.symbol)
    return ser.position_json(p, ctx.exchange.instrument(p.symbol), ctx.next_seq(), taker)
