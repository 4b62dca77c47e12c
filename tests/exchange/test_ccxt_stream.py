"""CcxtMarketStream against the emulator's WebSocket streams (real sockets, real auth): the book
rebuilt from deltas is the sim's book, a gap in the update ids resyncs, trades and ticker, private
events, and a dropped connection recovered without losing a fill (reconciled against REST)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from bybit_mm.emulator.runner import EmulatorHandle, running_emulator
from bybit_mm.exchange.ccxt_stream import CcxtMarketStream
from bybit_mm.exchange.stream import StreamEvent

T = TypeVar("T")
SYMBOL = "BTCUSDT"


@pytest.fixture
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(symbols=(SYMBOL,), seed=3) as handle:
        handle.run_until(handle.clock.now_ms() + 600_000)
        yield handle


def _stream(emu: EmulatorHandle, *, private: bool = False, **kw: Any) -> CcxtMarketStream:
    return CcxtMarketStream(network="emulator", symbol=SYMBOL, url=emu.url, api_key=emu.api_key,
                            api_secret=emu.api_secret, private=private, stale_after_s=60.0, **kw)


def _run(emu: EmulatorHandle, scenario: Callable[[CcxtMarketStream], Awaitable[T]], *,
         private: bool = False, timeout: float = 30.0) -> T:
    async def main() -> T:
        st = _stream(emu, private=private)
        try:
            await st.start()
            return await asyncio.wait_for(scenario(st), timeout)
        finally:
            await st.close()

    return asyncio.run(main())


def _sim_book(emu: EmulatorHandle, depth: int = 50) -> tuple[list[Any], list[Any]]:
    with emu.lock:
        b = emu.exchange.orderbook(SYMBOL, depth)
    return list(b.bids), list(b.asks)


async def _until(check: Callable[[], bool], tries: int = 400) -> None:
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the stream never reached the expected state")


async def _events_until(st: CcxtMarketStream, done: Callable[[StreamEvent], bool], tries: int = 500
                        ) -> list[StreamEvent]:
    seen = []
    for _ in range(tries):
        ev = await st.next_event(0.05)
        if ev is not None:
            seen.append(ev)
            if done(ev):
                return seen
    raise AssertionError(f"no such event among {[e.kind for e in seen]}")


def _move(emu: EmulatorHandle, ms: int) -> int:
    target = emu.clock.now_ms() + ms
    emu.run_until(target)
    return target


def test_book_from_snapshot_and_deltas_is_the_sim_book(emu: EmulatorHandle) -> None:
    async def scenario(st: CcxtMarketStream) -> None:
        book = st.book()
        assert book is not None and (list(book.bids), list(book.asks)) == _sim_book(emu)
        for _ in range(5):
            _move(emu, 3_000)
            await _until(lambda: (list(st.book().bids), list(st.book().asks)) == _sim_book(emu))  # type: ignore[union-attr]
        assert st.builder.u is not None and st.builder.u > 1  # deltas, not only snapshots
        assert st.gaps == 0 and st.healthy
        with emu.lock:
            sim_t = emu.exchange.ticker(SYMBOL)
        # Tickers are pushed on their own (throttled) schedule: wait for the one after the last move.
        await _until(lambda: st.ticker() is not None and st.ticker().ts_ms >= sim_t.ts_ms)  # type: ignore[union-attr]
        ticker = st.ticker()
        assert ticker is not None and ticker.mark == sim_t.mark and ticker.last == sim_t.last

    _run(emu, scenario)


def test_a_gap_in_the_update_ids_resubscribes_and_rebuilds_the_book(emu: EmulatorHandle) -> None:
    async def scenario(st: CcxtMarketStream) -> None:
        # Make the emulator skip update ids on its next delta, as lost messages would.
        with emu.lock:
            for name, state in emu.ws._books.items():
                if name.endswith(SYMBOL):
                    state.u += 7
        _move(emu, 3_000)
        evs = await _events_until(st, lambda e: e.kind == "status" and e.detail.startswith("resync"))
        assert st.gaps == 1 and not st.healthy
        # the watchers reconnect; the fresh subscription starts with a snapshot
        await _until(lambda: st.healthy)
        _move(emu, 2_000)
        await _until(lambda: st.book() is not None and
                     (list(st.book().bids), list(st.book().asks)) == _sim_book(emu))  # type: ignore[union-attr]
        assert st.disconnects >= 1 and evs

    _run(emu, scenario)
    assert emu.ws.drops == 0  # the client reset its own connection; the server dropped nothing


def test_trades_arrive_once_each_and_match_rest(emu: EmulatorHandle) -> None:
    async def scenario(st: CcxtMarketStream) -> None:
        start = emu.clock.now_ms()
        _move(emu, 20_000)
        await _until(lambda: any(t.ts_ms > start + 15_000 for t in st.recent_trades()))
        with emu.lock:
            sim = {t.trade_id: t for t in emu.exchange.recent_trades(SYMBOL, 1000)}
        got = [t for t in st.recent_trades() if t.ts_ms > start]
        assert got and len({t.trade_id for t in got}) == len(got)
        for t in got:
            assert (t.price, t.qty, t.side) == (sim[t.trade_id].price, sim[t.trade_id].qty, sim[t.trade_id].side)

    _run(emu, scenario)


def test_a_dropped_connection_loses_no_fill_after_rest_reconciliation(emu: EmulatorHandle) -> None:
    from bybit_mm.domain.orders import Side
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient
    from bybit_mm.exchange.retry import Backoff

    async def scenario(st: CcxtMarketStream) -> None:
        rest = BybitFuturesClient(network="emulator", url=emu.url, api_key=emu.api_key,
                                  api_secret=emu.api_secret, backoff=Backoff(max_retries=2, base_s=0.01))
        try:
            streamed: dict[str, Any] = {}

            async def market(side: Side, qty: str, cid: str) -> str:
                o = await rest.place_order(SYMBOL, side, Decimal(qty), order_type="Market",
                                           time_in_force="IOC", client_order_id=cid)
                return o.order_id

            first = await market(Side.BUY, "0.01", "t-1")
            evs = await _events_until(st, lambda e: e.kind == "executions"
                                      and any(x.order_id == first for x in e.executions))
            streamed.update((x.exec_id, x) for e in evs for x in e.executions)
            acct = st.account
            assert acct is not None
            await _until(lambda: acct.position is not None and acct.position.size == Decimal("0.01"))
            before = st.reconnects
            assert await asyncio.to_thread(emu.drop_ws_connections) >= 1
            gap = await market(Side.SELL, "0.02", "t-2")  # while the stream is down
            await _until(lambda: st.reconnects > before and st.healthy)
            third = await market(Side.BUY, "0.01", "t-3")
            evs = await _events_until(st, lambda e: e.kind == "executions"
                                      and any(x.order_id == third for x in e.executions))
            streamed.update((x.exec_id, x) for e in evs for x in e.executions)
            assert not any(x.order_id == gap for x in streamed.values())  # nothing is replayed
            # the reconnect is what tells the engine to reconcile through REST
            reconciled = {x.exec_id: x for x in await rest.executions(SYMBOL, limit=1000)}
            with emu.lock:
                sim_ids = {e.exec_id for e in emu.exchange.executions(SYMBOL, limit=1000)
                           if e.exec_type == "Trade"}
            assert set(streamed) | set(reconciled) == sim_ids
            assert sum(x.qty for x in reconciled.values() if x.order_id == gap) == Decimal("0.02")
            for eid, x in streamed.items():  # the stream's parse is the REST parse
                assert x == reconciled[eid]
        finally:
            await rest.close()

    _run(emu, scenario, private=True)


def test_wrong_secret_fails_start_with_an_auth_error(emu: EmulatorHandle) -> None:
    from bybit_mm.errors import AuthError

    async def main() -> None:
        st = CcxtMarketStream(network="emulator", symbol=SYMBOL, url=emu.url, api_key=emu.api_key,
                              api_secret="wrong", private=True)
        try:
            with pytest.raises(AuthError):
                await st.start()
        finally:
            await st.close()

    asyncio.run(main())


def test_an_unreachable_stream_is_exchange_unavailable() -> None:
    from bybit_mm.errors import ExchangeUnavailable

    async def main() -> None:
        st = CcxtMarketStream(network="emulator", symbol=SYMBOL, url="http://127.0.0.1:9",
                              ready_timeout_s=1.0)
        try:
            with pytest.raises(ExchangeUnavailable):
                await st.start()
        finally:
            await st.close()

    asyncio.run(main())
