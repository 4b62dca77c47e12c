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
from operator import add
from typing import NamedTuple


class VolatilityEstimator:
    """Realised volatility of the mid over a rolling time window.

    ``sigma^2 = sum(dx^2) / sum(dt)`` over the mid changes ``dx`` whose end falls inside the
    window: the quadratic variation per second, which handles irregular update times (an update
    with an unchanged mid adds time but no variance). Drift is ignored (it is negligible over
    seconds). Not ready until ``min_updates`` changes span at least ``min_span_s`` seconds, or when
    the last update is older than ``stale_after_s``.
    """

    __slots__ = ("window_ms", "min_updates", "min_span_ms", "stale_after_ms", "_items", "_sum_dx2",
                 "_sum_dt", "_last_ts", "_last_mid", "_first_ts", "_evictions", "_evicted_at")

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
        self._evicted_at: float | None = None  # the time of the last eviction

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
        self._evicted_at = now_ms
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
        if now != self._evicted_at:
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


class IntensityFit(NamedTuple):
    """A fitted ``lambda(delta) = A exp(-k delta)``: A per second per side, k per price unit."""

    A: float
    k: float
    trades: int
    levels: int
    window_s: float


class IntensityEstimator:
    """Fill intensity ``lambda(delta) = A exp(-k delta)`` of a quote resting ``delta`` from the mid.

    The method of hftbacktest's GLFT example (``measure_trading_intensity``): a print is placed at
    its depth signed by the aggressor, measured from ``mid``, the mid a quote resting then was
    placed against (the engine passes its decision mid; hftbacktest the previous step's mid): a
    buy at ``price`` reached the asks up to ``price - mid`` above it, a sell the bids down to
    ``mid - price`` below it (a buy below the mid, or a sell above it, reached no quote of ours).
    With ``event_ms`` as short as the book's updates this is the mid of the print's own instant.
    A quote at ``delta_i = i * level_step`` is filled by a print strictly beyond it (one at its
    price has the queue ahead of it to get through first). Time is cut into intervals of
    ``event_ms`` (the engine's requote interval: a quote filled in one is only back in the next),
    and per side an interval counts as ONE fill event for every level its deepest print reached:
    the rate is fill events per second per side, not trades (a burst of prints fills a quote once)
    and not volume. ``ln lambda_i = ln A - k delta_i`` is fitted by least squares, weighted by the
    counts (the variance of ``ln N`` is about ``1/N``), over the levels with at least
    ``min_level_trades`` events; :meth:`fit` pools both sides (their mean rate), ``side`` fits one.

    Each print and each closed interval costs O(levels). Not ready (``None``) with fewer than
    ``min_trades`` prints in the window, fewer than ``min_levels`` usable levels, less than
    ``min_span_s`` of observation, or a fit with ``k <= 0``.
    """

    __slots__ = ("window_ms", "level_step", "n_levels", "min_trades", "min_levels", "min_level_trades",
                 "min_span_ms", "event_ms", "_items", "_trades", "_hist", "_iv", "_reach", "_first_ts",
                 "_last_ts", "_cache", "_version", "_depths")

    def __init__(self, level_step: float, *, window_s: float = 600.0, n_levels: int = 20,
                 min_trades: int = 50, min_levels: int = 3, min_level_trades: int = 5,
                 min_span_s: float | None = None, event_ms: float = 1000.0) -> None:
        if level_step <= 0 or window_s <= 0 or n_levels < 2 or event_ms <= 0:
            raise ValueError("level_step, window_s and event_ms must be positive and n_levels >= 2")
        self.window_ms = window_s * 1000.0
        self.level_step = level_step
        self.n_levels = n_levels
        self.min_trades = min_trades
        self.min_levels = min_levels
        self.min_level_trades = min_level_trades
        self.min_span_ms = (window_s / 10 if min_span_s is None else min_span_s) * 1000.0
        self.event_ms = float(event_ms)
        self._items: deque[tuple[float, int, int]] = deque()  # closed intervals: (end ts ms, side, deepest level)
        self._trades: deque[float] = deque()  # print times, for the min_trades test
        self._hist = ([0] * n_levels, [0] * n_levels)  # per side (0 asks / buys, 1 bids / sells): events per level
        self._iv: int | None = None  # the open interval's index
        self._reach = [-1, -1]  # per side, the deepest level a print reached in the open interval
        self._first_ts: float | None = None
        self._last_ts: float | None = None
        self._cache: tuple[tuple, IntensityFit | None] | None = None
        self._version = 0  # bumped whenever the counts change
        self._depths = [i * level_step for i in range(n_levels)]  # delta_i of each level

    def observe(self, ts_ms: float) -> None:
        """Note that the market was watched up to ``ts_ms`` (a quiet market lowers the rates)."""
        if self._first_ts is None:
            self._first_ts = ts_ms
        if self._last_ts is None or ts_ms > self._last_ts:
            self._last_ts = ts_ms
            iv = int(ts_ms // self.event_ms)
            if self._iv is None:
                self._iv = iv
            elif iv > self._iv:
                self._close()
                self._iv = iv
            self._evict(ts_ms)

    def _close(self) -> None:
        """Count the open interval's fill events (levels 0..deepest reached, per side)."""
        end = (self._iv + 1) * self.event_ms  # type: ignore[operator]
        for side in (0, 1):
            top = self._reach[side]
            if top >= 0:
                hist = self._hist[side]
                for i in range(top + 1):
                    hist[i] += 1
                self._items.append((end, side, top))
                self._reach[side] = -1
                self._version += 1

    def on_trade(self, ts_ms: float, price: float, mid: float, buy: bool | None = None) -> None:
        """Record a print at ``price`` while the mid was ``mid``; ``buy``: the aggressor bought (None:
        unknown, taken from the side of the mid it printed on)."""
        self.observe(ts_ms)
        self._trades.append(ts_ms)
        d = price - mid
        if buy is None:
            buy = d > 0
        if not buy:
            d = -d
        # the levels strictly inside the depth reached: delta_i < d
        top = math.ceil(d / self.level_step - 1e-9) - 1
        if top < 0:
            return
        if top >= self.n_levels:
            top = self.n_levels - 1
        side = 0 if buy else 1
        if top > self._reach[side]:
            self._reach[side] = top

    def _evict(self, now_ms: float) -> None:
        cutoff = now_ms - self.window_ms
        trades = self._trades
        while trades and trades[0] <= cutoff:
            trades.popleft()
        items = self._items
        while items and items[0][0] <= cutoff:
            _, side, top = items.popleft()
            hist = self._hist[side]
            for i in range(top + 1):
                hist[i] -= 1
            self._version += 1

    @property
    def trades(self) -> int:
        """Prints inside the window."""
        return len(self._trades)

    def rates(self, now_ms: float | None = None, side: str | None = None) -> list[tuple[float, float, int]]:
        """``(delta_i, fill events per second per side, events_i)`` for every level: both sides pooled
        (their mean), or ``side`` ``"ask"`` (hit by buys) / ``"bid"`` (hit by sells) alone."""
        if self._first_ts is None:
            return []
        now = self._last_ts if now_ms is None else max(now_ms, self._last_ts or now_ms)
        self.observe(now)
        # the counts cover the closed intervals: up to the open one's start
        counted_to = self._iv * self.event_ms if self._iv is not None else now
        span_s = min(self.window_ms, counted_to - self._first_ts) / 1000.0
        if span_s <= 0:
            return []
        asks, bids = self._hist
        if side is None:
            return [(i * self.level_step, (asks[i] + bids[i]) / (2.0 * span_s), asks[i] + bids[i])
                    for i in range(self.n_levels)]
        if side not in ("ask", "bid"):
            raise ValueError(f"side must be 'ask' or 'bid', got {side!r}")
        hist = asks if side == "ask" else bids
        return [(i * self.level_step, hist[i] / span_s, hist[i]) for i in range(self.n_levels)]

    def fit(self, now_ms: float | None = None, side: str | None = None) -> IntensityFit | None:
        """The weighted least-squares fit of ``ln lambda = ln A - k delta`` (both sides pooled, or
        ``side``), or ``None`` when not ready."""
        if self._first_ts is None or self._last_ts is None:
            return None
        now = self._last_ts if now_ms is None else max(now_ms, self._last_ts)
        self.observe(now)
        # The fit depends on time only through the observed span (capped at the window) and the
        # warm-up test: with a full window and no new trade it is the same fit.
        watched = now - self._first_ts
        key = (self._version, min(self.window_ms, watched), watched >= self.min_span_ms, side)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        result = self._fit(now, side)
        self._cache = (key, result)
        return result

    def _fit(self, now: float, side: str | None) -> IntensityFit | None:
        if len(self._trades) < self.min_trades or now - self._first_ts < self.min_span_ms:  # type: ignore[operator]
            return None
        # The sums over :meth:`rates`' usable levels, in one pass over the counts (the same floats).
        counted_to = self._iv * self.event_ms if self._iv is not None else now
        span_s = min(self.window_ms, counted_to - self._first_ts) / 1000.0  # type: ignore[operator]
        if span_s <= 0:
            return None
        asks, bids = self._hist
        if side is None:
            counts, per_s = list(map(add, asks, bids)), 2.0 * span_s
        elif side in ("ask", "bid"):
            counts, per_s = (asks if side == "ask" else bids), span_s
        else:
            raise ValueError(f"side must be 'ask' or 'bid', got {side!r}")
        least, log = self.min_level_trades, math.log
        levels = 0
        sw = sx = sy = sxx = sxy = 0.0
        for n, d in zip(counts, self._depths):
            if n < least:
                continue
            levels += 1
            nd = n * d
            y = log(n / per_s)
            sw += n
            sx += nd
            sy += n * y
            sxx += nd * d
            sxy += nd * y
        if levels < self.min_levels:
            return None
        denom = sw * sxx - sx * sx
        if denom <= 0:
            return None
        slope = (sw * sxy - sx * sy) / denom
        intercept = (sy - slope * sx) / sw
        k = -slope
        if not math.isfinite(k) or k <= 0:
            return None
        return IntensityFit(math.exp(intercept), k, len(self._trades), levels,
                            min(self.window_ms, now - self._first_ts) / 1000.0)

    @property
    def ready(self) -> bool:
        """True when :meth:`fit` would return a fit (as of the last observation)."""
        return self.fit() is not None
