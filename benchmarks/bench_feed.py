"""The paper account on an external feed: how fast the sim takes fed data, and a poll's round trip.

1. ``feed_market`` throughput: batches of 50 trades + a 50-level book + mark, fed into an external
   BTCUSDT market with 20 resting quotes re-placed when filled (trades/s and feeds/s).
2. ``BybitMarketPoller.poll`` against the in-process emulator over real HTTP through ccxt (book 50,
   1000 recent trades on the first poll, then adaptive, ticker, concurrently): polls/s and ms per
   poll. The figure is bounded by ccxt's own rate limiter (about 100 ms per public Bybit call with
   ``enableRateLimit``; the three calls of a poll are serialised by it), not by the sim or the emulator.

Run: /work/venv/bin/python benchmarks/bench_feed.py
"""

from __future__ import annotations

import asyncio
import random
import time
from decimal import Decimal

from bybit_mm.domain.orders import Side
from bybit_mm.sim.clock import SimClock
from bybit_mm.sim.exchange import SimExchange
from bybit_mm.sim.models import BookSnapshot, FillEvent, Trade

START = 1_767_225_600_000
TICK = Decimal("0.1")


def feed_throughput(feeds: int = 4000, per_feed: int = 50) -> tuple[int, int, float, int]:
    rng = random.Random(1)
    clock = SimClock(START)
    ex = SimExchange(symbols=("BTCUSDT",), clock=clock, market_source="external", trade_events=False)
    mid = 950_000  # ticks
    n_trades = fills = 0
    t0 = time.perf_counter()
    for i in range(feeds):
        clock.advance(100)
        now = clock.now_ms()
        mid += rng.choice((-2, -1, 0, 1, 2))
        bids = [((mid - 1 - k) * TICK, Decimal("0.5")) for k in range(50)]
        asks = [((mid + k) * TICK, Decimal("0.5")) for k in range(50)]
        trades = []
        for _ in range(per_feed):
            n_trades += 1
            buy = rng.random() < 0.5
            px = (mid + rng.randint(0, 8) if buy else mid - 1 - rng.randint(0, 8)) * TICK
            trades.append(Trade(f"t{n_trades}", "BTCUSDT", now - rng.randint(0, 99), px, Decimal("0.005"),
                                Side.BUY if buy else Side.SELL))
        ex.feed_market("BTCUSDT", ts_ms=now, book=BookSnapshot("BTCUSDT", now, i + 1, i + 1, bids, asks),
                       trades=trades, mark=mid * TICK)
        if i == 0 or i % 10 == 0:
            ex.cancel_all("BTCUSDT")
            for k in range(10):
                ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=Decimal("0.001"),
                               price=(mid - 3 - k) * TICK)
                ex.place_order(symbol="BTCUSDT", side="Sell", order_type="Limit", qty=Decimal("0.001"),
                               price=(mid + 2 + k) * TICK)
        fills += sum(isinstance(e, FillEvent) for e in ex.advance())
    return feeds, n_trades, time.perf_counter() - t0, fills


async def _polls(url: str, n: int) -> float:
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient
    from bybit_mm.exchange.poller import BybitMarketPoller

    client = BybitFuturesClient(network="emulator", url=url)
    try:
        poller = BybitMarketPoller(client, "BTCUSDT", depth=50, trade_limit=1000)
        await poller.poll()
        t0 = time.perf_counter()
        for _ in range(n):
            await poller.poll()
        return time.perf_counter() - t0
    finally:
        await client.close()


def poll_rate(n: int = 100) -> tuple[int, float]:
    from bybit_mm.emulator.runner import running_emulator

    with running_emulator(symbols=("BTCUSDT",), seed=1, rate_limits=False) as emu:
        emu.run_until(emu.clock.now_ms() + 600_000)
        return n, asyncio.run(_polls(emu.url, n))


def main() -> None:
    feeds, trades, secs, fills = feed_throughput()
    print(f"feed_market: {feeds} feeds ({trades} trades, 50-level books), {fills} fills of our quotes, "
          f"{secs:.2f} s -> {trades / secs:,.0f} trades/s, {feeds / secs:,.0f} feeds/s")
    n, secs = poll_rate()
    print(f"BybitMarketPoller.poll vs in-process emulator (book 50 + 1000 trades + ticker): "
          f"{n} polls in {secs:.2f} s -> {n / secs:.1f} polls/s, {secs / n * 1000:.1f} ms/poll")


if __name__ == "__main__":
    main()
