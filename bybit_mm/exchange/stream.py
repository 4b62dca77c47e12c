"""Streaming market data and account updates: the port the engine consumes events through.

A :class:`MarketStream` follows one symbol. ``await next_event(timeout_s)`` returns the next
:class:`StreamEvent` as it arrives (a book update, new public trades, a ticker change, our order
updates, our executions, a position or wallet change, or a status change of the connection), or
None when nothing came within the timeout. Between events the latest state is there to read:
``book()``, ``ticker()``, ``recent_trades()`` and, for a stream with private data, ``account``
(an :class:`AccountState`). ``healthy`` says whether the data can be trusted right now
(connected, nothing missed, heard from recently); the engine falls back to REST reads while it
is not.

Implementation: :class:`~bybit_mm.exchange.ccxt_stream.CcxtMarketStream` (Bybit's WebSocket
streams through ccxt.pro; the emulator serves the same). The paper account on a live market
reads the same public streams through :class:`StreamedFeed`; the offline synthetic market is
step-driven by the clock and needs no stream.

Also here, free of any vendor code: :class:`BookBuilder`, which rebuilds an L2 book from Bybit's
``orderbook.N.SYMBOL`` snapshot and delta messages and detects a gap in their update ids ``u``
(ccxt.pro does not check them), and :class:`StreamedFeed`, the paper account's live market fed
from a stream with the REST poller as its fallback.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from bybit_mm.exchange.poller import FeedClock, MarketPoll, PolledFeed, feed
from bybit_mm.exchange.port import Balance, Execution, OrderBook, OrderInfo, PositionInfo, PublicTrade, Ticker

if TYPE_CHECKING:
    from bybit_mm.exchange.port import FuturesClient
    from bybit_mm.sim.exchange import SimExchange

StreamKind = Literal["book", "trades", "ticker", "orders", "executions", "position", "wallet", "status"]

#: What the feed line of the live table says.
FEED_STREAM = "stream"
FEED_FALLBACK = "rest (fallback)"
FEED_REST = "rest"


@dataclass(frozen=True)
class StreamEvent:
    """One thing that arrived on a stream (``kind`` says which fields are filled)."""

    kind: StreamKind
    symbol: str = ""
    ts_ms: int = 0
    trades: tuple[PublicTrade, ...] = ()
    orders: tuple[OrderInfo, ...] = ()
    executions: tuple[Execution, ...] = ()
    #: ``status``: ``connected``, ``disconnected: why`` or ``resync: why``.
    detail: str = ""


class AccountState:
    """Our account as the private stream (and REST reconciliation) last showed it.

    Orders are merged so that a late, older view never undoes a newer one: a finished order
    (filled, cancelled, rejected) stays finished, and the filled quantity never shrinks.
    """

    def __init__(self) -> None:
        self.position: PositionInfo | None = None
        #: False until a push or a REST read said what the position is.
        self.position_known = False
        self.balance: Balance | None = None
        self.orders: dict[str, OrderInfo] = {}

    def merge_order(self, o: OrderInfo) -> OrderInfo:
        """Record ``o`` unless what is known already is newer; returns what is kept."""
        old = self.orders.get(o.order_id)
        if old is not None and ((not old.is_open and o.is_open) or o.filled_qty < old.filled_qty):
            return old
        self.orders[o.order_id] = o
        if len(self.orders) > 2000:  # forget the oldest finished orders
            for oid in [k for k, v in self.orders.items() if not v.is_open][:500]:
                del self.orders[oid]
        return o

    def set_position(self, pos: PositionInfo | None) -> None:
        """The position (None: flat), from a push or a REST read."""
        self.position = pos if pos is not None and pos.size > 0 else None
        self.position_known = True

    def open_orders(self, prefix: str = "") -> list[OrderInfo]:
        """Working orders whose client id starts with ``prefix``, oldest first."""
        out = [o for o in self.orders.values() if o.is_open and o.client_order_id.startswith(prefix)]
        out.sort(key=lambda o: o.created_ms)
        return out


@runtime_checkable
class MarketStream(Protocol):
    """One symbol's market data (and, for a live account, our orders and fills) as events."""

    symbol: str
    #: Our account as pushed (None when the stream carries public data only).
    account: AccountState | None

    async def start(self) -> None:
        """Connect and subscribe; ExchangeUnavailable when the streams cannot be reached."""
        ...

    async def next_event(self, timeout_s: float) -> StreamEvent | None:
        """The next event, or None when none arrived within ``timeout_s`` real seconds."""
        ...

    @property
    def healthy(self) -> bool:
        """True while the data is current: connected, in sequence, heard from recently."""
        ...

    @property
    def reconnects(self) -> int:
        """How many times the private stream came back after a loss (anything may be missed)."""
        ...

    def book(self) -> OrderBook | None:
        """The latest order book (None before the first snapshot or after a gap)."""
        ...

    def ticker(self) -> Ticker | None:
        """The latest ticker (mark, index, funding)."""
        ...

    def recent_trades(self) -> list[PublicTrade]:
        """The last public trades received, oldest first."""
        ...

    async def close(self) -> None:
        """Unsubscribe and close the connections."""
        ...


class BookBuilder:
    """An L2 book rebuilt from Bybit ``orderbook`` messages, with the update-id check.

    A ``snapshot`` replaces the book; a ``delta`` must carry ``u`` = previous ``u`` + 1 (Bybit:
    "if you receive u = 1 it is a new snapshot"; any other jump means messages were lost), its
    levels replace or (size 0) remove price levels. After a gap the book is invalid until the next
    snapshot (the stream resubscribes to get one).
    """

    def __init__(self, symbol: str, depth: int) -> None:
        self.symbol = symbol
        self.depth = depth
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.u: int | None = None
        self.seq = 0
        self.ts_ms = 0
        self.valid = False
        self.gaps = 0

    def apply(self, message: dict[str, Any]) -> bool:
        """Apply one message; False (and the book invalid) when it shows that messages were lost."""
        data = message.get("data") or {}
        u = int(data.get("u", 0))
        ts = int(message.get("cts") or message.get("ts") or 0)
        if message.get("type") == "snapshot" or u == 1:
            self.bids = {Decimal(p): Decimal(q) for p, q in data.get("b") or []}
            self.asks = {Decimal(p): Decimal(q) for p, q in data.get("a") or []}
            self.valid = True
        elif not self.valid:
            return True  # waiting for the snapshot the resubscription brings
        elif self.u is None or u != self.u + 1:
            self.valid = False
            self.gaps += 1
            return False
        else:
            for side, rows in ((self.bids, data.get("b")), (self.asks, data.get("a"))):
                for p, q in rows or []:
                    price, size = Decimal(p), Decimal(q)
                    if size == 0:
                        side.pop(price, None)
                    else:
                        side[price] = size
        self.u = u
        self.seq = int(data.get("seq", self.seq))
        self.ts_ms = ts or self.ts_ms
        return True

    def book(self, depth: int | None = None) -> OrderBook | None:
        """The book, best first, ``depth`` levels a side (None while invalid)."""
        if not self.valid:
            return None
        n = depth or self.depth
        bids = tuple(sorted(self.bids.items(), key=lambda x: -x[0])[:n])
        asks = tuple(sorted(self.asks.items())[:n])
        return OrderBook(self.symbol, self.ts_ms, bids, asks)


class RecentTrades:
    """The last ``size`` public trades, each id once, oldest first."""

    def __init__(self, size: int = 1000) -> None:
        self._trades: deque[PublicTrade] = deque(maxlen=size)
        self._ids: set[str] = set()

    def add(self, trades: Sequence[PublicTrade]) -> list[PublicTrade]:
        """Add trades; returns those not seen before."""
        fresh = []
        for t in trades:
            if t.trade_id in self._ids:
                continue
            if len(self._trades) == self._trades.maxlen:
                self._ids.discard(self._trades[0].trade_id)
            self._trades.append(t)
            self._ids.add(t.trade_id)
            fresh.append(t)
        return fresh

    def list(self) -> list[PublicTrade]:
        """Every remembered trade, oldest first."""
        return sorted(self._trades, key=lambda t: t.ts_ms)


class StreamedFeed(PolledFeed):
    """The paper account's live market fed from streams, with REST polling as the fallback.

    ``streams`` (one per symbol, public data only) are started by :meth:`start`; while a symbol's
    stream is healthy every :meth:`pull` hands the sim the trades that arrived since the last pull
    and the latest book and ticker (no request at all); otherwise that pull polls REST like
    :class:`PolledFeed`. :attr:`mode` says which the last pull used.
    """

    def __init__(self, client: FuturesClient, symbols: Sequence[str], streams: dict[str, MarketStream], *,
                 clock: FeedClock | None = None, min_interval_s: float = 0.5, depth: int = 50,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(client, symbols, clock=clock, min_interval_s=min_interval_s, depth=depth,
                         monotonic=monotonic)
        self.streams = {s.upper(): st for s, st in streams.items()}
        self._fed: dict[str, set[str]] = {s: set() for s in self.streams}
        self.mode = FEED_STREAM
        self.started = False

    async def poll_all(self) -> list[MarketPoll]:
        """Poll every symbol over REST; each poll keeps only trades not handed to the sim before
        (by a poll or a stream), so switching between the two never feeds a trade twice."""
        out = []
        for poll in await super().poll_all():
            seen = self._fed.setdefault(poll.symbol, set())
            fresh = [t for t in poll.trades if t.trade_id not in seen]
            seen.update(t.trade_id for t in fresh)
            out.append(replace(poll, trades=fresh))
        return out

    def stream(self, symbol: str) -> MarketStream | None:
        """The stream of ``symbol`` (None when it is not streamed)."""
        return self.streams.get(symbol.upper())

    async def start(self) -> None:
        """Connect the streams; when that fails the feed polls REST (``mode`` says so)."""
        import logging

        from bybit_mm.errors import BybitMMError

        self.started = True
        self.mode = FEED_STREAM
        for st in self.streams.values():
            try:
                await st.start()
            except BybitMMError as e:
                logging.getLogger(__name__).warning("market stream unavailable, polling REST: %s", e.one_line())
                self.mode = FEED_FALLBACK

    async def pull(self, exchange: SimExchange, *, force: bool = False) -> bool:
        """Feed the sim from the streams, or from a REST poll for a symbol whose stream is unhealthy."""
        if not self.started:
            await self.start()
        if any(not st.healthy for st in self.streams.values()):
            self.mode = FEED_FALLBACK
            now = self._monotonic()
            if not force and self._last_pull is not None and now - self._last_pull < self.min_interval_s:
                return False
            for poll in await self.poll_all():
                feed(exchange, poll)
            return True
        self.mode = FEED_STREAM
        for sym, st in self.streams.items():
            book, ticker = st.book(), st.ticker()
            if book is None or ticker is None:
                continue
            seen = self._fed[sym]
            trades = [t for t in st.recent_trades() if t.trade_id not in seen]
            seen.update(t.trade_id for t in trades)
            if len(seen) > 20_000:
                self._fed[sym] = {t.trade_id for t in st.recent_trades()}
            ts = max([book.ts_ms, ticker.ts_ms] + [t.ts_ms for t in trades[-1:]])
            self.clock.observe(ts)
            feed(exchange, MarketPoll(sym, ts, book, trades, ticker))
        return True

    async def close(self) -> None:
        """Close the streams and the public client."""
        for st in self.streams.values():
            try:
                await st.close()
            except Exception:  # closing must not hide the reason for stopping
                pass
        await super().close()
