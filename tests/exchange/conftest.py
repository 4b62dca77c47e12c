"""Both adapters of the port behind one fixture: the paper client (sim in-process) and the ccxt
client against the emulator (real HTTP, real signatures). Both sims use the same seed and a
SimClock, so tests move time explicitly with ``adapter.advance(ms)``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fast_retry import fast_backoff

SYMBOLS = ("BTCUSDT", "ETHUSDT")
SEED = 3
WARM_UP_MS = 600_000


@dataclass
class Adapter:
    """How a test gets a client and moves the simulated market."""

    name: str
    make: Callable[[], Any]
    exchange: Any  # the SimExchange behind the adapter
    lock: Any

    def run(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``fn(client)`` on a fresh event loop with a fresh client, closed afterwards."""
        async def main() -> Any:
            client = self.make()
            try:
                return await fn(client)
            finally:
                await client.close()

        return asyncio.run(main())

    def advance(self, ms: int) -> None:
        """Move the sim's clock forward and process the market."""
        with self.lock:
            self.exchange.run_until(self.exchange.clock.now_ms() + ms)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def paper_adapter() -> Adapter:
    """The paper client over an in-process sim (no persistence)."""
    from bybit_mm.exchange.paper_client import DryRunFuturesClient
    from bybit_mm.sim.clock import SimClock
    from bybit_mm.sim.exchange import SimExchange

    sim = SimExchange(symbols=SYMBOLS, seed=SEED, clock=SimClock())
    sim.run_until(sim.clock.now_ms() + WARM_UP_MS)
    return Adapter("paper", lambda: DryRunFuturesClient(sim), sim, _NoLock())


@pytest.fixture
def ccxt_adapter() -> Iterator[Adapter]:
    """The ccxt client against an in-process emulator."""
    from bybit_mm.emulator.runner import running_emulator
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient

    with running_emulator(symbols=SYMBOLS, seed=SEED, rate_limits=False) as emu:
        emu.run_until(emu.clock.now_ms() + WARM_UP_MS)

        def make() -> BybitFuturesClient:
            return BybitFuturesClient(network="emulator", url=emu.url, api_key=emu.api_key,
                                      api_secret=emu.api_secret, backoff=fast_backoff())

        yield Adapter("ccxt", make, emu.exchange, emu.lock)


@pytest.fixture(params=["paper", "ccxt"])
def adapter(request: pytest.FixtureRequest) -> Adapter:
    """Each contract test runs once per adapter."""
    return request.getfixturevalue(f"{request.param}_adapter")
