"""Latency models, and requests that act after the entry latency: a late amend or cancel is 110001."""

from __future__ import annotations

import statistics
from decimal import Decimal

import pytest

from bybit_mm.domain.orders import Side
from bybit_mm.sim import errors as E
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.exchange import SimExchange
from bybit_mm.sim.latency import ConstantLatency, LognormalLatency, make_latency
from tests.sim.conftest import make_exchange, run_until_fill


def test_lognormal_draws_have_the_median_and_p99_asked_for_and_repeat_by_seed() -> None:
    lat = LognormalLatency(entry=100, response=50, feed=0, p99_ratio=3.0, seed=4)
    draws = sorted(lat.entry_ms() for _ in range(40_000))
    assert statistics.median(draws) == pytest.approx(100, rel=0.03)
    assert draws[int(0.99 * len(draws))] == pytest.approx(300, rel=0.08)
    assert lat.feed_ms() == 0  # a zero median is no delay at all
    again = LognormalLatency(entry=100, response=50, feed=0, p99_ratio=3.0, seed=4)
    assert [again.entry_ms() for _ in range(100)] == draws_in_order(4)[:100]


def draws_in_order(seed: int) -> list[int]:
    lat = LognormalLatency(entry=100, response=50, feed=0, p99_ratio=3.0, seed=seed)
    return [lat.entry_ms() for _ in range(100)]


def test_bad_latency_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="p99"):
        LognormalLatency(entry=10, p99_ratio=0.5)
    with pytest.raises(ValueError, match="finite"):
        ConstantLatency(entry=float("nan"))
    with pytest.raises(ValueError, match="unknown latency model"):
        make_latency("gamma", entry=1, response=1, feed=1)


def _bid_order_fill_time(latency_ms: float) -> tuple[SimExchange, str, int, int]:
    """A GTC buy 5 USDT under the bid on seed 7: (exchange, order id, placed at, filled at)."""
    ex = make_exchange(latency_ms=latency_ms)
    bid = ex.ticker("BTCUSDT").bid
    placed = ex.clock.now_ms()
    o = ex.place_order(symbol="BTCUSDT", side=Side.BUY, order_type="Limit", qty=Decimal("0.01"),
                       price=bid - 5, time_in_force="GTC")
    fills, _ = run_until_fill(ex, o.order_id)
    return ex, o.order_id, placed, fills[0].execution.ts_ms


@pytest.mark.parametrize("request_kind", ["amend", "cancel"])
def test_an_amend_or_cancel_arriving_after_the_fill_is_rejected(request_kind: str) -> None:
    _, _, placed, filled_at = _bid_order_fill_time(250)
    ex = make_exchange(latency_ms=250)
    bid = ex.ticker("BTCUSDT").bid
    assert ex.clock.now_ms() == placed
    o = ex.place_order(symbol="BTCUSDT", side=Side.BUY, order_type="Limit", qty=Decimal("0.01"),
                       price=bid - 5, time_in_force="GTC")
    ex.run_until(filled_at - 100)  # sent while the order still rests: it arrives 150 ms after the fill
    assert ex.get_order(order_id=o.order_id).status == "New"
    with pytest.raises(SimError) as err:
        if request_kind == "amend":
            ex.amend_order(symbol="BTCUSDT", order_id=o.order_id, price=bid - 50)
        else:
            ex.cancel_order(symbol="BTCUSDT", order_id=o.order_id)
    assert err.value.ret_code == E.ORDER_NOT_EXISTS == 110001
    assert err.value.message == f"order not exists or too late to {'replace' if request_kind == 'amend' else 'cancel'}"
    assert ex.get_order(order_id=o.order_id).status == "Filled"

    # The same request with no entry latency acts at once: the order moves away and never fills then.
    twin = make_exchange(latency_ms=250)
    o2 = twin.place_order(symbol="BTCUSDT", side=Side.BUY, order_type="Limit", qty=Decimal("0.01"),
                          price=bid - 5, time_in_force="GTC")
    twin.run_until(filled_at - 100)
    twin.latency = ConstantLatency()  # the model is swappable
    if request_kind == "amend":
        amended = twin.amend_order(symbol="BTCUSDT", order_id=o2.order_id, price=bid - 50)
        assert amended.status == "New" and amended.updated_ms == filled_at - 100
    else:
        assert twin.cancel_order(symbol="BTCUSDT", order_id=o2.order_id).status == "Cancelled"
    twin.run_until(filled_at + 1000)
    assert twin.get_order(order_id=o2.order_id).filled_qty == 0


def test_an_accepted_amend_acts_after_the_entry_latency() -> None:
    ex = make_exchange(latency_ms=250)
    bid = ex.ticker("BTCUSDT").bid
    o = ex.place_order(symbol="BTCUSDT", side=Side.BUY, order_type="Limit", qty=Decimal("0.01"),
                       price=bid - 10, time_in_force="PostOnly")
    ex.run_until(ex.clock.now_ms() + 1000)
    sent = ex.clock.now_ms()
    amended = ex.amend_order(symbol="BTCUSDT", order_id=o.order_id, price=bid - 20)
    assert amended.updated_ms == sent + 250 and ex.last_acted_ms == sent + 250
