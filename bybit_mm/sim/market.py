"""A deterministic synthetic market for one symbol: mid process, L2 book, trades, mark, funding.

The model, on a fixed step grid (``MarketParams.step_ms``, 100 ms by default, aligned to the epoch):

- **Mid**: geometric Brownian motion with ``annual_vol`` plus Poisson jumps (``jumps_per_day``,
  relative size ~ N(0, ``jump_sigma``)). Log space keeps it positive; it is also floored at one tick.
- **Book**: integer ticks around the mid. The spread is ``spread_ticks`` (occasionally 1–3 ticks
  wider); level ``k`` from the touch shows about ``touch_size × (1 + depth_growth·k)`` with per-step
  and per-level noise. The book is a view of the process, regenerated every step: liquidity taken
  by trades (ours or the market's) does not persist to the next step.
- **Trades**: Poisson arrivals (``trades_per_second``) of market orders with lognormal sizes and a
  random taker side, timestamped inside the step they arrive in, printing at the touch and walking
  the book level by level (one print per level) when larger than the touch.
- **Mark** = EMA of the mid (``mark_ema_ms``), rounded to the tick; **index** = mid.
- **Funding rate**: mean-reverting (Ornstein–Uhlenbeck) around ``funding_mean``, clamped to
  ±``funding_cap``; settled at every multiple of the instrument's funding interval since the epoch
  (00:00/08:00/16:00 UTC for 480 minutes).

Everything random is drawn from one numpy generator seeded by (seed, symbol), in chunks of
``chunk_steps`` steps, so the same seed gives the same tape whatever the call pattern.
"""

from __future__ import annotations

import math
import zlib
from collections import deque
from itertools import islice
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

import numpy as np

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.orders import Side
from bybit_mm.sim.models import BookSnapshot, Kline, Trade

_MS_PER_YEAR = 365.0 * 24 * 3600 * 1000
_MINUTE = 60_000
_DAY = 24 * 3600 * 1000
_NOISE_LEVELS = 64


@dataclass(frozen=True)
class SymbolParams:
    """Parameters of one symbol's synthetic market (sizes in base units, prices in USDT)."""

    start_price: float
    annual_vol: float = 0.6
    #: Drift of the log mid per year (0: none; tests use it to force a trend).
    annual_drift: float = 0.0
    jumps_per_day: float = 3.0
    jump_sigma: float = 0.004
    trades_per_second: float = 4.0
    trade_size_median: float = 0.01
    trade_size_sigma: float = 1.6
    touch_size: float = 1.5
    depth_growth: float = 0.4
    spread_ticks: int = 1
    wide_spread_prob: float = 0.03
    mark_ema_ms: float = 2_000.0
    funding_mean: float = 0.0001
    funding_half_life_h: float = 6.0
    funding_vol_per_day: float = 0.0002
    funding_cap: float = 0.005
    open_interest: float = 50_000.0


DEFAULT_SYMBOL_PARAMS: dict[str, SymbolParams] = {
    "BTCUSDT": SymbolParams(start_price=95_000.0, annual_vol=0.6, trade_size_median=0.01,
                            touch_size=0.8, trades_per_second=5.0, open_interest=55_000.0),
    "ETHUSDT": SymbolParams(start_price=3_300.0, annual_vol=0.75, trade_size_median=0.2,
                            touch_size=40.0, trades_per_second=4.0, open_interest=1_800_000.0),
    "SOLUSDT": SymbolParams(start_price=180.0, annual_vol=0.9, trade_size_median=3.0,
                            touch_size=300.0, trades_per_second=3.0, open_interest=9_000_000.0),
}


@dataclass(frozen=True)
class MarketParams:
    """Parameters shared by all symbols, and per-symbol overrides."""

    step_ms: int = 100
    #: Minutes of market generated before the clock's start, so klines and 24h stats exist.
    history_minutes: int = 30
    chunk_steps: int = 4096
    book_levels: int = 200
    symbols: dict[str, SymbolParams] = field(default_factory=dict)

    def for_symbol(self, symbol: str, instrument: Instrument) -> SymbolParams:
        """The parameters of ``symbol``: an override, a shipped default, or a generic guess."""
        if symbol in self.symbols:
            return self.symbols[symbol]
        if symbol in DEFAULT_SYMBOL_PARAMS:
            return DEFAULT_SYMBOL_PARAMS[symbol]
        price = float(instrument.tick_size) * 10_000
        return SymbolParams(start_price=price, trade_size_median=float(instrument.min_qty) * 10,
                            touch_size=float(instrument.min_qty) * 1_000)


class MarketSink(Protocol):
    """Who the market reports to while it steps (the exchange's matching and ledger)."""

    def on_trade(self, market: SyntheticMarket, trade: Trade, price_tick: int, qty_steps: int) -> None:
        """A public trade printed (before the book moves at the end of its step)."""

    def on_book(self, market: SyntheticMarket, ts_ms: int) -> None:
        """The book, mid and mark moved at step time ``ts_ms``."""

    def on_funding(self, market: SyntheticMarket, ts_ms: int, rate: Decimal, mark: Decimal) -> None:
        """Funding settles at ``ts_ms`` with ``rate`` at ``mark``."""


class SyntheticMarket:
    """One symbol's synthetic market, stepped forward in time by :meth:`step_until`."""

    def __init__(self, instrument: Instrument, params: SymbolParams, *, seed: int, start_ms: int,
                 market_params: MarketParams | None = None) -> None:
        mp = market_params or MarketParams()
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.params = params
        self.step_ms = mp.step_ms
        self.book_levels = mp.book_levels
        self._chunk = mp.chunk_steps
        self.tick = instrument.tick_size
        self.qty_step = instrument.qty_step
        self._tick_f = float(instrument.tick_size)
        self._step_f = float(instrument.qty_step)
        self._funding_ms = instrument.funding_interval_min * _MINUTE
        sym_hash = zlib.crc32(self.symbol.encode())
        self._rng = np.random.default_rng([seed & 0xFFFFFFFF, sym_hash])
        self._trade_id_tail = f"{sym_hash:012x}"[-12:]

        dt_year = self.step_ms / _MS_PER_YEAR
        self._sigma_step = params.annual_vol * math.sqrt(dt_year)
        self._drift_step = params.annual_drift * dt_year
        self._jump_p = params.jumps_per_day * self.step_ms / _DAY
        self._lam_step = params.trades_per_second * self.step_ms / 1000.0
        self._alpha = 1.0 - math.exp(-self.step_ms / params.mark_ema_ms)
        dt_h = self.step_ms / 3_600_000
        self._f_kappa = 1.0 - math.exp(-math.log(2) / params.funding_half_life_h * dt_h)
        self._f_vol = params.funding_vol_per_day * math.sqrt(self.step_ms / _DAY)
        self._touch_steps = max(1.0, params.touch_size / self._step_f)
        self._level_noise = (0.5 + self._rng.random(_NOISE_LEVELS)).tolist()

        origin = start_ms - mp.history_minutes * _MINUTE
        self.ts_ms = origin - origin % self.step_ms  # time of the last processed step
        self.step_index = 0
        self.update_id = 1
        self._log_mid = math.log(params.start_price)
        self.mid = params.start_price
        self.mark = params.start_price
        self.funding_rate = params.funding_mean
        self.bid_tick = 0
        self.ask_tick = 0
        self._bid_f = 1.0
        self._ask_f = 1.0
        self._set_book(1.0, 1.0, 0)
        self.last_tick = self.bid_tick
        self.trades: deque[Trade] = deque(maxlen=1000)
        self._trade_seq = 0
        self.trade_count = 0
        self.step_count = 0
        # Minute candles in ints: [start_ms, o, h, l, c (ticks), volume (steps), turnover (tick·step)].
        self._candles: deque[list[int]] = deque(maxlen=7 * 1440)
        self._candles.append([self.ts_ms - self.ts_ms % _MINUTE, self.last_tick, self.last_tick,
                              self.last_tick, self.last_tick, 0, 0])
        self.funding_history: deque[tuple[int, Decimal]] = deque(maxlen=1000)
        self._stats_key: tuple[int, int] | None = None  # the window stats_24h's cached sums are of
        self._stats_closed: tuple[int, int, int, int, int] | None = None
        self._buf: dict[str, list] = {}
        self._pos = 0
        self._tpos = 0
        self.step_until(start_ms, None)

    # --- generation ---------------------------------------------------------------------------

    def _refill(self) -> None:
        n = self._chunk
        rng = self._rng
        p = self.params
        dlog = rng.standard_normal(n) * self._sigma_step + (self._drift_step - 0.5 * self._sigma_step ** 2)
        jumps = rng.random(n) < self._jump_p
        if jumps.any():
            dlog[jumps] += rng.normal(0.0, p.jump_sigma, int(jumps.sum()))
        counts = rng.poisson(self._lam_step, n)
        total = int(counts.sum())
        sizes = np.maximum(1, np.rint(rng.lognormal(math.log(p.trade_size_median / self._step_f),
                                                     p.trade_size_sigma, total))).astype(np.int64)
        wide = rng.random(n) < p.wide_spread_prob
        extra = np.where(wide, rng.integers(1, 4, n), 0)
        self._buf = {
            "dlog": dlog.tolist(),
            "count": counts.tolist(),
            "size": sizes.tolist(),
            "buy": (rng.random(total) < 0.5).tolist(),
            "offset": rng.integers(0, self.step_ms, total).tolist(),
            "bidf": (0.4 + 1.2 * rng.random(n)).tolist(),
            "askf": (0.4 + 1.2 * rng.random(n)).tolist(),
            "extra": extra.tolist(),
            "fz": rng.standard_normal(n).tolist(),
        }
        self._pos = 0
        self._tpos = 0

    def _set_book(self, bid_f: float, ask_f: float, extra: int) -> None:
        spread = self.params.spread_ticks + extra
        mid_ticks = self.mid / self._tick_f
        bid = int(math.floor(mid_ticks - spread / 2.0 + 0.5))
        if bid < 1:
            bid = 1
        self.bid_tick = bid
        self.ask_tick = bid + spread
        self._bid_f = bid_f
        self._ask_f = ask_f

    def step_until(self, ts_ms: int, sink: MarketSink | None) -> None:
        """Process every step whose time is ≤ ``ts_ms``, reporting to ``sink``."""
        step_ms = self.step_ms
        funding_ms = self._funding_ms
        while self.ts_ms + step_ms <= ts_ms:
            if self._pos >= len(self._buf.get("dlog", ())):
                self._refill()
            buf = self._buf
            i = self._pos
            self._pos = i + 1
            t_prev = self.ts_ms
            t = t_prev + step_ms
            n = buf["count"][i]
            if n:
                j = self._tpos
                self._tpos = j + n
                sizes = buf["size"]
                buys = buf["buy"]
                offs = sorted(buf["offset"][j:j + n])
                for k in range(n):
                    self._print(t_prev + 1 + offs[k], buys[j + k], sizes[j + k], sink)
            # The step boundary: the mid, book, mark and funding rate move.
            self._log_mid += buf["dlog"][i]
            mid = math.exp(self._log_mid)
            if mid < self._tick_f:
                mid = self._tick_f
                self._log_mid = math.log(mid)
            self.mid = mid
            self.mark += self._alpha * (mid - self.mark)
            p = self.params
            f = self.funding_rate + self._f_kappa * (p.funding_mean - self.funding_rate) + self._f_vol * buf["fz"][i]
            self.funding_rate = min(p.funding_cap, max(-p.funding_cap, f))
            self._set_book(buf["bidf"][i], buf["askf"][i], buf["extra"][i])
            self.ts_ms = t
            self.step_count += 1
            self.update_id += 1
            if t % _MINUTE == 0:
                self._roll_candle(t)
            if sink is not None:
                sink.on_book(self, t)
                if t % funding_ms == 0:
                    rate = self.funding_rate_decimal()
                    self.funding_history.append((t, rate))
                    sink.on_funding(self, t, rate, self.mark_price())
            elif t % funding_ms == 0:
                self.funding_history.append((t, self.funding_rate_decimal()))

    def _print(self, ts: int, buy: bool, qty_steps: int, sink: MarketSink | None) -> None:
        """A market order of ``qty_steps`` walks the book from the touch, one print per level."""
        level = 0
        while qty_steps > 0 and level < self.book_levels:
            if buy:
                tick = self.ask_tick + level
                avail = self.level_size(Side.SELL, level)
            else:
                tick = self.bid_tick - level
                if tick < 1:
                    break
                avail = self.level_size(Side.BUY, level)
            q = qty_steps if qty_steps < avail else avail
            qty_steps -= q
            level += 1
            trade = self._record(ts, tick, q, buy)
            if sink is not None:
                sink.on_trade(self, trade, tick, q)

    def _record(self, ts: int, tick: int, q: int, buy: bool) -> Trade:
        self._trade_seq += 1
        self.trade_count += 1
        self.last_tick = tick
        trade = Trade(f"{self._trade_seq:08x}-0000-4000-8000-{self._trade_id_tail}", self.symbol, ts,
                      tick * self.tick, q * self.qty_step, Side.BUY if buy else Side.SELL)
        self.trades.append(trade)
        c = self._candles[-1]
        if ts - c[0] >= _MINUTE:
            self._roll_candle(ts - ts % _MINUTE)
            c = self._candles[-1]
        if tick > c[2]:
            c[2] = tick
        if tick < c[3]:
            c[3] = tick
        c[4] = tick
        c[5] += q
        c[6] += q * tick
        return trade

    def rebase(self, mid: float) -> None:
        """Scale the market so its mid is ``mid`` now (a resumed paper account's last mid).

        Every price (mid, mark, book, tape, candles) is multiplied by the same factor, so the
        history stays consistent; the random path ahead is unchanged in relative terms.
        """
        if mid <= 0:
            raise ValueError("a mid price must be positive")
        r = mid / self.mid
        self._log_mid += math.log(r)
        self.mid = mid
        self.mark *= r
        spread = self.ask_tick - self.bid_tick
        self._set_book(self._bid_f, self._ask_f, max(0, spread - self.params.spread_ticks))

        def scale(tick: int) -> int:
            return max(1, int(round(tick * r)))

        self.last_tick = scale(self.last_tick)
        self._stats_key = None
        for c in self._candles:
            c[1], c[2], c[3], c[4] = scale(c[1]), scale(c[2]), scale(c[3]), scale(c[4])
            c[6] = int(round(c[6] * r))
        self.trades = deque((Trade(t.trade_id, t.symbol, t.ts_ms, scale(int(t.price / self.tick)) * self.tick,
                                   t.qty, t.side) for t in self.trades), maxlen=self.trades.maxlen)

    def print_external(self, ts: int, tick: int, qty_steps: int, buy: bool) -> Trade:
        """Put a print that did not come from the synthetic flow (our own taker fill) on the tape."""
        return self._record(ts, tick, qty_steps, buy)

    def _roll_candle(self, start: int) -> None:
        c = self._candles[-1]
        while c[0] + _MINUTE <= start:
            close = c[4]
            c = [c[0] + _MINUTE, close, close, close, close, 0, 0]
            self._candles.append(c)

    # --- views ----------------------------------------------------------------------------------

    def level_size(self, side: Side, level: int) -> int:
        """Displayed size (qty steps) ``level`` ticks away from the touch on the bid or ask side."""
        f = self._bid_f if side is Side.BUY else self._ask_f
        noise = self._level_noise[(level * 7 + self._noise_offset(side)) % _NOISE_LEVELS]
        return max(1, int(self._touch_steps * f * (1.0 + self.params.depth_growth * level) * noise))

    def _noise_offset(self, side: Side) -> int:
        return self.update_id + (0 if side is Side.BUY else 31)

    def displayed_at(self, side: Side, tick: int) -> int:
        """Displayed size (qty steps) at price ``tick`` on ``side`` of the book; 0 inside the spread."""
        level = self.bid_tick - tick if side is Side.BUY else tick - self.ask_tick
        if level < 0 or level >= self.book_levels:
            return 0
        return self.level_size(side, level)

    def mark_tick(self) -> int:
        """Mark price in ticks."""
        return max(1, int(round(self.mark / self._tick_f)))

    def mark_price(self) -> Decimal:
        """Mark price (EMA of mid), rounded to the tick."""
        return self.mark_tick() * self.tick

    def index_price(self) -> Decimal:
        """Index price (the mid), rounded to the tick."""
        return max(1, int(round(self.mid / self._tick_f))) * self.tick

    def last_price(self) -> Decimal:
        """Last trade price."""
        return self.last_tick * self.tick

    def funding_rate_decimal(self) -> Decimal:
        """The current funding rate, rounded to 6 decimals as Bybit shows it."""
        return Decimal(f"{self.funding_rate:.6f}")

    def next_funding_ms(self) -> int:
        """The next funding settlement time."""
        return self.ts_ms - self.ts_ms % self._funding_ms + self._funding_ms

    def book(self, depth: int = 25) -> BookSnapshot:
        """The current L2 book, ``depth`` levels a side."""
        depth = max(1, min(depth, self.book_levels))
        tick, step = self.tick, self.qty_step
        bids = [((self.bid_tick - k) * tick, self.level_size(Side.BUY, k) * step)
                for k in range(depth) if self.bid_tick - k >= 1]
        asks = [((self.ask_tick + k) * tick, self.level_size(Side.SELL, k) * step) for k in range(depth)]
        return BookSnapshot(self.symbol, self.ts_ms, self.update_id, self.update_id, bids, asks)

    def minute_candles(self) -> list[list[int]]:
        """Raw minute candles, oldest first (ints: start, o, h, l, c ticks, volume steps, turnover)."""
        return list(self._candles)

    def klines(self, interval_min: int, start_ms: int | None, end_ms: int | None, limit: int) -> list[Kline]:
        """Candles of ``interval_min`` minutes (aligned to the epoch), newest first."""
        width = interval_min * _MINUTE
        merged: dict[int, list[int]] = {}
        order: list[int] = []
        for c in self._candles:
            start = c[0] - c[0] % width
            if start_ms is not None and start + width <= start_ms:
                continue
            if end_ms is not None and start > end_ms:
                continue
            m = merged.get(start)
            if m is None:
                merged[start] = [start, c[1], c[2], c[3], c[4], c[5], c[6]]
                order.append(start)
            else:
                m[2] = max(m[2], c[2])
                m[3] = min(m[3], c[3])
                m[4] = c[4]
                m[5] += c[5]
                m[6] += c[6]
        tick, step = self.tick, self.qty_step
        out = []
        for start in reversed(order[-limit:] if limit > 0 else order):
            m = merged[start]
            out.append(Kline(start, m[1] * tick, m[2] * tick, m[3] * tick, m[4] * tick, m[5] * step,
                             m[6] * tick * step))
        return out

    def stats_24h(self) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """(high, low, price 24h ago, volume, turnover) over the last 24 hours of candles we have.

        Candles are contiguous minutes and only the newest still changes, so the closed ones in
        the window are summed once per window move (a minute) and the newest added on each read:
        a read costs the same on the first hour and the seventh day.
        """
        candles = self._candles
        since = self.ts_ms - _DAY
        first = max(0, -(-(since - candles[0][0]) // _MINUTE))  # the first candle starting ≥ since
        last = candles[-1]
        first = min(first, len(candles) - 1)
        key = (candles[first][0], last[0])
        if self._stats_key != key:
            closed = list(islice(candles, first, len(candles) - 1))
            self._stats_closed = ((max(c[2] for c in closed), min(c[3] for c in closed), closed[0][1],
                                   sum(c[5] for c in closed), sum(c[6] for c in closed)) if closed else None)
            self._stats_key = key
        tick, step = self.tick, self.qty_step
        agg = self._stats_closed
        if agg is None:
            return last[2] * tick, last[3] * tick, last[1] * tick, last[5] * step, last[6] * tick * step
        high, low, open_, volume, turnover = agg
        return (max(high, last[2]) * tick, min(low, last[3]) * tick, open_ * tick, (volume + last[5]) * step,
                (turnover + last[6]) * tick * step)
