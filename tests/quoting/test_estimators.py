"""Online estimators recover known parameters from seeded synthetic data, and say when they cannot."""

from __future__ import annotations

import math
import random

import pytest

from bybit_mm.quoting.estimators import IntensityEstimator, VolatilityEstimator


def _mid_path(sigma: float, seconds: float, seed: int, mean_gap_ms: float = 100.0):
    """(ts_ms, mid): a Brownian mid sampled at irregular (exponential) intervals."""
    rng = random.Random(seed)
    ts, mid = 0.0, 30_000.0
    yield ts, mid
    while ts < seconds * 1000:
        gap = rng.expovariate(1.0 / mean_gap_ms)
        ts += gap
        mid += rng.gauss(0.0, sigma * math.sqrt(gap / 1000.0))
        yield ts, mid


@pytest.mark.parametrize("sigma", [0.5, 7.0])
def test_volatility_recovered_within_5_percent(sigma: float) -> None:
    est = VolatilityEstimator(window_s=1800.0)
    for ts, mid in _mid_path(sigma, 3600.0, seed=7):
        est.update(ts, mid)
    assert est.updates > 15_000
    got = est.sigma()
    assert got is not None
    assert abs(got / sigma - 1) < 0.05


def test_volatility_not_ready_without_enough_or_fresh_data() -> None:
    est = VolatilityEstimator(window_s=60.0, min_updates=30, stale_after_s=10.0)
    assert est.sigma() is None and not est.ready
    for i in range(10):
        est.update(i * 1000.0, 100.0 + (i % 2))
    assert est.sigma() is None  # too few changes
    for i in range(10, 100):
        est.update(i * 1000.0, 100.0 + (i % 2))
    assert est.ready
    assert est.sigma(now_ms=99_000 + 5_000) is not None
    assert est.sigma(now_ms=99_000 + 11_000) is None  # stale: no update for 11 s


def test_volatility_window_forgets_old_regime() -> None:
    est = VolatilityEstimator(window_s=600.0)
    path = list(_mid_path(5.0, 1200.0, seed=3))
    for ts, mid in path:
        est.update(ts, mid)
    calm = list(_mid_path(0.5, 1200.0, seed=4))
    t0 = path[-1][0]
    base = path[-1][1] - calm[0][1]
    for ts, mid in calm[1:]:
        est.update(t0 + ts, base + mid)
    got = est.sigma()
    assert got is not None and abs(got / 0.5 - 1) < 0.05


def _trades(A: float, k: float, seconds: float, seed: int):
    """(ts_ms, price, mid): per side, Poisson market orders at rate A reaching depth ~ Exp(k).

    Orders reaching depth >= delta then arrive at rate A exp(-k delta): the A&S intensity.
    """
    rng = random.Random(seed)
    events = []
    for side in (1, -1):
        ts = 0.0
        while True:
            ts += rng.expovariate(A) * 1000.0
            if ts > seconds * 1000:
                break
            events.append((ts, side, rng.expovariate(k)))
    events.sort()
    mid = 100.0
    out = []
    for ts, side, depth in events:
        mid += rng.gauss(0.0, 0.02)
        out.append((ts, mid + side * depth, mid))
    return out


@pytest.mark.parametrize(("A", "k", "step"), [(2.0, 1.5, 0.1), (0.5, 20.0, 0.01)])
def test_intensity_recovered_within_10_percent(A: float, k: float, step: float) -> None:
    seconds = 3600.0
    # 1 ms intervals: every arrival is its own fill event, so the arrival process's A and k come back
    est = IntensityEstimator(level_step=step, window_s=seconds, n_levels=30, event_ms=1.0)
    for ts, price, mid in _trades(A, k, seconds, seed=11):
        est.on_trade(ts, price, mid)
    est.observe(seconds * 1000)
    fit = est.fit()
    assert fit is not None
    assert abs(fit.A / A - 1) < 0.10, fit
    assert abs(fit.k / k - 1) < 0.10, fit


def test_intensity_counts_fill_events_per_interval_and_side_not_trades() -> None:
    est = IntensityEstimator(level_step=1.0, window_s=100.0, n_levels=3, min_trades=1, min_levels=1,
                             min_level_trades=1, min_span_s=0, event_ms=1000.0)
    est.observe(0.0)
    for i in range(10):  # every 10 s: a burst of buys reaching 2.5 above the mid, and a sell at the mid
        for j in range(5):
            est.on_trade(i * 10_000.0 + j, 102.5, 100.0, True)
        est.on_trade(i * 10_000.0 + 10, 100.0, 100.0, False)  # reaches no bid (none rests above the mid)
        est.on_trade(i * 10_000.0 + 20, 101.5, 100.0, False)  # a sell above the mid: no bid either
    est.observe(100_000.0)
    # the asks at 0, 1 and 2 were each filled once per burst (one 1 s interval), never a bid
    assert [n for _, _, n in est.rates(side="ask")] == [10, 10, 10]
    assert [n for _, _, n in est.rates(side="bid")] == [0, 0, 0]
    assert est.rates(side="ask")[2][1] == pytest.approx(10 / 100.0)
    assert est.rates()[0][1] == pytest.approx(10 / (2 * 100.0))  # pooled: the mean of the two sides
    assert est.trades == 69  # the first print (at 0 s) has left the 100 s window


def test_a_print_at_a_quotes_price_does_not_fill_it() -> None:
    est = IntensityEstimator(level_step=1.0, window_s=100.0, n_levels=4, min_span_s=0)
    est.observe(0.0)
    est.on_trade(10.0, 102.0, 100.0, True)  # exactly 2 above: fills the quotes at 0 and 1, not at 2
    est.observe(2_000.0)
    assert [n for _, _, n in est.rates(side="ask")] == [1, 1, 0, 0]


def test_intensity_not_ready_when_quiet_or_stale() -> None:
    est = IntensityEstimator(level_step=0.1, window_s=600.0)
    assert est.fit() is None and not est.ready
    est.observe(0.0)
    for ts, price, mid in _trades(2.0, 1.5, 10.0, seed=1):
        est.on_trade(ts, price, mid)
    assert est.fit() is None  # a handful of trades is not an estimate
    for ts, price, mid in _trades(2.0, 1.5, 600.0, seed=2):
        est.on_trade(10_000 + ts, price, mid)
    assert est.ready
    est.observe(10_000 + 600_000 + 700_000)  # nothing traded for longer than the window
    assert est.trades == 0
    assert est.fit() is None


def _fit_from_rates(est: IntensityEstimator, side: str | None) -> tuple[float, float, int] | None:
    """The weighted least squares of ``ln lambda = ln A - k delta`` over :meth:`rates`' usable levels."""
    pts = [(d, lam, n) for d, lam, n in est.rates(side=side) if n >= est.min_level_trades]
    if len(pts) < est.min_levels:
        return None
    sw = sx = sy = sxx = sxy = 0.0
    for d, lam, n in pts:
        y = math.log(lam)
        sw, sx, sy, sxx, sxy = sw + n, sx + n * d, sy + n * y, sxx + n * d * d, sxy + n * d * y
    slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
    return math.exp((sy - slope * sx) / sw), -slope, len(pts)


@pytest.mark.parametrize("side", [None, "ask", "bid"])
def test_intensity_fit_is_the_least_squares_of_its_rates_at_every_refit(side: str | None) -> None:
    # A recorded sequence (seeded prints, 100 ms fill intervals), refitted once a second as the core
    # does: the fit from the running counts is, to the bit, the fit of the rates it reports.
    est = IntensityEstimator(level_step=0.05, window_s=300.0, event_ms=100.0)
    fits = 0
    next_fit = 0.0
    for ts, price, mid in _trades(3.0, 8.0, 900.0, seed=5):
        est.on_trade(ts, price, mid)
        if ts >= next_fit:
            next_fit = ts + 1000.0
            got, want = est.fit(side=side), _fit_from_rates(est, side)
            if got is None:
                continue
            assert want is not None and (got.A, got.k, got.levels) == want
            fits += 1
    assert fits > 500
