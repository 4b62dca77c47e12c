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
from bybit_mm.domain.rounding import round_liquidation_price
from bybit_mm.emulator.wire import money, num
from bybit_mm.sim.journal import ClosedPnl, LedgerEntry
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
#: The emulated account's user id.
UID = 1


def _scale(step: Decimal) -> int:
    exponent = step.as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def instrument_json(inst: Instrument, symbol_id: int) -> dict[str, Any]:
    """One entry of ``/v5/market/instruments-info`` (docs v5/market/instrument, Linear tab)."""
    return {
        "symbol": inst.symbol,
        "symbolId": symbol_id,
        "symbolType": "",
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
        "forbidUplWithdrawal": False,
        # The limit-order price band's ratios; the values of the docs' linear example.
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
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
        "prevPrice1h": num(t.prev_price_1h) if t.prev_price_1h is not None else num(t.prev_price_24h),
        "openInterest": num(t.open_interest),
        "openInterestValue": num((t.open_interest * t.mark).quantize(Decimal("0.01"))),
        # One side's: open interest counts both sides of every contract.
        "singleOpenInterest": num(t.open_interest / 2),
        "singleOpenInterestValue": num((t.open_interest * t.mark / 2).quantize(Decimal("0.01"))),
        "turnover24h": num(t.turnover_24h),
        "volume24h": num(t.volume_24h),
        "fundingRate": num(t.funding_rate),
        "nextFundingTime": str(t.next_funding_ms),
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "basisRateYear": "",
        "deliveryFeeRate": "",
        "deliveryTime": "0",
        "ask1Size": num(t.ask_size),
        "bid1Price": num(t.bid),
        "ask1Price": num(t.ask),
        "bid1Size": num(t.bid_size),
        "basis": "",
        "fundingIntervalHour": str(inst.funding_interval_min // 60),
        "fundingCap": "0.005",
        # Pre-market fields: listed contracts are in continuous trading (docs v5/market/tickers).
        "preOpenPrice": "",
        "preQty": "",
        "curPreListingPhase": "",
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
    """One entry of ``/v5/market/recent-trade`` (docs v5/market/recent-trade)."""
    return {
        "execId": t.trade_id,
        "symbol": t.symbol,
        "price": num(t.price),
        "size": num(t.qty),
        "side": t.side.value,
        "time": str(t.ts_ms),
        "isBlockTrade": False,
        "isRPITrade": False,
        "seq": str(t.seq),
    }


def kline_row(k: Kline) -> list[str]:
    """One ``/v5/market/kline`` row: start, open, high, low, close, volume, turnover."""
    return [str(k.start_ms), num(k.open), num(k.high), num(k.low), num(k.close), num(k.volume),
            num(k.turnover)]


#: Bybit's cancelType for the sim's reasons (docs v5/enum#canceltype); system cancels of IOC/FOK/
#: PostOnly remainders are "UNKNOWN" on Bybit.
_CANCEL_TYPES = {"EC_PerCancelRequest": "CancelByUser", "EC_NoError": "CancelByUser",
                 "": "CancelByUser", "EC_CancelByReduceOnly": "CancelByReduceOnly",
                 "EC_Others": "CancelAllBeforeLiq"}


def _cancel_type(o: SimOrder) -> str:
    if o.status not in ("Cancelled", "PartiallyFilledCanceled", "Deactivated"):
        return "UNKNOWN"
    return _CANCEL_TYPES.get(o.reject_reason, "UNKNOWN")


def _reject_reason(o: SimOrder) -> str:
    # A user's cancel is not a rejection: Bybit reports rejectReason EC_PerCancelRequest for it.
    return o.reject_reason or "EC_NoError"


def order_json(o: SimOrder, cum_fee: Decimal, closed_pnl: Decimal, inst: Instrument) -> dict[str, Any]:
    """One order of ``/v5/order/realtime``, ``/v5/order/history`` and the ``order`` stream.

    Fields: docs v5/order/open-order and v5/order/order-list. ``cumExecFee`` is deprecated for
    linear (``cumFeeDetail`` replaces it) but still sent; ``feeCurrency`` is "" (Spot only, still
    sent: websocket/private/order).
    """
    avg = o.avg_price if o.avg_price is not None and o.filled_qty > 0 else None
    cum_value = o.filled_qty * avg if avg is not None else Decimal(0)
    leaves = o.leaves_qty
    market = o.order_type == "Market"
    return {
        "orderId": o.order_id,
        "orderLinkId": o.order_link_id,
        "parentOrderLinkId": "",
        "blockTradeId": "",
        "symbol": o.symbol,
        "price": num(o.price or Decimal(0)),
        "brokerOrderPrice": "",
        "qty": num(o.qty),
        "side": o.side.value,
        "isLeverage": "",
        "positionIdx": 0,
        "orderStatus": o.status,
        "createType": o.create_type,
        "cancelType": _cancel_type(o),
        "rejectReason": _reject_reason(o),
        # avgPrice is not on the tick grid (a volume-weighted mean): money precision.
        "avgPrice": money(avg) if avg is not None else "",
        "leavesQty": num(leaves),
        "leavesValue": money(leaves * o.price) if o.price else "0",
        "cumExecQty": num(o.filled_qty),
        "cumExecValue": money(cum_value),
        "cumExecFee": money(cum_fee),
        "closedPnl": money(closed_pnl),
        "feeCurrency": "",
        "cumFeeDetail": {SETTLE_COIN: money(cum_fee)} if o.filled_qty > 0 else {},
        "timeInForce": o.time_in_force,
        "orderType": o.order_type,
        "stopOrderType": o.stop_order_type,
        "orderIv": "",
        "marketUnit": "",
        # Bybit's market orders carry its default slippage protection type (docs v5/order/order-list).
        "slippageToleranceType": "UNKNOWN",
        "slippageTolerance": "0" if market else "",
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
        "closeOnTrigger": bool(o.stop_order_type),
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "extraFees": "",
        "rpiTakerAccess": False,
        "rpiMatchedQty": "0",
        "createdTime": str(o.created_ms),
        "updatedTime": str(o.updated_ms),
    }


def funding_order_id(ts_ms: int, side: str, inst: Instrument) -> str:
    """The id Bybit gives a funding settlement: ``{settle time s}-{interval h}-{uid}-{idx}-{n}``
    (docs v5/account/transaction-log example, ``"orderId": "1672128000-8-592324-1-2"``)."""
    return f"{ts_ms // 1000}-{inst.funding_interval_min // 60}-{UID}-0-{2 if side == 'Sell' else 1}"


def execution_json(e: Execution, order: SimOrder | None, seq: int, inst: Instrument) -> dict[str, Any]:
    """One entry of ``/v5/execution/list`` (docs v5/order/execution); ``order`` is the filled order.

    A funding settlement (docs: execType ``Funding``) has no order: Bybit sends the settlement id as
    ``orderId``, the mark price as ``orderPrice``/``execPrice``, the position size as ``orderQty``,
    ``leavesQty`` "0", ``createType`` "" and ``orderType``/``stopOrderType`` ``UNKNOWN``.
    """
    funding = e.exec_type == "Funding"
    if funding:
        order_id, order_price, order_qty, leaves = (funding_order_id(e.ts_ms, e.side.value, inst), num(e.price),
                                                    num(e.qty), "0")
        create_type, order_type, stop_type = "", "UNKNOWN", "UNKNOWN"
    else:
        order_id = e.order_id
        order_price = num(order.price) if order is not None else num(e.price)
        order_qty = num(order.qty) if order is not None else num(e.qty)
        leaves = num(order.leaves_qty) if order is not None else "0"
        create_type = order.create_type if order is not None else (
            "CreateByLiq" if e.exec_type == "BustTrade" else "CreateByUser")
        order_type = order.order_type if order is not None else "Market"
        stop_type = order.stop_order_type if order is not None else ""
    return {
        "symbol": e.symbol,
        "orderId": order_id,
        "orderLinkId": e.order_link_id,
        "side": e.side.value,
        "orderPrice": order_price,
        "orderQty": order_qty,
        "leavesQty": leaves,
        "createType": create_type,
        "orderType": order_type,
        "stopOrderType": stop_type,
        "execFee": money(e.fee),
        "execFeeV2": "",
        "execId": e.exec_id,
        "execPrice": num(e.price),
        "execQty": num(e.qty),
        "execType": e.exec_type,
        "execValue": money(e.price * e.qty),
        "execTime": str(e.ts_ms),
        "feeCurrency": SETTLE_COIN,
        "isMaker": e.is_maker,
        "feeRate": num(e.fee_rate),
        "tradeIv": "",
        "markIv": "",
        "markPrice": num(e.mark_price) if e.mark_price is not None else "",
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": num(e.closed_size),
        # execPnl equals the transaction log's cashFlow for the fill (docs websocket/private/execution).
        "execPnl": money(e.realised_pnl),
        "seq": seq,
        "extraFees": "",
    }


def _tier_id(inst: Instrument, value: Decimal) -> int:
    for i, tier in enumerate(inst.risk_tiers):
        if value <= tier.limit_value:
            return i + 1
    return len(inst.risk_tiers)


def _liq_price(p: PositionView, inst: Instrument) -> str:
    # docs v5/position/position: "" when liqPrice <= minPrice or >= maxPrice (cross: an estimate).
    # On the tick grid, rounded toward the mark: a long's up, a short's down.
    if p.liq_price is None or not inst.min_price < p.liq_price < inst.max_price:
        return ""
    return num(round_liquidation_price(p.liq_price, inst.tick_size, p.side))


def break_even_price(p: PositionView, taker_rate: Decimal) -> Decimal:
    """docs v5/position/position: ``(entry × qty − realised) / (qty − |qty| × max(taker, 0.00055))``
    with ``qty`` signed and ``realised`` the current position's realised PnL."""
    qty = p.size if p.side == "Buy" else -p.size
    return (p.entry_price * qty - p.cur_realised_pnl) / (qty - p.size * max(taker_rate, Decimal("0.00055")))


def position_json(p: PositionView, inst: Instrument, seq: int, taker_rate: Decimal) -> dict[str, Any]:
    """One entry of ``/v5/position/list`` and the ``position`` stream (one-way mode, positionIdx 0).

    Fields: docs v5/position/position. ``positionValue`` is size × entry price; ``tradeMode`` is
    deprecated and always 0 (the margin mode is account-wide: account/info); ``bustPrice`` is
    deprecated and always "".
    """
    flat = p.size == 0
    return {
        "positionIdx": 0,
        "riskId": _tier_id(inst, p.position_value),
        "riskLimitValue": num(p.risk_limit_value),
        "symbol": p.symbol,
        "side": "" if flat else p.side,
        "size": num(p.size),
        "avgPrice": "0" if flat else money(p.entry_price),
        "positionValue": "0" if flat else money(p.size * p.entry_price),
        "tradeMode": 0,
        "autoAddMargin": 0,
        "positionStatus": "Normal",
        "leverage": num(p.leverage),
        "markPrice": num(p.mark_price),
        "liqPrice": "" if flat else _liq_price(p, inst),
        "bustPrice": "",
        "breakEvenPrice": "0" if flat else money(break_even_price(p, taker_rate)),
        "positionIM": "0" if flat else money(p.position_im),
        "positionIMByMp": "0" if flat else money(p.position_im),
        "positionMM": "0" if flat else money(p.position_mm),
        "positionMMByMp": "0" if flat else money(p.position_mm),
        "positionBalance": "0" if flat else money(p.position_im),
        "takeProfit": num(p.take_profit) if p.take_profit is not None else "",
        "stopLoss": num(p.stop_loss) if p.stop_loss is not None else "",
        "trailingStop": "0",
        "tpTriggerBy": p.tp_trigger_by if p.take_profit is not None else "",
        "slTriggerBy": p.sl_trigger_by if p.stop_loss is not None else "",
        "sessionAvgPrice": "",
        "delta": "",
        "gamma": "",
        "vega": "",
        "theta": "",
        "unrealisedPnl": "0" if flat else money(p.unrealised_pnl),
        "curRealisedPnl": "0" if flat else money(p.cur_realised_pnl),
        "cumRealisedPnl": money(p.cum_realised_pnl),
        "adlRankIndicator": 0 if flat else 2,
        "createdTime": str(p.updated_ms),
        "updatedTime": str(p.updated_ms),
        "openTime": p.open_ms,
        "seq": seq,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "tpslMode": "Full",
    }


def _ratio(a: Decimal, b: Decimal) -> str:
    return num((a / b).quantize(Decimal("0.0001"))) if b > 0 else "0"


def wallet_json(w: WalletView, coins: Iterable[str] | None = None) -> dict[str, Any]:
    """``/v5/account/wallet-balance`` (and the ``wallet`` stream) for the UNIFIED account's USDT.

    Fields: docs v5/account/wallet-balance; amounts to 8 decimals, rates to 4. ``availableToWithdraw``
    and ``availableToBorrow`` are deprecated and "" for unified accounts (since 9 Jan 2025); clients
    derive what is used from ``totalPositionIM + totalOrderIM + locked``.
    """
    position_im = w.total_initial_margin - w.total_order_im
    margin_balance = w.wallet_balance + w.unrealised_pnl
    coin = {
        "coin": SETTLE_COIN,
        "equity": money(w.equity),
        "usdValue": money(w.equity),
        "walletBalance": money(w.wallet_balance),
        "free": "",
        "locked": "0",
        "spotHedgingQty": "0",
        "borrowAmount": "0",
        "availableToBorrow": "",
        "availableToWithdraw": "",
        "accruedInterest": "0",
        "totalOrderIM": money(w.total_order_im),
        "totalPositionIM": money(position_im),
        "totalPositionMM": money(w.total_maintenance_margin),
        "unrealisedPnl": money(w.unrealised_pnl),
        "cumRealisedPnl": money(w.cum_realised_pnl),
        "bonus": "0",
        "collateralSwitch": True,
        "marginCollateral": True,
        "spotBorrow": "0",
        "colRes": "0",
    }
    wanted = {c.upper() for c in coins} if coins else None
    im_rate = _ratio(w.total_initial_margin, margin_balance)
    mm_rate = _ratio(w.total_maintenance_margin, margin_balance)
    return {"list": [{
        "accountType": "UNIFIED",
        "accountIMRate": im_rate,
        "accountMMRate": mm_rate,
        "accountIMRateByMp": im_rate,
        "accountMMRateByMp": mm_rate,
        "accountLTV": "0",
        "totalEquity": money(w.equity),
        "totalWalletBalance": money(w.wallet_balance),
        "totalMarginBalance": money(margin_balance),
        "totalAvailableBalance": money(w.available_balance),
        "totalPerpUPL": money(w.unrealised_pnl),
        "totalInitialMargin": money(w.total_initial_margin),
        "totalMaintenanceMargin": money(w.total_maintenance_margin),
        "totalInitialMarginByMp": money(w.total_initial_margin),
        "totalMaintenanceMarginByMp": money(w.total_maintenance_margin),
        "coin": [coin] if wanted is None or SETTLE_COIN in wanted else [],
    }]}


def closed_pnl_json(c: ClosedPnl) -> dict[str, Any]:
    """One entry of ``/v5/position/closed-pnl`` (docs v5/position/close-pnl): one closing order."""
    return {
        "symbol": c.symbol,
        "orderId": c.order_id,
        "side": c.side.value,
        "qty": num(c.order_qty),
        "orderPrice": num(c.order_price),
        "orderType": c.order_type,
        "execType": c.exec_type,
        "closedSize": num(c.closed_size),
        "cumEntryValue": money(c.entry_value),
        "avgEntryPrice": money(c.avg_entry_price),
        "cumExitValue": money(c.exit_value),
        "avgExitPrice": money(c.avg_exit_price),
        "closedPnl": money(c.closed_pnl),
        "fillCount": str(c.fill_count),
        "leverage": num(c.leverage),
        "openFee": money(c.open_fee),
        "closeFee": money(c.close_fee),
        "createdTime": str(c.created_ms),
        "updatedTime": str(c.updated_ms),
    }


def transaction_json(t: LedgerEntry, inst: Instrument) -> dict[str, Any]:
    """One entry of ``/v5/account/transaction-log`` (docs v5/account/transaction-log).

    Signs as documented: ``funding`` positive when received (the opposite of the execution's
    ``execFee``), ``fee`` positive when paid, ``change = cashFlow + funding − fee``; ``size`` is the
    position after it, short negative. A funding entry's ``feeRate`` is the funding rate, signed by
    side (Sell: minus the market rate), and its ``orderId`` the settlement id.
    """
    settlement = t.kind == "SETTLEMENT"
    fee_rate = -t.fee_rate if settlement and t.side.value == "Sell" else t.fee_rate
    order_id = funding_order_id(t.ts_ms, t.side.value, inst) if settlement else t.order_id
    return {
        "id": f"{UID}_{t.symbol}_{t.entry_id}",
        "symbol": t.symbol,
        "category": "linear",
        "side": t.side.value,
        "transactionTime": str(t.ts_ms),
        "type": t.kind,
        "transSubType": "",
        "qty": num(t.qty),
        "size": num(t.size),
        "currency": SETTLE_COIN,
        "tradePrice": num(t.price),
        "funding": money(t.funding) if settlement else "",
        "fee": money(t.fee),
        "cashFlow": money(t.cash_flow),
        "change": money(t.change),
        "cashBalance": money(t.cash_balance),
        "feeRate": num(fee_rate),
        "bonusChange": "",
        "tradeId": t.trade_id,
        "orderId": order_id,
        "orderLinkId": t.order_link_id,
        "extraFees": "",
    }


def coin_info_json(coin: str) -> dict[str, Any]:
    """One entry of ``/v5/asset/coin/query-info`` (docs v5/asset/coin-info).

    The emulated account has no deposits or withdrawals, so a coin lists no chains (Bybit's shape
    for a coin without any; ccxt then marks it neither depositable nor withdrawable).
    """
    return {"name": coin, "coin": coin, "remainAmount": "0", "chains": []}
