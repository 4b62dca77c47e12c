"""Order shaping: tick rounding, never crossing the book, fee-covering spread, inventory limits."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from bybit_mm.quoting.models import Quote
from bybit_mm.quoting.orders import ask_ticks, bid_ticks, min_spread_ticks, shape_orders

D = Decimal


def _quote(bid: float, ask: float) -> Quote:
    mid = 0.5 * (bid + ask)
    return Quote(mid, bid, ask, 0.5 * (ask - bid), 0.0, "test")


def test_bid_rounds_down_ask_rounds_up() -> None:
    assert bid_ticks(100.07, 0.1) == 1000
    assert ask_ticks(100.01, 0.1) == 1001
    # Prices already on the tick stay put despite binary floating point (100.3 / 0.1 = 1002.9999...).
    assert bid_ticks(100.3, 0.1) == 1003
    assert ask_ticks(100.3, 0.1) == 1003
    assert bid_ticks(-0.05, 0.1) == -1


def test_shape_rounds_and_sizes() -> None:
    t = shape_orders(_quote(99.97, 100.03), tick=D("0.01"), order_qty=D("0.5"), qty_step=D("0.1"))
    assert (t.bid_price, t.ask_price) == (D("99.97"), D("100.03"))
    t = shape_orders(_quote(99.975, 100.025), tick=D("0.01"), order_qty=D("0.55"), qty_step=D("0.1"))
    assert (t.bid_price, t.ask_price) == (D("99.97"), D("100.03"))
    assert (t.bid_qty, t.ask_qty) == (D("0.5"), D("0.5"))
    assert t.notes == ()


def test_min_spread_covers_round_trip_maker_fees() -> None:
    # 2 * 0.0002 * 100 = 0.04 = 40 ticks of 0.001.
    assert min_spread_ticks(100.0, 0.0002, 0.001) == 40
    assert min_spread_ticks(100.0, -0.0001, 0.001) == 1  # a rebate: any spread pays
    t = shape_orders(_quote(99.995, 100.005), tick=D("0.001"), order_qty=D(1), qty_step=D(1), maker_fee=0.0002)
    assert t.ask_price - t.bid_price == D("0.040")
    assert (t.bid_price, t.ask_price) == (D("99.980"), D("100.020"))
    assert any("fees" in n for n in t.notes)


def test_never_takes_the_book() -> None:
    # A long-skewed quote whose ask sits below the best bid must be lifted above it.
    t = shape_orders(_quote(99.0, 99.5), tick=D("0.1"), order_qty=D(1), qty_step=D(1),
                     best_bid=D("99.8"), best_ask=D("99.9"))
    assert t.ask_price == D("99.9")
    assert t.bid_price == D("99.0")
    t = shape_orders(_quote(100.5, 101.0), tick=D("0.1"), order_qty=D(1), qty_step=D(1),
                     best_bid=D("100.0"), best_ask=D("100.1"))
    assert t.bid_price == D("100.0")


def test_inventory_limit_stops_the_growing_side() -> None:
    common = dict(tick=D("0.1"), order_qty=D("2"), qty_step=D("0.5"), max_position=D("5"))
    q = _quote(99.0, 101.0)
    at_long = shape_orders(q, position=D("5"), **common)
    assert at_long.bid_price is None and at_long.bid_qty is None
    assert at_long.ask_qty == D("2")
    near_long = shape_orders(q, position=D("4"), **common)
    assert near_long.bid_qty == D("1.0")  # shrunk to the room left
    at_short = shape_orders(q, position=D("-5"), **common)
    assert at_short.ask_price is None and at_short.bid_qty == D("2")
    beyond = shape_orders(q, position=D("-9"), **common)
    assert beyond.ask_price is None and beyond.bid_qty == D("2")  # reducing is always allowed


def test_size_shaping_by_inventory() -> None:
    t = shape_orders(_quote(99.0, 101.0), tick=D("0.1"), order_qty=D("2"), qty_step=D("0.1"),
                     position=D("2.5"), max_position=D("10"), shape_sizes=True)
    assert t.bid_qty == D("1.5")  # 2 * (1 - 2.5/10)
    assert t.ask_qty == D("2.0")


prices = st.floats(min_value=1.0, max_value=1000.0)


@given(centre=prices, half=st.floats(min_value=-5.0, max_value=5.0), book_mid=prices,
       book_half_ticks=st.integers(min_value=-3, max_value=50), tick_exp=st.integers(min_value=-4, max_value=0),
       fee=st.sampled_from([-0.0001, 0.0, 0.0002]))
@example(centre=995.0, half=5.0, book_mid=1.0, book_half_ticks=0, tick_exp=-1, fee=-0.0001)  # an ask 1e-6 above a tick
def test_quotes_never_cross_and_stay_on_tick(centre: float, half: float, book_mid: float, book_half_ticks: int,
                                             tick_exp: int, fee: float) -> None:
    tick = D(1).scaleb(tick_exp)
    mid_ticks = int(book_mid / float(tick))
    best_bid = tick * (mid_ticks - book_half_ticks)
    best_ask = tick * (mid_ticks + book_half_ticks + 1)
    # Model quotes may even be inverted-looking after skew; shaping must still behave.
    bid, ask = centre - abs(half), centre + abs(half) + 1e-6
    t = shape_orders(_quote(bid, ask), tick=tick, order_qty=D(1), qty_step=D(1), best_bid=best_bid,
                     best_ask=best_ask, maker_fee=fee)
    assert t.ask_price is not None
    assert t.ask_price >= best_bid + tick
    assert t.ask_price % tick == 0
    if t.bid_price is not None:
        assert t.bid_price <= best_ask - tick
        assert t.bid_price < t.ask_price
        assert t.bid_price % tick == 0
        # Shaping only ever moves a quote away from the model's centre, never towards it.
        assert float(t.bid_price) <= bid + 1e-6 * float(tick)
    assert float(t.ask_price) >= ask - 1e-6 * float(tick)
