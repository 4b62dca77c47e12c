"""Disconnection protection (issue 11.6) through the real ccxt client and streams: the window is
set over REST, the live stream subscribes ``dcp.future``, and once that stream is gone for the
window the emulator cancels every order, as Bybit does for a killed process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from bybit_mm.domain.orders import Side
from bybit_mm.emulator.runner import EmulatorHandle, running_emulator
from bybit_mm.errors import BybitMMError
from bybit_mm.exchange.ccxt_client import BybitFuturesClient
from bybit_mm.exchange.ccxt_stream import CcxtMarketStream

SYMBOL = "BTCUSDT"


@pytest.fixture
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(symbols=(SYMBOL,), seed=3) as handle:
        handle.run_until(handle.clock.now_ms() + 300_000)
        yield handle


def _client(emu: EmulatorHandle) -> BybitFuturesClient:
    return BybitFuturesClient(network="emulator", url=emu.url, api_key=emu.api_key, api_secret=emu.api_secret)


def _rest_a_bid(emu: EmulatorHandle) -> None:
    with emu.lock:
        bid = emu.exchange.orderbook(SYMBOL, 1).bids[0][0]
        emu.exchange.place_order(symbol=SYMBOL, side=Side.BUY, order_type="Limit", qty=Decimal("0.01"),
                                 price=bid - 100, time_in_force="PostOnly", order_link_id="mm-dcp")


def test_the_window_is_set_through_ccxt_and_checked(emu: EmulatorHandle) -> None:
    async def main() -> None:
        client = _client(emu)
        try:
            await client.set_disconnect_cancel(10)
            with pytest.raises(BybitMMError) as bad:
                await client._call("private_post_v5_order_disconnected_cancel_all",
                                   {"product": "DERIVATIVES", "timeWindow": 2})
            assert bad.value.ret_code == 10001
        finally:
            await client.close()

    asyncio.run(main())
    assert emu.state.ctx.dcp.windows == {"DERIVATIVES": 10}


@pytest.mark.parametrize("dcp", [True, False])
def test_orders_are_cancelled_once_the_dcp_stream_is_gone_for_the_window(emu: EmulatorHandle, dcp: bool) -> None:
    window = 3  # Bybit's smallest

    async def main() -> None:
        client = _client(emu)
        stream = CcxtMarketStream(network="emulator", symbol=SYMBOL, url=emu.url, api_key=emu.api_key,
                                  api_secret=emu.api_secret, private=True, dcp=dcp, stale_after_s=60.0)
        try:
            await client.set_disconnect_cancel(window)
            await stream.start()
            _rest_a_bid(emu)
        finally:
            await stream.close()  # as a killed process: the private stream is simply gone
            await client.close()

    asyncio.run(main())
    assert len(emu.call(emu.exchange.open_orders, SYMBOL)) == 1  # nothing happens at once ...
    deadline = time.monotonic() + window + (3 if dcp else 1)
    while time.monotonic() < deadline and emu.call(emu.exchange.open_orders, SYMBOL):
        time.sleep(0.1)
    if dcp:  # ... and after the window the order is cancelled
        assert emu.call(emu.exchange.open_orders, SYMBOL) == [] and emu.state.ctx.dcp.triggered == 1
    else:  # without the dcp subscription Bybit has nothing to watch
        assert len(emu.call(emu.exchange.open_orders, SYMBOL)) == 1 and emu.state.ctx.dcp.triggered == 0
