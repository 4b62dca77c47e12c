"""CPU cost of ``bybit-mm paper --market sim --duration 20m --speed 0`` (issue 12: the README's first command).

Each run is a fresh process with a fresh data dir (``--fresh --json``); the figure is the child's
CPU seconds (user + system), the minimum and the median over ``--runs``, with the wall time
beside. On a shared machine CPU time still grows with the load, so ``--ref REF`` also runs the
same command on the code of git revision ``REF`` (exported to a temporary directory), interleaved
run for run with this tree: the ratio of the two is the figure to quote. ``--check`` compares the
JSON lines the two print (seeds 1 and 2, and the ``thin-alt`` and ``deep-major`` presets at seed 1
and 2), byte for byte once the engine's measured round-trip latencies (``latency_p50_ms``,
``latency_p99_ms``: wall-clock timings) are masked, and exits 1 when any differs.

    python benchmarks/bench_paper.py                      # this tree, 5 runs
    python benchmarks/bench_paper.py --ref main --check   # against main, and the same output
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ["paper", "--market", "sim", "--duration", "20m", "--speed", "0", "--fresh", "--json"]
CASES = {"seed 1": ["--seed", "1"], "seed 2": ["--seed", "2"],
         "thin-alt": ["--preset", "thin-alt"], "thin-alt seed 2": ["--preset", "thin-alt", "--seed", "2"],
         "deep-major": ["--preset", "deep-major"], "deep-major seed 2": ["--preset", "deep-major", "--seed", "2"]}
_LATENCY = re.compile(rb'"(latency_p50_ms|latency_p99_ms)": [-+0-9.eE]+')


def run(src: Path, extra: list[str] = ()) -> tuple[float, float, bytes]:
    """(CPU seconds, wall seconds, stdout) of one paper run of the code in ``src``."""
    with tempfile.TemporaryDirectory(prefix="bench-paper-") as home:
        env = {**os.environ, "BYBIT_MM_HOME": home, "NO_COLOR": "1", "PYTHONPATH": str(src)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bybit_mm", *COMMAND, *extra], env=env, cwd=src,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
        wall = time.perf_counter() - w0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, done.stdout


def masked(out: bytes) -> bytes:
    """``out`` with the measured latencies (wall-clock timings, different on every run) masked."""
    return _LATENCY.sub(rb'"\1": MASKED', out)


def export(ref: str, into: Path) -> Path:
    """The tree of git revision ``ref`` written under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs of each tree (default 5)")
    p.add_argument("--ref", default=None, help="also run git revision REF, interleaved (e.g. main)")
    p.add_argument("--check", action="store_true", help="with --ref: compare the JSON output of every case")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-paper-ref-") as tmp:
        trees = {"this tree": ROOT}
        if args.ref:
            trees = {args.ref: export(args.ref, Path(tmp)), **trees}
        cpu: dict[str, list[float]] = {name: [] for name in trees}
        wall: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, src in trees.items():
                c, w, _out = run(src)
                cpu[name].append(c)
                wall[name].append(w)
        print(f"bybit-mm {' '.join(COMMAND)}  ({args.runs} runs each, fresh processes)")
        for name in trees:
            print(f"  {name:>12}: CPU min {min(cpu[name]):.2f} s  median {statistics.median(cpu[name]):.2f} s"
                  f"   wall median {statistics.median(wall[name]):.2f} s")
        if args.ref:
            ratio = statistics.median(cpu[args.ref]) / statistics.median(cpu["this tree"])
            print(f"  {args.ref} / this tree (median CPU): {ratio:.2f}x")
        if args.check and args.ref:
            differ = 0
            for case, extra in CASES.items():
                outs = [masked(run(src, extra)[2]) for src in trees.values()]
                lines = outs[1].count(b"\n")
                same = outs[0] == outs[1] and lines > 1
                differ += not same
                print(f"  output {case:>18}: {'identical' if same else 'DIFFERS'} ({lines} JSON lines)")
            if differ:
                sys.exit(1)


if __name__ == "__main__":
    main()
