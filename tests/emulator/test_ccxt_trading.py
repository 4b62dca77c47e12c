"""Account and order endpoints through ccxt: leverage, margin mode, orders, fills, positions, balance."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import ccxt
import pytest
from emu_client import run_with_client

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.margin import initial_margin, isolated_liquidation
from bybit_mm.domain.rounding import round_price

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def _d(x: object) -> Decimal:
    return Decimal(str(x))


def test_set_leverage_repeat_and_above_max(emu) -> None:
    async def scenario(ex):
        await ex.load_markets()
        await ex.set_leverage(25, BTC)
        with pytest.raises(ccxt.BadRequest, match="110043"):
            await ex.set_leverage(25, BTC)
        with pytest.raises(ccxt.BadRequest, match="110013"):
            await ex.set_leverage(500, BTC)
        return await ex.fetch_positions([BTC])

    positions = run_with_client(emu, scenario)
    assert positions[0]["leverage"] == 25
    with emu.lock:
        assert emu.exchange.leverage("BTCUSDT") == 25


def test_set_margin_mode_unified_and_repeat(emu) -> None:
    async def scenario(ex):
        await ex.load_markets()
        await ex.set_margin_mode("isolated", BTC)
        with pytest.raises(ccxt.MarginModeAlreadySet):
            await ex.set_margin_mode("isolated", BTC)
        await ex.set_margin_mode("cross", BTC)

    run_with_client(emu, scenario)
    with emu.lock:
        assert emu.exchange.margin_mode("BTCUSDT") == "cross"
        assert emu.exchange.margin_mode("ETHUSDT") == "cross"


def test_positions_by_settle_coin_are_open_ones_and_by_symbol_also_flat(emu) -> None:
    # docs v5/position/position: by settleCoin only size > 0; by symbol "regardless of having position".
    async def scenario(ex):
        await ex.load_markets()
        return await ex.fetch_positions(), await ex.fetch_positions([ETH])

    every, eth = run_with_client(emu, scenario)
    assert every == []
    assert [p["symbol"] for p in eth] == [ETH]
    assert eth[0]["contracts"] == 0 and eth[0]["info"]["size"] == "0" and eth[0]["info"]["side"] == ""


def test_post_only_rests_amends_cancels_and_crossing_is_cancelled(emu) -> None:
    async def scenario(ex):
        await ex.load_markets()
        book = await ex.fetch_order_book(BTC, 5)
        bid, ask = book["bids"][0][0], book["asks"][0][0]
        resting = await ex.create_order(BTC, "limit", "buy", 0.01, bid - 20,
                                        {"postOnly": True, "clientOrderId": "rest-1"})
        crossing = await ex.create_order(BTC, "limit", "buy", 0.01, ask + 10, {"postOnly": True})
        with pytest.raises(ccxt.InvalidOrder, match="110072"):  # duplicate live orderLinkId
            await ex.create_order(BTC, "limit", "buy", 0.01, bid - 30, {"clientOrderId": "rest-1"})
        open_before = await ex.fetch_open_orders(BTC)
        crossed = await ex.fetch_order(crossing["id"], BTC, {"acknowledged": True})
        await ex.edit_order(resting["id"], BTC, "limit", "buy", 0.02, bid - 25)
        open_after_amend = await ex.fetch_open_orders(BTC)
        by_link = await ex.fetch_open_order(resting["id"], BTC)
        await ex.cancel_order(resting["id"], BTC)
        cancelled = await ex.fetch_order(resting["id"], BTC, {"acknowledged": True})
        return bid, open_before, crossed, open_after_amend, by_link, cancelled, await ex.fetch_open_orders(BTC)

    bid, open_before, crossed, amended, by_link, cancelled, open_end = run_with_client(emu, scenario)
    assert len(open_before) == 1
    o = open_before[0]
    assert o["clientOrderId"] == "rest-1" and o["status"] == "open" and o["timeInForce"] == "PO"
    assert o["price"] == pytest.approx(bid - 20) and o["amount"] == 0.01 and o["side"] == "buy"
    assert crossed["status"] == "canceled" and crossed["filled"] == 0
    assert crossed["info"]["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"
    assert [(x["id"], x["amount"]) for x in amended] == [(o["id"], 0.02)]
    assert amended[0]["price"] == pytest.approx(bid - 25)
    assert by_link["id"] == o["id"]
    assert cancelled["status"] == "canceled" and open_end == []


def test_cancel_all_cancels_one_symbol_or_every_symbol(emu) -> None:
    async def scenario(ex):
        await ex.load_markets()
        btc_bid = (await ex.fetch_order_book(BTC, 1))["bids"][0][0]
        eth_bid = (await ex.fetch_order_book(ETH, 1))["bids"][0][0]
        for i in range(3):
            await ex.create_order(BTC, "limit", "buy", 0.001, btc_bid - 50 - i, {"postOnly": True})
        await ex.create_order(ETH, "limit", "buy", 0.1, eth_bid - 5, {"postOnly": True})
        btc_cancelled = await ex.cancel_all_orders(BTC)
        left = await ex.fetch_open_orders()
        await ex.cancel_all_orders()
        return btc_cancelled, left, await ex.fetch_open_orders()

    btc_cancelled, left, end = run_with_client(emu, scenario)
    assert len(btc_cancelled) == 3 and all(o["symbol"] == BTC for o in btc_cancelled)
    assert [o["symbol"] for o in left] == [ETH]
    assert end == []


def test_open_orders_paginate_with_cursors(emu) -> None:
    async def scenario(ex):
        await ex.load_markets()
        bid = (await ex.fetch_order_book(BTC, 1))["bids"][0][0]
        ids = [(await ex.create_order(BTC, "limit", "buy", 0.001, bid - 40 - i, {"postOnly": True}))["id"]
               for i in range(7)]
        first = await ex.private_get_v5_order_realtime({"category": "linear", "symbol": "BTCUSDT",
                                                        "limit": 4})
        cursor = first["result"]["nextPageCursor"]
        second = await ex.private_get_v5_order_realtime({"category": "linear", "symbol": "BTCUSDT",
                                                         "limit": 4, "cursor": cursor})
        return ids, first["result"], second["result"]

    ids, first, second = run_with_client(emu, scenario)
    assert len(first["list"]) == 4 and first["nextPageCursor"]
    assert len(second["list"]) == 3 and second["nextPageCursor"] == ""
    assert sorted(o["orderId"] for o in first["list"] + second["list"]) == sorted(ids)


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.00000001"), ROUND_HALF_UP)


def _wait_for_fill(emu, order_id: str, *, step_ms: int = 1_000, max_steps: int = 3_600) -> None:
    for _ in range(max_steps):
        emu.run_until(emu.clock.now_ms() + step_ms)
        with emu.lock:
            order = emu.exchange.get_order(order_id=order_id)
        if order is not None and order.status == "Filled":
            return
    raise AssertionError("the resting bid never filled")


def test_a_resting_bid_fills_and_ccxt_reads_the_domain_math(emu) -> None:
    leverage = Decimal(50)
    qty = Decimal("0.010")

    async def place(ex):
        await ex.load_markets()
        await ex.set_margin_mode("isolated", BTC)
        await ex.set_leverage(int(leverage), BTC)
        bid = (await ex.fetch_order_book(BTC, 1))["bids"][0][0]
        price = _d(bid) - 5 * get_instrument("BTCUSDT").tick_size
        order = await ex.create_order(BTC, "limit", "buy", float(qty), float(price),
                                      {"postOnly": True, "clientOrderId": "mm-bid-1"})
        return order["id"], price

    order_id, price = run_with_client(emu, place)
    _wait_for_fill(emu, order_id)

    async def read(ex):
        await ex.load_markets()
        return (await ex.fetch_positions([BTC]), await ex.fetch_balance(), await ex.fetch_my_trades(BTC),
                await ex.fetch_trading_fee(BTC), await ex.fetch_order(order_id, BTC, {"acknowledged": True}))

    positions, balance, trades, fee, order = run_with_client(emu, read)
    inst = get_instrument("BTCUSDT")
    maker = Decimal("0.0002")
    expected_fee = qty * price * maker
    liq = isolated_liquidation(inst, "long", price, qty, leverage, taker_rate=Decimal("0.00055"))

    assert _d(fee["maker"]) == maker and _d(fee["taker"]) == Decimal("0.00055")
    assert trades  # possibly several partial fills, each at the order's own price
    for t in trades:
        assert t["order"] == order_id and t["side"] == "buy" and t["takerOrMaker"] == "maker"
        assert _d(t["info"]["execPrice"]) == price and t["fee"]["currency"] == "USDT"
        assert _d(t["info"]["execFee"]) == _d(t["info"]["execQty"]) * price * maker
    assert sum(_d(t["info"]["execQty"]) for t in trades) == qty
    assert sum(_d(t["info"]["execFee"]) for t in trades) == expected_fee

    assert order["status"] == "closed" and _d(order["info"]["avgPrice"]) == price
    assert _d(order["info"]["cumExecFee"]) == expected_fee

    p = positions[0]
    info = p["info"]
    assert p["side"] == "long" and _d(info["size"]) == qty and _d(info["avgPrice"]) == price
    assert _d(info["leverage"]) == leverage
    # On the tick grid, a long's rounded up (toward the mark); bustPrice is deprecated: always "".
    assert _d(info["liqPrice"]) == round_price(liq.liquidation_price, inst.tick_size, "Sell")
    assert info["bustPrice"] == ""
    # Bybit's positionIM and positionMM both carry the fee to close at the bankruptcy price;
    # USDT amounts come to 8 decimals.
    assert liq.initial_margin == initial_margin(qty * price, leverage)
    assert _d(info["positionIM"]) == _money(liq.position_margin)
    assert liq.position_margin == liq.initial_margin + liq.fee_to_close
    assert _d(info["positionMM"]) == _money(liq.reported_maintenance_margin)
    mark = _d(info["markPrice"])
    assert _d(info["unrealisedPnl"]) == qty * (mark - price)

    usdt = balance["USDT"]
    assert _d(usdt["total"]) == Decimal(10000) - expected_fee
    assert _d(usdt["used"]) == _money(liq.position_margin)
    coin = balance["info"]["result"]["list"][0]["coin"][0]
    assert _d(coin["equity"]) == Decimal(10000) - expected_fee + qty * (mark - price)
    assert _d(coin["cumRealisedPnl"]) == -expected_fee


def test_insufficient_margin_is_insufficient_funds(emu) -> None:
    async def scenario(ex):
        await ex.load_markets()
        bid = (await ex.fetch_order_book(BTC, 1))["bids"][0][0]
        with pytest.raises(ccxt.InsufficientFunds, match="110007"):
            await ex.create_order(BTC, "limit", "buy", 5, bid - 100, {"postOnly": True})

    run_with_client(emu, scenario)


def test_market_order_takes_at_taker_fee_and_shows_in_closed_orders(emu) -> None:
    async def scenario(ex):
        await ex.load_markets()
        order = await ex.create_order(BTC, "market", "sell", 0.02, None, {"clientOrderId": "mkt-1"})
        return (order, await ex.fetch_closed_orders(BTC), await ex.fetch_my_trades(BTC),
                await ex.fetch_positions([BTC]), await ex.fetch_funding_rate_history(BTC))

    order, closed, trades, positions, funding = run_with_client(emu, scenario)
    assert [o["clientOrderId"] for o in closed] == ["mkt-1"]
    assert closed[0]["status"] == "closed" and closed[0]["type"] == "market" and closed[0]["filled"] == 0.02
    assert trades and all(t["takerOrMaker"] == "taker" and t["order"] == order["id"] for t in trades)
    for t in trades:
        assert _d(t["info"]["execFee"]) == _d(t["info"]["execQty"]) * _d(t["info"]["execPrice"]) * Decimal("0.00055")
    assert positions[0]["side"] == "short" and positions[0]["contracts"] == 0.02
    # The SimClock starts at 2026-01-01T00:00Z, a funding time of 8-hourly symbols; a fresh emulator
    # has the history before it, as a listed contract does (one page of 200, oldest first).
    times = [f["timestamp"] for f in funding]
    assert times[-1] == 1_767_225_600_000 and len(times) == 200
    assert all(b - a == 8 * 3_600_000 for a, b in zip(times, times[1:]))


def test_account_type_probes_and_classic_switch_isolated_is_refused(emu) -> None:
    async def probing(ex):  # ccxt's defaults: ask /v5/user/query-api and /v5/account/info first
        balance = await ex.fetch_balance()
        return balance, ex.options["enableUnifiedAccount"], ex.options["unifiedMarginStatus"]

    balance, uta, status = run_with_client(
        emu, probing, options={"enableUnifiedMargin": None, "enableUnifiedAccount": None})
    assert balance["USDT"]["total"] == 10000 and uta is True and status == 6

    async def classic(ex):  # a client wrongly assuming a classic account gets Bybit's UTA 2.0 refusal
        await ex.load_markets()
        with pytest.raises(ccxt.PermissionDenied, match="100028"):
            await ex.set_margin_mode("isolated", BTC, {"leverage": 20})

    run_with_client(emu, classic, options={"enableUnifiedAccount": False})
    with emu.lock:
        assert emu.exchange.margin_mode("BTCUSDT") == "cross"
        assert emu.exchange.leverage("BTCUSDT") == 10