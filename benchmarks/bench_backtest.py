"""Backtest data path on a 1,000,000-event BTCUSDT-like day in Bybit's own file formats.

The feed: ``write_bybit_day`` (a seeded random walk, a 5-25-level book, deltas every 100 ms and
trades) written as ``2026-01-01_BTCUSDT_ob500.data.zip`` and ``BTCUSDT2026-01-01.csv.gz``.
Figures, each from its own function:

1. import: parse both files and write the columnar cache (``bybit_mm.data.cache.convert``), in a
   fresh process: events/s (wall clock, and per CPU second) and that process's peak RSS (and its
   RSS before the import). Memory is bounded by the reader's chunk (4 MiB of text), not the day.
2. cached load: ``load_events`` of both files from the cache (memory-mapped, merged into one
   time-ordered array), in a fresh process: events/s and peak RSS (the result itself is 34 bytes
   an event).

Run: python benchmarks/bench_backtest.py [--events N] [--dir DIR]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--dir", type=Path, default=None, help="keep the feed here (default: a temp dir)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
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
        print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
              "(wall-clock figures shrink under load; CPU-second figures much less)")


if __name__ == "__main__":
    main()
