"""Requests per second the local Bybit V5 emulator serves to a real ccxt client.

Run: /work/venv/bin/python benchmarks/bench_emulator.py [--requests N]

Each figure is one ccxt async client on the same machine (real HTTP on 127.0.0.1, HMAC-signed
private calls, rate limits off), sequential unless marked concurrent. "frozen" runs the sim on a
SimClock (no market events between requests); "live" on a WallClock at real speed (every request
first advances the synthetic market to now, as the CLI does). In-process rows share one Python
process (and its GIL) between client and server; the "separate process" rows run
`bybit-mm emulator --port 0 --no-rate-limits` as a child process, as an operator would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "emulator"))

from emu_client import make_ccxt_bybit  # noqa: E402

from bybit_mm.emulator.runner import running_emulator  # noqa: E402
from bybit_mm.sim.clock import SimClock, WallClock  # noqa: E402

BTC = "BTC/USDT:USDT"


async def _rate(label: str, n: int, call: Any, *, per_call: int = 1) -> tuple[str, float]:
    start = time.perf_counter()
    for _ in range(n):
        await call()
    elapsed = time.perf_counter() - start
    return label, n * per_call / elapsed


async def _concurrent(label: str, n: int, call: Any, width: int) -> tuple[str, float]:
    start = time.perf_counter()
    for _ in range(n // width):
        await asyncio.gather(*(call() for _ in range(width)))
    elapsed = time.perf_counter() - start
    return label, (n // width) * width / elapsed


async def _bench(url: str, key: str, secret: str, n: int) -> list[tuple[str, float]]:
    ex = make_ccxt_bybit(url, key, secret)
    try:
        await ex.load_markets()
        bid = (await ex.fetch_order_book(BTC, 1))["bids"][0][0]

        async def create_cancel() -> None:
            o = await ex.create_order(BTC, "limit", "buy", 0.001, bid - 500, {"postOnly": True})
            await ex.cancel_order(o["id"], BTC)

        results = [
            await _rate("GET /v5/market/time (fetch_time)", n, ex.fetch_time),
            await _rate("GET /v5/market/tickers (fetch_ticker)", n, lambda: ex.fetch_ticker(BTC)),
            await _rate("GET /v5/market/orderbook 25 (fetch_order_book)", n,
                        lambda: ex.fetch_order_book(BTC, 25)),
            await _rate("GET /v5/position/list (signed)", n, lambda: ex.fetch_positions([BTC])),
            await _rate("GET /v5/account/wallet-balance (signed)", n, ex.fetch_balance),
            await _rate("POST create + cancel (signed)", n // 2, create_cancel, per_call=2),
            await _concurrent("GET tickers, 16 concurrent", n, lambda: ex.fetch_ticker(BTC), 16),
        ]
        return results
    finally:
        await ex.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per figure")
    args = parser.parse_args()
    proc = subprocess.Popen([sys.executable, "-m", "bybit_mm", "emulator", "--port", "0",
                             "--symbols", "BTCUSDT,ETHUSDT", "--no-rate-limits"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "BYBIT_EMU_API_KEY": "bench", "BYBIT_EMU_API_SECRET": "bench"})
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        time.sleep(1.0)
        results = asyncio.run(_bench(url, "bench", "bench", args.requests))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    print(f"emulator, separate process (bybit-mm emulator, WallClock x1), {args.requests} requests per row")
    for label, rate in results:
        print(f"  {label:<48} {rate:8.0f} req/s")
    for name, clock in (("frozen (SimClock)", SimClock()), ("live (WallClock x1)", WallClock(1.0))):
        with running_emulator(clock=clock, rate_limits=False, symbols=("BTCUSDT", "ETHUSDT")) as emu:
            if isinstance(clock, SimClock):
                emu.run_until(clock.now_ms() + 600_000)
            else:
                time.sleep(1.0)
            results = asyncio.run(_bench(emu.url, emu.api_key, emu.api_secret, args.requests))
        print(f"emulator, {name}, {args.requests} requests per row")
        for label, rate in results:
            print(f"  {label:<48} {rate:8.0f} req/s")


if __name__ == "__main__":
    main()
