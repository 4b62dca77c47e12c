"""Order and execution endpoints (``/v5/order/*``, ``/v5/execution/list``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bybit_mm.domain.orders import Side
from bybit_mm.emulator import serialize as ser
from bybit_mm.emulator.context import HandlerContext
from bybit_mm.emulator.params import Params, page
from bybit_mm.emulator.wire import ApiError, params_error
from bybit_mm.sim.models import SimOrder

ORDER_TYPES = ("Limit", "Market")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "PostOnly")
#: Conditional / TP-SL parameters the emulator does not implement (rejected, never ignored).
_UNSUPPORTED = ("triggerPrice", "takeProfit", "stopLoss", "tpTriggerBy", "slTriggerBy",
                "tpLimitPrice", "slLimitPrice", "triggerDirection")


def _side(p: Params) -> Side:
    value = p.req("side")
    if value not in ("Buy", "Sell"):
        raise params_error(f"params error: side invalid ({value!r}; Buy or Sell)")
    return Side(value)


def _position_idx(p: Params) -> None:
    idx = p.integer("positionIdx", 0)
    if idx != 0:
        raise ApiError(10001, "params error: position idx not match position mode (the emulator is "
                              "one-way mode: positionIdx 0)")


def _reject_unsupported(p: Params, *, allow_zero: bool = False) -> None:
    for name in _UNSUPPORTED:
        value = p.get(name)
        if value is not None and not (allow_zero and str(value) in ("0", "0.0")):
            raise params_error(f"params error: {name} (conditional / TP-SL orders) is not supported "
                               "by the emulator")


def cum_fee(ctx: HandlerContext, order: SimOrder) -> Decimal:
    """Total fee charged on ``order``'s fills (the sim keeps fees per execution)."""
    if order.filled_qty == 0:
        return Decimal(0)
    return sum((e.fee for e in ctx.exchange.order_executions(order.order_id) if e.exec_type == "Trade"),
               Decimal(0))


def _order(ctx: HandlerContext, o: SimOrder) -> dict[str, Any]:
    return ser.order_json(o, cum_fee(ctx, o))


def _ids(o: SimOrder) -> dict[str, str]:
    return {"orderId": o.order_id, "orderLinkId": o.order_link_id}


def create(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/order/create``: Limit/Market, GTC/IOC/FOK/PostOnly, reduceOnly, orderLinkId."""
    p.category()
    inst = ctx.instrument(p.req("symbol"))
    side = _side(p)
    order_type = p.req("orderType")
    if order_type not in ORDER_TYPES:
        raise params_error(f"params error: orderType invalid ({order_type!r})")
    qty = p.decimal("qty", required=True)
    price = p.decimal("price") if order_type == "Limit" else None
    if order_type == "Limit" and price is None:
        raise params_error("params error: price is required for Limit orders")
    tif = p.string("timeInForce", "GTC" if order_type == "Limit" else "IOC")
    if tif not in TIME_IN_FORCE:
        raise params_error(f"params error: timeInForce invalid ({tif!r})")
    if order_type == "Market" and tif == "PostOnly":
        raise params_error("params error: PostOnly is for Limit orders only")
    _position_idx(p)
    _reject_unsupported(p)
    if p.boolean("closeOnTrigger"):
        raise params_error("params error: closeOnTrigger is not supported by the emulator")
    order = ctx.exchange.place_order(symbol=inst.symbol, side=side, order_type=order_type, qty=qty,
                                     price=price, time_in_force=tif, reduce_only=p.boolean("reduceOnly"),
                                     order_link_id=p.order_link_id())
    return _ids(order)


def _target(p: Params) -> tuple[str, str]:
    order_id = p.string("orderId", "") or ""
    link_id = p.string("orderLinkId", "") or ""
    if not order_id and not link_id:
        raise params_error("params error: orderId or orderLinkId is required")
    return order_id, link_id


def amend(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/order/amend``: new qty and/or price; unknown extra keys are ignored, as Bybit does."""
    p.category()
    inst = ctx.instrument(p.req("symbol"))
    order_id, link_id = _target(p)
    _reject_unsupported(p, allow_zero=True)
    qty = p.decimal("qty")
    price = p.decimal("price")
    if qty is None and price is None:
        raise params_error("params error: amend needs qty or price")
    order = ctx.exchange.amend_order(symbol=inst.symbol, order_id=order_id, order_link_id=link_id,
                                     qty=qty, price=price)
    return _ids(order)


def cancel(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/order/cancel`` by orderId or orderLinkId."""
    p.category()
    inst = ctx.instrument(p.req("symbol"))
    order_id, link_id = _target(p)
    order = ctx.exchange.cancel_order(symbol=inst.symbol, order_id=order_id, order_link_id=link_id)
    return _ids(order)


def _settle_filter(ctx: HandlerContext, p: Params) -> list[str] | None:
    """Symbols selected by ``symbol`` / ``baseCoin`` / ``settleCoin`` (None = all); one is required."""
    symbol = p.string("symbol")
    if symbol:
        return [ctx.instrument(symbol).symbol]
    base = p.string("baseCoin")
    if base:
        return [i.symbol for i in ctx.exchange.instruments() if i.base == base]
    settle = p.string("settleCoin")
    if settle:
        return ctx.symbols() if settle == ser.SETTLE_COIN else []
    raise params_error("params error: symbol, baseCoin or settleCoin is required")


def cancel_all(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/order/cancel-all`` by symbol, baseCoin or settleCoin."""
    p.category()
    symbols = _settle_filter(ctx, p)
    cancelled: list[SimOrder] = []
    if symbols is not None and len(symbols) == len(ctx.symbols()):
        cancelled = ctx.exchange.cancel_all(None)
    else:
        for s in symbols or []:
            cancelled.extend(ctx.exchange.cancel_all(s))
    return {"list": [_ids(o) for o in cancelled], "success": "1"}


def realtime(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/order/realtime``: open orders; by orderId/orderLinkId also recent closed ones."""
    p.category()
    order_id = p.string("orderId", "") or ""
    link_id = p.string("orderLinkId", "") or ""
    if order_id or link_id:
        symbol = p.string("symbol")
        found = ctx.exchange.get_order(order_id=order_id, order_link_id=link_id)
        orders = [found] if found is not None and (symbol is None or found.symbol == symbol) else []
    else:
        symbols = _settle_filter(ctx, p)
        orders = [o for o in ctx.exchange.open_orders(None) if symbols is None or o.symbol in symbols]
        orders.sort(key=lambda o: (o.created_ms, o.order_id), reverse=True)
    chunk, cursor = page(orders, p, default_limit=20, max_limit=50)
    return {"category": "linear", "list": [_order(ctx, o) for o in chunk], "nextPageCursor": cursor}


def history(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/order/history``, newest first, filtered by id, status and time."""
    p.category()
    symbol = p.string("symbol")
    if symbol:
        ctx.instrument(symbol)
    order_id = p.string("orderId")
    link_id = p.string("orderLinkId")
    status = p.string("orderStatus")
    start = p.integer("startTime", lo=0)
    end = p.integer("endTime", lo=0)
    orders = [o for o in ctx.exchange.order_history(symbol, limit=1_000_000)
              if (order_id is None or o.order_id == order_id)
              and (link_id is None or o.order_link_id == link_id)
              and (status is None or o.status == status)
              and (start is None or o.created_ms >= start) and (end is None or o.created_ms <= end)]
    chunk, cursor = page(orders, p, default_limit=20, max_limit=50)
    return {"category": "linear", "list": [_order(ctx, o) for o in chunk], "nextPageCursor": cursor}


def executions(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/execution/list``, newest first (limit 1..100, default 50)."""
    p.category()
    symbol = p.string("symbol")
    if symbol:
        ctx.instrument(symbol)
    order_id = p.string("orderId")
    link_id = p.string("orderLinkId")
    exec_type = p.string("execType")
    start = p.integer("startTime", lo=0)
    end = p.integer("endTime", lo=0)
    rows = [e for e in ctx.exchange.executions(symbol, limit=1_000_000, start_ms=start, end_ms=end)
            if (order_id is None or e.order_id == order_id)
            and (link_id is None or e.order_link_id == link_id)
            and (exec_type is None or e.exec_type == exec_type)]
    chunk, cursor = page(rows, p, default_limit=50, max_limit=100)
    out = []
    for e in chunk:
        order = ctx.exchange.get_order(order_id=e.order_id) if e.order_id else None
        out.append(ser.execution_json(e, order, ctx.next_seq()))
    return {"category": "linear", "list": out, "nextPageCursor": cursor}
