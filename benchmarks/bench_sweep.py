"""Sweep figures: wall time with 1 and 2 local workers on the same grid, and Ray's overhead.

The grid: ``quoting.risk_aversion`` × ``quoting.order_notional`` (4 × 2 = 8 combinations) on two
synthetic Bybit days (``write_bybit_day``, ``--events`` rows each), 16 backtests, through the
same code as ``bybit-mm sweep`` (:func:`bybit_mm.sweep.task.plan`, :mod:`bybit_mm.sweep.runner`).

1. local, 1 worker and 2 workers (process pools, started inside the timing): wall seconds, the
   workers' CPU seconds, the speed-up, and that both give the same table; then the load average
   (on a machine whose cores are busy with other work, two workers cannot run faster than one);
2. Ray (``ray.init(num_cpus=2)`` on this machine; the start-up is timed apart): the same 16 tasks,
   wall seconds; the overhead per task = (Ray wall - 2-worker wall) / tasks; and the round trip of
   an empty task (submit and get, 200 in a row, one at a time) in milliseconds.

The machine's other load shows in every figure: run it on a quiet machine for clean numbers.

Run: python benchmarks/bench_sweep.py [--events N] [--skip-ray]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any


def _table(tasks: list[Any], run: Any) -> tuple[float, list[dict[str, Any]]]:
    from bybit_mm.sweep.table import aggregate, sort_rows

    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    run(tasks, rows.append)
    wall = time.perf_counter() - t0
    return wall, sort_rows(aggregate(rows, ["quoting.risk_aversion", "quoting.order_notional"], 2), "net_pnl")


def _children_cpu_s() -> float:
    """CPU seconds of this process's finished children (the pool's workers, once it is shut down)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000, help="event rows per synthetic day")
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()

    from bybit_mm.config.schema import Profile
    from bybit_mm.data.synthetic import write_bybit_day
    from bybit_mm.sweep.grid import combinations, parse_grid
    from bybit_mm.sweep.runner import run_local, run_ray
    from bybit_mm.sweep.task import plan

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BYBIT_MM_HOME"] = tmp  # the data cache of this run only (workers inherit it)
        days = []
        for i, day in enumerate(("2026-01-01", "2026-01-02")):
            write_bybit_day(Path(tmp) / day, "BTCUSDT", day, n_events=args.events, seed=20 + i, start_price=95_000.0)
            days.append(str(Path(tmp) / day))
        combos = combinations([parse_grid("quoting.risk_aversion=0.005,0.01,0.05,0.2"),
                               parse_grid("quoting.order_notional=100,500")], [], None)
        tasks = plan(Profile(name="default"), combos, days)
        print(f"grid: {len(combos)} combinations x {len(days)} days ({args.events:,} events each) = {len(tasks)} backtests")
        c0 = _children_cpu_s()
        w1, t1 = _table(tasks, lambda ts, cb: run_local(ts, 1, cb))
        c1 = _children_cpu_s()
        w2, t2 = _table(tasks, lambda ts, cb: run_local(ts, 2, cb))
        c2 = _children_cpu_s()
        assert t1 == t2, "1 and 2 workers gave different tables"
        print(f"local, 1 worker : {w1:7.2f} s wall, {c1 - c0:6.2f} CPU s in the workers")
        print(f"local, 2 workers: {w2:7.2f} s wall, {c2 - c1:6.2f} CPU s in the workers "
              f"(speed-up x{w1 / w2:.2f}; same table)")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (a speed-up needs idle cores)")
        if args.skip_ray:
            return
        import ray

        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        print(f"ray.init (local, 2 CPUs): {time.perf_counter() - t0:.2f} s")
        try:
            wr, tr = _table(tasks, lambda ts, cb: run_ray(ts, "auto", cb))
            assert tr == t2, "Ray and the local pool gave different tables"
            print(f"Ray, 2 CPUs     : {wr:7.2f} s wall  (overhead {(wr - w2) / len(tasks) * 1000:+.0f} ms a task "
                  f"against 2 local workers; same table)")
            noop = ray.remote(lambda: None)
            ray.get(noop.remote())  # a worker up
            n = 200
            t0 = time.perf_counter()
            for _ in range(n):
                ray.get(noop.remote())
            print(f"Ray empty task round trip: {(time.perf_counter() - t0) / n * 1000:.2f} ms")
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
