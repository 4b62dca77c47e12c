"""Shared builders for the simulation tests: a manual clock and small, seeded exchanges."""

from __future__ import annotations

import pytest

from bybit_mm.sim.clock import SimClock
from bybit_mm.sim.exchange import SimExchange
from bybit_mm.sim.market import MarketParams

#: 2026-01-01T00:00:00Z
DAY0 = 1_767_225_600_000


def make_exchange(*, seed: int = 7, start_ms: int = DAY0, symbols: tuple[str, ...] = ("BTCUSDT",),
                  history_minutes: int = 5, **kwargs) -> SimExchange:
    """A SimExchange on a SimClock with a short warm-up history (fast to build)."""
    clock = SimClock(start_ms)
    mp = kwargs.pop("market_params", None) or MarketParams(history_minutes=history_minutes)
    return SimExchange(symbols=symbols, seed=seed, clock=clock, market_params=mp, **kwargs)


@pytest.fixture
def ex() -> SimExchange:
    """A BTCUSDT exchange, seed 7, 10,000 USDT, trade-through fills, no latency."""
    return make_exchange()


@pytest.fixture
def make_ex():
    """The :func:`make_exchange` builder."""
    return make_exchange


@pytest.fixture
def until_fill():
    """The :func:`run_until_fill` helper."""
    return run_until_fill


@pytest.fixture
def until_liquidation():
    """The :func:`run_until_liquidation` helper."""
    return run_until_liquidation


def run_until_liquidation(ex: SimExchange, *, max_s: int, symbol: str = "BTCUSDT"):
    """Advance one second at a time until a liquidation; returns (the event or None, marks seen)."""
    from bybit_mm.sim.models import LiquidationEvent

    marks = []
    for _ in range(max_s):
        events = ex.run_until(ex.clock.now_ms() + 1000)
        marks.append(ex.mark_price(symbol))
        liq = next((e for e in events if isinstance(e, LiquidationEvent)), None)
        if liq is not None:
            return liq, marks
    return None, marks


def run_until_fill(ex: SimExchange, order_id: str, *, max_ms: int = 3_600_000, step_ms: int = 1_000):
    """Advance one second at a time until ``order_id`` fills (partly); returns (fill events, all events)."""
    seen = []
    end = ex.clock.now_ms() + max_ms
    while ex.clock.now_ms() < end:
        events = ex.run_until(ex.clock.now_ms() + step_ms)
        seen.extend(events)
        fills = [e for e in events if type(e).__name__ == "FillEvent" and e.execution.order_id == order_id]
        if fills:
            return fills, seen
    raise AssertionError(f"order {order_id} did not fill within {max_ms} ms")

