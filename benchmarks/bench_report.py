"""What `bybit-mm runs` and `bybit-mm report` cost on one paper run.

Run: python benchmarks/bench_report.py [DURATION]  (default 1h of simulated market time).
Journals a `paper --market sim --speed 0` run of DURATION in a temporary BYBIT_MM_HOME, then
prints the wall time of `runs --json`, `report --json`, the HTML and the PNG report (each in a
fresh interpreter, start-up included) and the files' sizes. Needs the report extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bybit_mm", *argv], env=env, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    duration = sys.argv[1] if len(sys.argv) > 1 else "1h"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "BYBIT_MM_HOME": str(root), "NO_COLOR": "1"}
        env.pop("BYBIT_MM_PROFILE", None)
        paper = _timed(["paper", "--market", "sim", "--speed", "0", "--leverage", "50", "--risk-aversion", "0.01",
                        "--duration", duration, "--fresh", "--json"], env, root)
        run = "paper/paper/BTCUSDT/1"
        journal = root / "data" / "paper" / "paper" / "journal-BTCUSDT.sqlite"
        print(f"paper --duration {duration} (to journal it)  {paper:6.2f} s   journal {journal.stat().st_size / 1e6:.2f} MB")
        print(f"runs --json                        {_timed(['runs', '--json'], env, root):6.2f} s")
        print(f"report --json                      {_timed(['report', run, '--json'], env, root):6.2f} s")
        for name in ("r.html", "r.png"):
            seconds = _timed(["report", run, "--out", name], env, root)
            print(f"report --out {name:<22}{seconds:6.2f} s   {(root / name).stat().st_size / 1e6:.2f} MB")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times grow with it)")


if __name__ == "__main__":
    main()
