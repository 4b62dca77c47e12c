"""The seed's acceptance run: 20 minutes at 50x as an accelerated simulation."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.snapshot import EngineSnapshot
from bybit_mm.engine.trader import LiveTrader
from tests.engine.conftest import make_client


def test_twenty_minutes_at_50x_fills_both_sides_and_the_books_balance(config: EngineConfig) -> None:
    client = make_client(seed=1)
    snaps: list[EngineSnapshot] = []
    trader = LiveTrader(client, client.clock, config.with_(duration_s=1200), on_snapshot=snaps.append)
    summary = asyncio.run(trader.run())

    assert summary.stop_reason == "duration reached"
    assert 1200 <= summary.simulated_seconds < 1203  # the last step's requests take their latency
    assert summary.buy_fills > 0 and summary.sell_fills > 0
    assert summary.fees > 0  # VIP0 maker 0.02% on every fill
    assert summary.liquidations == 0
    assert len(snaps) >= 1000  # one per step: a simulated second plus its requests' latency
    start = summary.starting_balance
    for s in snaps:
        # The engine's books, from its own fills through the domain math ...
        assert s.ledger_equity == start + s.realized_pnl + s.unrealized_pnl - s.fees - s.funding
        # ... agree with the exchange's wallet at every snapshot.
        assert s.equity == s.ledger_equity, s.ts_ms
    assert summary.equity == start + summary.realized_pnl + summary.unrealized_pnl - summary.fees - summary.funding
    # Spread capture, adverse selection and inventory PnL split the trading PnL exactly.
    s = summary
    assert s.spread_capture - s.adverse_selection + s.inventory_pnl == s.realized_pnl + s.unrealized_pnl
    assert s.spread_capture - s.adverse_selection + s.inventory_pnl - s.fees - s.funding == s.total_pnl
    assert s.attributed_fills == s.fills and s.markout_60s_fills > 0.9 * s.fills  # the last minute's are not
    assert asyncio.run(client.open_orders("BTCUSDT")) == []


def test_the_same_seed_gives_the_same_run(config: EngineConfig) -> None:
    def run() -> tuple[int, Decimal, Decimal]:
        client = make_client(seed=7)
        s = asyncio.run(LiveTrader(client, client.clock, config.with_(duration_s=600)).run())
        return s.fills, s.realized_pnl, s.fees

    assert run() == run()


def test_quotes_never_cross_and_stay_on_the_tick(config: EngineConfig) -> None:
    client = make_client(seed=3)
    snaps: list[EngineSnapshot] = []
    asyncio.run(LiveTrader(client, client.clock, config.with_(duration_s=400), on_snapshot=snaps.append).run())
    quoted = [s for s in snaps if s.bid_price is not None and s.ask_price is not None]
    assert quoted
    tick = Decimal("0.1")
    for s in quoted:
        assert s.bid_price < s.ask_price
        assert s.bid_price % tick == 0 and s.ask_price % tick == 0
