"""Public market-data endpoints (``/v5/market/*``)."""

from __future__ import annotations

from typing import Any

from bybit_mm.emulator import serialize as ser
from bybit_mm.emulator.auth import wall_ms
from bybit_mm.emulator.context import HandlerContext
from bybit_mm.emulator.params import Params, cursor_token, page
from bybit_mm.emulator.wire import num, params_error

#: Bybit's kline intervals in minutes ("M", a calendar month, is not emulated).
KLINE_INTERVALS = {"1": 1, "3": 3, "5": 5, "15": 15, "30": 30, "60": 60, "120": 120, "240": 240,
                   "360": 360, "720": 720, "D": 1440, "W": 10080}


def server_time(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/market/time``: the clock request signatures are checked against (wall time).

    Bybit's auth rule is ``server_time - recv_window <= timestamp < server_time + 1000`` with
    server_time "queried via the Server Time endpoint" (docs v5/guide), so a client syncing its
    signing clock here must get the auth clock, at any ``--speed``. Market data and the envelope's
    ``time`` carry the simulated clock.
    """
    now = wall_ms()
    return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}


def instruments_info(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/market/instruments-info``; ``status=PreLaunch`` (and other non-trading) → empty.

    The emulator lists linear contracts only: spot, inverse and option come back empty, so a client
    loading every market type (ccxt's default ``load_markets``) gets the linear ones.
    """
    other = p.string("category")
    if other in ("spot", "inverse", "option"):
        return {"category": other, "list": [], "nextPageCursor": ""}
    p.category()
    symbol = p.string("symbol")
    status = p.string("status")
    base = p.string("baseCoin")
    items = [] if status not in (None, "Trading") else [
        ser.instrument_json(i, n) for n, i in enumerate(ctx.exchange.instruments(), start=1)
        if (symbol is None or i.symbol == symbol) and (base is None or i.base == base)]
    chunk, cursor = page(items, p, default_limit=500, max_limit=1000)
    return {"category": "linear", "list": chunk, "nextPageCursor": cursor}


def tickers(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/market/tickers`` for one symbol or all."""
    p.category()
    symbol = p.string("symbol")
    symbols = [ctx.instrument(symbol).symbol] if symbol else ctx.symbols()
    return {"category": "linear",
            "list": [ser.ticker_json(ctx.exchange.ticker(s), ctx.instrument(s)) for s in symbols]}


def orderbook(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/market/orderbook`` (linear depth 1..500, default 25)."""
    p.category()
    inst = ctx.instrument(p.req("symbol"))
    depth = p.limit(25, 500)
    return ser.orderbook_json(ctx.exchange.orderbook(inst.symbol, depth))


def recent_trades(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/market/recent-trade``, newest first (limit 1..1000, default 500)."""
    p.category()
    inst = ctx.instrument(p.req("symbol"))
    limit = p.limit(500, 1000)
    return {"category": "linear",
            "list": [ser.trade_json(t) for t in ctx.exchange.recent_trades(inst.symbol, limit)]}


def kline(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/market/kline``, newest first (limit 1..1000, default 200)."""
    p.category(required=False)
    inst = ctx.instrument(p.req("symbol"))
    interval = p.req("interval")
    if interval not in KLINE_INTERVALS:
        raise params_error(f"params error: interval {interval!r} is not supported "
                           f"(one of {', '.join(KLINE_INTERVALS)})")
    start = p.integer("start", lo=0)
    end = p.integer("end", lo=0)
    limit = p.limit(200, 1000)
    rows = ctx.exchange.klines(inst.symbol, KLINE_INTERVALS[interval], start, end, limit)
    return {"category": "linear", "symbol": inst.symbol, "list": [ser.kline_row(k) for k in rows]}


def risk_limit(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/market/risk-limit`` for one symbol or all."""
    p.category()
    symbol = p.string("symbol")
    insts = [ctx.instrument(symbol)] if symbol else list(ctx.exchange.instruments())
    items = [row for inst in insts for row in ser.risk_tiers_json(inst)]
    chunk, cursor = page(items, p, default_limit=len(items) or 1, max_limit=max(len(items), 1))
    return {"category": "linear", "list": chunk, "nextPageCursor": cursor}


def funding_history(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/market/funding/history``, newest first (limit 1..200, default 200)."""
    p.category()
    inst = ctx.instrument(p.req("symbol"))
    start = p.integer("startTime", lo=0)
    end = p.integer("endTime", lo=0)
    limit = p.limit(200, 200)
    rows = ctx.exchange.funding_history(inst.symbol, 10_000)
    rows = [(ts, rate) for ts, rate in rows
            if (start is None or ts >= start) and (end is None or ts <= end)][:limit]
    return {"category": "linear", "list": [
        {"symbol": inst.symbol, "fundingRate": num(rate), "fundingRateTimestamp": str(ts)}
        for ts, rate in rows]}


#: ``intervalTime`` values of ``/v5/market/open-interest`` in ms.
OI_INTERVALS = {"5min": 300_000, "15min": 900_000, "30min": 1_800_000, "1h": 3_600_000,
                "4h": 14_400_000, "1d": 86_400_000}


def open_interest(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/market/open-interest``, newest first (limit 1..200, default 50): the sim's open
    interest at each interval boundary (both sides; ``singleOpenInterest`` is one side's half)."""
    p.category()
    inst = ctx.instrument(p.req("symbol"))
    interval = p.req("intervalTime")
    width = OI_INTERVALS.get(interval)
    if width is None:
        raise params_error(f"params error: intervalTime {interval!r} is not one of {', '.join(OI_INTERVALS)}")
    now = ctx.exchange.clock.now_ms()
    end = min(p.integer("endTime", lo=0) or now, now)
    start = p.integer("startTime", lo=0) or 0
    limit = p.limit(50, 200)
    offset = p.cursor()
    oi = ctx.exchange.ticker(inst.symbol).open_interest
    last = end - end % width - offset * width
    stamps = [t for t in (last - i * width for i in range(limit)) if t >= max(start, ser.LAUNCH_TIME_MS)]
    more = bool(stamps) and stamps[-1] - width >= max(start, ser.LAUNCH_TIME_MS) and len(stamps) == limit
    return {"category": "linear", "symbol": inst.symbol,
            "list": [{"openInterest": num(oi), "singleOpenInterest": num(oi / 2), "timestamp": str(t)}
                     for t in stamps],
            "nextPageCursor": cursor_token(offset + limit) if more else ""}
