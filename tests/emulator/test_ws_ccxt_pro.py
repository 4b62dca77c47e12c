"""ccxt.pro's bybit against the emulator's streams: every watch_* the market maker needs, auth
failure, dropped connections (on demand and at a rate) and REST reconciliation of fills."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from ws_client import run_pro

from bybit_mm.emulator.runner import EmulatorHandle, running_emulator

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


async def until_subscribed(emu: EmulatorHandle, topic: str) -> None:
    """Wait until the emulator has a live subscriber to ``topic`` (a watch is in flight)."""
    for _ in range(500):
        if emu.ws.subscribers(topic):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"nobody subscribed to {topic}")


def sim_book(emu: EmulatorHandle, symbol: str, depth: int) -> tuple[list[list[float]], list[list[float]]]:
    with emu.lock:
        book = emu.exchange.orderbook(symbol, depth)
    return ([[float(p), float(q)] for p, q in book.bids], [[float(p), float(q)] for p, q in book.asks])


async def eventually(check: Callable[[], bool], tries: int = 250) -> None:
    """Let ccxt.pro's receive loop run until ``check()`` holds (it reads ccxt's caches)."""
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the streams never delivered the expected state")


def test_watch_order_book_follows_the_sim_book(emu: EmulatorHandle) -> None:
    async def scenario(ex: Any) -> None:
        await ex.load_markets()
        ob = await ex.watch_order_book(BTC)
        assert [ob["bids"], ob["asks"]] == list(sim_book(emu, "BTCUSDT", 50))
        for _ in range(3):
            target = emu.clock.now_ms() + 4_000
            emu.run_until(target)
            # The update may be in before a watch call would wait for it: read ccxt.pro's cached book.
            await eventually(lambda: ex.orderbooks[BTC]["timestamp"] == target)
            ob = ex.orderbooks[BTC]
            assert [ob["bids"], ob["asks"]] == list(sim_book(emu, "BTCUSDT", 50))
        deep = await ex.watch_order_book(ETH, 200)
        assert len(deep["bids"]) == len(deep["asks"]) == 200
        assert [deep["bids"], deep["asks"]] == list(sim_book(emu, "ETHUSDT", 200))

    run_pro(emu, scenario)


def test_watch_trades_and_ticker_match_rest(emu: EmulatorHandle) -> None:
    async def scenario(ex: Any) -> None:
        await ex.load_markets()
        ticker = await ex.watch_ticker(BTC)
        rest = await ex.fetch_ticker(BTC)
        for key in ("bid", "ask", "last", "markPrice", "indexPrice"):
            assert ticker[key] == rest[key], key
        watching = asyncio.ensure_future(ex.watch_trades(BTC))
        await until_subscribed(emu, "publicTrade.BTCUSDT")
        start = emu.clock.now_ms()
        emu.run_until(start + 15_000)
        seen: dict[str, Any] = {t["id"]: t for t in await watching}
        # The rest may arrive before another watch_trades call, which would then wait for a message
        # that never comes (the market is frozen): read what ccxt.pro has cached instead.
        await eventually(lambda: max(t["timestamp"] for t in ex.trades[BTC]) >= start + 14_000)
        seen.update((t["id"], t) for t in ex.trades[BTC])
        recent = await ex.fetch_trades(BTC, limit=1000)
        window = {t["id"]: t for t in recent if start < t["timestamp"] <= start + 15_000}
        assert set(seen) <= set(window)
        for tid, trade in seen.items():
            assert (trade["price"], trade["amount"], trade["side"]) == \
                (window[tid]["price"], window[tid]["amount"], window[tid]["side"])
        await eventually(lambda: ex.tickers[BTC]["timestamp"] >= start + 15_000)  # cached, as above
        moved = ex.tickers[BTC]
        rest = await ex.fetch_ticker(BTC)
        for key in ("bid", "ask", "last", "markPrice"):
            assert moved[key] == rest[key], key  # deltas merged into the snapshot give the REST ticker

    run_pro(emu, scenario)


def test_private_watches_see_a_resting_order_fill(emu: EmulatorHandle) -> None:
    async def scenario(ex: Any) -> None:
        await ex.load_markets()
        snapshot = await ex.watch_positions([BTC])  # ccxt.pro loads a REST snapshot first
        assert all(p["contracts"] == 0 for p in snapshot)
        orders_w = asyncio.ensure_future(ex.watch_orders(BTC))
        await until_subscribed(emu, "order")
        mine_w = asyncio.ensure_future(ex.watch_my_trades(BTC))
        await until_subscribed(emu, "execution")
        pos_w = asyncio.ensure_future(ex.watch_positions([BTC]))
        await until_subscribed(emu, "position")
        bal_w = asyncio.ensure_future(ex.watch_balance())
        await until_subscribed(emu, "wallet")
        book = await ex.fetch_order_book(BTC)
        bid, ask = book["bids"][0][0], book["asks"][0][0]
        buy = await ex.create_order(BTC, "limit", "buy", 0.01, bid, {"timeInForce": "PO"})
        sell = await ex.create_order(BTC, "limit", "sell", 0.01, ask, {"timeInForce": "PO"})
        new = await orders_w
        assert new[0]["id"] == buy["id"] and new[0]["status"] == "open"
        assert new[0]["price"] == bid and new[0]["amount"] == 0.01
        filled = None
        for _ in range(600):  # let the market trade through one of the quotes
            emu.run_until(emu.clock.now_ms() + 1_000)
            with emu.lock:
                views = [emu.exchange.get_order(order_id=o["id"]) for o in (buy, sell)]
            done = [v for v in views if v is not None and v.status == "Filled"]
            if done:
                filled = done[0]
                break
        else:
            pytest.fail("neither resting quote filled")
        price = bid if filled.order_id == buy["id"] else ask
        await ex.cancel_all_orders(BTC)
        await asyncio.gather(mine_w, pos_w, bal_w)
        # ccxt.pro keeps every update in its caches; a watch only waits for the next message
        await eventually(lambda: any(o["id"] == filled.order_id and o["status"] == "closed"
                                     and o["filled"] == 0.01 for o in ex.orders))
        await eventually(lambda: sum(t["amount"] for t in ex.myTrades
                                     if t["order"] == filled.order_id) >= 0.01)
        mine = [t for t in ex.myTrades if t["order"] == filled.order_id]
        assert all(t["takerOrMaker"] == "maker" and t["price"] == price for t in mine)
        rest = await ex.fetch_my_trades(BTC)
        assert {t["id"] for t in ex.myTrades} <= {t["id"] for t in rest}
        with emu.lock:
            sim_pos = emu.exchange.positions("BTCUSDT")[0]
            equity = emu.exchange.wallet().equity
        await eventually(lambda: [p["contracts"] for p in ex.positions if p["symbol"] == BTC
                                  and p["side"] == ("long" if sim_pos.side == "Buy" else "short")]
                         == [float(sim_pos.size)])
        await eventually(lambda: ex.balance["unified"]["USDT"]["total"] == float(equity))

    run_pro(emu, scenario)


def test_wrong_secret_is_an_authentication_error(emu: EmulatorHandle) -> None:
    async def scenario(ex: Any) -> None:
        await ex.load_markets()
        with pytest.raises(ccxt.AuthenticationError):
            await ex.watch_orders()

    # REST must work for load_markets (public), the stream auth is what fails
    run_pro(emu, scenario, secret="wrong-secret")


def test_dropped_connection_is_recovered_and_no_fill_is_lost(emu: EmulatorHandle) -> None:
    async def scenario(ex: Any) -> None:
        await ex.load_markets()
        ws_fills: dict[str, Any] = {}

        async def fill_seen_by_stream(side: str) -> None:
            watching = asyncio.ensure_future(ex.watch_my_trades(BTC))
            await until_subscribed(emu, "execution")
            order = await ex.create_order(BTC, "market", side, 0.01)
            trades = await watching
            while not any(t["order"] == order["id"] for t in trades):
                trades = await ex.watch_my_trades(BTC)
            ws_fills.update((t["id"], t) for t in trades)

        await fill_seen_by_stream("buy")
        pending = asyncio.ensure_future(ex.watch_my_trades(BTC))
        await until_subscribed(emu, "execution")
        assert await asyncio.to_thread(emu.drop_ws_connections) >= 1
        with pytest.raises(ccxt.NetworkError):
            await pending
        # while the stream is down the account keeps trading (REST still works)
        gap = await ex.create_order(BTC, "market", "sell", 0.02)
        # watching again reconnects, re-authenticates and resubscribes
        await fill_seen_by_stream("buy")
        assert not any(t["order"] == gap["id"] for t in ws_fills.values())  # nothing is replayed
        rest = {t["id"]: t for t in await ex.fetch_my_trades(BTC, limit=100)}
        assert set(ws_fills) <= set(rest)
        gap_fills = [t for t in rest.values() if t["order"] == gap["id"]]
        assert sum(t["amount"] for t in gap_fills) == pytest.approx(0.02)
        with emu.lock:
            sim_ids = {e.exec_id for e in emu.exchange.executions("BTCUSDT", limit=1000)
                       if e.exec_type == "Trade"}
        assert set(ws_fills) | set(rest) == sim_ids  # stream + REST reconciliation = every fill
        position = (await ex.fetch_positions([BTC]))[0]
        assert position["contracts"] == 0 or position["contracts"] == pytest.approx(0.0)

    run_pro(emu, scenario)
    assert emu.ws.drops >= 1


def test_drop_rate_cuts_pushes_and_ccxt_resubscribes() -> None:
    with running_emulator(symbols=("BTCUSDT",), seed=5, ws_drop_rate=1.0) as emu:
        emu.run_until(emu.clock.now_ms() + 60_000)

        async def scenario(ex: Any) -> None:
            await ex.load_markets()
            first = await ex.watch_order_book(BTC)  # the snapshot is an answer, not a push
            assert first["bids"]
            emu.run_until(emu.clock.now_ms() + 5_000)
            with pytest.raises(ccxt.NetworkError):
                for _ in range(50):
                    await ex.watch_order_book(BTC)  # the first delta push drops the connection
            emu.set_ws_drop_rate(0.0)
            again = await ex.watch_order_book(BTC)  # a new connection and a fresh snapshot
            assert [again["bids"], again["asks"]] == list(sim_book(emu, "BTCUSDT", 50))

        run_pro(emu, scenario)
        assert emu.ws.drops >= 1


def test_balance_stream_is_the_rest_wallet(emu: EmulatorHandle) -> None:
    async def scenario(ex: Any) -> tuple[Any, Any]:
        await ex.load_markets()
        watching = asyncio.ensure_future(ex.watch_balance())
        await until_subscribed(emu, "wallet")
        await ex.create_order(ETH, "market", "sell", 0.1)
        streamed = await watching
        return streamed, await ex.fetch_balance()

    streamed, rest = run_pro(emu, scenario)
    with emu.lock:
        wallet = emu.exchange.wallet()
    assert Decimal(str(streamed["USDT"]["total"])) == wallet.equity
    # the stream carries the REST wallet-balance account item itself (ccxt parses it differently)
    assert streamed["info"] == rest["info"]["result"]["list"]
