"""Every REST and WebSocket payload the emulator sends, checked against Bybit's documented fields.

``fixtures/bybit_v5_fields.json`` holds, per payload kind, the field table of the Bybit V5 doc page
it names: each documented field must be present with the documented JSON type (numbers Bybit
documents as strings are strings), unless the fixture lists it as ``absent`` for linear contracts
with the docs' reason; price fields named ``tick`` must be on the instrument's tick grid and money
fields named ``money`` must carry at most 8 decimals, as Bybit rounds them.

One session collects the payloads: pybit for REST (it returns the whole envelope) and raw
WebSocket connections for the streams (pybit would merge the book and ticker deltas).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pybit_client import make_http

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.emulator.runner import EmulatorHandle
from bybit_mm.emulator.ws_wire import ws_signature

SPEC = json.loads((Path(__file__).parent / "fixtures" / "bybit_v5_fields.json").read_text())["kinds"]
BTC = "BTCUSDT"
L = {"category": "linear"}
TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                      "boolean": (bool,), "array": (list,), "object": (dict,)}


# --- the checker -----------------------------------------------------------------------------------

def _walk(value: Any, parts: list[str]) -> Iterator[Any]:
    """Every value at ``parts`` under ``value`` (``[]`` fans out over a list, ``[n]`` indexes it)."""
    if not parts:
        yield value
        return
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if isinstance(value, list):
            for item in value:
                yield from _walk(item, rest)
        return
    if head.startswith("[") and head.endswith("]"):
        if isinstance(value, list) and len(value) > int(head[1:-1]):
            yield from _walk(value[int(head[1:-1])], rest)
        return
    if isinstance(value, dict) and head in value:
        yield from _walk(value[head], rest)
    elif isinstance(value, dict):
        yield _MISSING


_MISSING = object()


def _parts(path: str) -> list[str]:
    out: list[str] = []
    for chunk in path.split("."):
        while "[" in chunk:
            i = chunk.index("[")
            if i:
                out.append(chunk[:i])
            j = chunk.index("]", i)
            out.append(chunk[i:j + 1])
            chunk = chunk[j + 1:]
        if chunk:
            out.append(chunk)
    return out


def _decimals(text: str) -> int:
    exponent = Decimal(text).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def check(kind: str, payload: dict[str, Any], tick: Decimal) -> list[str]:
    """What is wrong with ``payload`` (the kind's scope: a result, an envelope or a message)."""
    spec = SPEC[kind]
    problems: list[str] = []
    for path, type_name in spec["fields"].items():
        if path in spec["absent"]:
            continue
        for value in _walk(payload, _parts(path)):
            if value is None and path in spec["nullable"]:
                continue
            if value is _MISSING:
                problems.append(f"{kind}: {path} missing ({spec['doc']})")
            elif not isinstance(value, TYPES[type_name]) or (type_name != "boolean" and isinstance(value, bool)):
                problems.append(f"{kind}: {path} is {type(value).__name__} {value!r}, documented {type_name}")
    for path in spec["rounding"]["tick"]:
        for value in _walk(payload, _parts(path)):
            if isinstance(value, str) and value and Decimal(value) % tick:
                problems.append(f"{kind}: {path} {value} is off the {tick} tick grid")
    for path in spec["rounding"]["money"]:
        for value in _walk(payload, _parts(path)):
            if isinstance(value, str) and value and _decimals(value) > 8:
                problems.append(f"{kind}: {path} {value} has more than 8 decimals")
    return problems


def test_checker_reports_missing_wrong_typed_and_unrounded_fields() -> None:
    good = {"category": "linear", "list": [{"symbol": BTC, "orderId": "1", "side": "Sell"}]}
    bad = {"category": "linear", "list": [{"symbol": 1, "side": "Sell"}]}
    spec = SPEC["position.closed-pnl"]
    fields = {p: t for p, t in spec["fields"].items() if p in ("category", "list", "list[].symbol", "list[].orderId")}
    saved = dict(spec)
    try:
        SPEC["position.closed-pnl"] = {**spec, "fields": fields, "absent": {}, "nullable": {},
                                       "rounding": {"tick": ["list[].avgExitPrice"], "money": ["list[].closedPnl"]}}
        assert check("position.closed-pnl", good, Decimal("0.1")) == []
        problems = check("position.closed-pnl", bad, Decimal("0.1"))
        assert any("symbol is int" in p for p in problems) and any("orderId missing" in p for p in problems)
        unrounded = {"category": "linear", "list": [{"symbol": BTC, "orderId": "1", "avgExitPrice": "100.05",
                                                     "closedPnl": "0.000000001"}]}
        problems = check("position.closed-pnl", unrounded, Decimal("0.1"))
        assert len(problems) == 2
    finally:
        SPEC["position.closed-pnl"] = saved


# --- the session -----------------------------------------------------------------------------------

async def _streams(emu: EmulatorHandle, actions) -> dict[str, list[dict[str, Any]]]:
    """Raw messages of every public and private topic while ``actions`` runs (in a thread)."""
    got: dict[str, list[dict[str, Any]]] = {}
    async with aiohttp.ClientSession() as session:
        pub = await session.ws_connect(emu.ws_public_url)
        await pub.send_json({"op": "subscribe", "args": [f"orderbook.50.{BTC}", f"tickers.{BTC}",
                                                         f"publicTrade.{BTC}"]})
        priv = await session.ws_connect(emu.ws_private_url)
        expires = str(int(time.time() * 1000) + 10_000)
        await priv.send_json({"op": "auth", "args": [emu.api_key, expires, ws_signature(emu.api_secret, expires)]})
        await priv.send_json({"op": "subscribe", "args": ["order", "execution", "position", "wallet"]})

        async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                data = json.loads(msg.data)
                if "topic" in data:
                    got.setdefault(data["topic"].split(".")[0], []).append(data)

        readers = [asyncio.create_task(read(pub)), asyncio.create_task(read(priv))]
        await asyncio.sleep(0.3)
        await asyncio.to_thread(actions)
        await asyncio.sleep(0.5)
        for task in readers:
            task.cancel()
        await pub.close()
        await priv.close()
    return got


def _session(emu: EmulatorHandle) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """REST results by kind and WebSocket messages by topic, from one session touching everything."""
    s = make_http(emu)
    rest: dict[str, list[dict[str, Any]]] = {}

    def keep(kind: str, response: dict[str, Any]) -> dict[str, Any]:
        rest.setdefault(kind, []).append(response if SPEC[kind]["scope"] == "envelope" else response["result"])
        return response["result"]

    def actions() -> None:
        keep("market.time", s.get_server_time())
        keep("market.instruments-info", s.get_instruments_info(**L))
        book = keep("market.orderbook", s.get_orderbook(**L, symbol=BTC, limit=50))
        keep("market.tickers", s.get_tickers(**L, symbol=BTC))  # prices checked on BTCUSDT's tick
        keep("market.recent-trade", s.get_public_trade_history(**L, symbol=BTC, limit=20))
        keep("market.kline", s.get_kline(**L, symbol=BTC, interval="1", limit=5))
        keep("market.risk-limit", s.get_risk_limit(**L, symbol=BTC))
        keep("market.funding-history", s.get_funding_rate_history(**L, symbol=BTC, limit=5))
        keep("market.open-interest", s.get_open_interest(**L, symbol=BTC, intervalTime="5min", limit=5))
        keep("account.info", s.get_account_info())
        keep("account.fee-rate", s.get_fee_rates(**L, symbol=BTC))
        keep("asset.coin-info", s.get_coin_info())
        keep("user.query-api", s.get_api_key_information())
        bid = Decimal(book["b"][0][0])
        tick = get_instrument(BTC).tick_size
        s.set_leverage(**L, symbol=BTC, buyLeverage="25", sellLeverage="25")
        keep("account.set-margin-mode", s.set_margin_mode(setMarginMode="ISOLATED_MARGIN"))
        placed = keep("order.create", s.place_order(**L, symbol=BTC, side="Buy", orderType="Limit", qty="0.01",
                                                    price=str(bid - 30 * tick), timeInForce="PostOnly"))
        keep("order.amend", s.amend_order(**L, symbol=BTC, orderId=placed["orderId"], qty="0.02"))
        keep("order.realtime", s.get_open_orders(**L, symbol=BTC))
        keep("order.cancel", s.cancel_order(**L, symbol=BTC, orderId=placed["orderId"]))
        keep("order.create-batch", s.place_batch_order(**L, request=[
            {"symbol": BTC, "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": str(bid - 40 * tick),
             "timeInForce": "PostOnly", "orderLinkId": "sch-1"},
            {"symbol": BTC, "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": str(bid * 2)}]))
        keep("order.amend-batch", s.amend_batch_order(**L, request=[{"symbol": BTC, "orderLinkId": "sch-1",
                                                                     "price": str(bid - 45 * tick)}]))
        keep("order.cancel-batch", s.cancel_batch_order(**L, request=[{"symbol": BTC, "orderLinkId": "sch-1"}]))
        s.place_order(**L, symbol=BTC, side="Buy", orderType="Limit", qty="0.01", price=str(bid - 50 * tick),
                      timeInForce="PostOnly")
        keep("order.cancel-all", s.cancel_all_orders(**L, symbol=BTC))
        s.place_order(**L, symbol=BTC, side="Buy", orderType="Market", qty="0.03")
        s.place_order(**L, symbol=BTC, side="Sell", orderType="Market", qty="0.01", reduceOnly=True)
        # Past a funding time, so a settlement shows in executions and the transaction log.
        with emu.lock:
            next_funding = emu.exchange.ticker(BTC).next_funding_ms
        emu.run_until(next_funding + 1_000)
        keep("order.history", s.get_order_history(**L, symbol=BTC))
        keep("execution.list", s.get_executions(**L, symbol=BTC))
        keep("position.list", s.get_positions(**L, symbol=BTC))
        keep("position.closed-pnl", s.get_closed_pnl(**L, symbol=BTC))
        keep("account.wallet-balance", s.get_wallet_balance(accountType="UNIFIED"))
        keep("account.transaction-log", s.get_transaction_log(accountType="UNIFIED"))
        emu.run_until(emu.clock.now_ms() + 3_000)  # public trades and book deltas

    ws = asyncio.run(_streams(emu, actions))
    return rest, ws


WS_KINDS = {"order": "ws.order", "execution": "ws.execution", "position": "ws.position", "wallet": "ws.wallet",
            "tickers": "ws.tickers", "publicTrade": "ws.publicTrade", "orderbook": "ws.orderbook"}


@pytest.fixture(scope="module")
def payloads() -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    from bybit_mm.emulator.runner import running_emulator

    with running_emulator(symbols=("BTCUSDT", "ETHUSDT"), seed=3) as emu:
        # Start a minute before a funding time: the session crosses it without simulating hours.
        with emu.lock:
            next_funding = emu.exchange.ticker(BTC).next_funding_ms
        emu.run_until(next_funding - 60_000)
        yield _session(emu)


@pytest.mark.parametrize("kind", [k for k in SPEC if not k.startswith("ws.")])
def test_rest_payloads_have_bybits_documented_fields(payloads, kind: str) -> None:
    rest, _ = payloads
    assert rest.get(kind), f"the session sent no {kind} request"
    tick = get_instrument(BTC).tick_size
    problems = [p for payload in rest[kind] for p in check(kind, payload, tick)]
    assert problems == []


@pytest.mark.parametrize("topic", list(WS_KINDS))
def test_websocket_payloads_have_bybits_documented_fields(payloads, topic: str) -> None:
    _, ws = payloads
    kind = WS_KINDS[topic]
    messages = ws.get(topic, [])
    if topic == "tickers":  # a delta carries only what changed (docs): the snapshot is checked
        messages = [m for m in messages if m["type"] == "snapshot"]
    assert messages, f"no {topic} message"
    tick = get_instrument(BTC).tick_size
    problems = [p for msg in messages for p in check(kind, msg, tick)]
    assert problems == []


def test_funding_and_trade_executions_and_every_list_were_seen(payloads) -> None:
    """The session exercised what the schema test relies on: non-empty lists, funding, TP/SL-free fills."""
    rest, _ = payloads
    types = {e["execType"] for e in rest["execution.list"][0]["list"]}
    assert types == {"Trade", "Funding"}
    assert {t["type"] for t in rest["account.transaction-log"][0]["list"]} == {"TRADE", "SETTLEMENT"}
    for kind in ("order.history", "position.closed-pnl", "market.recent-trade", "order.realtime"):
        assert rest[kind][0]["list"], kind
