"""A deterministic synthetic market for one symbol: mid process, L2 book, trades, mark, funding.

The model, on a fixed step grid (``MarketParams.step_ms``, 100 ms by default, aligned to the epoch),
with its parameters in one :class:`SyntheticMarketParams` (named presets in :data:`PRESETS`):

- **Mid**: geometric Brownian motion with ``annual_vol`` plus Poisson jumps (``jumps_per_day``,
  relative size ~ N(0, ``jump_sigma``)). Log space keeps it positive; it is also floored at one tick.
- **Book**: integer ticks around the mid. The spread is ``spread_ticks`` (with probability
  ``wide_spread_prob`` 1–3 ticks wider). The size resting at a price is
  ``touch_notional × (1 + depth_growth·level) × noise(price) × side factor``: the noise is fixed per
  price (a level keeps its size while the mid moves) and the side factor drifts slowly (log AR(1),
  half-life ~30 s). Market orders eat what they walk; the eaten size comes back at ``refill_per_s``
  (exponential refill), so a level walked by one order is thinner for the next. The touch is the
  best price with something left, so a walked touch widens the spread until it refills.
- **Trades**: Poisson arrivals (``trades_per_second``) of market orders timestamped inside their
  step, with lognormal notionals (median ``trade_notional_median`` USDT, log-sd
  ``trade_size_sigma``: a heavy tail), printing at the touch and walking the book level by level
  (one print per level) when larger than it. A share ``informed_share`` of them is **informed**:
  their side is the sign of the mid's move over the next ``informed_horizon_ms`` (the innovations
  are drawn a chunk ahead, so the move is known before it happens); the rest take a random side.
- **Mark** = EMA of the mid (``mark_ema_ms``), rounded to the tick; **index** = mid.
- **Funding rate**: mean-reverting (Ornstein–Uhlenbeck) around ``funding_mean``, clamped to
  ±``funding_cap``; settled at every multiple of the instrument's funding interval since the epoch
  (00:00/08:00/16:00 UTC for 480 minutes).

Sizes are set in USDT notional and converted at the current mid, so a preset carries over to any
symbol (:meth:`SyntheticMarketParams.for_symbol`). Everything random is drawn from one numpy
generator seeded by (seed, symbol), in chunks of ``chunk_steps`` steps, so the same seed gives the
same tape whatever the call pattern.
"""

from __future__ import annotations

import math
import random
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from itertools import islice
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.orders import Side
from bybit_mm.sim.models import BookSnapshot, Kline, Trade

_MS_PER_YEAR = 365.0 * 24 * 3600 * 1000
_MINUTE = 60_000
_DAY = 24 * 3600 * 1000
_NOISE_PRICES = 256
#: The side factor of the book's sizes: log AR(1) with this half-life and stationary sd.
_SIDE_HALF_LIFE_S = 30.0
_SIDE_SD = 0.3
#: Funding settlements a new market has behind it (Bybit serves history from listing; 200 a page).
PAST_FUNDINGS = 600


@dataclass(frozen=True)
class SyntheticMarketParams:
    """One symbol's synthetic market (see the module docstring); sizes in USDT notional.

    ``symbol`` and ``start_price`` say which instrument the parameters model and where its mid
    starts; :meth:`for_symbol` carries them over to another symbol.
    """

    symbol: str = "BTCUSDT"
    start_price: float = 95_000.0
    annual_vol: float = 0.5
    #: Drift of the log mid per year (0: none; tests use it to force a trend).
    annual_drift: float = 0.0
    jumps_per_day: float = 2.0
    jump_sigma: float = 0.003
    spread_ticks: int = 1
    wide_spread_prob: float = 0.02
    trades_per_second: float = 12.0
    trade_notional_median: float = 1_000.0
    trade_size_sigma: float = 1.8
    informed_share: float = 0.15
    informed_horizon_ms: int = 2_000
    touch_notional: float = 300_000.0
    depth_growth: float = 0.05
    refill_per_s: float = 2.0
    mark_ema_ms: float = 2_000.0
    funding_mean: float = 0.0001
    funding_half_life_h: float = 6.0
    funding_vol_per_day: float = 0.0002
    funding_cap: float = 0.005
    open_interest_notional: float = 5.0e9

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{f.name} must be a finite number, got {v!r}")
        positive = ("start_price", "trade_notional_median", "touch_notional", "refill_per_s", "mark_ema_ms",
                    "funding_half_life_h")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("annual_vol", "jumps_per_day", "jump_sigma", "trades_per_second", "trade_size_sigma",
                     "depth_growth", "funding_vol_per_day", "funding_cap", "open_interest_notional"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)!r}")
        for name in ("wide_spread_prob", "informed_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)!r}")
        if self.spread_ticks < 1:
            raise ValueError(f"spread_ticks must be at least 1, got {self.spread_ticks!r}")
        if self.informed_horizon_ms < 1:
            raise ValueError(f"informed_horizon_ms must be positive, got {self.informed_horizon_ms!r}")

    @property
    def open_interest(self) -> float:
        """Open interest in base units at the start price (the ticker shows it)."""
        return self.open_interest_notional / self.start_price

    def for_symbol(self, symbol: str, instrument: Instrument) -> SyntheticMarketParams:
        """These parameters on ``symbol``: the same market shape at that symbol's reference price."""
        if symbol == self.symbol:
            return self
        return replace(self, symbol=symbol, start_price=reference_price(symbol, instrument))


#: Where a symbol's synthetic mid starts when a preset for another symbol is used on it.
REFERENCE_PRICES: dict[str, float] = {"BTCUSDT": 95_000.0, "ETHUSDT": 3_300.0, "SOLUSDT": 180.0,
                                      "ARBUSDT": 0.5}


def reference_price(symbol: str, instrument: Instrument) -> float:
    """A typical price of ``symbol`` (an assumption; 10,000 ticks for a symbol we know nothing of)."""
    return REFERENCE_PRICES.get(symbol, float(instrument.tick_size) * 10_000)


# The presets' numbers and where they come from are in the README ("The synthetic market").
#: A deep major, BTCUSDT-like: 1-tick spread at a 0.1 tick, a deep touch, a high trade rate,
#: a share of informed flow.
DEEP_MAJOR = SyntheticMarketParams()
#: A thinner alt on the ARBUSDT instrument: a larger relative tick (2 bps at 0.50), a spread of
#: several ticks, a thin touch that big orders walk, fewer trades with a fatter size tail, and
#: mostly uninformed flow.
THIN_ALT = SyntheticMarketParams(
    symbol="ARBUSDT", start_price=0.5, annual_vol=0.9, jumps_per_day=4.0, jump_sigma=0.006, spread_ticks=4,
    wide_spread_prob=0.05, trades_per_second=1.5, trade_notional_median=150.0, trade_size_sigma=2.2,
    informed_share=0.1, informed_horizon_ms=5_000, touch_notional=4_000.0, depth_growth=0.3,
    refill_per_s=0.2, funding_vol_per_day=0.0004, funding_cap=0.02, open_interest_notional=6.0e7)

#: The named presets (profile ``[sim] preset``, ``paper --preset``).
PRESETS: dict[str, SyntheticMarketParams] = {"deep-major": DEEP_MAJOR, "thin-alt": THIN_ALT}

#: Each shipped symbol's own market (used when no preset is chosen).
DEFAULT_SYMBOL_PARAMS: dict[str, SyntheticMarketParams] = {
    "BTCUSDT": DEEP_MAJOR,
    "ARBUSDT": THIN_ALT,
    "ETHUSDT": replace(DEEP_MAJOR, symbol="ETHUSDT", start_price=3_300.0, annual_vol=0.7, trades_per_second=5.0,
                       trade_notional_median=700.0, touch_notional=150_000.0, open_interest_notional=6.0e9),
    "SOLUSDT": replace(DEEP_MAJOR, symbol="SOLUSDT", start_price=180.0, annual_vol=0.85, trades_per_second=3.0,
                       trade_notional_median=500.0, touch_notional=50_000.0, informed_share=0.1,
                       open_interest_notional=1.6e9),
}


def default_params(symbol: str, instrument: Instrument) -> SyntheticMarketParams:
    """``symbol``'s own shipped market, or the deep major's shape at its reference price."""
    return DEFAULT_SYMBOL_PARAMS.get(symbol) or DEEP_MAJOR.for_symbol(symbol, instrument)


def synthetic_params(symbol: str, instrument: Instrument, preset: str | None = None,
                     overrides: Mapping[str, Any] | None = None) -> SyntheticMarketParams:
    """The market of ``symbol``: ``preset`` (or the symbol's own) with ``overrides`` applied.

    ValueError for an unknown preset or key, or a value out of range.
    """
    if preset:
        if preset not in PRESETS:
            raise ValueError(f"unknown synthetic market preset {preset!r} (known: {', '.join(PRESETS)})")
        base = PRESETS[preset].for_symbol(symbol, instrument)
    else:
        base = default_params(symbol, instrument)
    if not overrides:
        return base
    known = {f.name for f in fields(SyntheticMarketParams)} - {"symbol"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown synthetic market parameter(s) {', '.join(unknown)}")
    return replace(base, **overrides)


@dataclass(frozen=True)
class MarketParams:
    """Parameters shared by all symbols, and per-symbol markets."""

    step_ms: int = 100
    #: Minutes of market generated before the clock's start, so klines and 24h stats exist.
    history_minutes: int = 30
    chunk_steps: int = 4096
    book_levels: int = 200
    symbols: dict[str, SyntheticMarketParams] = field(default_factory=dict)

    def for_symbol(self, symbol: str, instrument: Instrument) -> SyntheticMarketParams:
        """The parameters of ``symbol``: an override, or its own shipped market."""
        if symbol in self.symbols:
            return self.symbols[symbol]
        return default_params(symbol, instrument)


class MarketSink(Protocol):
    """Who the market reports to while it steps (the exchange's matching and ledger)."""

    def on_trade(self, market: SyntheticMarket, trade: Trade, price_tick: int, qty_steps: int) -> None:
        """A public trade printed (the size it took is already gone from the book)."""

    def on_book(self, market: SyntheticMarket, ts_ms: int) -> None:
        """The book, mid and mark moved at step time ``ts_ms``."""

    def on_funding(self, market: SyntheticMarket, ts_ms: int, rate: Decimal, mark: Decimal) -> None:
        """Funding settles at ``ts_ms`` with ``rate`` at ``mark``."""


class SyntheticMarket:
    """One symbol's synthetic market, stepped forward in time by :meth:`step_until`."""

    def __init__(self, instrument: Instrument, params: SyntheticMarketParams, *, seed: int, start_ms: int,
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
        self._horizon = min(self._chunk, max(1, round(params.informed_horizon_ms / self.step_ms)))
        self._alpha = 1.0 - math.exp(-self.step_ms / params.mark_ema_ms)
        self._refill = math.exp(-params.refill_per_s * self.step_ms / 1000.0)
        phi = math.exp(-math.log(2) * self.step_ms / 1000.0 / _SIDE_HALF_LIFE_S)
        self._side_sd = _SIDE_SD * math.sqrt(1.0 - phi * phi)
        self._side_powers = phi ** np.arange(1, self._chunk + 1)
        dt_h = self.step_ms / 3_600_000
        self._f_kappa = 1.0 - math.exp(-math.log(2) / params.funding_half_life_h * dt_h)
        self._f_vol = params.funding_vol_per_day * math.sqrt(self.step_ms / _DAY)
        self._noise = (0.5 + self._rng.random(_NOISE_PRICES)).tolist()
        self._depth_growth = params.depth_growth

        origin = start_ms - mp.history_minutes * _MINUTE
        self.ts_ms = origin - origin % self.step_ms  # time of the last processed step
        self.step_index = 0
        self.update_id = 1
        self._log_mid = math.log(params.start_price)
        self.mid = params.start_price
        self.mark = params.start_price
        self.funding_rate = params.funding_mean
        #: Whether the market order printing now is informed (for tests and diagnostics).
        self.informed_now = False
        # Size taken from the book by market orders and not yet refilled, by price tick, in units
        # of ``_scale`` (which decays every step: one multiplication refills every level).
        self._eaten_bid: dict[int, float] = {}
        self._eaten_ask: dict[int, float] = {}
        self._scale = 1.0
        # Log side factors of the book's sizes, and the factors themselves.
        self._bid_lf = 0.0
        self._ask_lf = 0.0
        self._bid_f = 1.0
        self._ask_f = 1.0
        self.bid_tick = 0
        self.ask_tick = 0
        self._extra = 0
        self._set_book(0)
        self.last_tick = self.bid_tick
        # The tape: the last 1,000 prints as [seq, ts, tick, steps, buy, Trade or None]; the Trade
        # is made when first read (most prints of a long run are never read).
        self._tape: deque[list[Any]] = deque(maxlen=1000)
        self._trade_seq = 0
        #: Market orders sent by the synthetic flow (each prints once per level it takes).
        self.order_count = 0
        # Minute candles in ints: [start_ms, o, h, l, c (ticks), volume (steps), turnover (tick·step)].
        self._candles: deque[list[int]] = deque(maxlen=7 * 1440)
        self._candles.append([self.ts_ms - self.ts_ms % _MINUTE, self.last_tick, self.last_tick,
                              self.last_tick, self.last_tick, 0, 0])
        self.funding_history: deque[tuple[int, Decimal]] = deque(maxlen=1000)
        self._stats_key: tuple[int, int] | None = None  # the window stats_24h's cached sums are of
        self._stats_closed: tuple[int, int, int, int, int] | None = None
        self._backfill_funding(seed)
        self._buf: tuple[list, ...] = ()
        self._buf_len = 0
        self._dlog_next: np.ndarray | None = None
        self._pos = 0
        self._tpos = 0
        self.step_until(start_ms, None)

    def _backfill_funding(self, seed: int, count: int = PAST_FUNDINGS) -> None:
        """Settlements before the market's history starts, as a listed contract has them.

        The same mean-reverting process as the live rate, per funding interval, from its own
        seeded generator (the market's own path does not change).
        """
        p = self.params
        rng = random.Random(f"funding-past-{seed}-{self.symbol}")
        hours = self._funding_ms / 3_600_000
        kappa = 1.0 - math.exp(-math.log(2) / p.funding_half_life_h * hours)
        vol = p.funding_vol_per_day * math.sqrt(hours / 24)
        last = self.ts_ms - self.ts_ms % self._funding_ms  # step_until settles only after ts_ms
        rate = p.funding_mean
        for k in range(count, 0, -1):
            rate = min(p.funding_cap, max(-p.funding_cap, rate + kappa * (p.funding_mean - rate)
                                          + vol * rng.gauss(0.0, 1.0)))
            self.funding_history.append((last - (k - 1) * self._funding_ms, Decimal(f"{rate:.6f}")))

    # --- generation ---------------------------------------------------------------------------

    def _draw_dlog(self, n: int) -> np.ndarray:
        rng = self._rng
        dlog = rng.standard_normal(n) * self._sigma_step + (self._drift_step - 0.5 * self._sigma_step ** 2)
        jumps = rng.random(n) < self._jump_p
        if jumps.any():
            dlog[jumps] += rng.normal(0.0, self.params.jump_sigma, int(jumps.sum()))
        return dlog

    def _refill_buffers(self) -> None:
        n = self._chunk
        rng = self._rng
        p = self.params
        # The mid's innovations are drawn one chunk ahead, so informed orders can see the next
        # informed_horizon_ms of them before they happen.
        dlog = self._dlog_next if self._dlog_next is not None else self._draw_dlog(n)
        self._dlog_next = nxt = self._draw_dlog(n)
        counts = rng.poisson(self._lam_step, n)
        total = int(counts.sum())
        notional = rng.lognormal(math.log(p.trade_notional_median), p.trade_size_sigma, total)
        buy = rng.random(total) < 0.5
        informed = rng.random(total) < p.informed_share
        if informed.any():
            h = self._horizon
            path = np.concatenate(([0.0], np.cumsum(np.concatenate((dlog, nxt[:h])))))
            at = np.repeat(np.arange(n), counts)
            move = path[at + h] - path[at]
            informed &= move != 0
            buy = np.where(informed, move > 0, buy)
        wide = rng.random(n) < p.wide_spread_prob
        extra = np.where(wide, rng.integers(1, 4, n), 0)
        # The draws in this order (the generator's sequence is the tape): see step_until for the
        # fields' meaning.
        offset = rng.integers(0, self.step_ms, total).tolist()
        bidf = self._side_factors(rng.standard_normal(n), True)
        askf = self._side_factors(rng.standard_normal(n), False)
        fz = rng.standard_normal(n).tolist()
        self._buf = (dlog.tolist(), counts.tolist(), notional.tolist(), buy.tolist(), informed.tolist(), offset,
                     bidf, askf, extra.tolist(), fz)
        self._buf_len = n
        self._pos = 0
        self._tpos = 0

    def _side_factors(self, z: np.ndarray, bid_side: bool) -> list[float]:
        """The side factor over the next chunk: exp of a log AR(1) path, solved in closed form."""
        powers = self._side_powers[:len(z)]
        x0 = self._bid_lf if bid_side else self._ask_lf
        path = powers * (x0 + np.cumsum(z * self._side_sd / powers))
        if bid_side:
            self._bid_lf = float(path[-1])
        else:
            self._ask_lf = float(path[-1])
        return np.exp(path).tolist()

    def _set_book(self, extra: int) -> None:
        """Centre the book on the mid (``extra`` ticks of spread on top of ``spread_ticks``)."""
        self._extra = extra
        spread = self.params.spread_ticks + extra
        bid = int(math.floor(self.mid / self._tick_f - spread / 2.0 + 0.5))
        if bid < 1:
            bid = 1
        self._nominal_bid = bid
        self._nominal_ask = bid + spread
        self._touch_steps = max(1.0, self.params.touch_notional / (self.mid * self._step_f))
        self._retouch()

    def _retouch(self) -> None:
        """The touch is the best price with size left on it (a walked touch widens the spread)."""
        bid, eaten = self._nominal_bid, self._eaten_bid
        limit = bid - self.book_levels
        while bid in eaten and bid > 1 and bid > limit and self._avail(eaten, True, bid) <= 0:
            bid -= 1
        ask, eaten = self._nominal_ask, self._eaten_ask
        limit = ask + self.book_levels
        while ask in eaten and ask < limit and self._avail(eaten, False, ask) <= 0:
            ask += 1
        self.bid_tick = bid
        self.ask_tick = ask

    def _avail(self, eaten: dict[int, float], bid_side: bool, tick: int) -> int:
        """Size (qty steps) resting at ``tick`` now: its base size less what market orders took.

        The base size (before anything was taken) is ``touch × side factor × (1 + depth_growth ·
        level) × noise(price)``, at least one step.
        """
        if bid_side:
            level, f = self._nominal_bid - tick, self._bid_f
        else:
            level, f = tick - self._nominal_ask, self._ask_f
        base = int(self._touch_steps * f * (1.0 + self._depth_growth * level)
                   * self._noise[((tick * 2654435761) >> 7) & (_NOISE_PRICES - 1)])
        if base < 1:
            base = 1
        e = eaten.get(tick)
        if e is None:
            return base
        left = int(base - e * self._scale)
        return left if left > 0 else 0

    def step_until(self, ts_ms: int, sink: MarketSink | None) -> None:
        """Process every step whose time is ≤ ``ts_ms``, reporting to ``sink``."""
        step_ms = self.step_ms
        t = self.ts_ms
        if t + step_ms > ts_ms:
            return
        funding_ms = self._funding_ms
        p = self.params
        cap, f_mean, spread_ticks, touch_notional = p.funding_cap, p.funding_mean, p.spread_ticks, p.touch_notional
        tick_f, step_f = self._tick_f, self._step_f
        alpha, f_kappa, f_vol, refill = self._alpha, self._f_kappa, self._f_vol, self._refill
        eaten_bid, eaten_ask = self._eaten_bid, self._eaten_ask
        print_ = self._print
        floor, exp, log = math.floor, math.exp, math.log
        minute = _MINUTE
        i, size = self._pos, self._buf_len
        if i < size:
            dlog, counts, notional, buys, informed, offsets, bidf, askf, extra, fz = self._buf
        while t + step_ms <= ts_ms:
            if i >= size:
                self._refill_buffers()
                dlog, counts, notional, buys, informed, offsets, bidf, askf, extra, fz = self._buf
                i, size = 0, self._buf_len
            self._pos = i + 1
            t_prev = t
            t = t_prev + step_ms
            n = counts[i]
            if n:
                j = self._tpos
                self._tpos = j + n
                if n == 1:
                    print_(t_prev + 1 + offsets[j], buys[j], notional[j], informed[j], sink)
                else:
                    offs = sorted(offsets[j:j + n])
                    for k in range(n):
                        print_(t_prev + 1 + offs[k], buys[j + k], notional[j + k], informed[j + k], sink)
            # The step boundary: the mid, book, mark and funding rate move; taken size refills.
            log_mid = self._log_mid + dlog[i]
            mid = exp(log_mid)
            if mid < tick_f:
                mid = tick_f
                log_mid = log(mid)
            self._log_mid = log_mid
            self.mid = mid
            self.mark += alpha * (mid - self.mark)
            rate = self.funding_rate
            rate = rate + f_kappa * (f_mean - rate) + f_vol * fz[i]
            # min(cap, max(-cap, rate)) without the calls (as they pick: the first unless beaten)
            rate = rate if rate > -cap else -cap
            self.funding_rate = rate if rate < cap else cap
            self._bid_f = bidf[i]
            self._ask_f = askf[i]
            self._scale *= refill
            if not i & 63:
                self._prune()
            # The book centred on the new mid (_set_book, inlined: it runs on every step).
            wide = extra[i]
            self._extra = wide
            spread = spread_ticks + wide
            bid = int(floor(mid / tick_f - spread / 2.0 + 0.5))
            if bid < 1:
                bid = 1
            self._nominal_bid = bid
            self._nominal_ask = ask = bid + spread
            touch = touch_notional / (mid * step_f)
            self._touch_steps = touch if touch > 1.0 else 1.0
            if bid in eaten_bid or ask in eaten_ask:
                self._retouch()
            else:
                self.bid_tick = bid
                self.ask_tick = ask
            self.ts_ms = t
            self.update_id += 1
            i += 1
            if t % minute == 0:
                self._roll_candle(t)
            if sink is not None:
                sink.on_book(self, t)
                if t % funding_ms == 0:
                    rate_d = self.funding_rate_decimal()
                    self.funding_history.append((t, rate_d))
                    sink.on_funding(self, t, rate_d, self.mark_price())
            elif t % funding_ms == 0:
                self.funding_history.append((t, self.funding_rate_decimal()))

    @property
    def trade_count(self) -> int:
        """Prints on the tape since the market's history began (ours included)."""
        return self._trade_seq

    @property
    def step_count(self) -> int:
        """Steps processed since the market's history began."""
        return self.update_id - 1

    def _prune(self) -> None:
        """Forget taken size that has refilled, or whose price the touch has moved past."""
        scale = self._scale
        if scale < 1e-100:  # fold the decay into the stored amounts before it underflows
            for eaten in (self._eaten_bid, self._eaten_ask):
                for tick in eaten:
                    eaten[tick] *= scale
            self._scale = scale = 1.0
        floor = 0.5 / scale
        bid, ask = self._nominal_bid, self._nominal_ask
        for eaten, crossed in ((self._eaten_bid, lambda t: t > bid), (self._eaten_ask, lambda t: t < ask)):
            for tick in [t for t, e in eaten.items() if e < floor or crossed(t)]:
                del eaten[tick]

    def _print(self, ts: int, buy: bool, notional: float, informed: bool, sink: MarketSink | None) -> None:
        """A market order of ``notional`` USDT walks the book from the touch, one print per level."""
        qty_steps = int(notional / (self.mid * self._step_f) + 0.5) or 1
        self.order_count += 1
        self.informed_now = informed
        # What _avail computes, per level of the walk (the book does not move during it).
        if buy:
            eaten, tick, step, nominal, f = self._eaten_ask, self.ask_tick, 1, self._nominal_ask, self._ask_f
        else:
            eaten, tick, step, nominal, f = self._eaten_bid, self.bid_tick, -1, self._nominal_bid, self._bid_f
        touch_f = self._touch_steps * f
        growth = self._depth_growth
        noise = self._noise
        scale = self._scale
        emptied = False
        for _ in range(self.book_levels):
            if qty_steps <= 0 or tick < 1:
                break
            base = int(touch_f * (1.0 + growth * (tick - nominal if buy else nominal - tick))
                       * noise[((tick * 2654435761) >> 7) & (_NOISE_PRICES - 1)])
            if base < 1:
                base = 1
            e = eaten.get(tick)
            if e is None:
                avail = base
            else:
                avail = int(base - e * scale)
            if avail > 0:
                if qty_steps < avail:
                    q = qty_steps
                else:
                    q = avail
                    emptied = True
                qty_steps -= q
                eaten[tick] = (0.0 if e is None else e) + q / scale
                entry = self._record(ts, tick, q, buy)
                if sink is not None:
                    sink.on_trade(self, self._trade(entry), tick, q)
            tick += step
        if emptied:
            self._retouch()

    def _record(self, ts: int, tick: int, q: int, buy: bool) -> list[Any]:
        """Put a print on the tape and in the candles; returns its tape entry."""
        seq = self._trade_seq = self._trade_seq + 1
        self.last_tick = tick
        entry: list[Any] = [seq, ts, tick, q, buy, None]
        self._tape.append(entry)
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
        return entry

    def _trade(self, entry: list[Any]) -> Trade:
        """The Trade of a tape entry (made on the first read)."""
        trade = entry[5]
        if trade is None:
            seq = entry[0]
            trade = entry[5] = Trade(f"{seq:08x}-0000-4000-8000-{self._trade_id_tail}", self.symbol, entry[1],
                                     entry[2] * self.tick, entry[3] * self.qty_step,
                                     Side.BUY if entry[4] else Side.SELL, seq)
        return trade

    @property
    def trades(self) -> list[Trade]:
        """The tape: the last 1,000 prints, oldest first."""
        return [self._trade(e) for e in self._tape]

    def recent_trades(self, limit: int) -> list[Trade]:
        """The newest ``limit`` prints, newest first."""
        make = self._trade
        return [e[5] or make(e) for e in islice(reversed(self._tape), max(0, limit))]

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
        self._eaten_bid.clear()
        self._eaten_ask.clear()
        self._set_book(self._extra)

        def scale(tick: int) -> int:
            return max(1, int(round(tick * r)))

        self.last_tick = scale(self.last_tick)
        self._stats_key = None
        for c in self._candles:
            c[1], c[2], c[3], c[4] = scale(c[1]), scale(c[2]), scale(c[3]), scale(c[4])
            c[6] = int(round(c[6] * r))
        for e in self._tape:
            t = self._trade(e)
            e[2] = scale(e[2])
            e[5] = Trade(t.trade_id, t.symbol, t.ts_ms, e[2] * self.tick, t.qty, t.side)

    def print_external(self, ts: int, tick: int, qty_steps: int, buy: bool) -> Trade:
        """Put a print that did not come from the synthetic flow (our own taker fill) on the tape."""
        return self._trade(self._record(ts, tick, qty_steps, buy))

    def _roll_candle(self, start: int) -> None:
        c = self._candles[-1]
        while c[0] + _MINUTE <= start:
            close = c[4]
            c = [c[0] + _MINUTE, close, close, close, close, 0, 0]
            self._candles.append(c)

    # --- views ----------------------------------------------------------------------------------

    def level_size(self, side: Side, level: int) -> int:
        """Displayed size (qty steps) ``level`` ticks away from the touch on the bid or ask side.

        0 where market orders took everything and it has not refilled yet (a gap in the book).
        """
        if side is Side.BUY:
            tick = self.bid_tick - level
            return self._avail(self._eaten_bid, True, tick) if tick >= 1 else 0
        return self._avail(self._eaten_ask, False, self.ask_tick + level)

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
        """The current L2 book, ``depth`` non-empty levels a side."""
        depth = max(1, min(depth, self.book_levels))
        tick, step = self.tick, self.qty_step
        growth, noise, scale = self._depth_growth, self._noise, self._scale
        mask = _NOISE_PRICES - 1
        sides: list[list[tuple[Decimal, Decimal]]] = []
        for touch, sign, eaten, nominal, f in ((self.bid_tick, -1, self._eaten_bid, self._nominal_bid, self._bid_f),
                                               (self.ask_tick, 1, self._eaten_ask, self._nominal_ask, self._ask_f)):
            # What _avail computes, level by level from the touch outwards.
            touch_f = self._touch_steps * f
            levels: list[tuple[Decimal, Decimal]] = []
            append = levels.append
            left = depth
            price = touch
            level = (price - nominal) * sign
            for _ in range(self.book_levels):
                if price < 1:
                    break
                q = int(touch_f * (1.0 + growth * level) * noise[((price * 2654435761) >> 7) & mask])
                if q < 1:
                    q = 1
                e = eaten.get(price)
                if e is not None:
                    q = int(q - e * scale)
                if q > 0:
                    append((price * tick, q * step))
                    left -= 1
                    if not left:
                        break
                price += sign
                level += 1
            sides.append(levels)
        return BookSnapshot(self.symbol, self.ts_ms, self.update_id, self.update_id, sides[0], sides[1])

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

    def price_at(self, ts_ms: int) -> Decimal | None:
        """The open of the minute candle at ``ts_ms`` (the oldest kept when that is older, the newest
        when later); None before any candle. The candles are consecutive minutes (``_roll_candle``
        fills every gap): the one at ``ts_ms`` is found by its index."""
        candles = self._candles
        if not candles:
            return None
        k = (ts_ms - candles[0][0]) // _MINUTE
        return candles[min(max(k, 0), len(candles) - 1)][1] * self.tick

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
