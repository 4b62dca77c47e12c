"""The depth-driven probabilistic queue models (``power``, ``log``): a scripted book and tape replayed,
fill times and quantities checked against hand-computed ones (expected-value split, no randomness)."""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
import pytest

from bybit_mm.data.events import ASK, BID, BOOK_CLEAR, EVENT_DTYPE, FLAG_LAST, TRADE_SELL
from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.orders import Side
from bybit_mm.sim.matching import make_queue_model
from bybit_mm.sim.models import Execution
from bybit_mm.sim.replay import ReplayExchange

T0 = 1_767_225_600_000
BID_PX, ASK_PX, THROUGH_PX = 95_000.0, 95_000.1, 94_999.9


def _rows(rows: list[tuple[int, int, float, float]]) -> np.ndarray:
    """(kind, ms after T0, price, qty) rows, each a complete update."""
    return np.array([(k, FLAG_LAST, (T0 + t) * 1_000_000, (T0 + t) * 1_000_000, px, q) for k, t, px, q in rows],
                    dtype=EVENT_DTYPE)


class Recorder:
    """A strategy that only records our executions."""

    def __init__(self) -> None:
        self.fills: list[tuple[int, Decimal]] = []

    def on_book(self, ts_ms: int, bid_tick: int, ask_tick: int) -> None:
        pass

    def on_trade(self, ts_ms: int, price: float, buy: bool) -> None:
        pass

    def decide(self, now_ms: int) -> list:
        return []

    def on_execution(self, ex: Execution) -> None:
        self.fills.append((ex.ts_ms - T0, ex.qty))


# The book: 5 BTC bid at 95,000.0 when we join with a 1 BTC buy there (5,000 lot steps ahead of us).
SCRIPT = [
    (TRADE_SELL, 1_000, BID_PX, 2.0),   # a print at our price: ahead 5,000 -> 3,000 (no fill)
    (BID, 1_001, BID_PX, 3.0),          # the book shows that print: -2,000 net of the 2,000 printed = 0
    (BID, 1_500, BID_PX, 4.0),          # +1,000 joins behind us: ahead 3,000, behind 1,000
    (BID, 2_000, BID_PX, 2.0),          # -2,000 cancelled: split between ahead and behind (below)
    (TRADE_SELL, 3_000, BID_PX, 1.5),   # 1,500 printed at our price
    (TRADE_SELL, 4_000, THROUGH_PX, 0.3),  # 300 through our price: all ours
    (TRADE_SELL, 5_000, BID_PX, 1.0),   # 1,000 at our price
]


def _replay(model: str) -> list[tuple[int, Decimal]]:
    inst = get_instrument("BTCUSDT")
    ex = ReplayExchange(inst, balance=Decimal(1_000_000), maker_fee=Decimal("0.0002"),
                        taker_fee=Decimal("0.00055"), leverage=Decimal(10), margin_mode="isolated",
                        queue=make_queue_model(model, random.Random(1)))
    rec = Recorder()
    ex.run(_rows([(BOOK_CLEAR, 0, 0.0, 0.0), (BID, 0, BID_PX, 5.0), (ASK, 0, ASK_PX, 5.0)]), rec,
           interval_ms=60_000)
    ex.place_post_only(Side.BUY, Decimal("95000.0"), Decimal("1.000"), "q")
    ex.run(_rows(SCRIPT), rec, interval_ms=60_000)
    return rec.fills


def test_power_queue_fills_at_the_hand_computed_times_and_sizes() -> None:
    # At 2,000 ms: front 3,000, back 1,000, chg 2,000. P(from behind) = 1000^3 / (1000^3 + 3000^3) = 1/28;
    # ahead = 3000 - (27/28)·2000 + min(1000 - 2000/28, 0) = 1071.43 (≤ the 2,000 shown).
    # 3,000 ms: 1,500 printed: 1071.43 of the queue ahead, then ours: 1500 - ceil(1071.43) = 428 steps.
    # 4,000 ms: 300 through our price: 300. 5,000 ms: the remaining 272 of the 1,000 at our price.
    assert _replay("power") == [(3_000, Decimal("0.428")), (4_000, Decimal("0.300")), (5_000, Decimal("0.272"))]


def test_log_queue_fills_at_the_hand_computed_times_and_sizes() -> None:
    # At 2,000 ms: P(from behind) = ln(1001) / (ln(1001) + ln(3001)) = 0.463194;
    # ahead = 3000 - 0.536806·2000 + min(1000 - 926.39, 0) = 1926.39.
    # 3,000 ms: 1,500 printed, all of it queue ahead: 426.39 left, no fill.
    # 4,000 ms: 300 through our price: ours, and the level was swept (nobody is ahead any more).
    # 5,000 ms: 1,000 at our price, nobody ahead: the 700 we have left.
    assert _replay("log") == [(4_000, Decimal("0.300")), (5_000, Decimal("0.700"))]


def test_trade_through_ignores_prints_at_our_price() -> None:
    assert _replay("trade_through") == [(4_000, Decimal("0.300"))]


@pytest.mark.parametrize("model", ["power", "log"])
def test_a_print_is_never_counted_twice(model: str) -> None:
    """A print at our level and then the book showing it: the queue ahead shrinks once, not twice."""
    q = make_queue_model(model, random.Random(1))
    from bybit_mm.sim.matching import OrderRecord

    o = OrderRecord(order_id="x", order_link_id="", symbol="BTCUSDT", side=Side.BUY, order_type="Limit",
                    price=Decimal("95000"), tick=950_000, qty=Decimal(1), time_in_force="GTC",
                    reduce_only=False, created_ms=0, active_ms=0, seq=1)
    q.on_join(o, 5_000)
    assert q.fillable(o, False, 2_000) == 0 and o.queue_ahead == 3_000
    q.on_depth(o, 3_000)  # the book's decrease is the same 2,000
    assert o.queue_ahead == 3_000
    q.on_depth(o, 3_500)  # an increase joins behind
    assert o.queue_ahead == 3_000
    q.on_depth(o, 0)      # the level emptied: nobody is ahead any more
    assert o.queue_ahead == 0


def _paper_sim(model: str) -> list[tuple[int, Decimal]]:
    """The same script fed to the paper sim (SimExchange on an external market, as ``--market live``)."""
    from bybit_mm.sim.clock import SimClock
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.models import BookSnapshot, FillEvent, Trade

    D = Decimal
    sim = SimExchange(symbols=("BTCUSDT",), clock=SimClock(T0), market_source="external", queue_model=model,
                      balance=D(1_000_000))

    def book(ts: int, bid_qty: float) -> BookSnapshot:
        return BookSnapshot("BTCUSDT", T0 + ts, 0, 0, [(D("95000.0"), D(str(bid_qty)))], [(D("95000.1"), D(5))])

    sim.feed_market("BTCUSDT", ts_ms=T0, book=book(0, 5.0), mark=D("95000.0"))
    o = sim.place_order(symbol="BTCUSDT", side=Side.BUY, order_type="Limit", qty=D(1), price=D("95000.0"),
                        time_in_force="PostOnly")
    fills: list[tuple[int, Decimal]] = []
    shown = 5.0
    for i, (kind, t, px, qty) in enumerate(SCRIPT):
        sim.clock.set(T0 + t)
        if kind == BID:
            shown = qty
            sim.feed_market("BTCUSDT", ts_ms=T0 + t, book=book(t, shown))
        else:
            sim.feed_market("BTCUSDT", ts_ms=T0 + t, book=book(t, shown),
                            trades=[Trade(f"t{i}", "BTCUSDT", T0 + t, D(str(px)), D(str(qty)), Side.SELL)])
        fills += [(e.execution.ts_ms - T0, e.execution.qty) for e in sim.advance()
                  if isinstance(e, FillEvent) and e.execution.order_id == o.order_id]
    return fills


@pytest.mark.parametrize("model", ["power", "log", "trade_through"])
def test_the_paper_sim_fills_the_same_script_the_same_way(model: str) -> None:
    assert _paper_sim(model) == _replay(model)
