"""ccxt against the emulator for what issue 16 lists: an unconfigured client, batch orders, TP/SL,
closed PnL, the ledger, open interest and position mode (the single-order flows are in
``test_ccxt_trading``)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest
from emu_client import run_with_client

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.emulator.runner import EmulatorHandle

BTC = "BTC/USDT:USDT"
TICK = float(get_instrument("BTCUSDT").tick_size)


def test_unconfigured_ccxt_loads_markets_and_currencies(emu: EmulatorHandle) -> None:
    """ccxt with nothing but keys and the URL: it asks for coin info and every market type."""

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        ex = ccxt_async.bybit({"apiKey": emu.api_key, "secret": emu.api_secret})
        for key in list(ex.urls["api"]):
            ex.urls["api"][key] = emu.url
        try:
            markets = await ex.load_markets()
            return markets, ex.currencies
        finally:
            await ex.close()

    markets, currencies = asyncio.run(main())
    assert set(markets) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert markets[BTC]["linear"] and markets[BTC]["precision"]["price"] == TICK
    assert {"USDT", "BTC", "ETH"} <= set(currencies)
    assert currencies["USDT"]["id"] == "USDT" and currencies["USDT"]["networks"] == {}


def test_batch_create_edit_cancel_with_per_order_results(emu: EmulatorHandle) -> None:
    async def scenario(ex: Any) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        await ex.load_markets()
        bid = (await ex.fetch_order_book(BTC, 1))["bids"][0][0]
        created = await ex.create_orders([
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": bid - 30 * TICK,
             "params": {"postOnly": True, "clientOrderId": "cx-1"}},
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": bid * 2,
             "params": {"clientOrderId": "cx-2"}},  # outside the price band: rejected alone
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.02, "price": bid - 31 * TICK,
             "params": {"postOnly": True, "clientOrderId": "cx-3"}},
        ])
        live = [o for o in created if o["id"]]
        edited = await ex.edit_orders([{"id": o["id"], "symbol": BTC, "type": "limit", "side": "buy",
                                        "amount": 0.03, "price": bid - 35 * TICK} for o in live])
        opened = await ex.fetch_open_orders(BTC)
        cancelled = await ex.cancel_orders([o["id"] for o in live], BTC)
        return created, edited, opened, cancelled + await ex.fetch_open_orders(BTC)

    created, edited, opened, after = run_with_client(emu, scenario)
    assert [o["status"] for o in created] == [None, "rejected", None]
    assert created[1]["info"]["code"] == 110003 and created[1]["id"] is None
    assert [o["id"] for o in edited] == [created[0]["id"], created[2]["id"]]
    assert sorted(o["amount"] for o in opened) == [0.03, 0.03]
    assert {o["price"] for o in opened} == {opened[0]["price"]}
    assert [o["id"] for o in after] == [created[0]["id"], created[2]["id"]]  # and none left open


def test_tp_sl_closed_pnl_ledger_leverage_margin_and_position_mode(emu: EmulatorHandle) -> None:
    async def opening(ex: Any) -> tuple[Any, Any]:
        await ex.load_markets()
        await ex.set_leverage(20, BTC)
        await ex.set_margin_mode("isolated", BTC)
        with pytest.raises(ccxt.NoChange):  # one-way already
            await ex.set_position_mode(False, BTC)
        await ex.create_order(BTC, "market", "buy", 0.02)
        last = (await ex.fetch_ticker(BTC))["last"]
        # ccxt sends both stop-loss and take-profit prices to /v5/position/trading-stop.
        await ex.create_order(BTC, "market", "sell", 0.02, None,
                              {"takeProfitPrice": last + 15 * TICK, "stopLossPrice": last - 15 * TICK})
        return (await ex.fetch_positions([BTC]))[0], last

    position, last = run_with_client(emu, opening)
    # Unified account: the margin mode is account-wide (tradeMode always 0), so ccxt leaves it None.
    assert position["marginMode"] is None and position["info"]["tradeMode"] == 0 and position["leverage"] == 20
    assert position["takeProfitPrice"] == last + 15 * TICK and position["stopLossPrice"] == last - 15 * TICK
    assert Decimal(position["info"]["positionValue"]) == Decimal(position["info"]["size"]) * Decimal(
        position["info"]["avgPrice"])

    for _ in range(7_200):  # the sim's price reaches one of them and closes the position
        with emu.lock:
            if emu.exchange.positions("BTCUSDT")[0].size == 0:
                break
        emu.run_until(emu.clock.now_ms() + 1_000)
    else:
        raise AssertionError("neither TP nor SL triggered")

    async def reading(ex: Any) -> tuple[list[Any], list[Any], list[Any], Any]:
        await ex.load_markets()
        return (await ex.fetch_positions_history([BTC]), await ex.fetch_ledger("USDT"),
                await ex.fetch_open_interest_history(BTC, "1h", limit=5), await ex.fetch_balance())

    history, ledger, oi, balance = run_with_client(emu, reading)
    (closed,) = history
    assert closed["side"] == "long" and closed["contracts"] == 0.02
    pnl = Decimal(closed["info"]["closedPnl"])
    fees = Decimal(closed["info"]["openFee"]) + Decimal(closed["info"]["closeFee"])
    gross = Decimal(closed["info"]["cumExitValue"]) - Decimal(closed["info"]["cumEntryValue"])
    assert pnl == gross - fees
    assert [e["info"]["type"] for e in ledger] == ["TRADE"] * len(ledger) and len(ledger) >= 2
    assert Decimal(str(balance["USDT"]["total"])) == emu.config.balance + sum(
        Decimal(e["info"]["change"]) for e in ledger)
    assert len(oi) == 5 and all(o["openInterestAmount"] > 0 for o in oi)
