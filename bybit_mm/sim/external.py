"""A symbol's market driven from outside (a live feed, the emulator, a replay) instead of generated.

:class:`ExternalMarket` has the surface :class:`~bybit_mm.sim.exchange.SimExchange` uses of a
:class:`~bybit_mm.sim.market.SyntheticMarket` (touch in ticks, displayed sizes, mark, funding,
tape, candles), so the exchange's matching, queue models, ledger and liquidation code run
unchanged on it. Data arrives through ``SimExchange.feed_market``; this module only keeps it:

- **Book**: the last fed L2 snapshot, kept as {tick: qty steps} per side. Levels missing from the
  snapshot show 0 (``level_size`` walks ticks from the touch, as the synthetic book does). An
  empty side has no touch: nothing crosses it.
- **Mark**: the fed mark price; without one yet, the mid of the fed book (or the last trade).
- **Funding**: the fed rate and next settlement time; :meth:`step_until` settles at that time with
  the rate and mark known before it (a settlement is never repeated when a stale feed still shows
  the time just settled).
- **Tape**: fed trades (deduplicated by trade id) and our own taker fills, with minute candles
  (the same candle code as the synthetic market).
- **Time**: ``ts_ms`` is the latest of the fed timestamps and the times the exchange stepped to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import islice
from typing import Protocol

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.orders import Side
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.market import SyntheticMarket
from bybit_mm.sim.models import BookLevel, BookSnapshot, Trade

_MINUTE = 60_000
_SEEN_IDS = 20_000


@dataclass(frozen=True)
class ExternalParams:
    """The few figures the exchange reads from ``market.params`` (the ticker's open interest)."""

    open_interest: float = 0.0


class FundingSink(Protocol):
    """Who hears funding settlements and the trades that reach the tape (the exchange)."""

    def on_funding(self, market: ExternalMarket, ts_ms: int, rate: Decimal, mark: Decimal) -> None:
        """Funding settles at ``ts_ms``."""


class NoMarketData(SimError):
    """Asked for a price before any data was fed (and without a start price): retCode 10016."""

    def __init__(self, message: str) -> None:
        super().__init__(10016, message)


class ExternalMarket:
    """One symbol's market as fed from outside (see the module docstring)."""

    #: Lets the exchange apply rules that only hold for fed data (prints before an order's
    #: activation time never fill it: a feed can deliver trades older than the clock).
    external = True

    def __init__(self, instrument: Instrument, *, start_ms: int, start_price: Decimal | None = None) -> None:
        self.params = ExternalParams()
        self.ts_ms = start_ms
        self.step_ms = 1000
        self.update_id = 0
        self.book_levels = 1
        self.set_instrument(instrument)
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self.bid_tick = 0
        self.ask_tick = 10 ** 18
        self._mark: Decimal | None = start_price
        self._index: Decimal | None = None
        self.funding_rate = Decimal(0)
        self._next_funding = 0
        self._settled_funding = 0
        self.last_tick = 0 if start_price is None else self.to_tick(start_price)
        self.trades: deque[Trade] = deque(maxlen=1000)
        self.trade_count = 0
        self._own_seq = 0
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._candles: deque[list[int]] = deque(maxlen=7 * 1440)
        self._candles.append([start_ms - start_ms % _MINUTE] + [self.last_tick] * 4 + [0, 0])
        self._stats_key: tuple[int, int] | None = None  # see SyntheticMarket.stats_24h
        self._stats_closed: tuple[int, int, int, int, int] | None = None
        self.funding_history: deque[tuple[int, Decimal]] = deque(maxlen=1000)
        self.has_data = False

    # --- specs ------------------------------------------------------------------------------

    def set_instrument(self, instrument: Instrument) -> None:
        """Use ``instrument``'s tick, lot step and funding interval from now on."""
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.tick = instrument.tick_size
        self.qty_step = instrument.qty_step
        self._funding_ms = instrument.funding_interval_min * _MINUTE

    def to_tick(self, price: Decimal) -> int:
        """``price`` in ticks (fed prices are on the tick grid; rounding only absorbs noise)."""
        return int((Decimal(price) / self.tick).to_integral_value(ROUND_HALF_EVEN))

    def to_steps(self, qty: Decimal) -> int:
        """``qty`` in lot steps, at least 1 for a non-zero quantity."""
        n = int(Decimal(qty) / self.qty_step)
        return n if n > 0 or not qty else 1

    # --- feeding (called by SimExchange.feed_market) --------------------------------------------

    def is_new_trade(self, trade_id: str) -> bool:
        """Remember ``trade_id``; False when it was fed before."""
        if not trade_id:
            return True
        if trade_id in self._seen:
            return False
        self._seen.add(trade_id)
        self._seen_order.append(trade_id)
        if len(self._seen_order) > _SEEN_IDS:
            self._seen.discard(self._seen_order.popleft())
        return True

    def recent_trades(self, limit: int) -> list[Trade]:
        """The newest ``limit`` prints, newest first."""
        return list(islice(reversed(self.trades), max(0, limit)))

    def record(self, trade: Trade) -> tuple[int, int]:
        """Put a fed trade on the tape; returns its (price tick, qty steps)."""
        tick, steps = self.to_tick(trade.price), self.to_steps(trade.qty)
        self.trades.append(trade)
        self._candle(trade.ts_ms, tick, steps)
        self.ts_ms = max(self.ts_ms, trade.ts_ms)
        return tick, steps

    def set_book(self, book: BookSnapshot) -> None:
        """Replace the book with ``book`` (levels with a zero size are left out)."""
        self._bids = {self.to_tick(p): self.to_steps(q) for p, q in book.bids if q > 0}
        self._asks = {self.to_tick(p): self.to_steps(q) for p, q in book.asks if q > 0}
        self.bid_tick = max(self._bids) if self._bids else 0
        self.ask_tick = min(self._asks) if self._asks else 10 ** 18
        span_b = self.bid_tick - min(self._bids) if self._bids else 0
        span_a = max(self._asks) - self.ask_tick if self._asks else 0
        self.book_levels = max(span_b, span_a) + 1
        self.update_id = book.update_id or self.update_id + 1
        self.has_data = True

    def set_prices(self, ts_ms: int, *, mark: Decimal | None, index: Decimal | None,
                   funding_rate: Decimal | None, next_funding_ms: int | None) -> None:
        """Take the fed mark, index and funding (a next funding time already settled is ignored)."""
        if ts_ms > self.ts_ms:
            self.step_ms = max(1, ts_ms - self.ts_ms)
            self.ts_ms = ts_ms
        if mark is not None and mark > 0:
            self._mark = Decimal(mark)
            self.has_data = True
        if index is not None and index > 0:
            self._index = Decimal(index)
        if funding_rate is not None:
            self.funding_rate = Decimal(funding_rate)
        if next_funding_ms and next_funding_ms > self._settled_funding:
            self._next_funding = int(next_funding_ms)

    def step_until(self, ts_ms: int, sink: FundingSink | None) -> None:
        """Move to ``ts_ms``: settle funding whose time has come (the feed drives everything else)."""
        while self._next_funding and self._next_funding <= ts_ms:
            t = self._next_funding
            self._settled_funding = t
            self._next_funding = t + self._funding_ms
            rate = self.funding_rate_decimal()
            self.funding_history.append((t, rate))
            if sink is not None and self.has_data:
                sink.on_funding(self, t, rate, self.mark_price())  # type: ignore[arg-type]
        if ts_ms > self.ts_ms:
            self.ts_ms = ts_ms

    def print_external(self, ts: int, tick: int, qty_steps: int, buy: bool) -> Trade:
        """Put our own taker fill on the tape."""
        self._own_seq += 1
        trade = Trade(f"paper-{self.symbol}-{self._own_seq}", self.symbol, ts, tick * self.tick,
                      qty_steps * self.qty_step, Side.BUY if buy else Side.SELL)
        self.trades.append(trade)
        self._candle(ts, tick, qty_steps)
        return trade

    def _candle(self, ts: int, tick: int, steps: int) -> None:
        self.trade_count += 1
        self.last_tick = tick
        c = self._candles[-1]
        if ts < c[0]:  # a late print: count it in the current candle
            ts = c[0]
        if ts - c[0] >= _MINUTE:
            self._roll_candle(ts - ts % _MINUTE)
            c = self._candles[-1]
        if not c[5] and not c[1]:
            c[1] = c[2] = c[3] = tick
        c[2] = max(c[2], tick)
        c[3] = min(c[3], tick) if c[3] else tick
        c[4] = tick
        c[5] += steps
        c[6] += steps * tick

    # The candle views are the synthetic market's own (they only read _candles, tick, qty_step, ts_ms).
    _roll_candle = SyntheticMarket._roll_candle
    minute_candles = SyntheticMarket.minute_candles
    klines = SyntheticMarket.klines
    price_at = SyntheticMarket.price_at
    stats_24h = SyntheticMarket.stats_24h

    # --- views ------------------------------------------------------------------------------

    def level_size(self, side: Side, level: int) -> int:
        """Displayed size (qty steps) ``level`` ticks from the touch on the bid or ask side (0: none)."""
        if side is Side.BUY:
            return self._bids.get(self.bid_tick - level, 0)
        return self._asks.get(self.ask_tick + level, 0)

    def displayed_at(self, side: Side, tick: int) -> int:
        """Displayed size (qty steps) at price ``tick`` on ``side`` of the book; 0 if none."""
        return (self._bids if side is Side.BUY else self._asks).get(tick, 0)

    def mark_price(self) -> Decimal:
        """The fed mark; the book's mid or the last trade before any mark was fed."""
        if self._mark is not None:
            return self._mark
        if self._bids and self._asks:
            return self.to_tick((self.bid_tick + self.ask_tick) * self.tick / 2) * self.tick
        if self.last_tick:
            return self.last_tick * self.tick
        raise NoMarketData(f"no market data for {self.symbol} yet")

    def mark_tick(self) -> int:
        """Mark price in ticks."""
        return self.to_tick(self.mark_price())

    def index_price(self) -> Decimal:
        """The fed index price (the mark until one was fed)."""
        return self._index if self._index is not None else self.mark_price()

    def last_price(self) -> Decimal:
        """Last trade price (the mark before any trade)."""
        return self.last_tick * self.tick if self.last_tick else self.mark_price()

    def funding_rate_decimal(self) -> Decimal:
        """The fed funding rate."""
        return self.funding_rate

    def next_funding_ms(self) -> int:
        """The next funding settlement time (from the feed; the next interval boundary before one)."""
        if self._next_funding:
            return self._next_funding
        return self.ts_ms - self.ts_ms % self._funding_ms + self._funding_ms

    def book(self, depth: int = 25) -> BookSnapshot:
        """The last fed book, ``depth`` levels a side."""
        tick, step = self.tick, self.qty_step
        bids: list[BookLevel] = [(t * tick, self._bids[t] * step) for t in sorted(self._bids, reverse=True)[:depth]]
        asks: list[BookLevel] = [(t * tick, self._asks[t] * step) for t in sorted(self._asks)[:depth]]
        return BookSnapshot(self.symbol, self.ts_ms, self.update_id, self.update_id, bids, asks)


def sorted_new(market: ExternalMarket, trades: Sequence[Trade]) -> list[Trade]:
    """``trades`` not fed before, oldest first (ties keep their order)."""
    return sorted((t for t in trades if market.is_new_trade(t.trade_id)), key=lambda t: t.ts_ms)
