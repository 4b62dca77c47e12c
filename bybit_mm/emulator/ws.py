"""Bybit V5 WebSocket streams on the emulator's port: ``/v5/public/linear`` and ``/v5/private``.

One :class:`WsHub` per emulator. It listens to every batch of sim events (whoever calls
``SimExchange.advance``) and, while at least one client is connected, runs a publisher task that
every ``ws_interval_ms`` advances the sim to "now" under the emulator's lock and pushes:

- ``orderbook.{1,50,200,1000}.SYMBOL``: a snapshot on subscribe, then deltas (changed levels,
  removed ones with size "0") with ``u`` growing by one per push of the topic and ``seq`` the
  sim's book version; depth 1 is snapshots only, as on Bybit. No topic is pushed more often than
  Bybit pushes it (``BOOK_PUSH_MS``), nor more often than the publisher runs.
- ``publicTrade.SYMBOL``: the prints since the last push, in one message per symbol.
- ``tickers.SYMBOL``: a snapshot on subscribe, then deltas with the changed fields (every 100 ms).
- private ``order``, ``execution``, ``position``, ``wallet`` after ``auth``: what the sim produced
  (order updates, fills, position changes; the wallet after anything that moves it).
- private ``dcp`` / ``dcp.future``: disconnection protection (see :mod:`.dcp`): once the last
  subscriber is gone for the window set over REST, every order is cancelled.

As on Bybit, nothing is replayed after a reconnect: a client reconciles through REST.

A request that changes the account (create, amend, cancel...) wakes the publisher at once, so
private pushes follow it within a publisher step rather than a whole interval.

Faults: ``ws_delay_ms`` holds every outgoing message (control answers too) that long, in order;
``ws_drop_rate`` drops the connection (without a close frame) instead of sending a push, with a
seeded RNG; :meth:`WsHub.drop_all` drops every connection on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from bybit_mm.emulator import serialize as ser
from bybit_mm.emulator import ws_wire as W
from bybit_mm.emulator.auth import wall_ms
from bybit_mm.emulator.dcp import DERIVATIVE_TOPICS
from bybit_mm.sim.models import (
    Event,
    FillEvent,
    FundingEvent,
    LiquidationEvent,
    OrderUpdate,
    PositionUpdate,
    SimOrder,
    TradeEvent,
)

if TYPE_CHECKING:
    from bybit_mm.emulator.server import EmulatorState

log = logging.getLogger(__name__)

_MAX_FEE_MEMO = 20_000


def _dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"))


@dataclass(eq=False)
class WsConnection:
    """One client connection: its socket, topics, authenticated key and outgoing queue."""

    ws: web.WebSocketResponse
    request: web.Request
    private: bool
    conn_id: str
    topics: set[str] = field(default_factory=set)
    api_key: str | None = None
    queue: asyncio.Queue[tuple[float, str]] = field(default_factory=asyncio.Queue)
    dropped: bool = False
    writer: asyncio.Task[None] | None = None


@dataclass
class _BookState:
    bids: dict[str, str]
    asks: dict[str, str]
    u: int
    seq: int
    ts_ms: int
    last_push: float


@dataclass
class _TickerState:
    fields: dict[str, Any]
    last_push: float


class WsHub:
    """The emulator's WebSocket side: connections, subscriptions, the publisher and stream faults."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        config = state.config
        #: Added delay (ms) of every outgoing message; may be changed while running.
        self.delay_ms = float(config.ws_delay_ms)
        #: Chance, per push, that the connection is dropped instead; may be changed while running.
        self.drop_rate = float(config.ws_drop_rate)
        self.interval_ms = float(config.ws_interval_ms)
        self._rng = random.Random(f"ws-drops:{config.seed}")
        self._ids = itertools.count(1)
        self._conn_seq = itertools.count(1)
        self._conns: set[WsConnection] = set()
        self._pending: deque[Event] = deque()
        self._books: dict[str, _BookState] = {}
        self._tickers: dict[str, _TickerState] = {}
        self._last_price: dict[str, tuple[Decimal, str]] = {}
        self._fees: OrderedDict[str, Decimal] = OrderedDict()
        self._cs = itertools.count(1)
        self._publisher: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Counters for tests and benchmarks.
        self.messages_sent = 0
        self.drops = 0
        state.exchange.add_listener(self._on_events)

    # --- sim events (called from whichever thread advances the sim, under its lock) ---------------

    def _on_events(self, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, FillEvent):
                ex = ev.execution
                self._fees[ex.order_id] = self._fees.get(ex.order_id, Decimal(0)) + ex.fee
                if len(self._fees) > _MAX_FEE_MEMO:
                    self._fees.popitem(last=False)
        if self._conns:
            self._pending.extend(events)

    # --- connections ---------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """How many clients are connected."""
        return len(self._conns)

    def subscribers(self, topic: str) -> int:
        """How many live connections are subscribed to ``topic`` (safe to call from any thread)."""
        for _ in range(5):
            try:
                return sum(1 for c in list(self._conns) if not c.dropped and topic in c.topics)
            except RuntimeError:  # the set changed while another thread copied it
                continue
        return 0

    async def handle(self, request: web.Request, *, private: bool) -> web.WebSocketResponse:
        """Serve one WebSocket connection until it closes."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        self._loop = asyncio.get_running_loop()
        conn = WsConnection(ws=ws, request=request, private=private,
                            conn_id=f"emu{next(self._conn_seq):06x}-{'priv' if private else 'pub'}")
        conn.writer = asyncio.create_task(self._write(conn))
        self._conns.add(conn)
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish_loop())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._conns.discard(conn)
            self._dcp_check()
            if conn.writer is not None:
                conn.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await conn.writer
        return ws

    def _send(self, conn: WsConnection, msg: dict[str, Any]) -> None:
        if conn.dropped:
            return
        due = asyncio.get_running_loop().time() + self.delay_ms / 1000
        conn.queue.put_nowait((due, _dumps(msg)))

    def _push(self, conn: WsConnection, msg: dict[str, Any]) -> None:
        """A stream push: subject to the drop rate."""
        if conn.dropped:
            return
        if self.drop_rate > 0 and self._rng.random() < self.drop_rate:
            self._drop(conn)
            return
        self._send(conn, msg)

    async def _write(self, conn: WsConnection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, text = await conn.queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if conn.dropped or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            self.messages_sent += 1

    def _drop(self, conn: WsConnection) -> None:
        """Cut the connection as a network failure would: no close frame, the socket just goes."""
        if conn.dropped:
            return
        conn.dropped = True
        self.drops += 1
        self._dcp_check()
        transport = conn.request.transport
        if transport is not None:
            transport.abort()
        else:  # pragma: no cover - aiohttp always keeps the transport while the socket is open
            asyncio.get_running_loop().create_task(conn.ws.close())

    def _dcp_check(self) -> None:
        """Start the DCP countdown when no live private connection keeps a dcp topic."""
        if any(c.private and not c.dropped and c.topics.intersection(DERIVATIVE_TOPICS) for c in self._conns):
            return

        def cancel_all() -> None:
            with self.state.lock:
                self.state.exchange.cancel_all()
            self.wake()

        self.state.ctx.dcp.subscribers_gone(asyncio.get_running_loop(), cancel_all)

    async def drop_all(self) -> int:
        """Drop every connection now; returns how many were dropped."""
        conns = [c for c in self._conns if not c.dropped]
        for conn in conns:
            self._drop(conn)
        return len(conns)

    async def shutdown(self, app: web.Application | None = None) -> None:
        """Close every connection (the server is stopping)."""
        for conn in list(self._conns):
            conn.dropped = True
            with contextlib.suppress(Exception):
                await conn.ws.close()
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        self.state.exchange.remove_listener(self._on_events)

    # --- client requests -------------------------------------------------------------------------

    def _on_text(self, conn: WsConnection, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            self._send(conn, W.op_ack("", conn.conn_id, None, success=False, ret_msg="error:invalid op",
                                      request={"op": "", "args": None}))
            return
        op = msg.get("op")
        req_id = msg.get("req_id")
        args = msg.get("args")
        if op == "ping":
            if conn.private:
                self._send(conn, W.private_pong(conn.conn_id, req_id, self.state.clock.now_ms()))
            else:
                self._send(conn, W.public_pong(conn.conn_id, req_id))
        elif op == "auth" and conn.private:
            self._auth(conn, req_id, args)
        elif op in ("subscribe", "unsubscribe") and isinstance(args, list) and args \
                and all(isinstance(a, str) for a in args):
            if op == "subscribe":
                self._subscribe(conn, req_id, args)
            else:
                conn.topics.difference_update(args)
                self._send(conn, W.op_ack("unsubscribe", conn.conn_id, req_id))
        else:
            self._send(conn, W.op_ack(str(op or ""), conn.conn_id, req_id, success=False,
                                      ret_msg="error:invalid op", request={"op": op, "args": args}))

    def _auth(self, conn: WsConnection, req_id: Any, args: Any) -> None:
        """``{"op":"auth","args":[key, expires_ms, hex HMAC(secret, "GET/realtime" + expires)]}``."""
        ok = False
        if isinstance(args, list) and len(args) == 3:
            key, expires, signature = (str(a) for a in args)
            secret = self.state.config.credentials().get(key)
            try:
                fresh = int(expires) > wall_ms()
            except ValueError:
                fresh = False
            if secret is not None and fresh:
                expected = W.ws_signature(secret, expires)
                ok = hmac.compare_digest(signature.lower().encode(), expected.encode())
            if ok:
                conn.api_key = key
        if ok:
            self._send(conn, W.op_ack("auth", conn.conn_id, req_id))
        else:
            self._send(conn, W.op_ack("auth", conn.conn_id, req_id, success=False,
                                      ret_msg=W.AUTH_FAILED_MSG, request={"op": "auth", "args": args}))

    def _subscribe(self, conn: WsConnection, req_id: Any, topics: list[str]) -> None:
        symbols = set(self.state.exchange.symbols)
        bad: list[str] = []
        for topic in topics:
            if conn.private:
                if topic not in W.PRIVATE_TOPICS:
                    bad.append(topic)
            else:
                parsed = W.parse_public_topic(topic)
                if parsed is None or parsed.symbol not in symbols:
                    bad.append(topic)
        if conn.private and conn.api_key is None:
            self._send(conn, W.op_ack("subscribe", conn.conn_id, req_id, success=False,
                                      ret_msg=W.AUTH_FAILED_MSG,
                                      request={"op": "subscribe", "args": topics}))
            return
        if bad:
            self._send(conn, W.op_ack("subscribe", conn.conn_id, req_id, success=False,
                                      ret_msg=f"error:handler not found,topic:{bad[0]}",
                                      request={"op": "subscribe", "args": topics}))
            return
        new = [t for t in topics if t not in conn.topics]
        # What happened before this subscription goes to the existing subscribers only.
        self.publish()
        conn.topics.update(topics)
        if conn.private and any(t in DERIVATIVE_TOPICS for t in topics):
            self.state.ctx.dcp.subscribed()
        self._send(conn, W.op_ack("subscribe", conn.conn_id, req_id))
        if not conn.private:
            with self.state.lock:
                self.state.exchange.advance()
                snapshots = [self._snapshot(W.parse_public_topic(t), t, conn)  # type: ignore[arg-type]
                             for t in new]
            for msg in snapshots:
                if msg is not None:
                    self._send(conn, msg)

    # --- public snapshots ------------------------------------------------------------------------

    def _snapshot(self, topic: W.PublicTopic, name: str, new_subscriber: WsConnection
                  ) -> dict[str, Any] | None:
        """The snapshot a new subscriber gets (None for publicTrade, which has none)."""
        now = self.state.clock.now_ms()
        watched = any(name in c.topics for c in self._conns if c is not new_subscriber and not c.dropped)
        if topic.kind == "orderbook":
            state = self._books.get(name)
            if state is None or not watched:  # nobody kept it current: start from the sim's book
                state = self._book_state(topic, name, 1 if state is None else state.u + 1)
            return W.book_message(name, "snapshot", topic.symbol, [[p, q] for p, q in state.bids.items()],
                                  [[p, q] for p, q in state.asks.items()], state.u, state.seq, now,
                                  state.ts_ms)
        if topic.kind == "tickers":
            tstate = self._tickers.get(topic.symbol)
            if tstate is None or not watched:
                tstate = _TickerState(self._ticker_fields(topic.symbol), self._now())
                self._tickers[topic.symbol] = tstate
            return W.ticker_message(topic.symbol, "snapshot", dict(tstate.fields), next(self._cs), now)
        return None

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _book_state(self, topic: W.PublicTopic, name: str, u: int) -> _BookState:
        book = self.state.exchange.orderbook(topic.symbol, topic.depth)
        bids, asks = W.book_levels(book)
        state = _BookState(bids, asks, u, book.seq, book.ts_ms, self._now())
        self._books[name] = state
        return state

    def _ticker_fields(self, symbol: str) -> dict[str, Any]:
        ex = self.state.exchange
        t = ex.ticker(symbol)
        rest = ser.ticker_json(t, ex.instrument(symbol))
        prev = self._last_price.get(symbol)
        direction = prev[1] if prev is not None else "PlusTick"
        return W.ticker_fields(rest, direction)

    # --- the publisher ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Run the publisher now instead of at its next tick (after a request changed the account),
        so private pushes follow a REST call as closely as they do on Bybit. Loop thread only."""
        if self._conns:
            self._wakeup.set()

    async def _publish_loop(self) -> None:
        interval = self.interval_ms / 1000
        while self._conns:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), interval)
            self._wakeup.clear()
            try:
                self.publish()
            except Exception:  # a bug here must not kill the streams silently
                log.exception("WebSocket publish failed")

    def publish(self) -> None:
        """Advance the sim to now and push what changed to every subscriber (one publisher step)."""
        conns = [c for c in self._conns if not c.dropped and c.topics]
        with self.state.lock:
            self.state.exchange.advance()
            events = list(self._pending)
            self._pending.clear()
            if not conns:
                return
            out = self._build(conns, events)
        for conn, msg in out:
            self._push(conn, msg)

    def _subscribers(self, conns: Iterable[WsConnection], topic: str, *, private: bool
                     ) -> list[WsConnection]:
        return [c for c in conns if c.private == private and topic in c.topics]

    def _build(self, conns: list[WsConnection], events: list[Event]) -> list[tuple[WsConnection, dict]]:
        out: list[tuple[WsConnection, dict]] = []
        now = self.state.clock.now_ms()
        loop_now = self._now()
        public = [c for c in conns if not c.private]
        private = [c for c in conns if c.private and c.api_key is not None]
        trades: dict[str, list[dict[str, Any]]] = {}
        for ev in events:
            if isinstance(ev, TradeEvent):
                t = ev.trade
                prev = self._last_price.get(t.symbol)
                direction = W.tick_direction(t.price, prev[0] if prev else None, prev[1] if prev else "")
                self._last_price[t.symbol] = (t.price, direction)
                trades.setdefault(t.symbol, []).append(W.trade_item(t, direction))
        if public:
            for symbol, items in trades.items():
                subs = self._subscribers(public, f"publicTrade.{symbol}", private=False)
                if subs:
                    msg = W.trades_message(symbol, items, now)
                    out.extend((c, msg) for c in subs)
            out.extend(self._book_pushes(public, now, loop_now))
            out.extend(self._ticker_pushes(public, now, loop_now))
        if private and events:
            out.extend(self._private_pushes(private, events, now))
        return out

    def _book_pushes(self, public: list[WsConnection], now: int, loop_now: float
                     ) -> list[tuple[WsConnection, dict]]:
        out: list[tuple[WsConnection, dict]] = []
        topics = {t for c in public for t in c.topics if t.startswith("orderbook.")}
        for name in topics:
            topic = W.parse_public_topic(name)
            if topic is None:
                continue
            state = self._books.get(name)
            if state is None:
                continue
            if (loop_now - state.last_push) * 1000 < W.BOOK_PUSH_MS[topic.depth] - 1e-6:
                continue
            book = self.state.exchange.orderbook(topic.symbol, topic.depth)
            if book.seq == state.seq:
                continue
            bids, asks = W.book_levels(book)
            db, da = W.book_diff(state.bids, bids), W.book_diff(state.asks, asks)
            if not db and not da:
                continue
            state.u += 1
            state.seq, state.bids, state.asks = book.seq, bids, asks
            state.ts_ms, state.last_push = book.ts_ms, loop_now
            if topic.depth == 1:
                msg = W.book_message(name, "snapshot", topic.symbol, [[p, q] for p, q in bids.items()],
                                     [[p, q] for p, q in asks.items()], state.u, state.seq, now, book.ts_ms)
            else:
                msg = W.book_message(name, "delta", topic.symbol, db, da, state.u, state.seq, now, book.ts_ms)
            out.extend((c, msg) for c in self._subscribers(public, name, private=False))
        return out

    def _ticker_pushes(self, public: list[WsConnection], now: int, loop_now: float
                       ) -> list[tuple[WsConnection, dict]]:
        out: list[tuple[WsConnection, dict]] = []
        symbols = {t.split(".", 1)[1] for c in public for t in c.topics if t.startswith("tickers.")}
        for symbol in symbols:
            state = self._tickers.get(symbol)
            if state is None or (loop_now - state.last_push) * 1000 < W.TICKER_PUSH_MS - 1e-6:
                continue
            fields = self._ticker_fields(symbol)
            changed = {k: v for k, v in fields.items() if state.fields.get(k) != v}
            if not changed:
                continue
            state.fields, state.last_push = fields, loop_now
            msg = W.ticker_message(symbol, "delta", {"symbol": symbol, **changed}, next(self._cs), now)
            out.extend((c, msg) for c in self._subscribers(public, f"tickers.{symbol}", private=False))
        return out

    def _cum_fee(self, order: SimOrder) -> Decimal:
        if order.filled_qty == 0:
            return Decimal(0)
        fee = self._fees.get(order.order_id)
        if fee is not None:
            return fee
        from bybit_mm.emulator.trading import cum_fee

        return cum_fee(self.state.ctx, order)

    def _private_pushes(self, private: list[WsConnection], events: list[Event], now: int
                        ) -> list[tuple[WsConnection, dict]]:
        ex = self.state.exchange
        ctx = self.state.ctx
        orders: list[dict[str, Any]] = []
        executions: list[dict[str, Any]] = []
        positions: dict[str, dict[str, Any]] = {}
        wallet_moved = False
        for i, ev in enumerate(events):
            if isinstance(ev, OrderUpdate):
                orders.append(W.ws_order(ser.order_json(ev.order, self._cum_fee(ev.order))))
                wallet_moved = True
            elif isinstance(ev, FillEvent):
                e = ev.execution
                order = next((x.order for x in events[i + 1:]
                              if isinstance(x, OrderUpdate) and x.order.order_id == e.order_id), None)
                if order is None and e.order_id:
                    order = ex.get_order(order_id=e.order_id)
                executions.append(W.ws_execution(ser.execution_json(e, order, ctx.next_seq())))
                wallet_moved = True
            elif isinstance(ev, PositionUpdate):
                p = ev.position
                positions[p.symbol] = W.ws_position(ser.position_json(p, ex.instrument(p.symbol),
                                                                      ctx.next_seq()))
                wallet_moved = True
            elif isinstance(ev, (FundingEvent, LiquidationEvent)):
                wallet_moved = True
        out: list[tuple[WsConnection, dict]] = []

        def emit(stream: str, data: list[dict[str, Any]]) -> None:
            if not data:
                return
            for c in private:
                for name in c.topics:
                    if W.PRIVATE_TOPICS.get(name) == stream:
                        out.append((c, W.private_message(name, f"emu-{next(self._ids)}", data, now)))

        emit("order", orders)
        emit("execution", executions)
        emit("position", list(positions.values()))
        if wallet_moved and any(W.PRIVATE_TOPICS.get(t) == "wallet" for c in private for t in c.topics):
            emit("wallet", W.ws_wallet(ser.wallet_json(ex.wallet())))
        return out


HUB_KEY: web.AppKey[WsHub] = web.AppKey("emulator_ws_hub", WsHub)


def install(app: web.Application, state: EmulatorState) -> WsHub:
    """Serve the WebSocket paths on ``app`` (register before any catch-all route)."""
    hub = WsHub(state)
    app[HUB_KEY] = hub
    state.ws = hub

    async def public(request: web.Request) -> web.WebSocketResponse:
        return await hub.handle(request, private=False)

    async def private(request: web.Request) -> web.WebSocketResponse:
        return await hub.handle(request, private=True)

    app.router.add_get(W.PUBLIC_PATH, public)
    app.router.add_get(W.PRIVATE_PATH, private)
    app.on_shutdown.append(hub.shutdown)
    return hub
