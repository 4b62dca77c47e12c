"""Bybit's own SDK, pybit 5.x, against the emulator: REST and WebSocket, unchanged but for the URL.

What a pybit user calls for a linear market maker: instruments, book, tickers, wallet, positions,
place / amend / cancel (single and batch), open orders, executions, closed PnL, leverage, margin
mode, position mode, trading-stop (TP/SL that the sim triggers), transaction log, funding history,
open interest, coin info, and the public and private streams.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from pybit.exceptions import InvalidRequestError
from pybit_client import Inbox, make_http, make_ws, within

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.emulator.runner import EmulatorHandle

BTC = "BTCUSDT"
LINEAR = {"category": "linear"}
TICK = get_instrument(BTC).tick_size


def D(value: str) -> Decimal:
    return Decimal(value)


def _run_until(emu: EmulatorHandle, done, *, step_ms: int = 1_000, max_steps: int = 7_200) -> None:
    for _ in range(max_steps):
        if done():
            return
        emu.run_until(emu.clock.now_ms() + step_ms)
    raise AssertionError("the sim never got there")


def test_market_data_instruments_book_tickers_funding_open_interest(emu: EmulatorHandle) -> None:
    s = make_http(emu)
    inst = s.get_instruments_info(**LINEAR)["result"]
    assert [i["symbol"] for i in inst["list"]] == ["BTCUSDT", "ETHUSDT"]
    assert inst["list"][0]["priceFilter"]["tickSize"] == str(TICK)
    book = s.get_orderbook(**LINEAR, symbol=BTC, limit=5)["result"]
    assert len(book["b"]) == 5 and D(book["b"][0][0]) < D(book["a"][0][0])
    (ticker,) = s.get_tickers(**LINEAR, symbol=BTC)["result"]["list"]
    assert ticker["bid1Price"] == book["b"][0][0] and ticker["ask1Price"] == book["a"][0][0]
    assert D(ticker["prevPrice1h"]) > 0 and ticker["fundingIntervalHour"] == "8"
    funding = s.get_funding_rate_history(**LINEAR, symbol=BTC, limit=200)["result"]["list"]
    assert len(funding) == 200  # a fresh emulator has history from before it started
    times = [int(f["fundingRateTimestamp"]) for f in funding]
    assert times == sorted(times, reverse=True) and all(a - b == 8 * 3_600_000 for a, b in zip(times, times[1:]))
    oi = s.get_open_interest(**LINEAR, symbol=BTC, intervalTime="1h", limit=3)["result"]
    assert len(oi["list"]) == 3 and D(oi["list"][0]["openInterest"]) == 2 * D(oi["list"][0]["singleOpenInterest"])
    assert int(oi["list"][0]["timestamp"]) % 3_600_000 == 0
    coins = s.get_coin_info()["result"]["rows"]
    assert [c["coin"] for c in coins] == ["USDT", "BTC", "ETH"]


def test_orders_single_and_batch_open_orders_and_history(emu: EmulatorHandle) -> None:
    s = make_http(emu)
    bid = D(s.get_orderbook(**LINEAR, symbol=BTC, limit=1)["result"]["b"][0][0])
    placed = s.place_order(**LINEAR, symbol=BTC, side="Buy", orderType="Limit", qty="0.01",
                           price=str(bid - 50 * TICK), timeInForce="PostOnly", orderLinkId="pyb-1")["result"]
    amended = s.amend_order(**LINEAR, symbol=BTC, orderLinkId="pyb-1", price=str(bid - 60 * TICK))["result"]
    assert amended["orderId"] == placed["orderId"]
    (open_order,) = s.get_open_orders(**LINEAR, symbol=BTC)["result"]["list"]
    assert D(open_order["price"]) == bid - 60 * TICK and open_order["orderStatus"] == "New"
    assert open_order["feeCurrency"] == "" and open_order["cancelType"] == "UNKNOWN"
    s.cancel_order(**LINEAR, symbol=BTC, orderId=placed["orderId"])
    (hist,) = s.get_order_history(**LINEAR, symbol=BTC, orderId=placed["orderId"])["result"]["list"]
    assert hist["orderStatus"] == "Cancelled" and hist["cancelType"] == "CancelByUser"

    batch = s.place_batch_order(**LINEAR, request=[
        {"symbol": BTC, "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": str(bid - 40 * TICK),
         "timeInForce": "PostOnly", "orderLinkId": "pyb-b1"},
        {"symbol": BTC, "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": str(bid * 2),
         "orderLinkId": "pyb-b2"},  # beyond the price band: this one item fails
        {"symbol": BTC, "side": "Buy", "orderType": "Limit", "qty": "0.02", "price": str(bid - 41 * TICK),
         "timeInForce": "PostOnly", "orderLinkId": "pyb-b3"},
    ])
    rows, infos = batch["result"]["list"], batch["retExtInfo"]["list"]
    assert [i["code"] for i in infos] == [0, 110003, 0]
    assert rows[1]["orderId"] == "" and rows[0]["orderLinkId"] == "pyb-b1" and rows[2]["createAt"]
    amend = s.amend_batch_order(**LINEAR, request=[
        {"symbol": BTC, "orderLinkId": "pyb-b1", "qty": "0.03"},
        {"symbol": BTC, "orderLinkId": "no-such-order", "qty": "0.03"}])
    assert [i["code"] for i in amend["retExtInfo"]["list"]] == [0, 110001]
    live = {o["orderLinkId"]: o for o in s.get_open_orders(**LINEAR, symbol=BTC)["result"]["list"]}
    assert set(live) == {"pyb-b1", "pyb-b3"} and live["pyb-b1"]["qty"] == "0.03"
    cancel = s.cancel_batch_order(**LINEAR, request=[{"symbol": BTC, "orderLinkId": "pyb-b1"},
                                                     {"symbol": BTC, "orderId": rows[2]["orderId"]}])
    assert [i["code"] for i in cancel["retExtInfo"]["list"]] == [0, 0]
    assert s.get_open_orders(**LINEAR, symbol=BTC)["result"]["list"] == []


def test_leverage_margin_mode_position_mode(emu: EmulatorHandle) -> None:
    s = make_http(emu)
    s.set_leverage(**LINEAR, symbol=BTC, buyLeverage="20", sellLeverage="20")
    with pytest.raises(InvalidRequestError, match="110043"):
        s.set_leverage(**LINEAR, symbol=BTC, buyLeverage="20", sellLeverage="20")
    s.set_margin_mode(setMarginMode="ISOLATED_MARGIN")
    assert s.get_account_info()["result"]["marginMode"] == "ISOLATED_MARGIN"
    s.set_margin_mode(setMarginMode="REGULAR_MARGIN")
    with pytest.raises(InvalidRequestError, match="110025"):  # already one-way
        s.switch_position_mode(**LINEAR, symbol=BTC, mode=0)
    (pos,) = s.get_positions(**LINEAR, symbol=BTC)["result"]["list"]
    assert pos["leverage"] == "20" and pos["size"] == "0" and pos["tradeMode"] == 0
    assert s.get_positions(**LINEAR, settleCoin="USDT")["result"]["list"] == []  # open positions only


def test_position_trading_stop_triggers_and_closed_pnl_and_transaction_log(emu: EmulatorHandle) -> None:
    s = make_http(emu)
    s.place_order(**LINEAR, symbol=BTC, side="Buy", orderType="Market", qty="0.02", orderLinkId="pyb-open")
    (pos,) = s.get_positions(**LINEAR, settleCoin="USDT")["result"]["list"]
    entry, size = D(pos["avgPrice"]), D(pos["size"])
    assert size == D("0.02") and D(pos["positionValue"]) == size * entry
    assert D(pos["curRealisedPnl"]) < 0 and int(pos["openTime"]) > 0  # the opening fee
    ticker = s.get_tickers(**LINEAR, symbol=BTC)["result"]["list"][0]
    last, mark = D(ticker["lastPrice"]), D(ticker["markPrice"])
    with pytest.raises(InvalidRequestError, match="TakeProfit"):  # a long's TP must be above the price
        s.set_trading_stop(**LINEAR, symbol=BTC, tpslMode="Full", positionIdx=0, takeProfit=str(last - 10 * TICK))
    # The TP triggers on the last price, the SL on the mark: each must be on its own price's far side.
    tp, sl = last + 20 * TICK, min(last, mark) - 20 * TICK
    s.set_trading_stop(**LINEAR, symbol=BTC, tpslMode="Full", positionIdx=0, takeProfit=str(tp),
                       stopLoss=str(sl), tpTriggerBy="LastPrice", slTriggerBy="MarkPrice")
    (pos,) = s.get_positions(**LINEAR, symbol=BTC)["result"]["list"]
    assert (D(pos["takeProfit"]), D(pos["stopLoss"])) == (tp, sl)
    assert (pos["tpTriggerBy"], pos["slTriggerBy"]) == ("LastPrice", "MarkPrice")

    def flat() -> bool:
        with emu.lock:
            return emu.exchange.positions(BTC)[0].size == 0

    _run_until(emu, flat)
    closing = [e for e in s.get_executions(**LINEAR, symbol=BTC)["result"]["list"]
               if e["createType"] in ("CreateByTakeProfit", "CreateByStopLoss")]
    assert closing and all(e["side"] == "Sell" and e["stopOrderType"] in ("TakeProfit", "StopLoss") for e in closing)
    order_id = closing[0]["orderId"]
    (order,) = s.get_order_history(**LINEAR, symbol=BTC, orderId=order_id)["result"]["list"]
    assert order["reduceOnly"] is True and order["closeOnTrigger"] is True and order["orderStatus"] == "Filled"
    (pos,) = s.get_positions(**LINEAR, symbol=BTC)["result"]["list"]
    assert pos["size"] == "0" and pos["takeProfit"] == "" and pos["stopLoss"] == ""

    (record,) = s.get_closed_pnl(**LINEAR, symbol=BTC)["result"]["list"]
    exit_value = sum(D(e["execValue"]) for e in closing)
    fees = s.get_executions(**LINEAR, symbol=BTC, execType="Trade")["result"]["list"]
    open_fee = sum(D(e["execFee"]) for e in fees if e["orderLinkId"] == "pyb-open")
    close_fee = sum(D(e["execFee"]) for e in closing)
    assert record["orderId"] == order_id and D(record["closedSize"]) == size
    assert D(record["cumEntryValue"]) == size * entry and D(record["cumExitValue"]) == exit_value
    assert D(record["openFee"]) == open_fee and D(record["closeFee"]) == close_fee
    assert D(record["closedPnl"]) == exit_value - size * entry - open_fee - close_fee

    log = s.get_transaction_log(accountType="UNIFIED", category="linear")["result"]["list"]
    assert {t["type"] for t in log} == {"TRADE"} and log[0]["size"] == "0"
    wallet = s.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]["coin"][0]
    assert log[0]["cashBalance"] == wallet["walletBalance"]
    assert sum(D(t["change"]) for t in log) == D(wallet["walletBalance"]) - emu.config.balance


def test_private_and_public_streams(emu: EmulatorHandle) -> None:
    # A network's latency: pybit records a subscription only after sending it, so an ack quicker than
    # that (a local server under load) trips pybit's own handler (KeyError) and it drops the socket.
    emu.set_ws_delay_ms(100)
    s = make_http(emu)
    private, public = make_ws(emu, "private"), make_ws(emu, "linear")
    try:
        inbox = {name: Inbox() for name in ("order", "execution", "position", "wallet", "book", "ticker", "trade")}

        def subscribe() -> None:
            private.order_stream(inbox["order"])
            private.execution_stream(inbox["execution"])
            private.position_stream(inbox["position"])
            private.wallet_stream(inbox["wallet"])
            public.orderbook_stream(50, BTC, inbox["book"])
            public.ticker_stream(BTC, inbox["ticker"])
            public.trade_stream(BTC, inbox["trade"])

        within(30, subscribe)  # pybit waits forever for a dropped socket: fail instead
        book = inbox["book"].wait(lambda m: m["topic"] == "orderbook.50.BTCUSDT")
        assert book["data"]["s"] == BTC and book["data"]["b"] and book["data"]["a"]
        inbox["ticker"].wait(lambda m: m["data"].get("symbol") == BTC)
        tick = lambda: emu.run_until(emu.clock.now_ms() + 200)  # noqa: E731 - the market moves
        inbox["trade"].wait(lambda m: m["topic"] == "publicTrade.BTCUSDT", tick=tick)

        placed = s.place_order(**LINEAR, symbol=BTC, side="Buy", orderType="Market", qty="0.01")["result"]
        order = inbox["order"].wait(lambda m: any(o["orderId"] == placed["orderId"] and o["orderStatus"] == "Filled"
                                                  for o in m["data"]))
        filled = next(o for o in order["data"] if o["orderId"] == placed["orderId"])
        assert filled["feeCurrency"] == "" and filled["category"] == "linear"
        execution = inbox["execution"].wait(lambda m: any(e["orderId"] == placed["orderId"] for e in m["data"]))
        assert all(e["feeCurrency"] == "USDT" and D(e["markPrice"]) > 0 for e in execution["data"])
        pos = inbox["position"].wait(lambda m: m["data"][0]["size"] == "0.01")["data"][0]
        assert pos["entryPrice"] == pos["avgPrice"] and D(pos["positionValue"]) == D("0.01") * D(pos["entryPrice"])
        wallet = inbox["wallet"].wait(lambda m: D(m["data"][0]["coin"][0]["totalPositionIM"]) > 0)
        rest = s.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
        assert wallet["data"][0]["totalWalletBalance"] == rest["totalWalletBalance"]

        # pybit merges the deltas into its own book: once the market stands still it is the sim's.
        with emu.lock:
            sim = emu.exchange.orderbook(BTC, 50)
        want = ({p: q for p, q in sim.bids}, {p: q for p, q in sim.asks})
        inbox["book"].wait(lambda m: ({D(p): D(q) for p, q in m["data"]["b"]},
                                      {D(p): D(q) for p, q in m["data"]["a"]}) == want)
    finally:
        private.exit()
        public.exit()
