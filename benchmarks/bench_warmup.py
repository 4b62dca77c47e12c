"""Seconds from `LiveTrader.run()` to the first quoting snapshot against the emulator (real-time
market, BTCUSDT at 5 trades/s, 30 minutes of history), with the warm-up from the last 1000 public
trades and without it (cold: capped at --cold-cap seconds). Run:
    /work/venv/bin/python benchmarks/bench_warmup.py [--cold-cap 120]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import replace
from decimal import Decimal


def first_quote_s(bootstrap: int, cap_s: float) -> tuple[float | None, int]:
    from bybit_mm.emulator.runner import running_emulator
    from bybit_mm.engine.config import EngineConfig
    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient
    from bybit_mm.sim.clock import WallClock
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.market import DEFAULT_SYMBOL_PARAMS, MarketParams

    btc = replace(DEFAULT_SYMBOL_PARAMS["BTCUSDT"], jumps_per_day=0.0)
    sim = SimExchange(symbols=("BTCUSDT",), seed=7, clock=WallClock(1.0), latency_ms=0.0,
                      market_params=MarketParams(symbols={"BTCUSDT": btc}))
    with running_emulator(exchange=sim, rate_limits=False) as emu:
        async def main() -> tuple[float | None, int]:
            client = BybitFuturesClient(network="emulator", url=emu.url, api_key=emu.api_key,
                                        api_secret=emu.api_secret)
            cfg = EngineConfig(symbol="BTCUSDT", leverage=Decimal(10), risk_aversion=0.01, interval_s=1.0,
                               snapshot_every_s=0.0, duration_s=cap_s, bootstrap_trades=bootstrap)
            hit: list[tuple[float, int]] = []
            t0 = time.perf_counter()

            def on_snap(s: object) -> None:
                if not hit and getattr(s, "status") == "quoting":
                    hit.append((time.perf_counter() - t0, getattr(s, "iteration")))
                    trader.request_stop("first quote")

            trader = LiveTrader(client, WallClock(1.0), cfg, on_snapshot=on_snap)
            try:
                await trader.run()
            finally:
                await client.close()
            return (hit[0][0], hit[0][1]) if hit else (None, trader._iteration)

        return asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold-cap", type=float, default=120.0)
    args = ap.parse_args()
    for name, boot, cap in (("warm-up (1000 trades)", 1000, 60.0), ("cold start", 0, args.cold_cap)):
        s, it = first_quote_s(boot, cap)
        print(f"{name:22s}: first quote after " + (f"{s:6.1f} s (iteration {it})" if s is not None
                                                  else f"> {cap:g} s ({it} iterations, none quoting)"))


if __name__ == "__main__":
    main()
