"""Engine throughput at --speed 0 and update-to-decision latency.

One "market update" is one engine iteration: read ticker, book and trades from the paper client
(the sim processes the market up to the clock first), feed the estimators, book fills, ask the
risk guard, compute and shape the quotes, and send the amend/place/cancel requests. Latency is
the wall time of one iteration (from the first read to the last order request), p50 and p99.

    /work/venv/bin/python benchmarks/bench_engine.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from decimal import Decimal


def run(interval_s: float, simulated_s: float) -> None:
    from bybit_mm.engine.config import EngineConfig
    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.exchange.paper_client import DryRunFuturesClient
    from bybit_mm.sim.clock import SimClock
    from bybit_mm.sim.exchange import SimExchange

    sim = SimExchange(symbols=("BTCUSDT",), seed=1, clock=SimClock(), latency_ms=50.0)
    client = DryRunFuturesClient(sim)
    cfg = EngineConfig(leverage=Decimal(50), interval_s=interval_s, duration_s=simulated_s,
                       snapshot_every_s=60.0)
    trader = LiveTrader(client, sim.clock, cfg)
    lat: list[float] = []
    step = trader.step

    async def timed_step() -> object:
        t0 = time.perf_counter()
        out = await step()
        lat.append((time.perf_counter() - t0) * 1e6)
        return out

    trader.step = timed_step  # type: ignore[method-assign]
    t0 = time.perf_counter()
    summary = asyncio.run(trader.run())
    wall = time.perf_counter() - t0
    lat.sort()
    n = len(lat)
    print(f"interval {interval_s:>4} s, {simulated_s / 60:.0f} simulated min: {n} updates in {wall:.2f} s "
          f"-> {n / wall:,.0f} updates/s ({simulated_s / wall:,.0f}x real time); "
          f"update-to-decision p50 {lat[n // 2]:,.0f} us, p99 {lat[int(n * 0.99)]:,.0f} us, "
          f"mean {statistics.fmean(lat):,.0f} us; fills {summary.fills}, amends {summary.orders_amended}")


if __name__ == "__main__":
    run(1.0, 1200.0)   # the seed's 20-minute dry run
    run(0.1, 600.0)    # ten decisions a second
