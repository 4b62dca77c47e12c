"""Our taker orders consume the synthetic book they walk, for the rest of that book state."""

from __future__ import annotations

from decimal import Decimal

from bybit_mm.domain.orders import Side
from tests.sim.conftest import make_exchange

BTC = "BTCUSDT"


def _fills(ex, order_id: str) -> list[tuple[Decimal, Decimal]]:
    return sorted((e.price, e.qty) for e in ex.executions(BTC, limit=1000) if e.order_id == order_id)


def test_a_second_market_order_walks_what_the_first_left() -> None:
    ex = make_exchange(balance=Decimal(10_000_000))
    book = ex.orderbook(BTC, 5)
    (a0, q0), (a1, q1), (a2, q2) = book.asks[:3]
    half = (q1 / 2).quantize(Decimal("0.001"))
    first = ex.place_order(symbol=BTC, side=Side.BUY, order_type="Market", qty=q0 + half)
    assert _fills(ex, first.order_id) == [(a0, q0), (a1, half)]
    # the same book state: the touch's size is gone, half of the next level is left
    after = ex.orderbook(BTC, 5)
    assert after.update_id == book.update_id
    assert after.asks[:2] == [(a1, q1 - half), (a2, q2)]
    assert len(after.asks) == 5  # still the depth asked for, the emptied level left out
    assert ex.orderbook(BTC, 1).asks == [(a1, q1 - half)]  # a read of the touch alone sees the new touch
    second = ex.place_order(symbol=BTC, side=Side.BUY, order_type="Market", qty=q1 - half + Decimal("0.001"))
    assert _fills(ex, second.order_id) == [(a1, q1 - half), (a2, Decimal("0.001"))]
    # the sell side is untouched, and the next book step shows a fresh book
    assert ex.orderbook(BTC, 5).bids == book.bids
    ex.run_until(ex.clock.now_ms() + 1000)
    fresh = ex.orderbook(BTC, 5)
    assert fresh.update_id != book.update_id
    assert fresh.asks[0][1] > 0 and ex.orderbook(BTC, 5) == fresh
