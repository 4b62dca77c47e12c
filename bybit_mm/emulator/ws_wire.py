"""Bybit V5 WebSocket messages: control answers, topic names, and stream payloads.

Shapes follow Bybit's V5 WebSocket documentation (websocket/public/orderbook, trade, ticker;
websocket/private/order, execution, position, wallet) and what ccxt.pro's ``bybit`` parses.
Payload bodies are the REST serialisers' output (:mod:`.serialize`, called by :mod:`.ws`) where
Bybit sends the same fields, plus ``category`` on private items as the streams do.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bybit_mm.emulator.wire import num
from bybit_mm.sim.models import BookSnapshot, Trade

PUBLIC_PATH = "/v5/public/linear"
PRIVATE_PATH = "/v5/private"

#: Depths Bybit serves on ``orderbook.{depth}.{symbol}`` for linear contracts.
BOOK_DEPTHS = (1, 50, 200, 1000)
#: Bybit's push interval (ms) per depth for linear contracts (websocket/public/orderbook).
BOOK_PUSH_MS = {1: 10, 50: 20, 200: 100, 1000: 200}
#: Bybit pushes linear tickers every 100 ms.
TICKER_PUSH_MS = 100

#: Private topics; the ``.linear`` forms are Bybit's category-specific variants of the same stream.
PRIVATE_TOPICS = {"order": "order", "order.linear": "order", "execution": "execution",
                  "execution.linear": "execution", "position": "position",
                  "position.linear": "position", "wallet": "wallet",
                  # disconnection protection: nothing is pushed, the subscription is what counts
                  "dcp": "dcp", "dcp.future": "dcp"}

AUTH_FAILED_MSG = "Request not authorized"
#: The keys of a linear ``tickers`` snapshot (ccxt.pro's documented linear example).
TICKER_KEYS = ("symbol", "tickDirection", "price24hPcnt", "lastPrice", "prevPrice24h", "highPrice24h",
               "lowPrice24h", "prevPrice1h", "markPrice", "indexPrice", "openInterest",
               "openInterestValue", "turnover24h", "volume24h", "nextFundingTime", "fundingRate",
               "bid1Price", "bid1Size", "ask1Price", "ask1Size")


@dataclass(frozen=True)
class PublicTopic:
    """A parsed public topic: ``kind`` is ``orderbook``, ``publicTrade`` or ``tickers``."""

    kind: str
    symbol: str
    depth: int = 0


def parse_public_topic(topic: str) -> PublicTopic | None:
    """``orderbook.50.BTCUSDT`` → PublicTopic; None for anything the emulator does not serve."""
    parts = topic.split(".")
    if len(parts) == 3 and parts[0] == "orderbook" and parts[1].isdigit() and int(parts[1]) in BOOK_DEPTHS:
        return PublicTopic("orderbook", parts[2], int(parts[1]))
    if len(parts) == 2 and parts[0] in ("publicTrade", "tickers") and parts[1]:
        return PublicTopic(parts[0], parts[1])
    return None


def ws_signature(secret: str, expires: str) -> str:
    """Bybit's WebSocket auth signature: hex HMAC-SHA256(secret, "GET/realtime" + expires)."""
    return hmac.new(secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()


# --- control answers -------------------------------------------------------------------------------

def op_ack(op: str, conn_id: str, req_id: Any, *, success: bool = True, ret_msg: str = "",
           request: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"success","ret_msg","conn_id","req_id","op"}`` (subscribe, unsubscribe, auth, public pong).

    Failures carry the offending ``request`` as Bybit echoes it (ccxt.pro reads ``request.op`` to
    tell an authentication failure from other errors).
    """
    msg: dict[str, Any] = {"success": success, "ret_msg": ret_msg, "conn_id": conn_id}
    if req_id is not None:
        msg["req_id"] = req_id
    msg["op"] = op
    if request is not None:
        msg["request"] = request
    return msg


def public_pong(conn_id: str, req_id: Any) -> dict[str, Any]:
    """The public streams answer ``{"op":"ping"}`` with ``ret_msg: "pong"``."""
    return op_ack("ping", conn_id, req_id if req_id is not None else "", ret_msg="pong")


def private_pong(conn_id: str, req_id: Any, now_ms: int) -> dict[str, Any]:
    """The private stream answers ``{"op":"ping"}`` with ``op: "pong"`` and the server time."""
    msg: dict[str, Any] = {}
    if req_id is not None:
        msg["req_id"] = req_id
    msg.update({"op": "pong", "args": [str(now_ms)], "conn_id": conn_id})
    return msg


# --- public streams --------------------------------------------------------------------------------

def book_levels(book: BookSnapshot) -> tuple[dict[str, str], dict[str, str]]:
    """Bids and asks as ``{price: size}`` strings, best first (dicts keep insertion order)."""
    return ({num(p): num(q) for p, q in book.bids}, {num(p): num(q) for p, q in book.asks})


def book_diff(old: dict[str, str], new: dict[str, str]) -> list[list[str]]:
    """Delta levels from ``old`` to ``new``: changed or new levels, and removed ones with size "0"."""
    out = [[p, q] for p, q in new.items() if old.get(p) != q]
    out.extend([p, "0"] for p in old if p not in new)
    return out


def book_message(topic: str, kind: str, symbol: str, bids: list[list[str]], asks: list[list[str]],
                 u: int, seq: int, ts_ms: int, cts_ms: int) -> dict[str, Any]:
    """An ``orderbook.N.SYMBOL`` push (``kind`` is ``snapshot`` or ``delta``)."""
    return {"topic": topic, "type": kind, "ts": ts_ms,
            "data": {"s": symbol, "b": bids, "a": asks, "u": u, "seq": seq}, "cts": cts_ms}


def tick_direction(price: Decimal, prev: Decimal | None, prev_direction: str) -> str:
    """Bybit's ``L``/``tickDirection``: PlusTick, ZeroPlusTick, MinusTick, ZeroMinusTick."""
    if prev is None or price > prev:
        return "PlusTick"
    if price < prev:
        return "MinusTick"
    return "ZeroPlusTick" if prev_direction in ("PlusTick", "ZeroPlusTick") else "ZeroMinusTick"


def trade_item(t: Trade, direction: str) -> dict[str, Any]:
    """One entry of a ``publicTrade.SYMBOL`` push."""
    return {"T": t.ts_ms, "s": t.symbol, "S": t.side.value, "v": num(t.qty), "p": num(t.price),
            "L": direction, "i": t.trade_id, "BT": False}


def trades_message(symbol: str, items: list[dict[str, Any]], ts_ms: int) -> dict[str, Any]:
    """A ``publicTrade.SYMBOL`` push (always ``type: snapshot``)."""
    return {"topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": ts_ms, "data": items}


def ticker_fields(rest_ticker: dict[str, Any], direction: str) -> dict[str, Any]:
    """The linear ``tickers`` fields, taken from the REST ticker with the tick direction added."""
    merged = {**rest_ticker, "tickDirection": direction}
    return {k: merged.get(k, "") for k in TICKER_KEYS}


def ticker_message(symbol: str, kind: str, data: dict[str, Any], cs: int, ts_ms: int) -> dict[str, Any]:
    """A ``tickers.SYMBOL`` push: a full snapshot, or a delta with the changed fields and symbol."""
    return {"topic": f"tickers.{symbol}", "type": kind, "data": data, "cs": cs, "ts": ts_ms}


# --- private streams -------------------------------------------------------------------------------

def private_message(topic: str, msg_id: str, data: list[dict[str, Any]], now_ms: int) -> dict[str, Any]:
    """A private push: ``{"id","topic","creationTime","data":[...]}``."""
    return {"id": msg_id, "topic": topic, "creationTime": now_ms, "data": data}


def ws_order(order_json: dict[str, Any]) -> dict[str, Any]:
    """An ``order`` stream item: the REST order plus ``category``."""
    return {"category": "linear", **order_json}


def ws_execution(execution_json: dict[str, Any]) -> dict[str, Any]:
    """An ``execution`` stream item: the REST execution plus ``category`` and ``isLeverage``."""
    return {"category": "linear", **execution_json, "isLeverage": ""}


def ws_position(position_json: dict[str, Any]) -> dict[str, Any]:
    """A ``position`` stream item: the REST position plus ``category`` and ``entryPrice``.

    The stream names the entry price ``entryPrice`` (REST: ``avgPrice``); both are sent.
    """
    return {"category": "linear", **position_json, "entryPrice": position_json.get("avgPrice", "0")}


def ws_wallet(wallet_rest: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``wallet`` stream's data: the REST wallet-balance list (one UNIFIED account)."""
    return list(wallet_rest["list"])

