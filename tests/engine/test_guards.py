"""Risk guards in a running engine: liquidation protection, kill switch, stale data, every way of stopping."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from bybit_mm.domain.orders import Side
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.snapshot import EngineSnapshot
from bybit_mm.engine.trader import LiveTrader
from bybit_mm.errors import AuthError
from tests.engine.conftest import make_client


def _open_long(client: Any, qty: str) -> None:
    async def go() -> None:
        await client.set_leverage("BTCUSDT", Decimal(50))
        await client.place_order("BTCUSDT", Side.BUY, Decimal(qty), order_type="Market",
                                 time_in_force="IOC", client_order_id="test-open-long")
    asyncio.run(go())
    client.clock.advance(1000)
    pos = asyncio.run(client.positions("BTCUSDT"))
    assert pos and pos[0].side == "long"


def test_liquidation_guard_reduces_before_liquidation_on_a_falling_market(config: EngineConfig) -> None:
    # About -2.5% over 20 minutes: a 50x long's liquidation is ~1.5% below its entry.
    client = make_client(seed=5, drift=-700.0, vol=0.15)
    client.clock.advance(120_000)
    _open_long(client, "0.5")
    snaps: list[EngineSnapshot] = []
    trader = LiveTrader(client, client.clock, config.with_(duration_s=1200, max_drawdown_pct=100.0),
                        on_snapshot=snaps.append)
    summary = asyncio.run(trader.run())

    assert summary.emergency_reduces >= 1
    first = next(i for i, s in enumerate(snaps) if s.emergency_reduces >= 1)
    before, after = snaps[first - 1], snaps[first + 1]
    assert before.liquidations == 0 and after.liquidations == 0
    # It fired inside the guard band, with the mark still short of the liquidation price ...
    assert snaps[first].liq_level == "danger"
    assert Decimal(0) < snaps[first].liq_distance_pct < snaps[first].liq_trigger_pct
    # ... and cut the position by the emergency_reduce_ratio (0.5), reduce-only.
    assert after.position_qty <= before.position_qty * Decimal("0.5") + Decimal("0.001")
    assert after.position_qty > 0
    # While in danger the engine never bids (that would add to the long).
    for s in snaps[first:]:
        if s.liq_level == "danger":
            assert s.bid_price is None or s.bid_price < s.mark


def test_kill_switch_stops_the_loop_and_cancels(config: EngineConfig) -> None:
    client = make_client(seed=5, drift=-700.0, vol=0.15)
    client.clock.advance(120_000)
    _open_long(client, "0.5")
    summary = asyncio.run(LiveTrader(client, client.clock, config.with_(duration_s=1200, max_drawdown_pct=1.0)).run())
    assert summary.stop_reason.startswith("kill switch: drawdown")
    assert summary.simulated_seconds < 1200
    assert asyncio.run(client.open_orders("BTCUSDT")) == []


class FrozenBook:
    """The paper client, except that the order book's timestamp stops moving in a time window."""

    def __init__(self, inner: Any, frozen_from_ms: int, frozen_until_ms: int) -> None:
        self.inner = inner
        self.window = (frozen_from_ms, frozen_until_ms)
        self.frozen_ts: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def order_book(self, symbol: str, depth: int = 25) -> Any:
        from dataclasses import replace

        book = await self.inner.order_book(symbol, depth)
        now = self.inner.clock.now_ms()
        if self.window[0] <= now < self.window[1]:
            if self.frozen_ts is None:
                self.frozen_ts = book.ts_ms
            return replace(book, ts_ms=self.frozen_ts)
        return book


def test_stale_market_data_stops_quoting_until_fresh_again(config: EngineConfig) -> None:
    inner = make_client(seed=2)
    t0 = inner.clock.now_ms()
    client = FrozenBook(inner, t0 + 400_000, t0 + 500_000)
    snaps: list[EngineSnapshot] = []
    asyncio.run(LiveTrader(client, inner.clock, config.with_(duration_s=700), on_snapshot=snaps.append).run())
    in_window = [s for s in snaps if t0 + 400_000 <= s.ts_ms < t0 + 500_000]
    assert any(s.bid_price is not None for s in snaps if s.ts_ms < t0 + 400_000)
    stale = [s for s in in_window if s.status == "stale data"]
    # stale_after_s = 5: the guard trips after 5 s and the quotes are gone by the next iteration.
    assert len(stale) >= 90
    assert all(s.bid_price is None and s.ask_price is None for s in stale[1:])
    assert any(s.status == "quoting" and s.bid_price is not None for s in snaps if s.ts_ms > t0 + 520_000)


class FailingBalance:
    """The paper client, except that ``balance`` raises AuthError from the ``n``-th call on."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.n, self.calls = inner, n, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def balance(self) -> Any:
        self.calls += 1
        if self.calls >= self.n:
            raise AuthError("API key revoked")
        return await self.inner.balance()


def _quoting_after(snaps: list[EngineSnapshot]) -> bool:
    return any(s.bid_price is not None for s in snaps)


@pytest.mark.parametrize("how", ["request_stop", "cancel_task", "fatal_error", "duration"])
def test_every_way_of_stopping_cancels_working_orders(config: EngineConfig, how: str) -> None:
    inner = make_client(seed=4)
    client: Any = FailingBalance(inner, 260) if how == "fatal_error" else inner
    snaps: list[EngineSnapshot] = []
    cfg = config.with_(duration_s=250 if how == "duration" else 3600)

    async def main() -> Any:
        trader = LiveTrader(client, inner.clock, cfg)

        def on_snapshot(s: EngineSnapshot) -> None:
            snaps.append(s)
            if len(snaps) == 240 and how == "request_stop":
                trader.request_stop("SIGTERM")
            if len(snaps) == 240 and how == "cancel_task":
                task.cancel()

        trader.on_snapshot = on_snapshot
        task = asyncio.ensure_future(trader.run())
        if how == "fatal_error":
            with pytest.raises(AuthError):
                await task
            return trader.stop_reason
        return (await task).stop_reason

    reason = asyncio.run(main())
    assert _quoting_after(snaps), "the engine should have been quoting before the stop"
    expected = {"request_stop": "SIGTERM", "cancel_task": "interrupted", "duration": "duration reached"}
    if how == "fatal_error":
        assert reason.startswith("error: API key revoked")
    else:
        assert reason == expected[how]
    assert asyncio.run(inner.open_orders("BTCUSDT")) == []


class SlowReads:
    """The paper client, except that time passes between reading the executions and the position
    (as on a real clock): fills can land in between."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def positions(self, symbol: str | None = None) -> Any:
        self.inner.clock.advance(400)
        return await self.inner.positions(symbol)


def test_a_fill_between_two_reads_is_not_a_position_mismatch(config: EngineConfig,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(seed=3, vol=3.0)
    client.clock.advance(120_000)
    trader = LiveTrader(SlowReads(client), client.clock, config.with_(duration_s=1800, max_drawdown_pct=100.0))
    with caplog.at_level("WARNING", logger="bybit_mm.engine.trader"):
        summary = asyncio.run(trader.run())
    assert summary.fills >= 20
    assert not [r for r in caplog.records if "differs from booked fills" in r.getMessage()]
    pos = asyncio.run(client.positions("BTCUSDT"))
    assert trader.ledger.position.qty == (pos[0].signed_qty if pos else 0)
