"""Market data by REST polling: the seed's ``BybitMarketPoller``, and the feed that drives a paper sim.

:class:`BybitMarketPoller` reads one symbol's public data through any
:class:`~bybit_mm.exchange.port.FuturesClient` (only ``order_book``, ``recent_trades`` and
``ticker``, which need no API keys) and returns what is new since the last poll: the trades not
seen before (by trade id; Bybit returns at most the last 1000, so a busy symbol polled slowly
can skip some, flagged by ``gap``), the book, and mark / index / funding. After the first poll it
asks for about twice as many trades as the previous poll brought (the full page again when every
trade it got was new), which keeps a poll cheap.

:class:`PolledFeed` polls every symbol a paper :class:`~bybit_mm.sim.exchange.SimExchange`
simulates on an external market and feeds the results into it (``feed_market``), at most once
per ``min_interval_s``; the paper client calls :meth:`PolledFeed.pull` before each read, so its
market is Bybit's live public feed (or the emulator's: the same code). :class:`FeedClock` is the
sim's clock in that mode: exchange time, i.e. local time shifted by the offset observed between
the feed's timestamps and the local clock, so fills compare trade and order times in one base.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bybit_mm.exchange.port import OrderBook, PublicTrade, Ticker

if TYPE_CHECKING:
    from bybit_mm.domain.instruments import Instrument
    from bybit_mm.exchange.port import FuturesClient
    from bybit_mm.sim.exchange import SimExchange

#: How many trade ids a poller remembers to recognise trades it already returned.
_SEEN = 5000


@dataclass(frozen=True)
class MarketPoll:
    """What one poll found: trades new since the last poll (oldest first), the book, the ticker."""

    symbol: str
    ts_ms: int
    book: OrderBook
    trades: list[PublicTrade]
    ticker: Ticker
    #: True when none of the trades returned was seen before although some were expected to be:
    #: trades may have been missed between two polls (more than ``trade_limit`` printed).
    gap: bool = False


class BybitMarketPoller:
    """Poll one symbol's public market data via REST (the fallback to WebSocket streams)."""

    def __init__(self, client: FuturesClient, symbol: str, *, depth: int = 50, trade_limit: int = 1000) -> None:
        self.client = client
        self.symbol = symbol.upper()
        self.depth = depth
        self.trade_limit = trade_limit
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._next_limit = trade_limit
        self.polls = 0

    async def poll(self) -> MarketPoll:
        """One round trip (book, recent trades and ticker concurrently); trades new since the last."""
        limit = self._next_limit
        book, trades, ticker = await asyncio.gather(
            self.client.order_book(self.symbol, self.depth),
            self.client.recent_trades(self.symbol, limit),
            self.client.ticker(self.symbol))
        first = self.polls == 0
        self.polls += 1
        fresh = [t for t in trades if t.trade_id not in self._seen]
        overflow = len(trades) >= limit and len(fresh) == len(trades)
        gap = not first and overflow and limit >= self.trade_limit
        # Ask for about twice what the last poll brought (the full page after a possible overflow).
        self._next_limit = self.trade_limit if overflow else min(self.trade_limit, max(50, 2 * len(fresh) + 50))
        for t in fresh:
            self._remember(t.trade_id)
        fresh.sort(key=lambda t: t.ts_ms)
        ts = max([book.ts_ms, ticker.ts_ms] + [t.ts_ms for t in fresh[-1:]])
        return MarketPoll(self.symbol, ts, book, fresh, ticker, gap)

    def _remember(self, trade_id: str) -> None:
        self._seen.add(trade_id)
        self._seen_order.append(trade_id)
        if len(self._seen_order) > _SEEN:
            self._seen.discard(self._seen_order.popleft())


class FeedClock:
    """Exchange time in epoch ms: local wall time plus the offset seen in the feed; never backwards.

    The offset is the largest ``feed ts − local receipt time`` among the last observations (the
    least delayed answer estimates it best). Before any observation it is local time.
    """

    def __init__(self, wall_ms: Callable[[], float] | None = None, window: int = 20) -> None:
        self._wall_ms = wall_ms or (lambda: time.time() * 1000.0)
        self._offsets: deque[float] = deque(maxlen=window)
        self._last = 0

    def observe(self, feed_ts_ms: int) -> None:
        """Record that the feed said ``feed_ts_ms`` just now."""
        if feed_ts_ms > 0:
            self._offsets.append(feed_ts_ms - self._wall_ms())

    @property
    def offset_ms(self) -> float:
        """Current estimate of exchange time − local time."""
        return max(self._offsets) if self._offsets else 0.0

    def now_ms(self) -> int:
        """Current exchange time (estimated)."""
        now = int(self._wall_ms() + self.offset_ms)
        if now < self._last:
            return self._last
        self._last = now
        return now


class PolledFeed:
    """Feeds a SimExchange's external markets from pollers over a public client (see the module doc)."""

    def __init__(self, client: FuturesClient, symbols: Sequence[str], *, clock: FeedClock | None = None,
                 min_interval_s: float = 0.5, depth: int = 50,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.clock = clock or FeedClock()
        self.pollers = {s.upper(): BybitMarketPoller(client, s, depth=depth) for s in symbols}
        self.min_interval_s = min_interval_s
        self._monotonic = monotonic
        self._last_pull: float | None = None
        self.gaps = 0

    async def instruments(self) -> dict[str, Instrument]:
        """The live specs (tick, lot, risk tiers) of every polled symbol."""
        found = await asyncio.gather(*(self.client.instrument(s) for s in self.pollers))
        return {i.symbol: i for i in found}

    async def poll_all(self) -> list[MarketPoll]:
        """Poll every symbol once (concurrently) and update the clock's offset."""
        polls = await asyncio.gather(*(p.poll() for p in self.pollers.values()))
        self._last_pull = self._monotonic()
        for poll in polls:
            self.clock.observe(max(poll.book.ts_ms, poll.ticker.ts_ms))
            self.gaps += poll.gap
        return list(polls)

    async def pull(self, exchange: SimExchange, *, force: bool = False) -> bool:
        """Poll every symbol and feed the sim, unless the last pull is younger than ``min_interval_s``."""
        now = self._monotonic()
        if not force and self._last_pull is not None and now - self._last_pull < self.min_interval_s:
            return False
        for poll in await self.poll_all():
            feed(exchange, poll)
        return True

    async def close(self) -> None:
        """Close the public client."""
        await self.client.close()


def feed(exchange: SimExchange, poll: MarketPoll) -> None:
    """Hand one poll to the sim's external market for ``poll.symbol``."""
    from bybit_mm.sim.models import BookSnapshot, Trade

    b = poll.book
    t = poll.ticker
    exchange.feed_market(
        poll.symbol, ts_ms=poll.ts_ms,
        book=BookSnapshot(poll.symbol, b.ts_ms, 0, 0, list(b.bids), list(b.asks)),
        trades=[Trade(x.trade_id, poll.symbol, x.ts_ms, x.price, x.qty, x.side) for x in poll.trades],
        mark=t.mark or None, index=t.index or None, funding_rate=t.funding_rate,
        next_funding_ms=t.next_funding_ms or None)
