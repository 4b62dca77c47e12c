"""The emulator's WebSocket wire protocol, spoken raw (aiohttp client): control messages, auth,
book snapshot/delta sequencing, ticker deltas, trades, private pushes, delay and drops."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import pytest

from bybit_mm.emulator import serialize as ser
from bybit_mm.emulator.runner import EmulatorHandle
from bybit_mm.emulator.wire import num
from bybit_mm.emulator.ws_wire import book_diff, parse_public_topic, tick_direction, ws_signature

T = TypeVar("T")


def run(coro_fn: Callable[[aiohttp.ClientSession], Awaitable[T]]) -> T:
    async def main() -> T:
        async with aiohttp.ClientSession() as session:
            return await asyncio.wait_for(coro_fn(session), 20)

    return asyncio.run(main())


async def recv(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> dict[str, Any]:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def recv_topic(ws: aiohttp.ClientWebSocketResponse, topic: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next push of ``topic`` (skipping other topics)."""
    while True:
        msg = await recv(ws, timeout)
        if msg.get("topic") == topic:
            return msg


def auth_args(emu: EmulatorHandle, *, secret: str | None = None, expires: int | None = None) -> list[Any]:
    exp = str(expires if expires is not None else int(time.time() * 1000) + 10_000)
    return [emu.api_key, exp, ws_signature(secret or emu.api_secret, exp)]


async def private_ws(session: aiohttp.ClientSession, emu: EmulatorHandle,
                     topics: list[str]) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(emu.ws_private_url)
    await ws.send_json({"op": "auth", "args": auth_args(emu)})
    assert (await recv(ws))["success"] is True
    await ws.send_json({"op": "subscribe", "args": topics, "req_id": "p1"})
    assert (await recv(ws))["success"] is True
    return ws


# --- pure helpers ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("topic", "expected"), [
    ("orderbook.50.BTCUSDT", ("orderbook", "BTCUSDT", 50)),
    ("orderbook.1.ETHUSDT", ("orderbook", "ETHUSDT", 1)),
    ("orderbook.200.BTCUSDT", ("orderbook", "BTCUSDT", 200)),
    ("publicTrade.BTCUSDT", ("publicTrade", "BTCUSDT", 0)),
    ("tickers.BTCUSDT", ("tickers", "BTCUSDT", 0)),
    ("orderbook.5.BTCUSDT", None),
    ("orderbook.x.BTCUSDT", None),
    ("kline.1.BTCUSDT", None),
    ("tickers.", None),
])
def test_parse_public_topic(topic: str, expected: tuple | None) -> None:
    parsed = parse_public_topic(topic)
    assert (None if parsed is None else (parsed.kind, parsed.symbol, parsed.depth)) == expected


def test_book_diff_marks_removed_levels_with_zero() -> None:
    old = {"100": "1", "99.5": "2", "99": "3"}
    new = {"100": "1", "99.5": "2.5", "98.5": "4"}
    assert sorted(book_diff(old, new)) == sorted([["99.5", "2.5"], ["98.5", "4"], ["99", "0"]])
    assert book_diff(new, new) == []


@pytest.mark.parametrize(("price", "prev", "prev_dir", "expected"), [
    ("101", "100", "MinusTick", "PlusTick"),
    ("99", "100", "PlusTick", "MinusTick"),
    ("100", "100", "PlusTick", "ZeroPlusTick"),
    ("100", "100", "ZeroPlusTick", "ZeroPlusTick"),
    ("100", "100", "MinusTick", "ZeroMinusTick"),
    ("100", None, "", "PlusTick"),
])
def test_tick_direction(price: str, prev: str | None, prev_dir: str, expected: str) -> None:
    assert tick_direction(Decimal(price), Decimal(prev) if prev else None, prev_dir) == expected


# --- control messages -------------------------------------------------------------------------------

def test_public_ping_subscribe_ack_and_unknown_topic(emu: EmulatorHandle) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(emu.ws_public_url) as ws:
            await ws.send_json({"op": "ping", "req_id": "7"})
            pong = await recv(ws)
            assert pong["success"] is True and pong["ret_msg"] == "pong" and pong["op"] == "ping"
            assert pong["req_id"] == "7" and pong["conn_id"]
            await ws.send_json({"op": "subscribe", "args": ["publicTrade.BTCUSDT"], "req_id": "s1"})
            ack = await recv(ws)
            assert ack == {"success": True, "ret_msg": "", "conn_id": pong["conn_id"], "req_id": "s1",
                           "op": "subscribe"}
            await ws.send_json({"op": "subscribe", "args": ["orderbook.5.BTCUSDT"], "req_id": "s2"})
            bad = await recv(ws)
            assert bad["success"] is False and bad["req_id"] == "s2"
            assert "orderbook.5.BTCUSDT" in bad["ret_msg"]
            await ws.send_json({"op": "subscribe", "args": ["tickers.DOGEUSDT"]})
            assert (await recv(ws))["success"] is False
            await ws.send_json({"op": "unsubscribe", "args": ["publicTrade.BTCUSDT"], "req_id": "u1"})
            unsub = await recv(ws)
            assert unsub["success"] is True and unsub["op"] == "unsubscribe" and unsub["req_id"] == "u1"
            await ws.send_json({"op": "dance"})
            assert (await recv(ws))["ret_msg"] == "error:invalid op"
            await ws.send_str("not json")
            assert (await recv(ws))["success"] is False
        assert emu.ws.subscribers("publicTrade.BTCUSDT") == 0

    run(scenario)


def test_private_auth_ok_then_pong_carries_server_time(emu: EmulatorHandle) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(emu.ws_private_url) as ws:
            await ws.send_json({"op": "auth", "args": auth_args(emu), "req_id": "a1"})
            ack = await recv(ws)
            assert ack["success"] is True and ack["op"] == "auth" and ack["ret_msg"] == ""
            await ws.send_json({"op": "ping", "req_id": "9"})
            pong = await recv(ws)
            assert pong["op"] == "pong" and pong["req_id"] == "9"
            assert pong["args"] == [str(emu.clock.now_ms())]

    run(scenario)


@pytest.mark.parametrize("case", ["wrong_secret", "wrong_key", "expired", "malformed"])
def test_private_auth_failures(emu: EmulatorHandle, case: str) -> None:
    args: list[Any] = {
        "wrong_secret": auth_args(emu, secret="not-the-secret"),
        "wrong_key": ["nobody", *auth_args(emu)[1:]],
        "expired": auth_args(emu, expires=int(time.time() * 1000) - 1000),
        "malformed": ["only-a-key"],
    }[case]

    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(emu.ws_private_url) as ws:
            await ws.send_json({"op": "auth", "args": args})
            ack = await recv(ws)
            assert ack["success"] is False and ack["op"] == "auth"
            # An expired or malformed request is a "Params Error" on Bybit; a bad key or signature is not authorized.
            assert ack["ret_msg"] == ("Params Error" if case in ("expired", "malformed") else "Request not authorized")
            assert ack["request"] == {"op": "auth", "args": args}
            # still unauthenticated: private topics are refused
            await ws.send_json({"op": "subscribe", "args": ["order"], "req_id": "x"})
            refused = await recv(ws)
            assert refused["success"] is False and refused["req_id"] == "x"

    run(scenario)


# --- public streams --------------------------------------------------------------------------------

def _levels(rows: list[list[str]]) -> dict[str, str]:
    return {p: q for p, q in rows}


def _apply(book: dict[str, str], rows: list[list[str]]) -> None:
    for p, q in rows:
        if q == "0":
            book.pop(p, None)
        else:
            book[p] = q


def test_orderbook_snapshot_then_deltas_rebuild_the_sim_book(emu: EmulatorHandle) -> None:
    topic = "orderbook.50.BTCUSDT"

    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(emu.ws_public_url) as ws:
            await ws.send_json({"op": "subscribe", "args": [topic]})
            assert (await recv(ws))["success"] is True
            snap = await recv_topic(ws, topic)
            assert snap["type"] == "snapshot" and snap["data"]["s"] == "BTCUSDT"
            assert len(snap["data"]["b"]) == 50 and len(snap["data"]["a"]) == 50
            bids, asks = _levels(snap["data"]["b"]), _levels(snap["data"]["a"])
            u, seq = snap["data"]["u"], snap["data"]["seq"]
            for _ in range(5):
                target = emu.clock.now_ms() + 3_000
                emu.run_until(target)
                delta = await recv_topic(ws, topic)
                assert delta["type"] == "delta" and delta["ts"] == target
                assert delta["data"]["u"] == u + 1 and delta["data"]["seq"] > seq
                u, seq = delta["data"]["u"], delta["data"]["seq"]
                _apply(bids, delta["data"]["b"])
                _apply(asks, delta["data"]["a"])
                with emu.lock:
                    book = emu.exchange.orderbook("BTCUSDT", 50)
                assert bids == {num(p): num(q) for p, q in book.bids}
                assert asks == {num(p): num(q) for p, q in book.asks}

    run(scenario)


def test_orderbook_depth_1_is_snapshots_only(emu: EmulatorHandle) -> None:
    topic = "orderbook.1.ETHUSDT"

    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(emu.ws_public_url) as ws:
            await ws.send_json({"op": "subscribe", "args": [topic]})
            await recv(ws)
            first = await recv_topic(ws, topic)
            emu.run_until(emu.clock.now_ms() + 5_000)
            second = await recv_topic(ws, topic)
            assert first["type"] == second["type"] == "snapshot"
            assert len(second["data"]["b"]) == len(second["data"]["a"]) == 1
            assert second["data"]["u"] == first["data"]["u"] + 1

    run(scenario)


def test_trades_and_ticker_streams(emu: EmulatorHandle) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(emu.ws_public_url) as ws:
            await ws.send_json({"op": "subscribe", "args": ["publicTrade.BTCUSDT", "tickers.BTCUSDT"]})
            await recv(ws)
            snap = await recv_topic(ws, "tickers.BTCUSDT")
            assert snap["type"] == "snapshot"
            with emu.lock:
                rest = ser.ticker_json(emu.exchange.ticker("BTCUSDT"), emu.exchange.instrument("BTCUSDT"))
            for key in ("lastPrice", "markPrice", "indexPrice", "bid1Price", "ask1Price", "fundingRate",
                        "nextFundingTime", "openInterest"):
                assert snap["data"][key] == rest[key], key
            start = emu.clock.now_ms()
            emu.run_until(start + 10_000)
            trades = await recv_topic(ws, "publicTrade.BTCUSDT")
            assert trades["type"] == "snapshot" and trades["data"]
            item = trades["data"][0]
            assert set(item) == {"T", "s", "S", "v", "p", "L", "i", "BT", "RPI", "seq"}
            assert all(start < t["T"] <= start + 10_000 for t in trades["data"])
            with emu.lock:
                recent = emu.exchange.recent_trades("BTCUSDT", 1000)
            assert {t["i"] for t in trades["data"]} <= {t.trade_id for t in recent}
            delta = await recv_topic(ws, "tickers.BTCUSDT")
            assert delta["type"] == "delta" and delta["data"]["symbol"] == "BTCUSDT"
            assert "lastPrice" in delta["data"] and "openInterest" not in delta["data"]  # only what changed
            assert delta["cs"] > snap["cs"]

    run(scenario)


# --- private streams -------------------------------------------------------------------------------

def test_private_pushes_after_a_fill(emu: EmulatorHandle) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        ws = await private_ws(session, emu, ["order", "execution", "position", "wallet"])
        with emu.lock:
            order = emu.exchange.place_order(symbol="BTCUSDT", side="Buy", order_type="Market",
                                             qty=Decimal("0.01"))
            executions = emu.exchange.executions("BTCUSDT")
        got: dict[str, dict[str, Any]] = {}
        while len(got) < 4:
            msg = await recv(ws)
            got.setdefault(msg["topic"], msg)
        for msg in got.values():
            assert set(msg) == {"id", "topic", "creationTime", "data"}
        orders = got["order"]["data"]
        assert orders[-1]["orderId"] == order.order_id and orders[-1]["orderStatus"] == "Filled"
        assert orders[-1]["category"] == "linear"
        assert {e["execId"] for e in got["execution"]["data"]} == {e.exec_id for e in executions}
        assert sum(Decimal(e["execQty"]) for e in got["execution"]["data"]) == Decimal("0.01")
        pos = got["position"]["data"][0]
        assert pos["symbol"] == "BTCUSDT" and pos["side"] == "Buy" and pos["size"] == "0.01"
        assert pos["entryPrice"] == pos["avgPrice"]
        wallet = got["wallet"]["data"][0]
        assert wallet["accountType"] == "UNIFIED" and Decimal(wallet["coin"][0]["totalPositionIM"]) > 0
        await ws.close()

    run(scenario)


# --- faults ----------------------------------------------------------------------------------------

def test_delay_holds_messages_and_keeps_their_order(emu: EmulatorHandle) -> None:
    emu.set_ws_delay_ms(1_000)

    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(emu.ws_public_url) as ws:
            for i in range(3):
                await ws.send_json({"op": "ping", "req_id": str(i)})
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.2)  # the server holds each message for a full second
            assert [(await recv(ws))["req_id"] for _ in range(3)] == ["0", "1", "2"]

    run(scenario)


def test_drop_all_cuts_connections_without_a_close_frame(emu: EmulatorHandle) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(emu.ws_public_url) as ws:
            await ws.send_json({"op": "subscribe", "args": ["publicTrade.BTCUSDT"]})
            await recv(ws)
            assert await asyncio.to_thread(emu.drop_ws_connections) == 1
            msg = await ws.receive(timeout=5)
            assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)
            assert ws.close_code != 1000
        assert emu.ws.drops == 1

    run(scenario)


def test_resubscribing_after_the_market_moved_gets_the_current_book(emu: EmulatorHandle) -> None:
    topic = "orderbook.50.BTCUSDT"

    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(emu.ws_public_url) as ws:
            await ws.send_json({"op": "subscribe", "args": [topic, "tickers.BTCUSDT"]})
            await recv(ws)
            first = await recv_topic(ws, topic)
            await ws.send_json({"op": "unsubscribe", "args": [topic, "tickers.BTCUSDT"]})
            await recv(ws)
            emu.run_until(emu.clock.now_ms() + 30_000)  # nobody watches while the market moves
            await ws.send_json({"op": "subscribe", "args": [topic, "tickers.BTCUSDT"]})
            await recv(ws)
            again = await recv_topic(ws, topic)
            ticker = await recv_topic(ws, "tickers.BTCUSDT")
        with emu.lock:
            book = emu.exchange.orderbook("BTCUSDT", 50)
            last = emu.exchange.ticker("BTCUSDT").last
        assert again["type"] == "snapshot" and again["data"]["u"] > first["data"]["u"]
        assert _levels(again["data"]["b"]) == {num(p): num(q) for p, q in book.bids}
        assert ticker["type"] == "snapshot" and ticker["data"]["lastPrice"] == num(last)

    run(scenario)
