"""The paper account on a streamed live market (the emulator's public WebSocket streams, no
internet): a paper bid fills from streamed trades at its own price while REST market data is
impossible; when the streams cannot be had the feed polls REST and says ``rest (fallback)``;
``paper --market live`` runs the engine on the stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bybit_mm.domain.orders import Side
from bybit_mm.emulator.runner import EmulatorHandle, running_emulator
from bybit_mm.exchange.retry import Backoff

BTC = "BTCUSDT"
MARKET_DATA = ("/v5/market/recent-trade", "/v5/market/orderbook", "/v5/market/tickers")


@pytest.fixture
def emu() -> Iterator[EmulatorHandle]:
    from bybit_mm.sim.clock import WallClock
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.market import DEFAULT_SYMBOL_PARAMS, MarketParams

    btc = replace(DEFAULT_SYMBOL_PARAMS[BTC], jumps_per_day=0.0)
    # A market 20 times faster than real time, so the price trades through a bid within seconds.
    sim = SimExchange(symbols=(BTC,), seed=5, clock=WallClock(20.0), latency_ms=0.0,
                      market_params=MarketParams(symbols={BTC: btc}))
    with running_emulator(exchange=sim, rate_limits=False) as handle:
        yield handle


def _profile(home: Path, url: str) -> None:
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / "feed.toml").write_text(
        f'[exchange]\nnetwork = "emulator"\naccount = "paper"\nurl = "{url}"\nmax_retries = 1\n'
        f'[market]\nsymbol = "BTCUSDT"\nleverage = 10\n[paper]\nmarket = "live"\nlatency_ms = 0\n'
        f'[quoting]\ngamma = 0.001\n', encoding="utf-8")


def _client(home: Path, emu: EmulatorHandle, **kw: Any) -> Any:
    from bybit_mm.config.profiles import resolve
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient
    from bybit_mm.exchange.paper_client import DryRunFuturesClient

    _profile(home, emu.url)
    public = BybitFuturesClient(network="emulator", url=emu.url, backoff=Backoff(max_retries=1, base_s=0.01))
    return DryRunFuturesClient.from_profile(resolve("feed"), public_client=public, min_poll_interval_s=0,
                                            streaming=True, **kw)


def test_a_paper_bid_fills_from_streamed_trades_at_its_own_price(
        home: Path, emu: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from bybit_mm.emulator import server
    from bybit_mm.emulator.routes import Route
    from bybit_mm.emulator.wire import ApiError

    polled: list[str] = []

    def refuse(path: str) -> Any:
        def handler(ctx: Any, params: Any) -> Any:
            polled.append(path)
            raise ApiError(10016, "REST market data disabled by the test", http_status=503)
        return handler

    async def go() -> Any:
        client = _client(home, emu)
        try:
            await client.connect()
            assert client.feed_mode == "stream"
            for path in MARKET_DATA:  # from now on the paper market can only come from the stream
                original = server.ROUTES[path]
                monkeypatch.setitem(server.ROUTES, path, Route(original.method, refuse(path), original.private,
                                                                original.mutating))
            book = await client.order_book(BTC, 5)
            price = book.best_bid
            order = await client.place_order(BTC, Side.BUY, Decimal("0.01"), price, time_in_force="PostOnly",
                                             client_order_id="stream-bid-1")
            found = None
            for _ in range(300):
                found = await client.get_order(BTC, order_id=order.order_id)
                if found is not None and found.status == "filled":
                    break
                await asyncio.sleep(0.05)
            fills = await client.executions(BTC)
            mode = client.feed_mode
            monkeypatch.undo()
            return price, found, fills, mode
        finally:
            await client.close()

    price, found, fills, mode = asyncio.run(go())
    assert found is not None and found.status == "filled", "the streamed market never traded through the bid"
    assert fills and all(f.price == price and f.is_maker for f in fills)
    assert sum(f.qty for f in fills) == Decimal("0.01")
    assert mode == "stream" and polled == []


def test_the_feed_polls_rest_and_says_so_when_the_stream_is_unreachable(home: Path, emu: EmulatorHandle,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from bybit_mm.exchange.ccxt_stream import CcxtMarketStream

    def unreachable(profile: Any, symbol: str, **kw: Any) -> CcxtMarketStream:
        # Nothing listens on port 9; the emulator's REST still answers.
        return CcxtMarketStream(network="emulator", symbol=symbol, url="http://127.0.0.1:9", ready_timeout_s=0.5)

    monkeypatch.setattr(CcxtMarketStream, "from_profile", staticmethod(unreachable))

    async def go() -> Any:
        client = _client(home, emu, stream_ready_timeout_s=0.5)
        try:
            await client.connect()
            book = await client.order_book(BTC, 5)
            return client.feed_mode, book
        finally:
            await client.close()

    mode, book = asyncio.run(go())
    assert mode == "rest (fallback)"
    assert book.best_bid is not None and book.best_ask is not None  # REST polls still feed the sim


def test_paper_on_the_live_market_runs_the_engine_on_the_stream(cli: Any, home: Path, emu: EmulatorHandle) -> None:
    _profile(home, emu.url)
    r = cli("--profile", "feed", "paper", "--market", "live", "--duration", "3s", "--json")
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.strip().splitlines()]
    snaps = [x for x in rows if x.get("type") != "summary"]
    assert rows[-1]["stop_reason"] == "duration reached"
    assert snaps and all(s["feed"] == "stream" for s in snaps)
    assert snaps[-1]["status"] == "quoting"  # warmed up from the recent trades at start


def test_no_stream_polls_rest(cli: Any, home: Path, emu: EmulatorHandle) -> None:
    _profile(home, emu.url)
    r = cli("--profile", "feed", "paper", "--market", "live", "--no-stream", "--duration", "2s", "--json")
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert all(x["feed"] == "rest" for x in rows if x.get("type") != "summary")
