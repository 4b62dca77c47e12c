"""Start-up cost: `bybit-mm --help` against `python -c "import typer, rich"`.

Run: python benchmarks/bench_startup.py [RUNS]. Prints the median wall time of each over RUNS
fresh interpreters and their ratio (the target is at most about 2x).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def _median_seconds(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    base = _median_seconds([sys.executable, "-c", "import typer, rich"], runs)
    helps = _median_seconds([sys.executable, "-m", "bybit_mm", "--help"], runs)
    ccxt = _median_seconds([sys.executable, "-c", "import ccxt"], max(3, runs // 3))
    print(f"python -c 'import typer, rich'  median {base * 1000:7.1f} ms  ({runs} runs)")
    print(f"bybit-mm --help                 median {helps * 1000:7.1f} ms  ratio {helps / base:.2f}x")
    print(f"python -c 'import ccxt' (avoided) median {ccxt * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
