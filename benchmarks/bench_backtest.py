"""Backtest speed on a 1,000,000-event BTCUSDT-like feed, and the paper run's CPU time.

Figures, each from its own function (CPU seconds of this process, ``time.process_time``, so a
busy shared machine does not inflate them; wall seconds are printed beside):

- replay only: the replayed exchange (book, matching, mark) with no strategy;
- requote every 100 ms: the real strategy core decides every 100 ms of market time;
- requote on every event: the core decides after every complete book update and every print;
- update-to-decision: per decision of the every-event run, the time from the driver's call to
  the order actions (account view, working orders, the core's estimators, risk guard, model,
  shaping and reconciliation): p50 / p99 in microseconds;
- paper CPU: ``bybit-mm paper --market sim --duration 20m --speed 0`` in a fresh process (the
  README's first command), CPU seconds of the child.

The feed: ``--npy FILE`` (an array of ``bybit_mm.data.events.EVENT_DTYPE`` rows), or Bybit-format
files (``--data PATH...``, read through ``bybit_mm.data.load_events``), or by default the seeded
generator of the test suite (``tests/engine/replay_feed.py``: a 5-25-level delta every 100 ms and
prints at or through the touch). Run: python benchmarks/bench_backtest.py [--events N]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EVENTS = 1_000_000
ROOT = Path(__file__).resolve().parents[1]


def generated_feed(events: int = EVENTS) -> Any:
    """The test suite's seeded BTCUSDT-like feed, grown to about ``events`` rows."""
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from replay_feed import make_feed

    seconds = events / 185.0  # ~185 rows per second of market time
    feed = make_feed(seconds, seed=7, sigma_ticks=3.0)
    return feed[:events]


def _backtest(events: Any, *, interval_s: float, every_event: bool) -> Any:
    from bybit_mm.domain.instruments import get_instrument
    from bybit_mm.engine.backtest import Backtest, BacktestSettings
    from bybit_mm.engine.config import EngineConfig

    config = EngineConfig(interval_s=interval_s)
    return Backtest(events, config, get_instrument("BTCUSDT"), BacktestSettings(every_event=every_event))


def _timed(fn: Any) -> tuple[float, float, Any]:
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c0, time.perf_counter() - w0, out


def replay_only(events: Any) -> dict[str, float]:
    """Events/s of the replayed exchange alone (no strategy)."""
    bt = _backtest(events, interval_s=0.1, every_event=False)
    cpu, wall, _ = _timed(lambda: bt.exchange.run(events, None, interval_ms=100))
    return {"events": len(events), "cpu_s": cpu, "wall_s": wall, "events_per_s": len(events) / cpu}


def requote_every(events: Any, interval_s: float = 0.1) -> dict[str, float]:
    """Events/s with the real core deciding every ``interval_s`` of market time."""
    bt = _backtest(events, interval_s=interval_s, every_event=False)
    cpu, wall, r = _timed(bt.run)
    return {"events": len(events), "decisions": r.decisions, "cpu_s": cpu, "wall_s": wall,
            "events_per_s": len(events) / cpu, "fills": r.summary.fills, "amends": r.summary.orders_amended}


def requote_every_event(events: Any) -> dict[str, float]:
    """Events/s with a decision after every complete update, and the update-to-decision times."""
    bt = _backtest(events, interval_s=1.0, every_event=True)
    decide = bt.decide
    took: list[int] = []
    clock = time.perf_counter_ns

    def timed_decide(now_ms: int) -> Any:
        t0 = clock()
        try:
            return decide(now_ms)
        finally:
            took.append(clock() - t0)

    bt.decide = timed_decide  # type: ignore[method-assign]
    cpu, wall, r = _timed(bt.run)
    took.sort()
    pct = (lambda p: took[min(len(took) - 1, int(p / 100 * len(took)))] / 1000) if took else (lambda p: 0.0)
    return {"events": len(events), "decisions": r.decisions, "cpu_s": cpu, "wall_s": wall,
            "events_per_s": len(events) / cpu, "decision_p50_us": pct(50), "decision_p99_us": pct(99)}


def paper_cpu(duration: str = "20m") -> dict[str, float]:
    """CPU seconds of ``bybit-mm paper --market sim --duration 20m --speed 0`` in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="bench-paper-") as home:
        env = {**os.environ, "BYBIT_MM_HOME": home, "NO_COLOR": "1"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bybit_mm", "paper", "--market", "sim", "--duration", duration,
                        "--speed", "0", "--json"], check=True, env=env, capture_output=True, cwd=ROOT)
        wall = time.perf_counter() - w0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "wall_s": wall}


def load_feed(args: argparse.Namespace) -> Any:
    """The feed the options name (see the module docstring)."""
    import numpy as np

    if args.npy:
        return np.load(args.npy)
    if args.data:
        from bybit_mm.data import load_events

        return load_events(args.data)[0][: args.events]
    return generated_feed(args.events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--npy", type=Path, default=None, help="an .npy of EVENT_DTYPE rows")
    parser.add_argument("--data", type=Path, nargs="*", default=None, help="Bybit-format files (load_events)")
    parser.add_argument("--skip-paper", action="store_true", help="leave out the paper CPU figure")
    args = parser.parse_args()
    t0 = time.perf_counter()
    events = load_feed(args)
    print(f"feed: {len(events):,} events ready in {time.perf_counter() - t0:.1f} s")
    r = replay_only(events)
    print(f"replay only: {r['events_per_s']:,.0f} events/s ({r['cpu_s']:.2f} s CPU, {r['wall_s']:.2f} s wall)")
    r = requote_every(events, 0.1)
    print(f"requote every 100 ms: {r['events_per_s']:,.0f} events/s ({r['decisions']:,} decisions, "
          f"{r['amends']:,} amends, {r['fills']:,} fills; {r['cpu_s']:.2f} s CPU, {r['wall_s']:.2f} s wall)")
    r = requote_every_event(events)
    print(f"requote on every event: {r['events_per_s']:,.0f} events/s ({r['decisions']:,} decisions; "
          f"{r['cpu_s']:.2f} s CPU, {r['wall_s']:.2f} s wall)")
    print(f"update-to-decision: p50 {r['decision_p50_us']:.1f} us, p99 {r['decision_p99_us']:.1f} us")
    if not args.skip_paper:
        p = paper_cpu()
        print(f"paper --market sim --duration 20m --speed 0: {p['cpu_s']:.2f} s CPU ({p['wall_s']:.2f} s wall)")


if __name__ == "__main__":
    main()
