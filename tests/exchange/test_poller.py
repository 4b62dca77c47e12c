"""BybitMarketPoller and the paper account on an external feed, against the emulator (no internet)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bybit_mm.domain.orders import Side
from bybit_mm.emulator.runner import EmulatorHandle, running_emulator
from bybit_mm.exchange.poller import BybitMarketPoller, FeedClock

from fast_retry import fast_backoff

BTC = "BTCUSDT"


@pytest.fixture
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(symbols=(BTC,), seed=5, rate_limits=False) as handle:
        handle.run_until(handle.clock.now_ms() + 120_000)
        yield handle


def _public(emu: EmulatorHandle):
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient

    return BybitFuturesClient(network="emulator", url=emu.url, backoff=fast_backoff(2))  # no keys


def _paper_profile(home: Path, name: str, url: str, market: str = "live") -> None:
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / f"{name}.toml").write_text(
        f'[exchange]\nnetwork = "emulator"\naccount = "paper"\nurl = "{url}"\nmax_retries = 1\n'
        f'[market]\nsymbol = "BTCUSDT"\nleverage = 50\n[paper]\nmarket = "{market}"\nlatency_ms = 0\n',
        encoding="utf-8")


def test_poller_returns_only_new_trades_with_book_and_ticker(emu: EmulatorHandle) -> None:
    async def go():
        client = _public(emu)
        try:
            poller = BybitMarketPoller(client, BTC, depth=10)
            first = await poller.poll()
            again = await poller.poll()
            emu.run_until(emu.clock.now_ms() + 30_000)
            later = await poller.poll()
            return first, again, later
        finally:
            await client.close()

    first, again, later = asyncio.run(go())
    with emu.lock:
        ob = emu.exchange.orderbook(BTC, 10)
        mark = emu.exchange.mark_price(BTC)
    assert len(first.trades) > 100 and not first.gap
    assert again.trades == []  # nothing printed in between: nothing new
    assert later.trades and {t.trade_id for t in later.trades}.isdisjoint(t.trade_id for t in first.trades)
    assert min(t.ts_ms for t in later.trades) > max(t.ts_ms for t in first.trades)
    assert [t.ts_ms for t in later.trades] == sorted(t.ts_ms for t in later.trades)
    assert later.book.bids == tuple(ob.bids) and later.book.asks == tuple(ob.asks)
    assert later.ticker.mark == mark and later.ts_ms >= later.book.ts_ms


def test_public_client_needs_no_credentials(home: Path, emu: EmulatorHandle) -> None:
    from bybit_mm.config.profiles import resolve
    from bybit_mm.errors import AuthError
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient

    _paper_profile(home, "pub", emu.url)
    client = BybitFuturesClient.from_profile(resolve("pub"), public_only=True, backoff=fast_backoff(2))

    async def go():
        try:
            ticker = await client.ticker(BTC)
            with pytest.raises(AuthError):
                await client.balance()
            return ticker
        finally:
            await client.close()

    assert asyncio.run(go()).mark > 0


def test_feed_clock_follows_the_feed_and_never_goes_back() -> None:
    wall = [1_000_000.0]
    clock = FeedClock(lambda: wall[0])
    assert clock.now_ms() == 1_000_000
    clock.observe(5_000_000)
    assert clock.now_ms() == 5_000_000
    wall[0] += 250
    assert clock.now_ms() == 5_000_250
    clock.observe(4_000_000)  # a slower answer does not pull the estimate back
    assert clock.now_ms() == 5_000_250


def _paper_client(home: Path, emu: EmulatorHandle):
    from bybit_mm.config.profiles import resolve
    from bybit_mm.exchange.paper_client import DryRunFuturesClient

    _paper_profile(home, "feed", emu.url)
    return DryRunFuturesClient.from_profile(resolve("feed"), public_client=_public(emu), min_poll_interval_s=0)


def test_paper_bid_fills_at_its_own_price_when_the_emulator_trades_through(home: Path, emu: EmulatorHandle) -> None:
    async def go():
        client = _paper_client(home, emu)
        try:
            book = await client.order_book(BTC, 5)
            with emu.lock:
                assert (await _same(book, emu))
            price = book.best_bid - Decimal("0.5")
            order = await client.place_order(BTC, Side.BUY, Decimal("0.01"), price, client_order_id="feed-bid-1")
            for _ in range(60):  # up to an hour of emulator time, a minute per pull
                emu.run_until(emu.clock.now_ms() + 60_000)
                found = await client.get_order(BTC, order_id=order.order_id)
                if found is not None and found.status == "filled":
                    break
            fills = await client.executions(BTC)
            positions = await client.positions(BTC)
            with emu.lock:
                prints = [t for t in emu.exchange.recent_trades(BTC, 1000) if t.price < price]
            return price, found, fills, positions, prints
        finally:
            await client.close()

    price, found, fills, positions, prints = asyncio.run(go())
    assert found is not None and found.status == "filled", "the emulator never traded through the bid"
    assert fills and all(f.price == price and f.is_maker for f in fills)
    assert sum(f.qty for f in fills) == Decimal("0.01")
    assert positions[0].side == "long" and positions[0].entry_price == price
    assert prints, "the fill needs an emulator print below the bid"


async def _same(book, emu: EmulatorHandle) -> bool:
    ob = emu.exchange.orderbook(BTC, 5)
    return book.bids == tuple(ob.bids) and book.asks == tuple(ob.asks)


def test_paper_account_on_the_feed_survives_a_restart(home: Path, emu: EmulatorHandle) -> None:
    async def first_run():
        client = _paper_client(home, emu)
        try:
            await client.set_leverage(BTC, Decimal(20))
            await client.place_order(BTC, Side.BUY, Decimal("0.02"), order_type="Market", client_order_id="m-1")
            await client.place_order(BTC, Side.SELL, Decimal("0.01"), (await client.ticker(BTC)).ask + 500,
                                     client_order_id="ask-1")
            return await client.positions(BTC), await client.balance()
        finally:
            await client.close()

    async def second_run():
        client = _paper_client(home, emu)
        try:
            return (await client.positions(BTC), await client.balance(), await client.open_orders(BTC),
                    await client.ticker(BTC))
        finally:
            await client.close()

    pos1, bal1 = asyncio.run(first_run())
    emu.run_until(emu.clock.now_ms() + 5_000)
    pos2, bal2, orders, ticker = asyncio.run(second_run())
    assert [(p.side, p.size, p.entry_price, p.leverage) for p in pos2] == [
        (p.side, p.size, p.entry_price, p.leverage) for p in pos1]
    assert bal2.wallet_balance == bal1.wallet_balance
    assert [o.client_order_id for o in orders] == ["ask-1"]
    assert pos2[0].mark_price == ticker.mark  # the emulator's mark, not a restarted market's
    from bybit_mm.exchange.paper_store import PaperStore

    with PaperStore(home / "data" / "paper" / "feed" / "account.sqlite") as store:
        state = store.load()
    assert state is not None
    assert state["market"][BTC]["source"] == "external"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_feed_is_exit_5_with_the_offline_hint(cli, home: Path) -> None:
    _paper_profile(home, "dead", f"http://127.0.0.1:{_closed_port()}")
    r = cli("--profile", "dead", "balance", "--json")
    assert r.exit_code == 5, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert "--market sim" in r.stderr and "Traceback" not in r.stderr
    assert len(lines) <= 2  # the message and its hint
    assert not (home / "data" / "paper" / "dead" / "account.sqlite").exists()


def test_synthetic_paper_market_resumes_from_the_saved_mid(home: Path) -> None:
    from dataclasses import replace

    from bybit_mm.config.profiles import resolve
    from bybit_mm.exchange.paper_client import DryRunFuturesClient
    from bybit_mm.sim.clock import SimClock

    profile = resolve("paper")
    profile = replace(profile, paper=replace(profile.paper, latency_ms=0.0))

    async def run(advance_ms: int, trade: bool):
        clock = SimClock()
        client = DryRunFuturesClient.from_profile(profile, clock=clock)
        try:
            fresh_mark = (await client.ticker(BTC)).mark
            clock.advance(advance_ms)
            if trade:
                await client.place_order(BTC, Side.BUY, Decimal("0.01"), order_type="Market",
                                         client_order_id="resume-1")
            return fresh_mark, await client.positions(BTC), await client.ticker(BTC)
        finally:
            await client.close()

    start_mark, pos1, t1 = asyncio.run(run(4 * 3_600_000, True))
    restart_mark, pos2, _ = asyncio.run(run(0, False))
    # The market moved in run 1; without resuming, run 2 would start back at start_mark.
    assert abs(t1.mark - start_mark) > 150
    assert abs(restart_mark - t1.mark) < t1.mark * Decimal("0.0005")
    assert pos2[0].entry_price == pos1[0].entry_price
    assert abs(pos2[0].unrealized_pnl - pos1[0].unrealized_pnl) < Decimal("0.5")
