"""Position and account endpoints (``/v5/position/*``, ``/v5/account/*``, ``/v5/user/query-api``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bybit_mm.emulator import serialize as ser
from bybit_mm.emulator import views
from bybit_mm.emulator.context import HandlerContext
from bybit_mm.emulator.params import Params, page
from bybit_mm.emulator.wire import ApiError, num, params_error

#: ``setMarginMode`` values of the unified account and the sim's margin modes.
UNIFIED_MARGIN_MODES = {"ISOLATED_MARGIN": "isolated", "REGULAR_MARGIN": "cross"}
#: Bybit's unified-account status 6 = UTA 2.0 Pro (what ccxt assumes by default).
UNIFIED_MARGIN_STATUS = 6


def positions(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/position/list``: by symbol (flat → size "0") or by settleCoin (open positions only)."""
    if p.string("category") == "inverse":
        # ccxt.pro's watch_positions snapshots linear and inverse positions; the emulated account
        # holds no inverse contracts, so it gets Bybit's answer for an account without any.
        return {"category": "inverse", "nextPageCursor": "", "list": []}
    p.category()
    symbol = p.string("symbol")
    if symbol:
        symbols = [ctx.instrument(symbol).symbol]
    else:
        settle = p.string("settleCoin")
        base = p.string("baseCoin")
        if not settle and not base:
            raise params_error("params error: symbol, baseCoin or settleCoin is required")
        symbols = [i.symbol for i in ctx.exchange.instruments()
                   if (not base or i.base == base) and (not settle or settle == ser.SETTLE_COIN)]
    rows = [v for s in symbols for v in ctx.exchange.positions(s)]
    if not symbol:
        # docs v5/position/position: with settleCoin and no symbol only positions with size > 0.
        rows = [v for v in rows if v.size > 0]
    chunk, cursor = page(rows, p, default_limit=20, max_limit=200)
    return {"category": "linear", "nextPageCursor": cursor, "list": [views.position(ctx, v) for v in chunk]}


def _leverage(p: Params) -> Decimal:
    buy = p.decimal("buyLeverage", required=True)
    sell = p.decimal("sellLeverage", required=True)
    assert buy is not None and sell is not None
    if buy != sell:
        raise params_error("params error: buyLeverage must equal sellLeverage in one-way mode")
    return buy


def set_leverage(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/position/set-leverage`` (110043 when unchanged, from the sim)."""
    p.category()
    inst = ctx.instrument(p.req("symbol"))
    ctx.exchange.set_leverage(inst.symbol, _leverage(p))
    return {}


#: Bybit's "The API cannot be accessed by unified account users." (docs v5/error).
UNIFIED_FORBIDDEN = 100028


def switch_isolated(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/position/switch-isolated``: classic accounts only (docs v5/abandon/cross-isolate:
    "UTA2.0: not supported"); the emulated account is UTA 2.0, so it is refused after the parameters
    are checked. The margin mode is set account-wide with ``/v5/account/set-margin-mode``."""
    p.category()
    ctx.instrument(p.req("symbol"))
    if p.integer("tradeMode", lo=0, hi=1) is None:
        raise params_error("params error: tradeMode is required")
    _leverage(p)
    raise ApiError(UNIFIED_FORBIDDEN, "The API cannot be accessed by unified account users.")


def set_margin_mode(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/account/set-margin-mode`` (unified account, account-wide)."""
    value = p.req("setMarginMode")
    mode = UNIFIED_MARGIN_MODES.get(value)
    if mode is None:
        if value == "PORTFOLIO_MARGIN":
            raise ApiError(3400045, "Set margin mode failed: portfolio margin is not emulated")
        raise params_error(f"params error: setMarginMode invalid ({value!r})")
    ctx.exchange.set_margin_mode(mode, None)
    return {"reasons": []}


def wallet_balance(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/account/wallet-balance?accountType=UNIFIED``."""
    account_type = p.req("accountType")
    if account_type != "UNIFIED":
        raise params_error(f"accountType only support UNIFIED (got {account_type!r})")
    coin = p.string("coin")
    return ser.wallet_json(ctx.exchange.wallet(), coin.split(",") if coin else None)


def fee_rate(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/account/fee-rate`` for one symbol or all."""
    p.category()
    symbol = p.string("symbol")
    symbols = [ctx.instrument(symbol).symbol] if symbol else ctx.symbols()
    rows = []
    for s in symbols:
        maker, taker = ctx.exchange.fee_rates(s)
        rows.append({"symbol": s, "baseCoin": "", "takerFeeRate": num(taker), "makerFeeRate": num(maker)})
    return {"list": rows}


def _account_margin_mode(ctx: HandlerContext) -> str:
    modes = {ctx.exchange.margin_mode(s) for s in ctx.symbols()}
    return "ISOLATED_MARGIN" if modes == {"isolated"} else "REGULAR_MARGIN"


def account_info(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/account/info``: a UTA 2.0 account in one-way mode."""
    return {"unifiedMarginStatus": UNIFIED_MARGIN_STATUS, "marginMode": _account_margin_mode(ctx),
            "isMasterTrader": False, "spotHedgingStatus": "OFF",
            "updatedTime": str(ctx.exchange.clock.now_ms()), "dcpStatus": "OFF", "timeWindow": 10,
            "smpGroup": 0}


def query_api(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/user/query-api``: the calling key, with trade permissions, on a unified account."""
    return {"id": "1", "note": "bybit-mm emulator", "apiKey": p.api_key, "readOnly": 0, "secret": "",
            "permissions": {"ContractTrade": ["Order", "Position"], "Spot": [], "Wallet": [],
                            "Options": [], "Derivatives": [], "CopyTrading": [], "BlockTrade": [],
                            "Exchange": [], "NFT": [], "Affiliate": [], "Earn": [], "FiatP2P": [],
                            "FiatBitPay": [], "FiatConvertBroker": [], "BitCard": [], "ByXPost": []},
            "ips": ["*"], "type": 1, "deadlineDay": -1, "expiredAt": "", "createdAt": "",
            "unified": 0, "uta": 1, "userID": 1, "inviterID": 0, "vipLevel": "No VIP",
            "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "", "isMaster": True,
            "parentUid": "0", "kycLevel": "LEVEL_DEFAULT", "kycRegion": ""}


#: What the emulator's TP/SL supports (docs v5/position/trading-stop): the whole position at market.
TRIGGER_BY = ("LastPrice", "MarkPrice", "IndexPrice")


def _price_or_zero(p: Params, name: str) -> Decimal | None:
    """A TP/SL price: None when not given (keep), 0 to cancel, else a positive price."""
    value = p.decimal(name, positive=False)
    if value is not None and value < 0:
        raise params_error(f"params error: {name} cannot be less than 0")
    return value


def trading_stop(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/position/trading-stop``: the position's take-profit / stop-loss for the whole position.

    The sim triggers them on the price each names (``tpTriggerBy``/``slTriggerBy``: LastPrice by
    default, MarkPrice, IndexPrice) and closes the whole position with a reduce-only market order.
    Partial sizes smaller than the position, limit TP/SL and trailing stops are refused, never ignored.
    """
    p.category()
    inst = ctx.instrument(p.req("symbol"))
    mode = p.req("tpslMode")
    if mode not in ("Full", "Partial"):
        raise params_error(f"params error: tpslMode invalid ({mode!r}; Full or Partial)")
    if mode == "Partial":
        # A partial TP/SL the size of the whole position at market is the full one (ccxt sends its
        # TP/SL this way); smaller sizes are not emulated.
        size = ctx.exchange.positions(inst.symbol)[0].size
        sizes = {p.decimal(name) for name in ("tpSize", "slSize")} - {None}
        if not sizes or sizes != {size}:
            raise params_error("params error: tpslMode Partial is emulated only with tpSize/slSize equal to "
                               f"the position size ({size})")
    if p.integer("positionIdx", 0) != 0:
        raise params_error("params error: position idx not match position mode (one-way mode: positionIdx 0)")
    trailing = p.decimal("trailingStop", positive=False)
    if trailing:
        raise params_error("params error: trailingStop is not supported by the emulator")
    for name in ("tpOrderType", "slOrderType"):
        if p.string(name, "Market") != "Market":
            raise params_error(f"params error: {name} Limit is not supported by the emulator (Market only)")
    by = {name: p.string(name) for name in ("tpTriggerBy", "slTriggerBy")}
    for name, value in by.items():
        if value is not None and value not in TRIGGER_BY:
            raise params_error(f"params error: {name} invalid ({value!r})")
    take_profit = _price_or_zero(p, "takeProfit")
    stop_loss = _price_or_zero(p, "stopLoss")
    if take_profit is None and stop_loss is None:
        raise params_error("params error: takeProfit or stopLoss is required")
    ctx.exchange.set_trading_stop(inst.symbol, take_profit=take_profit, stop_loss=stop_loss,
                                  tp_trigger_by=by["tpTriggerBy"], sl_trigger_by=by["slTriggerBy"])
    return {}


#: Bybit's "Position mode is not modified".
POSITION_MODE_NOT_MODIFIED = 110025


def switch_mode(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/position/switch-mode``: the emulator is one-way (mode 0) only, so 0 is "not
    modified" and hedge mode (3) is refused."""
    p.category()
    symbol = p.string("symbol")
    if symbol:
        ctx.instrument(symbol)
    elif p.string("coin") is None:
        raise params_error("params error: symbol or coin is required")
    mode = p.integer("mode")
    if mode is None:
        raise params_error("params error: mode is required")
    if mode == 0:
        raise ApiError(POSITION_MODE_NOT_MODIFIED, "Position mode is not modified")
    if mode == 3:
        raise params_error("params error: hedge mode (mode 3) is not supported by the emulator (one-way only)")
    raise params_error(f"params error: mode invalid ({mode}; 0 one-way, 3 both sides)")


def _window(ctx: HandlerContext, p: Params, span_ms: int) -> tuple[int, int]:
    """``startTime``/``endTime`` as Bybit reads them for history queries: neither → the last
    ``span_ms``; only one → ``span_ms`` from or up to it (docs v5/position/close-pnl)."""
    start = p.integer("startTime", lo=0)
    end = p.integer("endTime", lo=0)
    if start is None and end is None:
        end = ctx.exchange.clock.now_ms()
    if start is None:
        start = end - span_ms  # type: ignore[operator]
    elif end is None:
        end = start + span_ms
    if end < start:
        raise params_error("params error: endTime must not be before startTime")
    if end - start > span_ms:
        raise params_error(f"params error: the time range must not exceed {span_ms // 86_400_000 or 1} days")
    return start, end


_DAY_MS = 86_400_000


def closed_pnl(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/position/closed-pnl``, newest first: one record per closing order, from the
    sim's journal (limit 1..100, default 50; 7 days by default)."""
    p.category()
    symbol = p.string("symbol")
    if symbol:
        ctx.instrument(symbol)
    start, end = _window(ctx, p, 7 * _DAY_MS)
    rows = [c for c in ctx.exchange.journal.newest_closed()
            if (symbol is None or c.symbol == symbol) and start <= c.updated_ms <= end]
    chunk, cursor = page(rows, p, default_limit=50, max_limit=100)
    return {"category": "linear", "list": [ser.closed_pnl_json(c) for c in chunk], "nextPageCursor": cursor}


#: Transaction-log ``type`` values the sim produces.
TRANSACTION_TYPES = ("TRADE", "SETTLEMENT", "LIQUIDATION")


def transaction_log(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/account/transaction-log`` (UNIFIED): the sim's trades, fees, funding and
    liquidations, newest first (limit 1..50, default 20; 24 hours by default)."""
    account = p.string("accountType")
    if account not in (None, "UNIFIED"):
        raise params_error(f"accountType only support UNIFIED (got {account!r})")
    category = p.category(required=False)
    currency = p.string("currency")
    base = p.string("baseCoin")
    kind = p.string("type")
    start, end = _window(ctx, p, _DAY_MS)
    bases = {i.symbol: i.base for i in ctx.exchange.instruments()}
    rows = [t for t in ctx.exchange.journal.newest_log()
            if start <= t.ts_ms <= end and (kind is None or t.kind == kind)
            and (currency is None or currency == ser.SETTLE_COIN) and (base is None or bases.get(t.symbol) == base)
            and category in (None, "linear")]
    chunk, cursor = page(rows, p, default_limit=20, max_limit=50)
    return {"list": [ser.transaction_json(t, ctx.instrument(t.symbol)) for t in chunk], "nextPageCursor": cursor}


def coin_info(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``GET /v5/asset/coin/query-info``: the settle coin and the listed contracts' base coins."""
    coins = [ser.SETTLE_COIN] + sorted({i.base for i in ctx.exchange.instruments()} - {ser.SETTLE_COIN})
    wanted = p.string("coin")
    if wanted is not None:
        coins = [c for c in coins if c == wanted.upper()]
    return {"rows": [ser.coin_info_json(c) for c in coins]}
