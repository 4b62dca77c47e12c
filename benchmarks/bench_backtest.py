"""Backtest data path on a 1,000,000-event BTCUSDT-like day in Bybit's own file formats.

The feed: ``write_bybit_day`` (a seeded random walk, a 5-25-level book, deltas every 100 ms and
trades that take liquidity: a print consumes the level it hits, larger ones walk the book, and
bursts of sweeps move the price fast, so a quoting strategy gets filled) written as
``2026-01-01_BTCUSDT_ob500.data.zip`` and ``BTCUSDT2026-01-01.csv.gz``. ``--dir`` keeps it between
runs (a feed written by an older generator, whose prints never took liquidity, gives no fills: use
a fresh directory).
Figures, each from its own function:

1. import: parse both files and write the columnar cache (``bybit_mm.data.cache.convert``), in a
   fresh process: events/s (wall clock, and per CPU second) and that process's peak RSS (and its
   RSS before the import). Memory is bounded by the reader's chunk (4 MiB of text), not the day.
2. cached load: ``load_events`` of both files from the cache (memory-mapped, merged into one
   time-ordered array), in a fresh process: events/s and peak RSS (the result itself is 34 bytes
   an event).

Then, on the loaded rows, the backtest (CPU seconds of this process, ``time.process_time``;
wall seconds beside):

3. replay only: the replayed exchange (book, matching, mark) with no strategy;
4. requote every 100 ms: the real strategy core (profile defaults, ``interval_s`` 1) decides on
   market updates at most every 100 ms, as the engine does on a stream (``min_requote_s``);
5. requote on every event: the core decides after every complete book update and every print;
6. update-to-decision: per decision of run 5, the driver's call to the order actions (account
   view, working orders, estimators, risk guard, model, shaping, reconciliation), in thread CPU
   time: p50 / p99 in microseconds;
7. paper CPU: ``bybit-mm paper --market sim --duration 20m --speed 0`` in a fresh process (the
   README's first command), CPU seconds of the child (``--skip-paper`` leaves it out).

Run: python benchmarks/bench_backtest.py [--events N] [--dir DIR] [--skip-paper]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EVENTS = 1_000_000


def make_feed(directory: Path, events: int = EVENTS) -> list[Path]:
    """The synthetic day's two files (written once; reused if already there)."""
    from bybit_mm.data.synthetic import book_file_name, trades_file_name, write_bybit_day

    book, trades = directory / book_file_name("BTCUSDT", _day()), directory / trades_file_name("BTCUSDT", _day())
    marker = directory / f".events-{events}"
    if not (book.exists() and trades.exists() and marker.exists()):
        write_bybit_day(directory, "BTCUSDT", _day(), n_events=events, seed=7)
        marker.touch()
    return [book, trades]


def _day():  # type: ignore[no-untyped-def]
    from datetime import date

    return date(2026, 1, 1)


def _peak_rss_mib() -> float:
    # VmHWM is this process image's own peak; ru_maxrss would carry the parent's over fork+exec.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _child(figure: str, files: list[Path], cache: Path) -> dict[str, float]:
    """Run one figure in a fresh interpreter (so its peak RSS is its own) and return its JSON."""
    out = subprocess.run([sys.executable, __file__, "--child", figure, "--cache", str(cache), *map(str, files)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def import_figure(files: list[Path], cache: Path) -> dict[str, float]:
    """Parse + cache every file from scratch: events/s and peak RSS."""
    import shutil

    shutil.rmtree(cache, ignore_errors=True)
    return _child("import", files, cache)


def cached_load_figure(files: list[Path], cache: Path) -> dict[str, float]:
    """``load_events`` from a warm cache: events/s and peak RSS."""
    return _child("load", files, cache)


def _run_child(figure: str, files: list[Path], cache: Path) -> dict[str, float]:
    import numpy  # noqa: F401  (the baseline RSS includes numpy)

    from bybit_mm.data import cache as event_cache
    from bybit_mm.data.loader import load_events

    before = _peak_rss_mib()
    c0 = time.process_time()
    t0 = time.perf_counter()
    if figure == "import":
        events = 0
        for f in files:
            rows, _ = event_cache.convert(f, cache)
            events += rows.size
    else:
        rows, _ = load_events(files, cache_root=cache)
        events = rows.size
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {"events": events, "seconds": dt, "events_per_s": events / dt, "cpu_seconds": cpu,
            "events_per_cpu_s": events / cpu, "rss_before_mib": before, "peak_rss_mib": _peak_rss_mib()}


ROOT = Path(__file__).resolve().parents[1]


def _backtest(events: Any, *, requote_s: float | None) -> Any:
    from bybit_mm.domain.instruments import get_instrument
    from bybit_mm.engine.backtest import Backtest, BacktestSettings
    from bybit_mm.engine.config import EngineConfig

    config = EngineConfig(interval_s=1.0)  # the engine's interval; decisions as on a stream (requote_s)
    return Backtest(events, config, get_instrument("BTCUSDT"), BacktestSettings(requote_s=requote_s))


def _timed(fn: Any) -> tuple[float, float, Any]:
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c0, time.perf_counter() - w0, out


def replay_only(events: Any) -> dict[str, float]:
    """Events/s of the replayed exchange alone (no strategy)."""
    bt = _backtest(events, requote_s=None)
    cpu, wall, _ = _timed(lambda: bt.exchange.run(events, None, interval_ms=1000))
    return {"events": len(events), "cpu_s": cpu, "wall_s": wall, "events_per_s": len(events) / cpu}


def requote_every(events: Any, requote_s: float = 0.1) -> dict[str, float]:
    """Events/s with the real core deciding on market updates at most every ``requote_s``."""
    bt = _backtest(events, requote_s=requote_s)
    cpu, wall, r = _timed(bt.run)
    return {"events": len(events), "decisions": r.decisions, "cpu_s": cpu, "wall_s": wall,
            "events_per_s": len(events) / cpu, "fills": r.summary.fills, "amends": r.summary.orders_amended}


def requote_every_event(events: Any) -> dict[str, float]:
    """Events/s with a decision after every complete update, and the update-to-decision times."""
    bt = _backtest(events, requote_s=0.0)
    decide = bt.decide
    took: list[int] = []
    clock = time.thread_time_ns  # CPU time of this thread: preemption on a busy machine is not counted

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--dir", type=Path, default=None, help="keep the feed here (default: a temp dir)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip-paper", action="store_true", help="leave out the paper CPU figure")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run_child(args.child, args.files, args.cache)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        directory = args.dir or Path(tmp) / "feed"
        directory.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        files = make_feed(directory, args.events)
        print(f"feed: {', '.join(f.name for f in files)} "
              f"({sum(f.stat().st_size for f in files) / 2**20:.1f} MiB, ready in {time.perf_counter() - t0:.1f} s)")
        cache = Path(tmp) / "cache"
        imp = import_figure(files, cache)
        print(f"import (parse + cache): {imp['events']:,} events in {imp['seconds']:.2f} s = "
              f"{imp['events_per_s']:,.0f} events/s ({imp['events_per_cpu_s']:,.0f} per CPU second); "
              f"peak RSS {imp['peak_rss_mib']:.0f} MiB (process before import {imp['rss_before_mib']:.0f} MiB)")
        load = cached_load_figure(files, cache)
        print(f"cached load (merged, time-ordered): {load['events']:,} events in {load['seconds']:.3f} s = "
              f"{load['events_per_s']:,.0f} events/s ({load['events_per_cpu_s']:,.0f} per CPU second); "
              f"peak RSS {load['peak_rss_mib']:.0f} MiB (process before load {load['rss_before_mib']:.0f} MiB)")
        from bybit_mm.data.loader import load_events

        events, _ = load_events(files, cache_root=cache)
        backtest_figures(events)
        if not args.skip_paper:
            p = paper_cpu()
            print(f"paper --market sim --duration 20m --speed 0: {p['cpu_s']:.2f} s CPU ({p['wall_s']:.2f} s wall)")
        print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
              "(wall-clock figures shrink under load; CPU-second figures much less)")


def backtest_figures(events: Any) -> None:
    """Print figures 3 to 6 for ``events``."""
    r = replay_only(events)
    print(f"replay only: {r['events_per_s']:,.0f} events/s ({r['cpu_s']:.2f} s CPU, {r['wall_s']:.2f} s wall)")
    r = requote_every(events, 0.1)
    print(f"requote every 100 ms: {r['events_per_s']:,.0f} events/s ({r['decisions']:,} decisions, "
          f"{r['amends']:,} amends, {r['fills']:,} fills; {r['cpu_s']:.2f} s CPU, {r['wall_s']:.2f} s wall)")
    r = requote_every_event(events)
    print(f"requote on every event: {r['events_per_s']:,.0f} events/s ({r['decisions']:,} decisions; "
          f"{r['cpu_s']:.2f} s CPU, {r['wall_s']:.2f} s wall)")
    print(f"update-to-decision: p50 {r['decision_p50_us']:.1f} us, p99 {r['decision_p99_us']:.1f} us (CPU)")


if __name__ == "__main__":
    main()
