"""Latency of the account commands against a local emulator, as an operator runs them.

Run: python benchmarks/bench_account.py [RUNS]

Starts `bybit-mm emulator --port 0` as a child process, writes a profile pointing at it
into a temporary BYBIT_MM_HOME, then times fresh `bybit-mm --profile … balance|positions|orders`
processes (the whole command: interpreter start, imports, HTTP requests, output) and prints the
median of RUNS per command. For comparison it also times the two ways of importing ccxt's bybit
client: the whole package (`import ccxt.async_support`, what bybit-mm did before) and only the
bybit modules (what `BybitFuturesClient` does now).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (["balance"], ["positions"], ["orders"], ["margin-mode"])
_KEY, _SECRET = "bench-key", "bench-secret"


def _median_s(argv: list[str], runs: int, env: dict[str, str]) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    home = Path(tempfile.mkdtemp(prefix="bench-account-"))
    env = {**os.environ, "BYBIT_MM_HOME": str(home), "NO_COLOR": "1",
           "BENCH_EMU_KEY": _KEY, "BENCH_EMU_SECRET": _SECRET}
    emu = subprocess.Popen([sys.executable, "-m", "bybit_mm", "emulator", "--port", "0",
                            "--api-key", _KEY, "--api-secret", _SECRET, "--no-rate-limits"],
                           stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert emu.stdout is not None
        line = emu.stdout.readline()
        # `listening on URL` from a bybit-mm without `emulator --json` (a "before" checkout)
        url = json.loads(line)["url"] if line.startswith("{") else line.split()[-1]
        profile = home / "bench-emulator.toml"
        profile.write_text(f'[exchange]\nnetwork = "emulator"\naccount = "live"\nurl = "{url}"\n'
                           f'api_key_env = "BENCH_EMU_KEY"\napi_secret_env = "BENCH_EMU_SECRET"\n\n'
                           f'[market]\nsymbol = "BTCUSDT"\n', encoding="utf-8")
        print(f"emulator {url}; median of {runs} fresh processes each")
        base = _median_s([sys.executable, "-c", "pass"], runs, env)
        print(f"{'python -c pass':36s} {base * 1000:7.0f} ms")
        for name, code in (("import ccxt.async_support (whole)", "import ccxt.async_support"),
                           ("import only ccxt's bybit (now)",
                            "from bybit_mm.exchange.ccxt_client import import_ccxt_bybit; import_ccxt_bybit()")):
            try:
                t = _median_s([sys.executable, "-c", code], runs, env)
            except subprocess.CalledProcessError:
                continue  # an older bybit-mm without import_ccxt_bybit
            print(f"{name:36s} {t * 1000:7.0f} ms")
        for args in COMMANDS:
            t = _median_s([sys.executable, "-m", "bybit_mm", "--profile", str(profile), *args], runs, env)
            print(f"{'bybit-mm ' + ' '.join(args):36s} {t * 1000:7.0f} ms")
    finally:
        emu.terminate()
        emu.wait(timeout=15)


if __name__ == "__main__":
    main()
