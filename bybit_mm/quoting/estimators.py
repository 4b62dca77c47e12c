"""Online estimators fed by market data: volatility, and the arrival intensity ``A``, ``k``.

Both take timestamps in **milliseconds** and report in seconds-based units (sigma in price units
per square-root second, A in arrivals per second per side, k per price unit), matching
:mod:`bybit_mm.quoting.models`. Updates are O(1) amortised (a deque over a rolling time window);
both report ``None`` ("not ready") rather than a number when the window holds too little or too
old data, so the engine does not quote nonsense on a quiet or illiquid market.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


class VolatilityEstimator:
    """Realised volatility of the mid over a rolling time window.

    ``sigma^2 = sum(dx^2) / sum(dt)`` over the mid changes ``dx`` whose end falls inside the
    window: the quadratic variation per second, which handles irregular update times (an update
    with an unchanged mid adds time but no variance). Drift is ignored (it is negligible over
    seconds). Not ready until ``min_updates`` changes span at least ``min_span_s`` seconds, or when
    the last update is older than ``stale_after_s``.
    """

    __slots__ = ("window_ms", "min_updates", "min_span_ms", "stale_after_ms", "_items", "_sum_dx2",
                 "_sum_dt", "_last_ts", "_last_mid", "_first_ts", "_evictions")

    def __init__(self, window_s: float = 300.0, *, min_updates: int = 30, min_span_s: float | None = None,
                 stale_after_s: float | None = 60.0) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_ms = window_s * 1000.0
        self.min_updates = min_updates
        self.min_span_ms = (window_s / 4 if min_span_s is None else min_span_s) * 1000.0
        self.stale_after_ms = None if stale_after_s is None else stale_after_s * 1000.0
        self._items: deque[tuple[float, float, float]] = deque()  # (end ts ms, dx^2, dt s)
        self._sum_dx2 = 0.0
        self._sum_dt = 0.0
        self._last_ts: float | None = None
        self._last_mid = 0.0
        self._first_ts: float | None = None
        self._evictions = 0

    def update(self, ts_ms: float, mid: float) -> None:
        """Feed the mid price observed at ``ts_ms``. Out-of-order updates are ignored."""
        last = self._last_ts
        if last is None:
            self._last_ts, self._last_mid, self._first_ts = ts_ms, mid, ts_ms
            return
        if ts_ms <= last:
            if ts_ms == last:
                self._last_mid = mid
            return
        dx = mid - self._last_mid
        dt = (ts_ms - last) / 1000.0
        self._items.append((ts_ms, dx * dx, dt))
        self._sum_dx2 += dx * dx
        self._sum_dt += dt
        self._last_ts, self._last_mid = ts_ms, mid
        self._evict(ts_ms)

    def _evict(self, now_ms: float) -> None:
        items = self._items
        cutoff = now_ms - self.window_ms
        while items and items[0][0] <= cutoff:
            _, dx2, dt = items.popleft()
            self._sum_dx2 -= dx2
            self._sum_dt -= dt
            self._evictions += 1
        if self._evictions >= 100_000 or not items:
            # Re-sum now and then so running sums cannot drift.
            self._sum_dx2 = math.fsum(i[1] for i in items)
            self._sum_dt = math.fsum(i[2] for i in items)
            self._evictions = 0

    @property
    def updates(self) -> int:
        """Mid changes (updates after the first) inside the window."""
        return len(self._items)

    def sigma(self, now_ms: float | None = None) -> float | None:
        """Volatility in price units per square-root second, or ``None`` when not ready."""
        if self._last_ts is None:
            return None
        now = self._last_ts if now_ms is None else max(now_ms, self._last_ts)
        if self.stale_after_ms is not None and now - self._last_ts > self.stale_after_ms:
            return None
        self._evict(now)
        items = self._items
        if len(items) < self.min_updates or self._sum_dt <= 0:
            return None
        span = items[-1][0] - items[0][0] + items[0][2] * 1000.0
        if span < self.min_span_ms:
            return None
        return math.sqrt(max(self._sum_dx2, 0.0) / self._sum_dt)

    @property
    def ready(self) -> bool:
        """True when :meth:`sigma` would return a number (as of the last update)."""
        return self.sigma() is not None


@dataclass(frozen=True, slots=True)
class IntensityFit:
    """A fitted ``lambda(delta) = A exp(-k delta)``: A per second per side, k per price unit."""

    A: float
    k: float
    trades: int
    levels: int
    window_s: float


class IntensityEstimator:
    """Order-arrival intensity ``lambda(delta) = A exp(-k delta)`` from trades and the prevailing mid.

    Each trade is recorded at its distance ``delta = |price - mid|`` from the mid prevailing when it
    printed. For depth level ``i`` (``delta_i = i * level_step``) the *arrival rate* is the number of
    trades in the window that reached at least ``delta_i`` (those would have filled a quote resting
    there), per second and per side (buys and sells are pooled, so the count is halved: the model's
    lambda is the rate at which one side's quote is hit). Traded volume is deliberately ignored.
    ``ln lambda_i = ln A - k delta_i`` is fitted by least squares, weighted by the counts (the
    variance of ``ln N`` is about ``1/N``), over the levels with at least ``min_level_trades``.

    Not ready (``None``) with fewer than ``min_trades`` trades in the window, fewer than
    ``min_levels`` usable levels, less than ``min_span_s`` of observation, or a fit with ``k <= 0``.
    """

    __slots__ = ("window_ms", "level_step", "n_levels", "min_trades", "min_levels", "min_level_trades",
                 "min_span_ms", "_items", "_hist", "_first_ts", "_last_ts", "_cache", "_version")

    def __init__(self, level_step: float, *, window_s: float = 600.0, n_levels: int = 20,
                 min_trades: int = 50, min_levels: int = 3, min_level_trades: int = 5,
                 min_span_s: float | None = None) -> None:
        if level_step <= 0 or window_s <= 0 or n_levels < 2:
            raise ValueError("level_step and window_s must be positive and n_levels >= 2")
        self.window_ms = window_s * 1000.0
        self.level_step = level_step
        self.n_levels = n_levels
        self.min_trades = min_trades
        self.min_levels = min_levels
        self.min_level_trades = min_level_trades
        self.min_span_ms = (window_s / 10 if min_span_s is None else min_span_s) * 1000.0
        self._items: deque[tuple[float, int]] = deque()  # (ts ms, level bucket)
        self._hist = [0] * n_levels  # trades whose deepest reached level is exactly i
        self._first_ts: float | None = None
        self._last_ts: float | None = None
        self._cache: tuple[tuple[int, float, bool], IntensityFit | None] | None = None
        self._version = 0  # bumped whenever the histogram changes

    def observe(self, ts_ms: float) -> None:
        """Note that the market was watched up to ``ts_ms`` (a quiet market lowers the rates)."""
        if self._first_ts is None:
            self._first_ts = ts_ms
        if self._last_ts is None or ts_ms > self._last_ts:
            self._last_ts = ts_ms
            self._evict(ts_ms)

    def on_trade(self, ts_ms: float, price: float, mid: float) -> None:
        """Record a trade printed at ``price`` while the mid was ``mid``."""
        self.observe(ts_ms)
        bucket = int(abs(price - mid) / self.level_step + 1e-9)
        if bucket >= self.n_levels:
            bucket = self.n_levels - 1
        self._items.append((ts_ms, bucket))
        self._hist[bucket] += 1
        self._version += 1

    def _evict(self, now_ms: float) -> None:
        items = self._items
        cutoff = now_ms - self.window_ms
        hist = self._hist
        while items and items[0][0] <= cutoff:
            hist[items.popleft()[1]] -= 1
            self._version += 1

    @property
    def trades(self) -> int:
        """Trades inside the window."""
        return len(self._items)

    def rates(self, now_ms: float | None = None) -> list[tuple[float, float, int]]:
        """``(delta_i, lambda_i per second per side, count_i)`` for every level (counts cumulative from deep)."""
        if self._first_ts is None:
            return []
        now = self._last_ts if now_ms is None else max(now_ms, self._last_ts or now_ms)
        self._evict(now)
        span_s = min(self.window_ms, now - self._first_ts) / 1000.0
        if span_s <= 0:
            return []
        out = []
        cum = 0
        for i in range(self.n_levels - 1, -1, -1):
            cum += self._hist[i]
            out.append((i * self.level_step, cum / (2.0 * span_s), cum))
        out.reverse()
        return out

    def fit(self, now_ms: float | None = None) -> IntensityFit | None:
        """The weighted least-squares fit of ``ln lambda = ln A - k delta``, or ``None`` when not ready."""
        if self._first_ts is None or self._last_ts is None:
            return None
        now = self._last_ts if now_ms is None else max(now_ms, self._last_ts)
        self._evict(now)
        # The fit depends on time only through the observed span (capped at the window) and the
        # warm-up test: with a full window and no new trade it is the same fit.
        watched = now - self._first_ts
        key = (self._version, min(self.window_ms, watched), watched >= self.min_span_ms)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        result = self._fit(now)
        self._cache = (key, result)
        return result

    def _fit(self, now: float) -> IntensityFit | None:
        if len(self._items) < self.min_trades or now - self._first_ts < self.min_span_ms:
            return None
        # The deepest level also holds everything beyond it, so it is not a rate at its own depth.
        pts = [(d, lam, n) for d, lam, n in self.rates(now)[:-1] if n >= self.min_level_trades]
        if len(pts) < self.min_levels:
            return None
        sw = sx = sy = sxx = sxy = 0.0
        for d, lam, n in pts:
            y = math.log(lam)
            sw += n
            sx += n * d
            sy += n * y
            sxx += n * d * d
            sxy += n * d * y
        denom = sw * sxx - sx * sx
        if denom <= 0:
            return None
        slope = (sw * sxy - sx * sy) / denom
        intercept = (sy - slope * sx) / sw
        k = -slope
        if not math.isfinite(k) or k <= 0:
            return None
        return IntensityFit(A=math.exp(intercept), k=k, trades=len(self._items), levels=len(pts),
                            window_s=min(self.window_ms, now - self._first_ts) / 1000.0)

    @property
    def ready(self) -> bool:
        """True when :meth:`fit` would return a fit (as of the last observation)."""
        return self.fit() is not None
