"""Cost per update and memory over a long paper run (issue 12, "cost flat as runs grow").

The engine quotes the synthetic market at ``--speed 0`` with 1 s decisions on the paper client
(the sim in-process), like ``bybit-mm paper --market sim --speed 0``. At each checkpoint it
prints the mean wall and CPU time per update over the last window (CPU time is what to compare on a
shared machine: wall time there also counts the other processes' turns), the sim's ``ticker()`` time, and the
process RSS (current, from /proc; peak where /proc is missing). ``--disk`` also keeps the paper
account store and the engine journal in a temporary directory, as the CLI does.

    python benchmarks/bench_long_run.py                        # 200,000 updates, no disk
    python benchmarks/bench_long_run.py --updates 50000 --disk # with the account store and journal

The figures are for extrapolation: a flat cost per update and a flat RSS between the late
checkpoints mean 10^7 updates cost 10^7 × that cost and the same memory.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import tempfile
import time
from decimal import Decimal
from pathlib import Path


def rss_mb() -> float:
    """Resident set size now (Linux), else the peak so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(updates: int, checkpoints: list[int], disk: bool) -> None:
    from bybit_mm.engine.config import EngineConfig
    from bybit_mm.engine.journal import Journal
    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.exchange.paper_client import DryRunFuturesClient, PaperStore
    from bybit_mm.sim.clock import SimClock
    from bybit_mm.sim.exchange import SimExchange

    tmp = tempfile.TemporaryDirectory() if disk else None
    sim = SimExchange(symbols=("BTCUSDT",), seed=1, clock=SimClock(), latency_ms=50.0)
    store = PaperStore(Path(tmp.name) / "account.json") if tmp else None
    client = DryRunFuturesClient(sim, store=store)
    journal = Journal(Path(tmp.name) / "journal-BTCUSDT.sqlite") if tmp else None
    # An update takes a little over 1 s of market time (the requests' latency): the duration leaves
    # room, and the run stops at the last checkpoint.
    cfg = EngineConfig(leverage=Decimal(50), risk_aversion=0.01, interval_s=1.0, duration_s=float(updates) * 1.5,
                       snapshot_every_s=10.0)
    trader = LiveTrader(client, sim.clock, cfg, journal=journal)
    step = trader.step
    state = {"n": 0, "t_window": time.perf_counter(), "c_window": time.process_time(), "n_window": 0}
    pending = sorted(set(checkpoints))
    rss0 = rss_mb()
    t_start = time.perf_counter()
    print(f"{'updates':>10} {'sim h':>7} {'us/update':>10} {'cpu us/upd':>10} {'ticker us':>10} {'RSS MB':>8} "
          f"{'+MB':>6} {'fills':>8} {'wall s':>8}", flush=True)

    async def counted_step() -> object:
        out = await step()
        state["n"] += 1
        if pending and state["n"] >= pending[0]:
            pending.pop(0)
            now = time.perf_counter()
            per = (now - state["t_window"]) / max(1, state["n"] - state["n_window"]) * 1e6
            cpu = (time.process_time() - state["c_window"]) / max(1, state["n"] - state["n_window"]) * 1e6
            t0 = time.process_time()
            for _ in range(200):
                sim.ticker("BTCUSDT")
            tick_us = (time.process_time() - t0) / 200 * 1e6  # CPU time of one sim ticker() read
            gc.collect()
            rss = rss_mb()
            print(f"{state['n']:>10,} {state['n'] / 3600:>7.1f} {per:>10,.0f} {cpu:>10,.0f} {tick_us:>10,.1f} "
                  f"{rss:>8.1f} {rss - rss0:>6.1f} {trader.ledger.fills:>8,} {now - t_start:>8.1f}", flush=True)
            state["t_window"], state["n_window"] = time.perf_counter(), state["n"]
            state["c_window"] = time.process_time()
            if not pending:
                trader.request_stop(f"{state['n']:,} updates")
        return out

    trader.step = counted_step  # type: ignore[method-assign]
    summary = asyncio.run(trader.run())
    print(f"stopped after {state['n']:,} updates: {summary.stop_reason}", flush=True)
    if journal is not None:
        journal.close()
    if tmp is not None:
        tmp.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--updates", type=int, default=200_000, help="engine updates (1 s of market time each)")
    p.add_argument("--disk", action="store_true", help="also keep the paper account store and engine journal")
    args = p.parse_args()
    marks = [n for n in (1_000, 3_600, 10_000, 14_400, 30_000, 57_600, 100_000, 200_000, 500_000,
                         1_000_000, 2_000_000, 5_000_000, 10_000_000) if n <= args.updates]
    run(args.updates, marks, args.disk)


if __name__ == "__main__":
    main()
