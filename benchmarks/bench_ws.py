"""The emulator's WebSocket streams as a ccxt.pro client sees them.

Run: /work/venv/bin/python benchmarks/bench_ws.py [--seconds S] [--fills N]

1. Live market (WallClock, real speed, in-process): one ccxt.pro client watches orderbook.50,
   publicTrade and tickers of BTCUSDT for S seconds; prints updates received per second per
   stream and what one publisher step costs the server (advance + diff + serialise).
2. Fill to stream (SimClock, frozen market): N market orders sent over REST by the same ccxt
   client; prints how long after sending the execution arrives on the private stream, next to
   how long the REST create took to answer, for publisher intervals of 5, 20 and 50 ms (an
   account-changing request wakes the publisher at once, so the interval should not show; fills
   of resting orders by the market are pushed on the next publisher step instead).
Client and server share one Python process (and its GIL).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "emulator"))

from ws_client import make_ccxt_pro_bybit  # noqa: E402

from bybit_mm.emulator.runner import running_emulator  # noqa: E402
from bybit_mm.sim.clock import WallClock  # noqa: E402

BTC = "BTC/USDT:USDT"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _count(watch: Any, deadline: float) -> int:
    n = 0
    while time.perf_counter() < deadline:
        try:
            await asyncio.wait_for(watch(), max(deadline - time.perf_counter(), 0.001))
        except asyncio.TimeoutError:
            break
        n += 1
    return n


def live_market(seconds: float) -> None:
    with running_emulator(symbols=("BTCUSDT",), clock=WallClock(speed=1.0), rate_limits=False) as emu:
        steps: list[float] = []
        publish = emu.ws.publish

        def timed() -> None:
            t0 = time.perf_counter()
            publish()
            steps.append(time.perf_counter() - t0)

        emu.ws.publish = timed  # type: ignore[method-assign]

        async def main() -> dict[str, int]:
            ex = make_ccxt_pro_bybit(emu)
            try:
                await ex.load_markets()
                await ex.watch_order_book(BTC)
                await ex.watch_trades(BTC)
                await ex.watch_ticker(BTC)
                deadline = time.perf_counter() + seconds
                counts = await asyncio.gather(_count(lambda: ex.watch_order_book(BTC), deadline),
                                              _count(lambda: ex.watch_trades(BTC), deadline),
                                              _count(lambda: ex.watch_ticker(BTC), deadline))
                return dict(zip(("orderbook.50", "publicTrade", "tickers"), counts, strict=True))
            finally:
                await ex.close()

        counts = asyncio.run(main())
        print(f"live market, {seconds:.0f} s at real speed, one ccxt.pro client (updates/s received):")
        for name, n in counts.items():
            print(f"  {name:<14} {n / seconds:8.1f} /s")
        ms = [s * 1000 for s in steps]
        print(f"  publisher step: {len(ms)} steps, mean {statistics.mean(ms):.3f} ms, "
              f"p99 {_pct(ms, 0.99):.3f} ms, max {max(ms):.3f} ms")


def fill_to_stream(n: int, interval_ms: float) -> None:
    with running_emulator(symbols=("BTCUSDT",), rate_limits=False, ws_interval_ms=interval_ms) as emu:
        emu.run_until(emu.clock.now_ms() + 120_000)

        async def main() -> tuple[list[float], list[float]]:
            ex = make_ccxt_pro_bybit(emu)
            acks: list[float] = []
            streamed: list[float] = []
            try:
                await ex.load_markets()
                watching = asyncio.ensure_future(ex.watch_my_trades(BTC))
                while not emu.ws.subscribers("execution"):
                    await asyncio.sleep(0.005)
                for i in range(n):
                    side = "buy" if i % 2 == 0 else "sell"
                    t0 = time.perf_counter()
                    order = await ex.create_order(BTC, "market", side, 0.001)
                    acks.append(time.perf_counter() - t0)
                    while True:
                        trades = await watching
                        watching = asyncio.ensure_future(ex.watch_my_trades(BTC))
                        if any(t["order"] == order["id"] for t in trades):
                            break
                    streamed.append(time.perf_counter() - t0)
                watching.cancel()
            finally:
                await ex.close()
            return acks, streamed

        acks, streamed = asyncio.run(main())
        a = [x * 1000 for x in acks]
        s = [x * 1000 for x in streamed]
        print(f"  interval {interval_ms:>4.0f} ms: REST create answered median "
              f"{statistics.median(a):6.2f} ms; "
              f"execution on the stream median {statistics.median(s):6.2f} ms, p90 {_pct(s, 0.9):6.2f} ms "
              f"({n} orders)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--fills", type=int, default=60)
    args = parser.parse_args()
    live_market(args.seconds)
    print("fill to stream (time from sending a REST market order):")
    for interval in (5.0, 20.0, 50.0):
        fill_to_stream(args.fills, interval)


if __name__ == "__main__":
    main()
