"""The fitted fill intensity λ(δ) against the measured fill rate of resting quotes on the synthetic market.

Quotes of the minimum size rest at 3 depths on both sides, re-placed every second from the mid of
that instant (as the engine requotes); a quote counts once per second it was filled. The estimator
sees only the tape (prices, aggressor sides) and the mid the quotes were placed against.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from bybit_mm.domain.orders import Side
from bybit_mm.quoting.estimators import IntensityEstimator
from bybit_mm.sim.clock import SimClock
from bybit_mm.sim.exchange import SimExchange
from bybit_mm.sim.market import MarketParams
from bybit_mm.sim.models import FillEvent, TradeEvent

T0 = 1_767_225_600_000
SECONDS = 600
TICK = Decimal("0.1")
DEPTHS_TICKS = (3, 12, 30)  # beyond the touch: 0.35, 1.25 and 3.05 USDT from the mid (1-tick spread)


def _run(seed: int, depth_ticks: int, est: IntensityEstimator | None) -> tuple[float, float, float]:
    """Fill events per second of quotes ``depth_ticks`` beyond the touch: (asks, bids, mean δ from the mid)."""
    ex = SimExchange(symbols=("BTCUSDT",), seed=seed, clock=SimClock(T0),
                     market_params=MarketParams(history_minutes=1), balance=Decimal(10 ** 9))
    asks = bids = 0
    deltas = []
    t = T0
    for _ in range(SECONDS):
        tk = ex.ticker("BTCUSDT")
        mid = float(tk.bid + tk.ask) / 2
        ex.cancel_all("BTCUSDT")
        ask = ex.place_order(symbol="BTCUSDT", side=Side.SELL, order_type="Limit", qty=Decimal("0.001"),
                             price=tk.ask + depth_ticks * TICK, time_in_force="PostOnly")
        bid = ex.place_order(symbol="BTCUSDT", side=Side.BUY, order_type="Limit", qty=Decimal("0.001"),
                             price=tk.bid - depth_ticks * TICK, time_in_force="PostOnly")
        deltas.append(float(ask.price) - mid)
        t += 1000
        hit = set()
        for e in ex.run_until(t):
            if isinstance(e, TradeEvent) and est is not None:
                est.on_trade(e.trade.ts_ms, float(e.trade.price), mid, e.trade.side is Side.BUY)
            elif isinstance(e, FillEvent):
                hit.add(e.execution.order_id)
        asks += ask.order_id in hit
        bids += bid.order_id in hit
        if est is not None:
            est.observe(t)
    return asks / SECONDS, bids / SECONDS, sum(deltas) / len(deltas)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fitted_intensity_matches_the_fill_rate_of_resting_quotes(seed: int) -> None:
    est = IntensityEstimator(float(TICK), window_s=SECONDS, n_levels=60, min_span_s=0, event_ms=1000)
    measured = [_run(seed, m, est if i == 0 else None) for i, m in enumerate(DEPTHS_TICKS)]
    fits = {side: est.fit(side=side) for side in (None, "ask", "bid")}
    for asks, bids, delta in measured:
        assert min(asks, bids) > 0.02, (seed, delta, asks, bids)  # enough fills to measure
        for side, rate in ((None, (asks + bids) / 2), ("ask", asks), ("bid", bids)):
            fit = fits[side]
            assert fit is not None
            predicted = fit.A * math.exp(-fit.k * delta)
            assert abs(predicted / rate - 1) < 0.30, (seed, side, delta, rate, predicted, fit)
