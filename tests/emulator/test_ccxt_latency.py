"""Order-entry latency through the emulator and the real ccxt client: an amend that reaches the
exchange after the order filled is rejected with Bybit's 110001."""

from __future__ import annotations

import ccxt
import pytest
from emu_client import run_with_client

from bybit_mm.emulator.runner import running_emulator
from tests.sim.conftest import make_exchange
from tests.sim.test_latency import _bid_order_fill_time

BTC = "BTC/USDT:USDT"


@pytest.mark.parametrize("request_kind", ["amend", "cancel"])
def test_an_amend_or_cancel_sent_just_before_the_fill_arrives_too_late(request_kind: str) -> None:
    _, _, placed, filled_at = _bid_order_fill_time(250)
    sim = make_exchange(latency_ms=250)
    bid = float(sim.ticker("BTCUSDT").bid)
    assert sim.clock.now_ms() == placed
    with running_emulator(exchange=sim) as emu:
        async def scenario(ex):
            await ex.load_markets()
            order = await ex.create_order(BTC, "limit", "buy", 0.01, bid - 5, {"timeInForce": "GTC"})
            emu.run_until(filled_at - 100)  # the request goes out 100 ms before the fill, arrives 150 ms after
            with pytest.raises(ccxt.OrderNotFound, match="110001") as err:
                if request_kind == "amend":
                    await ex.edit_order(order["id"], BTC, "limit", "buy", 0.01, bid - 50)
                else:
                    await ex.cancel_order(order["id"], BTC)
            done = await ex.fetch_order(order["id"], BTC, {"acknowledged": True})
            return str(err.value), done

        message, done = run_with_client(emu, scenario)
    assert f"too late to {'replace' if request_kind == 'amend' else 'cancel'}" in message
    assert done["status"] == "closed" and done["filled"] == 0.01
