"""The sim's dataclasses as Bybit V5 JSON (category linear): field names, string numbers, shapes.

Shapes follow Bybit's V5 documentation and what ccxt's ``parse_*`` methods read. Fields Bybit
sends but the sim has no notion of (TP/SL, options greeks, SMP, ...) are sent empty as Bybit
sends them for plain orders.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from bybit_mm.domain.instruments import Instrument, RiskTier
from bybit_mm.emulator.wire import num
from bybit_mm.sim.models import (
    BookSnapshot,
    Execution,
    Kline,
    PositionView,
    SimOrder,
    Ticker,
    Trade,
    WalletView,
)

#: Bybit's launch time of its first USDT perpetual (BTCUSDT), used for every emulated symbol.
LAUNCH_TIME_MS = 1585526400000
SETTLE_COIN = "USDT"


def _scale(step: Decimal) -> int:
    exponent = step.as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def instrument_json(inst: Instrument) -> dict[str, Any]:
    """One entry of ``/v5/market/instruments-info``."""
    return {
        "symbol": inst.symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": inst.base,
        "quoteCoin": inst.quote,
        "launchTime": str(LAUNCH_TIME_MS),
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(_scale(inst.tick_size)),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{inst.max_leverage:.2f}",
                           "leverageStep": "0.01"},
        "priceFilter": {"minPrice": str(inst.min_price), "maxPrice": str(inst.max_price),
                        "tickSize": str(inst.tick_size)},
        "lotSizeFilter": {"maxOrderQty": str(inst.max_qty), "minOrderQty": str(inst.min_qty),
                          "qtyStep": str(inst.qty_step), "postOnlyMaxOrderQty": str(inst.max_qty),
                          "maxMktOrderQty": str(inst.max_qty), "minNotionalValue": num(inst.min_notional)},
        "unifiedMarginTrade": True,
        "fundingInterval": inst.funding_interval_min,
        "settleCoin": SETTLE_COIN,
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": False,
        "preListingInfo": None,
        "displayName": "",
    }


def risk_tiers_json(inst: Instrument) -> list[dict[str, Any]]:
    """``/v5/market/risk-limit`` entries: ids from 1, fractions as strings."""
    return [risk_tier_json(inst.symbol, i + 1, tier, i == 0) for i, tier in enumerate(inst.risk_tiers)]


def risk_tier_json(symbol: str, tier_id: int, tier: RiskTier, lowest: bool) -> dict[str, Any]:
    """One risk-limit tier."""
    return {
        "id": tier_id,
        "symbol": symbol,
        "riskLimitValue": num(tier.limit_value),
        "maintenanceMargin": num(tier.mmr),
        "initialMargin": num(tier.imr.quantize(Decimal("0.0001"))),
        "isLowestRisk": 1 if lowest else 0,
        "maxLeverage": f"{tier.max_leverage:.2f}",
        "mmDeduction": num(tier.mm_deduction) if tier.mm_deduction else "",
    }


def ticker_json(t: Ticker, inst: Instrument) -> dict[str, Any]:
    """One entry of ``/v5/market/tickers`` (linear)."""
    pct = ((t.last - t.prev_price_24h) / t.prev_price_24h).quantize(Decimal("0.000001")) \
        if t.prev_price_24h else Decimal(0)
    return {
        "symbol": t.symbol,
        "lastPrice": num(t.last),
        "indexPrice": num(t.index),
        "markPrice": num(t.mark),
        "prevPrice24h": num(t.prev_price_24h),
        "price24hPcnt": num(pct),
        "highPrice24h": num(t.high_24h),
        "lowPrice24h": num(t.low_24h),
        "prevPrice1h": "",
        "openInterest": num(t.open_interest),
        "openInterestValue": num((t.open_interest * t.mark).quantize(Decimal("0.01"))),
        "turnover24h": num(t.turnover_24h),
        "volume24h": num(t.volume_24h),
        "fundingRate": num(t.funding_rate),
        "nextFundingTime": str(t.next_funding_ms),
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "deliveryFeeRate": "",
        "deliveryTime": "0",
        "ask1Size": num(t.ask_size),
        "bid1Price": num(t.bid),
        "ask1Price": num(t.ask),
        "bid1Size": num(t.bid_size),
        "basis": "",
        "fundingIntervalHour": str(inst.funding_interval_min // 60),
        "fundingCap": "0.005",
    }


def orderbook_json(book: BookSnapshot) -> dict[str, Any]:
    """``/v5/market/orderbook``: ``b``/``a`` as ``[price, size]`` string pairs, best first."""
    return {
        "s": book.symbol,
        "b": [[num(p), num(q)] for p, q in book.bids],
        "a": [[num(p), num(q)] for p, q in book.asks],
        "ts": book.ts_ms,
        "u": book.update_id,
        "seq": book.seq,
        "cts": book.ts_ms,
    }


def trade_json(t: Trade) -> dict[str, Any]:
    """One entry of ``/v5/market/recent-trade``."""
    return {
        "execId": t.trade_id,
        "symbol": t.symbol,
        "price": num(t.price),
        "size": num(t.qty),
        "side": t.side.value,
        "time": str(t.ts_ms),
        "isBlockTrade": False,
        "isRPITrade": False,
    }


def kline_row(k: Kline) -> list[str]:
    """One ``/v5/market/kline`` row: start, open, high, low, close, volume, turnover."""
    return [str(k.start_ms), num(k.open), num(k.high), num(k.low), num(k.close), num(k.volume),
            num(k.turnover)]


def _cancel_type(o: SimOrder) -> str:
    if o.status not in ("Cancelled", "PartiallyFilledCanceled", "Deactivated"):
        return "UNKNOWN"
    if o.reject_reason == "EC_CancelByReduceOnly":
        return "CancelByReduceOnly"
    if o.reject_reason in ("EC_NoError", ""):
        return "CancelByUser"
    return "UNKNOWN"


def order_json(o: SimOrder, cum_fee: Decimal) -> dict[str, Any]:
    """One order of ``/v5/order/realtime`` and ``/v5/order/history``."""
    avg = o.avg_price if o.avg_price is not None and o.filled_qty > 0 else None
    cum_value = o.filled_qty * avg if avg is not None else Decimal(0)
    leaves = o.leaves_qty
    return {
        "orderId": o.order_id,
        "orderLinkId": o.order_link_id,
        "blockTradeId": "",
        "symbol": o.symbol,
        "price": num(o.price) if o.order_type == "Limit" else num(o.price or Decimal(0)),
        "qty": num(o.qty),
        "side": o.side.value,
        "isLeverage": "",
        "positionIdx": 0,
        "orderStatus": o.status,
        "createType": "CreateByUser",
        "cancelType": _cancel_type(o),
        "rejectReason": o.reject_reason or "EC_NoError",
        "avgPrice": num(avg) if avg is not None else "",
        "leavesQty": num(leaves),
        "leavesValue": num(leaves * o.price) if o.price else "0",
        "cumExecQty": num(o.filled_qty),
        "cumExecValue": num(cum_value),
        "cumExecFee": num(cum_fee),
        "cumFeeDetail": {SETTLE_COIN: num(cum_fee)} if o.filled_qty > 0 else {},
        "timeInForce": o.time_in_force,
        "orderType": o.order_type,
        "stopOrderType": "",
        "orderIv": "",
        "marketUnit": "",
        "triggerPrice": "",
        "takeProfit": "",
        "stopLoss": "",
        "tpslMode": "",
        "ocoTriggerBy": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": "",
        "basePrice": "",
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": False,
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "createdTime": str(o.created_ms),
        "updatedTime": str(o.updated_ms),
    }


def execution_json(e: Execution, order: SimOrder | None, seq: int) -> dict[str, Any]:
    """One entry of ``/v5/execution/list``; ``order`` supplies the order's price/qty/type."""
    return {
        "symbol": e.symbol,
        "orderId": e.order_id,
        "orderLinkId": e.order_link_id,
        "side": e.side.value,
        "orderPrice": num(order.price) if order is not None else "",
        "orderQty": num(order.qty) if order is not None else "",
        "leavesQty": num(order.leaves_qty) if order is not None else "",
        "createType": "CreateByUser" if e.exec_type == "Trade" else "CreateByLiq",
        "orderType": order.order_type if order is not None else "UNKNOWN",
        "stopOrderType": "",
        "execFee": num(e.fee),
        "execId": e.exec_id,
        "execPrice": num(e.price),
        "execQty": num(e.qty),
        "execType": e.exec_type,
        "execValue": num(e.price * e.qty),
        "execTime": str(e.ts_ms),
        "feeCurrency": SETTLE_COIN,
        "isMaker": e.is_maker,
        "feeRate": num(e.fee_rate),
        "tradeIv": "",
        "markIv": "",
        "markPrice": "",
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": num(e.closed_size),
        "execPnl": num(e.realised_pnl),
        "seq": seq,
        "extraFees": "",
    }


def _tier_id(inst: Instrument, value: Decimal) -> int:
    for i, tier in enumerate(inst.risk_tiers):
        if value <= tier.limit_value:
            return i + 1
    return len(inst.risk_tiers)


def position_json(p: PositionView, inst: Instrument, seq: int) -> dict[str, Any]:
    """One entry of ``/v5/position/list`` (one-way mode, positionIdx 0); flat → size "0"."""
    flat = p.size == 0
    return {
        "positionIdx": 0,
        "riskId": _tier_id(inst, p.position_value),
        "riskLimitValue": num(p.risk_limit_value),
        "symbol": p.symbol,
        "side": "" if flat else p.side,
        "size": num(p.size),
        "avgPrice": "0" if flat else num(p.entry_price),
        "positionValue": "0" if flat else num(p.position_value),
        "tradeMode": 1 if p.margin_mode == "isolated" else 0,
        "autoAddMargin": 0,
        "positionStatus": "Normal",
        "leverage": num(p.leverage),
        "markPrice": num(p.mark_price),
        "liqPrice": "" if flat or p.liq_price is None else num(p.liq_price),
        "bustPrice": "" if flat or p.bust_price is None else num(p.bust_price),
        "positionIM": "0" if flat else num(p.position_im),
        "positionIMByMp": "0" if flat else num(p.position_im),
        "positionMM": "0" if flat else num(p.position_mm),
        "positionMMByMp": "0" if flat else num(p.position_mm),
        "positionBalance": "0" if flat else num(p.position_im),
        "takeProfit": "",
        "stopLoss": "",
        "trailingStop": "0",
        "sessionAvgPrice": "",
        "unrealisedPnl": "0" if flat else num(p.unrealised_pnl),
        "curRealisedPnl": "0" if flat else "",
        "cumRealisedPnl": num(p.cum_realised_pnl),
        "adlRankIndicator": 0 if flat else 2,
        "createdTime": str(p.updated_ms),
        "updatedTime": str(p.updated_ms),
        "seq": seq,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "tpslMode": "Full",
    }


def _ratio(a: Decimal, b: Decimal) -> str:
    return num((a / b).quantize(Decimal("0.0001"))) if b > 0 else "0"


def wallet_json(w: WalletView, coins: Iterable[str] | None = None) -> dict[str, Any]:
    """``/v5/account/wallet-balance`` for accountType UNIFIED with the one USDT coin.

    ``availableToWithdraw`` is "" as Bybit sends it for unified accounts since 2025; clients
    derive what is used from ``totalPositionIM + totalOrderIM + locked``.
    """
    position_im = w.total_initial_margin - w.total_order_im
    margin_balance = w.wallet_balance + w.unrealised_pnl
    coin = {
        "coin": SETTLE_COIN,
        "equity": num(w.equity),
        "usdValue": num(w.equity),
        "walletBalance": num(w.wallet_balance),
        "locked": "0",
        "spotHedgingQty": "0",
        "borrowAmount": "0",
        "availableToBorrow": "",
        "availableToWithdraw": "",
        "accruedInterest": "0",
        "totalOrderIM": num(w.total_order_im),
        "totalPositionIM": num(position_im),
        "totalPositionMM": num(w.total_maintenance_margin),
        "unrealisedPnl": num(w.unrealised_pnl),
        "cumRealisedPnl": num(w.cum_realised_pnl),
        "bonus": "0",
        "collateralSwitch": True,
        "marginCollateral": True,
    }
    wanted = {c.upper() for c in coins} if coins else None
    return {"list": [{
        "accountType": "UNIFIED",
        "accountIMRate": _ratio(w.total_initial_margin, margin_balance),
        "accountMMRate": _ratio(w.total_maintenance_margin, margin_balance),
        "accountLTV": "0",
        "totalEquity": num(w.equity),
        "totalWalletBalance": num(w.wallet_balance),
        "totalMarginBalance": num(margin_balance),
        "totalAvailableBalance": num(w.available_balance),
        "totalPerpUPL": num(w.unrealised_pnl),
        "totalInitialMargin": num(w.total_initial_margin),
        "totalMaintenanceMargin": num(w.total_maintenance_margin),
        "coin": [coin] if wanted is None or SETTLE_COIN in wanted else [],
    }]}
