"""Engine tests run the real paper client (the sim in-process) on a manual clock."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bybit_mm.engine.config import EngineConfig

#: Quoting parameters that fill often on BTC (the engine evaluates the model in bps of the mid; the
#: profile default gamma 0.1 quotes ~17 bps away and fills a few times in 20 minutes).
BTC = dict(risk_aversion=0.01, horizon_s=300.0, order_notional=Decimal(100), interval_s=1.0,
           snapshot_every_s=1.0)


def make_client(*, seed: int = 1, drift: float | None = None, vol: float | None = None,
                balance: str = "10000") -> Any:
    """A DryRunFuturesClient over a fresh SimExchange on a SimClock (no persistence)."""
    from dataclasses import replace

    from bybit_mm.exchange.paper_client import DryRunFuturesClient
    from bybit_mm.sim.clock import SimClock
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.market import DEFAULT_SYMBOL_PARAMS, MarketParams

    params = None
    if drift is not None or vol is not None:
        btc = DEFAULT_SYMBOL_PARAMS["BTCUSDT"]
        btc = replace(btc, annual_drift=drift if drift is not None else btc.annual_drift,
                      annual_vol=vol if vol is not None else btc.annual_vol, jumps_per_day=0.0)
        params = MarketParams(symbols={"BTCUSDT": btc})
    sim = SimExchange(symbols=("BTCUSDT",), seed=seed, clock=SimClock(), balance=Decimal(balance),
                      latency_ms=50.0, market_params=params)
    return DryRunFuturesClient(sim)


@pytest.fixture
def config() -> EngineConfig:
    """50x on BTCUSDT with the seed's liquidation settings and BTC-sized quoting."""
    return EngineConfig(symbol="BTCUSDT", leverage=Decimal(50), **BTC)  # type: ignore[arg-type]
