"""Benchmark: the A&S Monte-Carlo at 100,000 paths, and per-update costs on the quoting hot path.

Run: /work/venv/bin/python benchmarks/bench_quoting.py [--paths N]
"""

from __future__ import annotations

import argparse
import math
import random
import subprocess
import sys
import time
from decimal import Decimal


def _per_call_us(fn, n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return (time.perf_counter() - start) / n * 1e6


def bench_simulate(paths: int) -> None:
    from bybit_mm.quoting.simulation import SimParams, run

    params = SimParams(paths=paths)
    for strategies in (("inventory", "symmetric"), ("inventory", "symmetric", "glft")):
        start = time.perf_counter()
        run(0.1, params, strategies, seed=1)
        took = time.perf_counter() - start
        print(f"simulate {paths:,} paths x {params.steps} steps, {'+'.join(strategies)}: {took:.2f} s")


def bench_updates() -> None:
    from bybit_mm.quoting.estimators import IntensityEstimator, VolatilityEstimator
    from bybit_mm.quoting.models import GLFT, AvellanedaStoikov, Quote
    from bybit_mm.quoting.orders import shape_orders

    rng = random.Random(1)
    n = 200_000
    mids = [30_000.0]
    for _ in range(n):
        mids.append(mids[-1] + rng.gauss(0, 0.5))
    stamps = [i * 50.0 for i in range(n + 1)]  # an update every 50 ms

    vol = VolatilityEstimator(window_s=300.0)

    def feed_vol(count: int) -> None:
        update = vol.update
        for i in range(count):
            update(stamps[i], mids[i])

    print(f"VolatilityEstimator.update (300 s window, ~6000 in window): {_per_call_us(feed_vol, n):.2f} us/call")

    def read_vol(count: int) -> None:
        sigma = vol.sigma
        for _ in range(count):
            sigma()

    print(f"VolatilityEstimator.sigma: {_per_call_us(read_vol, n):.2f} us/call")

    est = IntensityEstimator(level_step=0.1, window_s=600.0, n_levels=30)
    depths = [rng.expovariate(1.5) * (1 if i % 2 else -1) for i in range(n + 1)]

    def feed_trades(count: int) -> None:
        on_trade = est.on_trade
        for i in range(count):
            on_trade(stamps[i], mids[i] + depths[i], mids[i])

    print(f"IntensityEstimator.on_trade (600 s window, ~12000 trades in window): "
          f"{_per_call_us(feed_trades, n):.2f} us/call")

    def refit(count: int) -> None:
        for i in range(count):
            est.on_trade(stamps[n - 1] + i + 1, mids[i] + depths[i], mids[i])
            est.fit()

    print(f"IntensityEstimator.on_trade + fit (30 levels): {_per_call_us(refit, 20_000):.2f} us/call")

    a_s, glft = AvellanedaStoikov(), GLFT()

    def quote_as(count: int) -> None:
        q = a_s.quote
        for i in range(count):
            q(mids[i], 2.0, 0.5, 0.1, 1.5, None, 300.0)

    def quote_glft(count: int) -> None:
        q = glft.quote
        for i in range(count):
            q(mids[i], 2.0, 0.5, 0.1, 1.5, 1.2, 0.0)

    print(f"AvellanedaStoikov.quote: {_per_call_us(quote_as, n):.2f} us/call")
    print(f"GLFT.quote: {_per_call_us(quote_glft, n):.2f} us/call")

    tick, qty, step = Decimal("0.1"), Decimal("0.01"), Decimal("0.001")
    best_bid, best_ask, pos, cap = Decimal("29999.9"), Decimal("30000.0"), Decimal("0.02"), Decimal("0.1")
    quote = Quote(30_000.0, 29_998.73, 30_001.27, 1.27, 0.0, "bench")

    def shape(count: int) -> None:
        for _ in range(count):
            shape_orders(quote, tick=tick, order_qty=qty, qty_step=step, position=pos, max_position=cap,
                         best_bid=best_bid, best_ask=best_ask, maker_fee=0.0002)

    print(f"shape_orders (book, fees, inventory limit): {_per_call_us(shape, 50_000):.2f} us/call")
    assert math.isfinite(vol.sigma() or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=100_000)
    args = parser.parse_args()
    bench_simulate(args.paths)
    bench_updates()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bybit_mm", "simulate", "--paths", str(args.paths), "--json"],
                   check=True, capture_output=True)
    print(f"`bybit-mm simulate --paths {args.paths:,} --json` end to end (gamma 0.1, two strategies): "
          f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
