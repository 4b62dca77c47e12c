"""``CcxtMarketStream``: Bybit's WebSocket streams for one symbol through ccxt.pro (the ccxt adapter).

ccxt.pro connects, authenticates (``GET/realtime`` HMAC), subscribes, pings and reconnects; this
module taps every raw message before ccxt parses it (a subclass overrides ``handle_message``), so
what the engine gets is Bybit's own payload parsed into the port's Decimal dataclasses by the same
functions as the REST client, and nothing is lost between two ``watch_*`` calls.

- Public: ``orderbook.{depth}.SYMBOL`` rebuilt by :class:`~bybit_mm.exchange.stream.BookBuilder`,
  which checks the update ids ``u`` (ccxt.pro does not). A gap drops the public connection on
  purpose: the watchers reconnect, resubscribe and the new subscription starts with a snapshot.
  ``publicTrade.SYMBOL`` (new trades by id), ``tickers.SYMBOL`` (snapshot + merged deltas).
- Private (``private=True``): ``order``, ``execution``, ``position``, ``wallet`` into an
  :class:`~bybit_mm.exchange.stream.AccountState`. Bybit replays nothing after a reconnect, so
  :attr:`reconnects` grows and the engine reconciles through REST.
- Each topic has a watcher task that re-calls its ``watch_*`` after a failure with exponential
  backoff (0.1 s doubling to ``backoff_max_s``). ``healthy`` is False while a connection is down,
  the book waits for its snapshot, or nothing public arrived for ``stale_after_s``.

The only other module (with ccxt_client.py) allowed to import ccxt, and only inside functions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybit_mm.domain.orders import Side
from bybit_mm.errors import AuthError, BybitMMError, ExchangeUnavailable
from bybit_mm.exchange.ccxt_client import (
    OFFLINE_HINT,
    balance_from_account,
    ccxt_errors,
    execution_from_row,
    import_ccxt_pro_bybit,
    order_from_row,
    position_from_row,
)
from bybit_mm.exchange.port import OrderBook, PublicTrade, Ticker
from bybit_mm.exchange.stream import AccountState, BookBuilder, RecentTrades, StreamEvent

if TYPE_CHECKING:
    from bybit_mm.config.schema import Profile
    from bybit_mm.config.secrets import Credentials

log = logging.getLogger(__name__)

#: Events kept when the consumer falls behind (market data is dropped first, never account events).
_MAX_QUEUE = 5000
_MARKET_KINDS = ("book", "trades", "ticker")
#: Private topics a private stream subscribes (order, execution, position, wallet).
_PRIVATE_TOPICS = 4


def _d(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


class CcxtMarketStream:
    """One symbol's streams (see the module docstring); ``await start()`` before reading."""

    def __init__(self, *, network: str, symbol: str, url: str = "", api_key: str = "", api_secret: str = "",
                 depth: int = 50, private: bool = False, stale_after_s: float = 10.0,
                 backoff_max_s: float = 5.0, ready_timeout_s: float = 15.0, dcp: bool = False) -> None:
        if depth not in (1, 50, 200, 1000):
            raise ValueError("Bybit serves order book depths 1, 50, 200 and 1000")
        self.network = network
        self.symbol = symbol.upper()
        self.depth = depth
        self.private = private
        #: Also subscribe the private ``dcp.future`` topic: Bybit's disconnection protection counts
        #: only connections subscribed to it (its window is set over REST, see ``exchange.dcp_window_s``).
        self.dcp = private and dcp
        self._private_topics = _PRIVATE_TOPICS + (1 if self.dcp else 0)
        self.stale_after_s = stale_after_s
        self.backoff_max_s = backoff_max_s
        self.ready_timeout_s = ready_timeout_s
        self.account: AccountState | None = AccountState() if private else None
        self.builder = BookBuilder(self.symbol, depth)
        self.trades = RecentTrades()
        self._ticker_fields: dict[str, Any] = {}
        self._ticker_ts = 0
        self._events: deque[StreamEvent] = deque()
        self._signal = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._public_up = False
        self._private_up = False
        self._private_acks = 0
        self._last_public = 0.0
        self._reconnects = 0
        self._fatal: BybitMMError | None = None
        #: Counters: gaps found in the book's update ids, and connection losses seen.
        self.gaps = 0
        self.disconnects = 0
        self._ex = self._make_exchange(network, url, api_key, api_secret)
        self._market_symbol = ""

    @classmethod
    def from_profile(cls, profile: Profile, symbol: str, credentials: Credentials | None = None, *,
                     private: bool = False, **kwargs: Any) -> CcxtMarketStream:
        """The profile network's streams for ``symbol``; ``private`` needs ``credentials``."""
        ex = profile.exchange
        key = credentials.api_key if (private and credentials) else ""
        secret = credentials.api_secret if (private and credentials) else ""
        kwargs.setdefault("stale_after_s", max(float(profile.risk.stale_after_s) * 2, 5.0))
        kwargs.setdefault("dcp", ex.dcp_window_s > 0)
        return cls(network=ex.network, symbol=symbol, url=ex.url, api_key=key, api_secret=secret,
                   private=private, **kwargs)

    # --- ccxt.pro ---------------------------------------------------------------------------------

    def _make_exchange(self, network: str, url: str, api_key: str, api_secret: str) -> Any:
        stream = self

        class _Tapped(import_ccxt_pro_bybit()):  # type: ignore[misc, name-defined]
            def handle_message(self, client: Any, message: Any) -> None:
                if isinstance(message, dict) and not stream._on_raw(client, message):
                    return  # a book gap: the connection is being reset, ccxt must not merge it
                super().handle_message(client, message)

        ex = _Tapped({
            "apiKey": api_key, "secret": api_secret, "enableRateLimit": True, "timeout": 10_000,
            "options": {"defaultType": "swap", "fetchMarkets": {"types": ["linear"]},
                        "enableUnifiedMargin": False, "enableUnifiedAccount": True,
                        "watchPositions": {"fetchPositionsSnapshot": False, "awaitPositionsSnapshot": False}},
        })
        ex.has["fetchCurrencies"] = False
        if network == "testnet":
            ex.set_sandbox_mode(True)
        elif network == "demo" and hasattr(ex, "enable_demo_trading"):
            ex.enable_demo_trading(True)
        elif network == "emulator":
            from bybit_mm.exchange.raw_stream import ws_base as to_ws

            base = url.rstrip("/")
            ws_base = to_ws(base)
            api = ex.urls["api"]
            for k in list(api):  # mutate in place: ccxt.pro keeps references into these dicts
                if k != "ws":
                    api[k] = base
            ws = api["ws"]
            for category in list(ws["public"]):
                ws["public"][category] = ws_base + "/v5/public/linear"
            ws["private"]["contract"] = ws_base + "/v5/private"
            ws["private"]["spot"]["unified"] = ws_base + "/v5/private"
        return ex

    async def start(self) -> None:
        """Load the market, start the watchers and wait for the first book and ticker (and, with
        private streams, the authenticated subscription); ExchangeUnavailable / AuthError if not.
        Once the watchers run, a further call returns at once (``healthy`` tells the state)."""
        ccxt = ccxt_errors()

        if self._tasks:
            return  # started already (a second consumer of the same stream): the watchers run
        try:
            await self._ex.load_markets()
        except ccxt.BaseError as e:
            raise ExchangeUnavailable(f"cannot reach {self.network} for streaming ({type(e).__name__})",
                                      hint=OFFLINE_HINT) from e
        market = next((m for m in self._ex.markets.values()
                       if m.get("id") == self.symbol and m.get("linear") and m.get("swap")), None)
        if market is None:
            raise ExchangeUnavailable(f"{self.symbol} is not a linear perpetual on {self.network}")
        sym = market["symbol"]
        self._market_symbol = sym
        ex = self._ex
        self._spawn("book", False, lambda: ex.watch_order_book(sym, self.depth))
        self._spawn("trades", False, lambda: ex.watch_trades(sym))
        self._spawn("ticker", False, lambda: ex.watch_ticker(sym))
        if self.private:
            self._spawn("orders", True, lambda: ex.watch_orders(sym))
            self._spawn("executions", True, lambda: ex.watch_my_trades(sym))
            self._spawn("position", True, lambda: ex.watch_positions([sym]))
            self._spawn("wallet", True, lambda: ex.watch_balance())
            if self.dcp:
                self._spawn("dcp", True, lambda: self._watch_dcp(sym))
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._fatal is not None:
                raise self._fatal
            if self.healthy and self._ticker_fields:
                return
            await asyncio.sleep(0.01)
        raise ExchangeUnavailable(f"{self.network} streams for {self.symbol} did not become ready "
                                  f"within {self.ready_timeout_s:g} s")

    def _spawn(self, name: str, private: bool, watch: Callable[[], Awaitable[Any]]) -> None:
        self._tasks.append(asyncio.create_task(self._keep(name, private, watch), name=f"stream-{name}"))

    async def _keep(self, name: str, private: bool, watch: Callable[[], Awaitable[Any]]) -> None:
        """Keep one topic subscribed: re-watch after every failure, backing off exponentially."""
        ccxt = ccxt_errors()

        delay = 0.1
        while not self._closing:
            try:
                await watch()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except ccxt.AuthenticationError as e:
                self._fatal = AuthError(f"Bybit refused the API key on the private stream ({self.network})",
                                        hint="check the key, the secret and its permissions")
                self._lost(private, "authentication failed")
                log.warning("stream %s: %s", name, type(e).__name__)
                return
            except Exception as e:  # network loss, a reset after a gap, a server error
                if self._closing:
                    return
                self._lost(private, f"{type(e).__name__}")
                log.info("stream %s lost (%s); again in %.1fs", name, type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)

    async def _watch_dcp(self, sym: str) -> None:
        # ccxt has no watcher for the dcp topic: subscribe it on the private connection the other
        # private topics use; nothing is pushed on it, so this waits until the connection is lost.
        ex = self._ex
        url = await ex.get_url_by_market_type(sym, True, "watchOrders", {})
        await ex.authenticate(url)
        await ex.watch_topics(url, ["dcp"], ["dcp.future"], {})

    def _lost(self, private: bool, why: str) -> None:
        was_up = self._private_up if private else self._public_up
        if private:
            self._private_up = False
            self._private_acks = 0
        else:
            self._public_up = False
            self.builder.valid = False
        if was_up:
            self.disconnects += 1
            self._emit(StreamEvent("status", self.symbol, detail=f"disconnected: {why}"))

    # --- raw messages ------------------------------------------------------------------------------

    def _on_raw(self, client: Any, message: dict[str, Any]) -> bool:
        """Parse one raw message into state and events; False when the book showed a gap."""
        private = "/private" in str(getattr(client, "url", ""))
        topic = str(message.get("topic") or "")
        if private:
            if message.get("op") == "subscribe" and message.get("success", True):
                self._private_acks += 1
            if not self._private_up and self._private_acks >= self._private_topics:
                # every private topic is subscribed again: from now on nothing is missed
                self._private_up = True
                self._emit(StreamEvent("status", self.symbol, detail="connected"))
                if self.disconnects:
                    self._reconnects += 1
            if topic:
                self._on_private(topic, message)
            return True
        self._last_public = time.monotonic()
        if topic.startswith("orderbook."):
            if self.builder.apply(message):
                if self.builder.valid:
                    self._public_up = True
                    self._emit(StreamEvent("book", self.symbol, self.builder.ts_ms))
                return True
            self.gaps += 1
            log.warning("order book gap on %s (u %s): resubscribing", self.symbol, message.get("data", {}).get("u"))
            self._emit(StreamEvent("status", self.symbol, detail="resync: order book update ids skipped"))
            self._resync(client)
            return False
        if topic.startswith("publicTrade."):
            trades = [PublicTrade(trade_id=str(t.get("i", "")), symbol=str(t.get("s", self.symbol)),
                                  ts_ms=int(t.get("T") or 0), price=_d(t.get("p")), qty=_d(t.get("v")),
                                  side=Side.parse(t.get("S") or "Buy"))
                      for t in message.get("data") or [] if t.get("s", self.symbol) == self.symbol]
            fresh = self.trades.add(trades)
            if fresh:
                self._emit(StreamEvent("trades", self.symbol, fresh[-1].ts_ms, trades=tuple(fresh)))
        elif topic.startswith("tickers."):
            data = message.get("data") or {}
            if message.get("type") == "snapshot":
                self._ticker_fields = dict(data)
            else:
                self._ticker_fields.update(data)
            self._ticker_ts = int(message.get("ts") or 0)
            self._emit(StreamEvent("ticker", self.symbol, self._ticker_ts))
        return True

    def _resync(self, client: Any) -> None:
        """Drop the public connection (as a network failure would): the watchers reconnect and the
        new subscription begins with a snapshot."""
        ccxt = ccxt_errors()

        asyncio.get_running_loop().call_soon(client.on_error, ccxt.NetworkError("order book gap: resync"))

    def _on_private(self, topic: str, message: dict[str, Any]) -> None:
        acct = self.account
        if acct is None:
            return
        rows = [r for r in message.get("data") or [] if isinstance(r, dict)]
        ts = int(message.get("creationTime") or 0)
        if topic.startswith("order"):
            orders = tuple(acct.merge_order(order_from_row(r)) for r in rows
                           if r.get("symbol") == self.symbol and r.get("category", "linear") == "linear")
            if orders:
                self._emit(StreamEvent("orders", self.symbol, ts, orders=orders))
        elif topic.startswith("execution"):
            execs = tuple(execution_from_row(r) for r in rows
                          if r.get("symbol") == self.symbol and r.get("category", "linear") == "linear")
            if execs:
                self._emit(StreamEvent("executions", self.symbol, ts, executions=execs))
        elif topic.startswith("position"):
            for r in rows:
                if r.get("symbol") == self.symbol and r.get("category", "linear") == "linear":
                    # A unified account's push does not carry the margin mode (tradeMode is always
                    # 0): keep the one REST last reported.
                    known = acct.position.margin_mode if acct.position is not None else None
                    acct.set_position(position_from_row(r, known))
                    self._emit(StreamEvent("position", self.symbol, ts))
        elif topic.startswith("wallet"):
            if rows:
                acct.balance = balance_from_account(rows[0])
                self._emit(StreamEvent("wallet", self.symbol, ts))

    def _emit(self, event: StreamEvent) -> None:
        self._events.append(event)
        if len(self._events) > _MAX_QUEUE:
            kept = [e for e in self._events if e.kind not in _MARKET_KINDS]
            self._events = deque(kept)
        self._signal.set()

    # --- the MarketStream port ----------------------------------------------------------------------

    async def next_event(self, timeout_s: float) -> StreamEvent | None:
        """The next event, or None after ``timeout_s`` real seconds without one."""
        if not self._events:
            self._signal.clear()
            try:
                await asyncio.wait_for(self._signal.wait(), max(0.0, timeout_s))
            except asyncio.TimeoutError:
                return None
        return self._events.popleft() if self._events else None

    @property
    def healthy(self) -> bool:
        """Connected (public, and private when asked for), the book in sequence, heard recently."""
        if self._fatal is not None or not self._public_up or not self.builder.valid:
            return False
        if time.monotonic() - self._last_public > self.stale_after_s:
            return False
        return self._private_up if self.private else True

    @property
    def reconnects(self) -> int:
        """Times the private stream came back after a loss."""
        return self._reconnects

    def book(self) -> OrderBook | None:
        """The book rebuilt from snapshot + deltas; its time is that of the latest public message."""
        book = self.builder.book()
        if book is None:
            return None
        ts = max(book.ts_ms, self._ticker_ts)
        return OrderBook(book.symbol, ts, book.bids, book.asks)

    def ticker(self) -> Ticker | None:
        """The ticker from the snapshot and the deltas merged into it."""
        f = self._ticker_fields
        if not f:
            return None
        return Ticker(symbol=self.symbol, ts_ms=self._ticker_ts, last=_d(f.get("lastPrice")),
                      mark=_d(f.get("markPrice")), index=_d(f.get("indexPrice")), bid=_d(f.get("bid1Price")),
                      ask=_d(f.get("ask1Price")), funding_rate=_d(f.get("fundingRate")),
                      next_funding_ms=int(f.get("nextFundingTime") or 0))

    def recent_trades(self) -> list[PublicTrade]:
        """The last public trades received, oldest first."""
        return self.trades.list()

    async def close(self) -> None:
        """Stop the watchers and close ccxt.pro's connections."""
        self._closing = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        try:
            await self._ex.close()
        except Exception as e:  # closing must not hide the reason for stopping
            log.info("closing the streams: %s", type(e).__name__)
