"""A replayed market feed for the paper account: event rows fed to the sim's external market.

:class:`ReplayFeed` has the surface :class:`~bybit_mm.exchange.paper_client.DryRunFuturesClient`
uses of a live feed (``pull``, ``clock``, ``close``) and is itself the manual clock the engine
advances: time moves from one source message to the next, each fed as the clock reaches its
stamp (the book after the message, its prints, mark and funding; time is the rows' ``local_ts``),
so the sim sees every message at its own time, as it would from a live feed, and a funding
settlement falls between the right messages. The paper account thus runs the live/paper driver
over recorded or historical data; the contract test runs one feed through this and through the
backtest and expects the same orders and fills.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybit_mm.domain.orders import Side

if TYPE_CHECKING:
    import numpy as np

    from bybit_mm.sim.exchange import SimExchange

# Event kinds and flags of bybit_mm.data.events.
BOOK_CLEAR, BID, ASK, TRADE_BUY, TRADE_SELL, MARK, FUNDING = 1, 2, 3, 4, 5, 6, 7
FLAG_LAST = 1


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


class ReplayFeed:
    """Feeds ``events`` (time: ``local_ts``) to ``symbol``'s external market as ``clock`` advances."""

    mode = "replay"

    def __init__(self, events: np.ndarray, symbol: str, clock: Any) -> None:
        self.symbol = symbol
        self._clock = clock
        self._exchange: SimExchange | None = None
        self.client = type("ReplaySource", (), {"network": "replay"})()
        self._kind = events["kind"].tolist()
        self._flags = events["flags"].tolist()
        self._ts = (events["local_ts"] // 1_000_000).tolist()
        self._px = events["px"].tolist()
        self._qty = events["qty"].tolist()
        self._i = 0
        self._bids: dict[float, float] = {}
        self._asks: dict[float, float] = {}

    @property
    def done(self) -> bool:
        """True once every row was fed."""
        return self._i >= len(self._kind)

    @property
    def clock(self) -> ReplayFeed:
        """The feed is the clock (``now_ms``, ``advance``, ``set``): moving it feeds the messages."""
        return self

    def now_ms(self) -> int:
        """The replay's time."""
        return int(self._clock.now_ms())

    def advance(self, ms: int) -> int:
        """Move ``ms`` forward, feeding every message on the way at its own time."""
        return self.set(self.now_ms() + int(ms))

    def set(self, ms: int) -> int:
        """Move to ``ms``, feeding every message on the way at its own time."""
        if self._exchange is not None:
            self.feed_until(self._exchange, ms)
        return int(self._clock.set(max(ms, self.now_ms())))

    async def pull(self, exchange: SimExchange, *, force: bool = False) -> bool:
        """Feed every message up to the clock's time; True when something was fed."""
        self._exchange = exchange
        return self.feed_until(exchange, self.now_ms())

    def feed_until(self, exchange: SimExchange, now_ms: int) -> bool:
        """Feed the messages whose rows are stamped at or before ``now_ms`` (the clock follows)."""
        from bybit_mm.sim.models import BookSnapshot, Trade

        fed = False
        n = len(self._kind)
        trades: list[Trade] = []
        mark = rate = None
        next_funding = None
        book_changed = False
        while self._i < n and self._ts[self._i] <= now_ms:
            i = self._i
            k, px, qty, ts = self._kind[i], self._px[i], self._qty[i], self._ts[i]
            if k == BOOK_CLEAR:
                self._bids.clear()
                self._asks.clear()
                book_changed = True
            elif k in (BID, ASK):
                side = self._bids if k == BID else self._asks
                if qty > 0:
                    side[px] = qty
                else:
                    side.pop(px, None)
                book_changed = True
            elif k in (TRADE_BUY, TRADE_SELL):
                trades.append(Trade(f"replay-{i}", self.symbol, ts, _dec(px), _dec(qty),
                                    Side.BUY if k == TRADE_BUY else Side.SELL))
            elif k == MARK:
                mark = _dec(px)
            elif k == FUNDING:
                rate = _dec(px)
                next_funding = int(qty) // 1_000_000 or None
            self._i += 1
            if self._flags[i] & FLAG_LAST:
                if ts > self._clock.now_ms():
                    self._clock.set(ts)
                book = None
                if book_changed:
                    book = BookSnapshot(self.symbol, ts, i, i,
                                        [(_dec(p), _dec(q)) for p, q in sorted(self._bids.items(), reverse=True)],
                                        [(_dec(p), _dec(q)) for p, q in sorted(self._asks.items())])
                exchange.feed_market(self.symbol, ts_ms=ts, book=book, trades=trades, mark=mark,
                                     funding_rate=rate, next_funding_ms=next_funding)
                trades, mark, rate, next_funding, book_changed = [], None, None, None, False
                fed = True
        return fed

    async def close(self) -> None:
        """Nothing to release."""
