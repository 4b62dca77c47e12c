"""The engine's warm-up on a live market: the last public trades (REST) are replayed into the
estimators at start, so a liquid market is quoted from the first iterations; a quiet market still
reports ``warming up``; the synthetic paper market keeps starting cold."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from bybit_mm.emulator.runner import EmulatorHandle, running_emulator
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.trader import LiveTrader
from bybit_mm.exchange.ccxt_client import BybitFuturesClient
from bybit_mm.exchange.retry import Backoff
from bybit_mm.sim.clock import WallClock

SYMBOL = "BTCUSDT"


def _emulator(trades_per_second: float) -> Any:
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.market import DEFAULT_SYMBOL_PARAMS, MarketParams

    btc = replace(DEFAULT_SYMBOL_PARAMS[SYMBOL], jumps_per_day=0.0, trades_per_second=trades_per_second)
    # Real time, like Bybit: the sim made 30 minutes of history before "now".
    sim = SimExchange(symbols=(SYMBOL,), seed=7, clock=WallClock(1.0), latency_ms=0.0,
                      market_params=MarketParams(symbols={SYMBOL: btc}))
    return running_emulator(exchange=sim)


@pytest.fixture
def liquid() -> Iterator[EmulatorHandle]:
    with _emulator(5.0) as handle:
        yield handle


@pytest.fixture
def quiet() -> Iterator[EmulatorHandle]:
    with _emulator(0.01) as handle:
        yield handle


def _config(**kw: Any) -> EngineConfig:
    base = EngineConfig(symbol=SYMBOL, leverage=Decimal(10), risk_aversion=0.01, interval_s=0.25,
                        snapshot_every_s=0.0, stale_after_s=30.0, duration_s=2.0)
    return replace(base, **kw)


def _statuses(emu: EmulatorHandle, config: EngineConfig) -> list[tuple[int, str]]:
    """(iteration, status) of every snapshot of a short run of the engine against ``emu``."""
    seen: list[tuple[int, str]] = []

    async def main() -> None:
        client = BybitFuturesClient(network="emulator", url=emu.url, api_key=emu.api_key,
                                    api_secret=emu.api_secret, backoff=Backoff(max_retries=1, base_s=0.01))
        trader = LiveTrader(client, WallClock(1.0), config,
                            on_snapshot=lambda s: seen.append((s.iteration, s.status)))
        try:
            await trader.run()
        finally:
            await client.close()

    asyncio.run(main())
    return seen


def test_a_liquid_market_is_quoted_from_the_first_iteration(liquid: EmulatorHandle) -> None:
    seen = _statuses(liquid, _config())
    assert seen and seen[0] == (1, "quoting")


def test_without_the_warm_up_the_same_market_is_still_warming_up(liquid: EmulatorHandle) -> None:
    seen = _statuses(liquid, _config(bootstrap_trades=0))
    assert seen
    assert {status for _, status in seen} == {"warming up"}


def test_a_quiet_market_still_reports_warming_up(quiet: EmulatorHandle) -> None:
    # about 18 trades in the last 30 minutes: too few to fit the arrival intensity
    seen = _statuses(quiet, _config())
    assert seen and {status for _, status in seen} == {"warming up"}


def test_replay_observes_every_interval_over_the_last_window_only() -> None:
    from bybit_mm.domain.orders import Side
    from bybit_mm.exchange.port import PublicTrade

    from bybit_mm.domain.instruments import get_instrument
    from bybit_mm.engine.core import StrategyCore

    config = _config(vol_window_s=60.0, intensity_window_s=60.0)
    trader = LiveTrader(object(), WallClock(1.0), config)  # type: ignore[arg-type]
    trader.core = StrategyCore(config, get_instrument("BTCUSDT"), maker_fee=Decimal("0.0002"),
                               taker_fee=Decimal("0.00055"))
    now = 1_000_000
    trades = [PublicTrade(str(i), SYMBOL, now - 120_000 + i * 1000, Decimal(100) + (i % 3), Decimal(1),
                          Side.BUY if i % 2 else Side.SELL) for i in range(121)]
    used, span = trader.replay_trades(list(reversed(trades)), now)
    assert span == 60.0
    assert used == 61  # the trades inside the last window (older ones only seed the mid)
    assert trader.core.vol.updates == 240  # one observation per interval (0.25 s) over 60 s
