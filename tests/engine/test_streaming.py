"""The engine on streams against the emulator: a fill is booked through the private stream while
REST polling of executions, positions and orders is impossible; when the stream cannot be had
the engine runs on REST and the snapshot says ``rest (fallback)``."""

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
from bybit_mm.exchange.ccxt_stream import CcxtMarketStream
from bybit_mm.exchange.retry import Backoff
from bybit_mm.sim.clock import WallClock

SYMBOL = "BTCUSDT"
POLLED = ("/v5/execution/list", "/v5/position/list", "/v5/order/realtime", "/v5/order/history")


@pytest.fixture
def emu() -> Iterator[EmulatorHandle]:
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.market import DEFAULT_SYMBOL_PARAMS, MarketParams

    btc = replace(DEFAULT_SYMBOL_PARAMS[SYMBOL], jumps_per_day=0.0)
    sim = SimExchange(symbols=(SYMBOL,), seed=11, clock=WallClock(20.0), latency_ms=0.0,
                      market_params=MarketParams(symbols={SYMBOL: btc}))
    with running_emulator(exchange=sim) as handle:
        yield handle


def _config() -> EngineConfig:
    return EngineConfig(symbol=SYMBOL, leverage=Decimal(10), gamma=0.001, vol_window_s=60.0,
                        intensity_window_s=120.0, min_trades=20, interval_s=1.0, stale_after_s=30.0,
                        reconcile_s=3600.0)


def _client(emu: EmulatorHandle) -> BybitFuturesClient:
    return BybitFuturesClient(network="emulator", url=emu.url, api_key=emu.api_key, api_secret=emu.api_secret,
                              backoff=Backoff(max_retries=1, base_s=0.01))


async def _until(check: Any, seconds: float, what: str) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_fill_is_booked_from_the_private_stream_with_rest_polling_impossible(
        emu: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from bybit_mm.emulator import server
    from bybit_mm.emulator.routes import Route
    from bybit_mm.emulator.wire import ApiError

    polled: list[str] = []

    def refuse(path: str) -> Any:
        def handler(ctx: Any, params: Any) -> Any:
            polled.append(path)
            raise ApiError(10016, "polling disabled by the test", http_status=503)
        return handler

    async def main() -> tuple[Any, Any, int]:  # noqa: C901
        client = _client(emu)
        stream = CcxtMarketStream(network="emulator", symbol=SYMBOL, url=emu.url, api_key=emu.api_key,
                                  api_secret=emu.api_secret, private=True, stale_after_s=30.0)
        trader = LiveTrader(client, WallClock(1.0), _config(), stream=stream)
        task = asyncio.create_task(trader.run())
        try:
            await _until(lambda: trader.latest is not None and trader.latest.status == "quoting"
                         and trader.latest.bid_price is not None, 40, "quotes")
            fills_before = trader.ledger.fills
            for path in POLLED:  # from now on the engine cannot learn of a fill by polling
                original = server.ROUTES[path]
                monkeypatch.setitem(server.ROUTES, path, Route(original.method, refuse(path), original.private,
                                                                original.mutating))
            await _until(lambda: trader.ledger.fills > fills_before, 60, "a fill through the stream")
            booked = trader.ledger.fills
            assert trader.latest is not None and trader.latest.feed == "stream"
            monkeypatch.undo()  # let the shutdown read the truth again
            trader.request_stop("test done")
            summary = await task
            return trader, summary, booked
        finally:
            if not task.done():
                trader.request_stop("test failed")
                await asyncio.wait_for(task, 30)
            await stream.close()
            await client.close()

    trader, summary, booked = asyncio.run(main())
    assert booked >= 1
    with emu.lock:
        fills = [e for e in emu.exchange.executions(SYMBOL, limit=100_000) if e.exec_type == "Trade"]
        still_open = emu.exchange.open_orders(SYMBOL)
    assert summary.fills == len(fills)  # every fill booked once (stream, then REST on the way out)
    # each priced at the streamed book's mid at or before its time (the engine saw books before quoting)
    assert summary.attributed_fills == summary.fills
    assert still_open == []
    # the engine did not even try to poll for fills or the position while streaming
    assert "/v5/execution/list" not in polled and "/v5/position/list" not in polled


def test_the_snapshot_shows_the_rest_fallback_when_streaming_fails(emu: EmulatorHandle) -> None:
    async def main() -> Any:
        client = _client(emu)
        # a stream that cannot connect: the engine trades on REST and says so
        stream = CcxtMarketStream(network="emulator", symbol=SYMBOL, url="http://127.0.0.1:9",
                                  ready_timeout_s=0.5)
        trader = LiveTrader(client, WallClock(1.0), replace(_config(), duration_s=3.0), stream=stream)
        try:
            summary = await trader.run()
        finally:
            await stream.close()
            await client.close()
        return trader, summary

    trader, summary = asyncio.run(main())
    assert summary.stop_reason == "duration reached"
    assert trader.latest is not None and trader.latest.feed == "rest (fallback)"
    assert trader.latest.to_dict()["feed"] == "rest (fallback)"
    assert trader.latest.best_bid is not None  # the REST reads still drive it
