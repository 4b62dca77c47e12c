"""Position and account endpoints (``/v5/position/*``, ``/v5/account/*``, ``/v5/user/query-api``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bybit_mm.emulator import serialize as ser
from bybit_mm.emulator import views
from bybit_mm.emulator.context import HandlerContext
from bybit_mm.emulator.params import Params, page
from bybit_mm.emulator.wire import ApiError, num, params_error
from bybit_mm.sim.errors import LEVERAGE_NOT_MODIFIED, LEVERAGE_RISK_LIMIT, SimError

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


def switch_isolated(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/position/switch-isolated`` (classic account): tradeMode 0 cross / 1 isolated."""
    p.category()
    inst = ctx.instrument(p.req("symbol"))
    trade_mode = p.integer("tradeMode", lo=0, hi=1)
    if trade_mode is None:
        raise params_error("params error: tradeMode is required")
    leverage = _leverage(p)
    if leverage > inst.max_leverage or leverage < 1:
        raise ApiError(LEVERAGE_RISK_LIMIT, f"cannot set leverage [{leverage}] gt maxLeverage "
                                            f"[{inst.max_leverage}] by risk limit")
    ctx.exchange.set_margin_mode("isolated" if trade_mode == 1 else "cross", inst.symbol)
    try:
        ctx.exchange.set_leverage(inst.symbol, leverage)
    except SimError as e:
        if e.ret_code != LEVERAGE_NOT_MODIFIED:
            raise
    return {}


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
                            "Exchange": [], "NFT": [], "Affiliate": []},
            "ips": ["*"], "type": 1, "deadlineDay": -1, "expiredAt": "", "createdAt": "",
            "unified": 0, "uta": 1, "userID": 1, "inviterID": 0, "vipLevel": "No VIP",
            "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "", "isMaster": True,
            "parentUid": "0", "kycLevel": "LEVEL_DEFAULT", "kycRegion": ""}
