"""Market move in the emulator -> the engine's amended quote: streaming versus REST polling.

An emulator runs a real-time sim (speed 1, BTCUSDT). The engine (LiveTrader with the ccxt client)
quotes on it twice for ``RUN_S`` seconds each: once on the WebSocket streams
(CcxtMarketStream, private too), once polling REST every ``interval_s`` (the pre-streaming loop).
A listener on the sim notes the moment the touch (best bid/ask) moves; when one of our orders is
amended in the sim, the delay since the first touch move after our previous amend is one sample.

Run: /work/venv/bin/python benchmarks/bench_streaming.py
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

SYMBOL = "BTCUSDT"
RUN_S = 40.0


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def run(streaming: bool) -> list[float]:
    from bybit_mm.emulator.runner import running_emulator
    from bybit_mm.engine.config import EngineConfig
    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient
    from bybit_mm.exchange.ccxt_stream import CcxtMarketStream
    from bybit_mm.exchange.retry import Backoff
    from bybit_mm.sim.clock import WallClock
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.market import DEFAULT_SYMBOL_PARAMS, MarketParams
    from bybit_mm.sim.models import OrderUpdate

    btc = replace(DEFAULT_SYMBOL_PARAMS[SYMBOL], jumps_per_day=0.0)
    sim = SimExchange(symbols=(SYMBOL,), seed=11, clock=WallClock(1.0), latency_ms=0.0,
                      market_params=MarketParams(symbols={SYMBOL: btc}))
    samples: list[float] = []
    state: dict[str, Any] = {"touch": None, "moved_at": None, "prices": {}}

    def listener(events: list[Any]) -> None:
        now = time.perf_counter()
        b = sim.orderbook(SYMBOL, 1)
        touch = (b.bids[0][0] if b.bids else None, b.asks[0][0] if b.asks else None)
        if touch != state["touch"]:
            state["touch"] = touch
            if state["moved_at"] is None:
                state["moved_at"] = now
        for ev in events:
            if isinstance(ev, OrderUpdate) and ev.order.order_link_id.startswith("mm-"):
                o = ev.order
                old = state["prices"].get(o.order_id)
                state["prices"][o.order_id] = o.price
                if old is not None and old != o.price and o.status in ("New", "PartiallyFilled"):
                    if state["moved_at"] is not None:
                        samples.append((now - state["moved_at"]) * 1000)
                    state["moved_at"] = None

    sim.add_listener(listener)
    config = EngineConfig(symbol=SYMBOL, leverage=Decimal(10), risk_aversion=0.01, vol_window_s=30.0,
                          intensity_window_s=60.0, min_trades=10, interval_s=1.0, stale_after_s=30.0,
                          duration_s=RUN_S, reconcile_s=30.0)

    with running_emulator(exchange=sim) as emu:
        async def main() -> None:
            client = BybitFuturesClient(network="emulator", url=emu.url, api_key=emu.api_key,
                                        api_secret=emu.api_secret, backoff=Backoff(max_retries=2, base_s=0.01))
            stream = CcxtMarketStream(network="emulator", symbol=SYMBOL, url=emu.url, api_key=emu.api_key,
                                      api_secret=emu.api_secret, private=True) if streaming else None
            try:
                await LiveTrader(client, WallClock(1.0), config, stream=stream).run()
            finally:
                if stream is not None:
                    await stream.close()
                await client.close()

        asyncio.run(main())
    return samples


def main() -> None:
    """Print p50/p99 of move-to-amend latency for both feeds."""
    print(f"market move -> amended quote, {RUN_S:g} s of engine time each (emulator, real-time sim)")
    for name, streaming in (("stream", True), ("rest poll (interval 1 s)", False)):
        s = run(streaming)
        print(f"  {name:26s} amends {len(s):4d}   p50 {_pct(s, 50):8.1f} ms   p99 {_pct(s, 99):8.1f} ms")


if __name__ == "__main__":
    main()
