"""The paper client's recent trades: each read is the sim's tape now, however reads overlap."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bybit_mm.exchange.paper_client import DryRunFuturesClient
from bybit_mm.exchange.port import PublicTrade
from bybit_mm.sim.clock import SimClock
from bybit_mm.sim.exchange import SimExchange

DAY0 = 1_767_225_600_000
BTC = "BTCUSDT"


def test_every_read_is_the_tape_now_oldest_first() -> None:
    sim = SimExchange(symbols=(BTC,), seed=2, clock=SimClock(DAY0), trade_events=False)
    client = DryRunFuturesClient(sim)

    def tape(limit: int) -> list[PublicTrade]:
        return [PublicTrade(trade_id=t.trade_id, symbol=t.symbol, ts_ms=t.ts_ms, price=t.price, qty=t.qty,
                            side=t.side) for t in reversed(sim.recent_trades(BTC, limit))]

    async def run() -> None:
        # Reads that overlap the last one (a second later), repeat it, take fewer or more, or
        # come after the whole tape has turned over; then a rebased tape (a resumed account).
        for wait_ms, limit in ((1000, 200), (0, 200), (700, 50), (3000, 300), (100, 200), (120_000, 1000),
                               (500, 10), (0, 0)):
            sim.run_until(sim.clock.now_ms() + wait_ms)
            got = await client.recent_trades(BTC, limit)
            assert got == tape(limit) and len(got) == min(limit, 1000)
            got.clear()  # the caller's list is its own
        sim.resume_market(BTC, Decimal(60_000))
        got = await client.recent_trades(BTC, 100)
        assert got == tape(100) and got[-1].price < 70_000

    asyncio.run(run())
