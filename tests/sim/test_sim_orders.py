"""Matching of our orders against the synthetic market: fills at our price, post-only, IOC/FOK,
reduce-only, amend, cancel, latency, queue models and REST-level rejections."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bybit_mm.sim.errors import SimError
from bybit_mm.sim.models import FillEvent, OrderUpdate, TradeEvent


def _bid_below(ex, ticks: int = 100) -> D:
    t = ex.ticker("BTCUSDT")
    return t.bid - ticks * ex.instrument("BTCUSDT").tick_size


def test_resting_bid_fills_only_when_a_trade_prints_through_it_and_at_its_own_price(ex, until_fill) -> None:
    price = _bid_below(ex, 150)
    o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"), price=price,
                       time_in_force="PostOnly")
    assert o.status == "New"
    fills, seen = until_fill(ex, o.order_id)
    ex_fill = fills[0].execution
    assert ex_fill.price == price and ex_fill.is_maker
    assert ex_fill.fee == ex_fill.qty * price * D("0.0002")
    trades = [e.trade for e in seen if isinstance(e, TradeEvent)]
    before = [t for t in trades if t.ts_ms < ex_fill.ts_ms]
    assert all(t.price >= price or t.side.value == "Buy" for t in before)  # nothing sold through earlier
    trigger = [t for t in trades if t.ts_ms == ex_fill.ts_ms and t.side.value == "Sell"]
    assert trigger and min(t.price for t in trigger) < price
    pos = ex.positions("BTCUSDT")[0]
    assert pos.side == "Buy" and pos.entry_price == price


def test_a_print_at_our_price_does_not_fill_under_trade_through(make_ex) -> None:
    ex = make_ex(seed=3)
    bid = ex.ticker("BTCUSDT").bid
    o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.5"), price=bid,
                       time_in_force="PostOnly")
    for _ in range(120):
        for e in ex.run_until(ex.clock.now_ms() + 500):
            if isinstance(e, FillEvent):
                trades = [t for t in ex.recent_trades("BTCUSDT", 200) if t.ts_ms == e.execution.ts_ms]
                assert any(t.price < bid for t in trades)
                return
    assert ex.get_order(order_id=o.order_id).filled_qty == 0


def test_partial_fills(make_ex, until_fill) -> None:
    ex = make_ex(seed=5, balance=D("1000000"))
    price = _bid_below(ex, 50)
    o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("20"), price=price)
    fills, _ = until_fill(ex, o.order_id)
    after = ex.get_order(order_id=o.order_id)
    assert after.status == "PartiallyFilled" and 0 < after.filled_qty < after.qty
    assert after.avg_price == price
    assert [x.order_id for x in ex.open_orders()] == [o.order_id]


def test_post_only_that_would_take_is_accepted_then_cancelled(ex) -> None:
    ask = ex.ticker("BTCUSDT").ask
    o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"), price=ask,
                       time_in_force="PostOnly", order_link_id="po-1")
    assert o.status == "Cancelled" and o.reject_reason == "EC_PostOnlyWillTakeLiquidity"
    assert ex.get_order(order_link_id="po-1").status == "Cancelled"
    assert ex.open_orders() == [] and ex.positions()[0].size == 0
    updates = [e.order.status for e in ex.advance() if isinstance(e, OrderUpdate)]
    assert updates == ["New", "Cancelled"]


def test_gtc_limit_crossing_takes_then_rests(make_ex) -> None:
    ex = make_ex(balance=D("1000000"))
    t = ex.ticker("BTCUSDT")
    price = t.ask + 2 * ex.instrument("BTCUSDT").tick_size
    shown = sum(q for p, q in ex.orderbook("BTCUSDT", 5).asks if p <= price)
    o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=shown + 1, price=price)
    assert o.status == "PartiallyFilled" and o.filled_qty > 0
    execs = ex.executions("BTCUSDT")
    assert all(not e.is_maker and e.fee_rate == D("0.00055") for e in execs)
    assert {e.price for e in execs} <= {t.ask, t.ask + D("0.1"), t.ask + D("0.2")}
    assert ex.open_orders()[0].order_id == o.order_id  # the rest rests


def test_market_and_ioc_walk_the_book_fok_is_all_or_nothing(make_ex) -> None:
    ex = make_ex(balance=D("1000000"))
    book = ex.orderbook("BTCUSDT", 5)
    qty = book.asks[0][1] + D("0.5")  # more than the touch shows
    m = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=qty, price=None)
    assert m.status == "Filled" and m.filled_qty == qty
    prices = [e.price for e in ex.executions("BTCUSDT")]
    assert min(prices) == book.asks[0][0] and len(set(prices)) > 1  # walked
    ex2 = make_ex(balance=D("1000000"))
    t2 = ex2.ticker("BTCUSDT")
    ask, big = t2.ask, t2.ask_size + 1
    fok = ex2.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=big, price=ask,
                          time_in_force="FOK")
    assert fok.status == "Cancelled" and fok.filled_qty == 0 and ex2.executions() == []
    ioc = ex2.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=big, price=ask,
                          time_in_force="IOC")
    assert ioc.status == "Cancelled" and 0 < ioc.filled_qty < big
    assert ex2.open_orders() == []


def test_reduce_only_never_grows_a_position(ex) -> None:
    with pytest.raises(SimError) as e:
        ex.place_order(symbol="BTCUSDT", side="Sell", order_type="Market", qty=D("0.01"), reduce_only=True)
    assert e.value.ret_code == 110017
    ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D("0.02"))
    with pytest.raises(SimError) as e:
        ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D("0.01"), reduce_only=True)
    assert e.value.ret_code == 110017
    far = ex.ticker("BTCUSDT").ask + 500
    ro = ex.place_order(symbol="BTCUSDT", side="Sell", order_type="Limit", qty=D("0.05"), price=far,
                        reduce_only=True)
    assert ro.qty == D("0.02")  # cut to the position
    # closing the position some other way cancels the resting reduce-only order
    ex.place_order(symbol="BTCUSDT", side="Sell", order_type="Market", qty=D("0.02"))
    after = ex.get_order(order_id=ro.order_id)
    assert after.status == "Cancelled" and after.reject_reason == "EC_CancelByReduceOnly"
    assert ex.positions()[0].size == 0
    m = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D("0.01"))
    assert m.status == "Filled"
    closing = ex.place_order(symbol="BTCUSDT", side="Sell", order_type="Market", qty=D("1"), reduce_only=True)
    assert closing.filled_qty == D("0.01") and ex.positions()[0].size == 0


def test_amend_keeps_the_order_id_and_can_requeue_or_cancel(ex) -> None:
    price = _bid_below(ex, 200)
    o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"), price=price,
                       time_in_force="PostOnly", order_link_id="q1")
    a = ex.amend_order(symbol="BTCUSDT", order_link_id="q1", price=price + D("1"), qty=D("0.02"))
    assert a.order_id == o.order_id and a.price == price + D("1") and a.qty == D("0.02")
    assert ex.open_orders()[0].price == price + D("1")
    with pytest.raises(SimError) as e:
        ex.amend_order(symbol="BTCUSDT", order_id=o.order_id, price=price + D("1"))
    assert e.value.ret_code == 10001  # unchanged
    ask = ex.ticker("BTCUSDT").ask
    crossed = ex.amend_order(symbol="BTCUSDT", order_id=o.order_id, price=ask)
    assert crossed.status == "Cancelled" and crossed.reject_reason == "EC_PostOnlyWillTakeLiquidity"
    with pytest.raises(SimError) as e:
        ex.amend_order(symbol="BTCUSDT", order_id=o.order_id, price=price)
    assert e.value.ret_code == 110001


def test_cancel_and_cancel_all(make_ex) -> None:
    ex = make_ex(symbols=("BTCUSDT", "ETHUSDT"))
    btc = _bid_below(ex, 300)
    eth_bid = ex.ticker("ETHUSDT").bid - D("5")
    ids = [ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"),
                          price=btc - k, order_link_id=f"b{k}").order_id for k in range(3)]
    eth = ex.place_order(symbol="ETHUSDT", side="Buy", order_type="Limit", qty=D("0.1"), price=eth_bid)
    one = ex.cancel_order(symbol="BTCUSDT", order_link_id="b0")
    assert one.status == "Cancelled" and one.reject_reason == "EC_PerCancelRequest"
    with pytest.raises(SimError) as e:
        ex.cancel_order(symbol="BTCUSDT", order_link_id="b0")
    assert e.value.ret_code == 110001
    gone = ex.cancel_all("BTCUSDT")
    assert sorted(o.order_id for o in gone) == sorted(ids[1:])
    assert [o.order_id for o in ex.open_orders()] == [eth.order_id]
    assert len(ex.cancel_all()) == 1 and ex.open_orders() == []
    # a cancelled link id can be reused; a live one cannot
    ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"), price=btc, order_link_id="b0")
    with pytest.raises(SimError) as e:
        ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"), price=btc,
                       order_link_id="b0")
    assert e.value.ret_code == 110072


@pytest.mark.parametrize("kwargs, code", [
    ({"qty": D("0.0001")}, 10001),           # below min qty
    ({"qty": D("0.0015")}, 10001),           # off the qty step
    ({"price_offset": D("0.05")}, 10001),    # off the tick
    ({"qty": D("0.001"), "price": D("100")}, 110094),  # notional below 5 USDT
    ({"price_factor": D("1.2")}, 110003),    # beyond the price band
    ({"order_link_id": "bad id!"}, 10001),
])
def test_rest_level_rejections(ex, kwargs, code) -> None:
    bid = ex.ticker("BTCUSDT").bid
    price = kwargs.get("price", bid * kwargs.get("price_factor", 1) + kwargs.get("price_offset", 0))
    if "price_offset" not in kwargs:
        price = price.quantize(D("0.1"))
    with pytest.raises(SimError) as e:
        ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=kwargs.get("qty", D("0.01")),
                       price=price, order_link_id=kwargs.get("order_link_id", ""))
    assert e.value.ret_code == code
    assert ex.open_orders() == []


def test_margin_check_rejects_with_110007(make_ex) -> None:
    ex = make_ex(balance=D("100"))
    bid = _bid_below(ex, 50)
    with pytest.raises(SimError) as e:
        ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.02"), price=bid)
    assert e.value.ret_code == 110007
    ok = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.005"), price=bid)
    w = ex.wallet()
    assert w.total_order_im > 0 and w.available_balance == w.wallet_balance - w.total_order_im
    # an ask of the same size does not need more margin (the larger side counts)
    ex.place_order(symbol="BTCUSDT", side="Sell", order_type="Limit", qty=D("0.004"), price=bid + 2000)
    assert ex.wallet().total_order_im == w.total_order_im
    assert ok.status == "New"


def test_risk_limit_rejects_with_110090(make_ex) -> None:
    ex = make_ex(balance=D("100000000"))
    inst = ex.instrument("BTCUSDT")
    first, second = inst.risk_tiers[0], inst.risk_tiers[1]
    ex.set_leverage("BTCUSDT", first.max_leverage)
    bid = _bid_below(ex, 50)
    qty = (first.limit_value / bid * D("1.05")).quantize(D("0.001"))
    assert qty * bid <= second.limit_value
    with pytest.raises(SimError) as e:
        ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=qty, price=bid)
    assert e.value.ret_code == 110090
    ex.set_leverage("BTCUSDT", second.max_leverage)  # lower leverage, larger tier: allowed
    assert ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=qty, price=bid).status == "New"


def test_latency_delays_activation(make_ex) -> None:
    ex = make_ex(latency_ms=250)
    t0 = ex.clock.now_ms()
    ask = ex.ticker("BTCUSDT").ask
    o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"), price=ask + 20,
                       time_in_force="IOC")
    assert o.status == "New" and o.filled_qty == 0
    ex.run_until(t0 + 249)
    assert ex.get_order(order_id=o.order_id).filled_qty == 0
    ex.run_until(t0 + 250)
    done = ex.get_order(order_id=o.order_id)
    assert done.status == "Filled" and ex.executions()[0].ts_ms >= t0 + 250


def test_queue_model_fills_no_later_than_trade_through(make_ex, until_fill) -> None:
    times = {}
    for model in ("trade_through", "queue"):
        ex = make_ex(seed=21, queue_model=model)
        bid = ex.ticker("BTCUSDT").bid
        o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"), price=bid,
                           time_in_force="PostOnly")
        fills, _ = until_fill(ex, o.order_id)
        times[model] = fills[0].execution.ts_ms
    assert times["queue"] <= times["trade_through"]


def test_queue_position_model_consumes_the_queue_ahead_first() -> None:
    import random

    from bybit_mm.domain.orders import Side
    from bybit_mm.sim.matching import OrderRecord, QueuePositionModel

    q = QueuePositionModel(random.Random(1), cancel_rate_per_s=0.0)
    o = OrderRecord(order_id="x", order_link_id="", symbol="BTCUSDT", side=Side.BUY, order_type="Limit",
                    price=D("1"), tick=10, qty=D("1"), time_in_force="GTC", reduce_only=False,
                    created_ms=0, active_ms=0, seq=1)
    q.on_join(o, 5)
    assert q.fillable(o, False, 3) == 0 and o.queue_ahead == 2
    assert q.fillable(o, False, 4) == 2 and o.queue_ahead == 0
    q.on_join(o, 5)
    assert q.fillable(o, True, 3) == 3  # through our price: no queue left
    q.on_join(o, 5)
    q.on_step(o, 0, 100)  # the touch moved behind us: nobody ahead
    assert o.queue_ahead == 0


def test_leverage_and_margin_mode_settings(ex) -> None:
    assert ex.leverage("BTCUSDT") == D("10") and ex.margin_mode("BTCUSDT") == "cross"
    with pytest.raises(SimError) as e:
        ex.set_leverage("BTCUSDT", D("10"))
    assert e.value.ret_code == 110043
    with pytest.raises(SimError) as e:
        ex.set_leverage("BTCUSDT", ex.instrument("BTCUSDT").max_leverage + 1)
    assert e.value.ret_code == 110013
    ex.set_leverage("BTCUSDT", D("50"))
    assert ex.leverage("BTCUSDT") == D("50")
    with pytest.raises(SimError) as e:
        ex.set_margin_mode("REGULAR_MARGIN")
    assert e.value.ret_code == 110026
    ex.set_margin_mode("ISOLATED_MARGIN")
    assert ex.margin_mode("BTCUSDT") == "isolated"
    with pytest.raises(SimError) as e:
        ex.set_margin_mode("isolated", "BTCUSDT")
    assert e.value.ret_code == 110026
