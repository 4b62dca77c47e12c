"""The account ledger: domain-exact fills, funding at funding times, liquidation by mark at the
bankruptcy price, the accounting invariant over a long random run, persistence, determinism."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from decimal import Decimal as D

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.margin import isolated_liquidation
from bybit_mm.domain.position import unrealized_pnl
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.market import MarketParams, SyntheticMarketParams
from bybit_mm.sim.models import FundingEvent

DAY0 = 1_767_225_600_000
HOUR = 3_600_000


#: The average entry price is a quotient (often a repeating decimal), so Decimal's 28 significant
#: digits round sums of realised PnL around 1e-23 USDT; the books must agree far below a cent.
EPS = D("1e-12")


def _close(a: D, b: D) -> bool:
    return abs(a - b) <= EPS


def _invariant(ex) -> None:
    led = ex.ledger
    realised = sum((p.realized_pnl for p in led.positions.values()), D(0))
    fees = sum((p.fees_paid for p in led.positions.values()), D(0))
    funding = sum((p.funding_paid for p in led.positions.values()), D(0))
    assert _close(led.balance, led.deposits + realised - fees - funding)
    w = ex.wallet()
    marks = {s: ex.mark_price(s) for s in ex.symbols}
    upnl = sum((unrealized_pnl(p, marks[s]) for s, p in led.positions.items()), D(0))
    assert _close(w.equity, w.wallet_balance + upnl) and _close(w.unrealised_pnl, upnl)
    # the execution history tells the same story
    execs = ex.executions(limit=10**9)
    # trades and liquidations (a BustTrade charges the fee to close) both pay fees
    trade_fees = sum((e.fee for e in execs if e.exec_type in ("Trade", "BustTrade")), D(0))
    paid_funding = sum((e.fee for e in execs if e.exec_type == "Funding"), D(0))
    pnl = sum((e.realised_pnl for e in execs), D(0))
    assert _close(trade_fees, fees) and _close(paid_funding, funding) and _close(pnl, realised)


def test_fill_matches_the_domain_math_exactly(make_ex) -> None:
    ex = make_ex(balance=D("10000"))
    ex.set_margin_mode("isolated")
    ex.set_leverage("BTCUSDT", D("50"))
    o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D("0.1"))
    execs = ex.executions("BTCUSDT")
    cost = sum((e.price * e.qty for e in execs), D(0))
    entry = cost / D("0.1")
    fees = cost * D("0.00055")
    assert o.avg_price == entry
    pos = ex.positions("BTCUSDT")[0]
    info = isolated_liquidation(ex.instrument("BTCUSDT"), "long", entry, D("0.1"), D("50"),
                                taker_rate=D("0.00055"))
    assert pos.entry_price == entry and pos.liq_price == info.liquidation_price
    # Bybit's positionIM / positionMM: IM / MM plus the fee to close at the bankruptcy price
    assert pos.bust_price == info.bankruptcy_price and pos.position_im == info.position_margin
    assert pos.position_mm == info.reported_maintenance_margin
    assert ex.wallet().wallet_balance == D("10000") - fees
    _invariant(ex)


def test_funding_at_the_funding_time_only_for_open_positions(make_ex) -> None:
    hourly = replace(get_instrument("BTCUSDT"), funding_interval_min=60)
    ex = make_ex(instruments={"BTCUSDT": hourly}, start_ms=DAY0 + HOUR - 120_000)
    ex.place_order(symbol="BTCUSDT", side="Sell", order_type="Market", qty=D("0.05"))
    balance = ex.wallet().wallet_balance
    events = ex.run_until(DAY0 + HOUR - 1)
    assert not [e for e in events if isinstance(e, FundingEvent)]
    events = ex.run_until(DAY0 + HOUR + 1000)
    funding = [e for e in events if isinstance(e, FundingEvent)]
    assert len(funding) == 1 and funding[0].ts_ms == DAY0 + HOUR
    f = funding[0]
    assert f.payment == D("-0.05") * f.mark * f.rate  # a short receives a positive rate
    assert ex.wallet().wallet_balance == balance - f.payment
    assert ex.executions(limit=1)[0].exec_type == "Funding"
    assert (f.ts_ms, f.rate) == ex.funding_history("BTCUSDT", 1)[0]
    # flat at the next funding time: nothing is paid
    ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D("0.05"), reduce_only=True)
    assert ex.positions()[0].size == 0
    events = ex.run_until(DAY0 + 2 * HOUR + 1000)
    assert not [e for e in events if isinstance(e, FundingEvent)]
    assert [t for t, _ in ex.funding_history("BTCUSDT", 5)][:2] == [DAY0 + 2 * HOUR, DAY0 + HOUR]
    _invariant(ex)


def test_isolated_liquidation_by_mark_at_the_bankruptcy_price(make_ex, until_liquidation) -> None:
    falling = SyntheticMarketParams(annual_vol=0.8, annual_drift=-3_000.0)
    ex = make_ex(balance=D("5000"), market_params=MarketParams(history_minutes=2, symbols={"BTCUSDT": falling}))
    ex.set_margin_mode("isolated")
    ex.set_leverage("BTCUSDT", D("50"))
    ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D("0.2"))
    pos = ex.positions("BTCUSDT")[0]
    wallet_before = ex.wallet().wallet_balance
    far = ex.ticker("BTCUSDT").bid - 3000
    resting = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.001"), price=far)
    liq, marks_seen = until_liquidation(ex, max_s=600)
    assert liq is not None, "the falling market should liquidate a 50x long"
    assert liq.mark_price <= pos.liq_price and liq.bust_price == pos.bust_price
    assert all(m > pos.liq_price for m in marks_seen[:-1])  # not before the mark reached the LP
    bust = ex.executions(limit=1)[0]
    assert bust.exec_type == "BustTrade" and bust.price == pos.bust_price and bust.qty == D("0.2")
    assert bust.fee == D("0.2") * pos.bust_price * D("0.00055")  # the fee to close, charged
    # the wallet loses exactly the position margin (IM + fee to close), nothing more
    assert liq.loss == pos.position_im
    assert ex.wallet().wallet_balance == wallet_before - pos.position_im
    assert ex.positions("BTCUSDT")[0].size == 0
    assert ex.get_order(order_id=resting.order_id).status == "Cancelled"
    _invariant(ex)


def test_accounting_invariant_over_a_long_random_run(make_ex) -> None:
    ex = make_ex(seed=99, symbols=("BTCUSDT", "ETHUSDT"), balance=D("50000"), queue_model="queue",
                 latency_ms=30)
    rnd = random.Random(4)
    ex.set_margin_mode("isolated", "ETHUSDT")
    ex.set_leverage("ETHUSDT", D("25"))
    for i in range(900):  # 900 random actions, 4 simulated seconds apart: one hour
        symbol = rnd.choice(ex.symbols)
        t = ex.ticker(symbol)
        tick = ex.instrument(symbol).tick_size
        qty = ex.instrument(symbol).min_qty * rnd.randint(1, 20)
        action = rnd.random()
        try:
            if action < 0.5:
                side = rnd.choice(("Buy", "Sell"))
                ref = t.bid if side == "Buy" else t.ask
                off = rnd.randint(0, 30) * tick
                price = ref - off if side == "Buy" else ref + off
                ex.place_order(symbol=symbol, side=side, order_type="Limit", qty=qty, price=price,
                               time_in_force=rnd.choice(("GTC", "PostOnly")), order_link_id=f"o{i}")
            elif action < 0.6:
                ex.place_order(symbol=symbol, side=rnd.choice(("Buy", "Sell")), order_type="Market", qty=qty,
                               reduce_only=rnd.random() < 0.3)
            elif action < 0.75 and ex.open_orders(symbol):
                o = rnd.choice(ex.open_orders(symbol))
                ex.amend_order(symbol=symbol, order_id=o.order_id, price=o.price + rnd.choice((-1, 1)) * tick)
            elif action < 0.9 and ex.open_orders(symbol):
                ex.cancel_order(symbol=symbol, order_id=rnd.choice(ex.open_orders(symbol)).order_id)
            elif action < 0.92:
                ex.cancel_all(symbol)
        except SimError as e:
            assert e.ret_code in (110007, 110017, 110001, 10001, 110072, 110090)
        ex.run_until(ex.clock.now_ms() + 4000)
        if i % 100 == 0:
            _invariant(ex)
    _invariant(ex)
    assert len(ex.executions(limit=10**9)) > 50
    assert any(e.is_maker for e in ex.executions(limit=10**9))


def test_same_seed_same_tape_and_same_account(make_ex) -> None:
    def run(seed: int):
        ex = make_ex(seed=seed)
        bid = ex.ticker("BTCUSDT").bid
        ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"), price=bid - 30)
        ex.run_until(ex.clock.now_ms() + 600_000)
        tape = [(t.trade_id, t.ts_ms, t.price, t.qty, t.side) for t in ex.recent_trades("BTCUSDT", 1000)]
        return tape, ex.wallet(), ex.executions()

    a, b, c = run(8), run(8), run(9)
    assert a == b
    assert a[0] != c[0]


def test_account_state_round_trips_through_json(make_ex) -> None:
    ex = make_ex()
    ex.set_leverage("BTCUSDT", D("20"))
    ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D("0.01"))
    bid = ex.ticker("BTCUSDT").bid
    o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"), price=bid - 50,
                       order_link_id="keep")
    state = json.loads(json.dumps(ex.account_state()))
    other = make_ex()
    other.load_account_state(state)
    assert other.wallet().wallet_balance == ex.wallet().wallet_balance
    assert other.leverage("BTCUSDT") == D("20")
    assert other.positions()[0].size == D("0.01")
    assert [x.order_id for x in other.open_orders()] == [o.order_id]
    assert other.get_order(order_link_id="keep").price == bid - 50
    assert other.executions() == ex.executions()
    _invariant(other)


def test_set_balance_is_a_deposit_not_pnl(ex) -> None:
    ex.set_balance(D("25000"))
    w = ex.wallet()
    assert w.wallet_balance == D("25000") and w.cum_realised_pnl == 0
    _invariant(ex)


def test_order_margin_float_bound_never_below_the_exact_cost() -> None:
    """check_order's float screen (an upper bound) never lets an order through that the exact
    Decimal order cost would refuse: random positions, sides, sizes, prices and leverages."""
    from bybit_mm.domain.orders import Side
    from bybit_mm.sim.ledger import Ledger

    inst = get_instrument("BTCUSDT")
    rng = random.Random(11)
    for _ in range(400):
        led = Ledger({"BTCUSDT": inst}, D(100_000), D("0.00055"))
        led.leverage["BTCUSDT"] = D(rng.choice([1, 2, 5, 10, 25, 50, 100]))
        if rng.random() < 0.6:
            led.fill("BTCUSDT", rng.choice([Side.BUY, Side.SELL]), D(rng.randint(1, 50)) / 1000,
                     D(rng.randint(90_000, 110_000)), D("0.0002"), 0)
        live = [(rng.choice([Side.BUY, Side.SELL]), D(rng.randint(1, 30)) / 1000,
                 D(rng.randint(900_000, 1_100_000)) / 10) for _ in range(rng.randint(0, 4))]
        side, qty, price = rng.choice([Side.BUY, Side.SELL]), D(rng.randint(1, 30)) / 1000, D(rng.randint(90_000, 110_000))
        exact = led.order_cost("BTCUSDT", [*live, (side, qty, price)])
        assert led._orders_im_bound("BTCUSDT", side, qty, price, {"BTCUSDT": live}) >= float(exact)


def test_order_margin_at_the_boundary_is_decided_exactly() -> None:
    """Free margin exactly the order cost passes; one hundred-millionth less is refused."""
    from bybit_mm.domain.orders import Side
    from bybit_mm.sim.ledger import Ledger

    inst = get_instrument("BTCUSDT")
    led = Ledger({"BTCUSDT": inst}, D(1), D("0.00055"))
    led.leverage["BTCUSDT"] = D(50)
    cost = led.order_cost("BTCUSDT", [(Side.SELL, D("0.01"), D(100_000))])
    led.set_balance(cost)
    led.check_order("BTCUSDT", Side.SELL, D("0.01"), D(100_000), {}, {"BTCUSDT": D(100_000)}, D(99_999))
    led.set_balance(cost - D("1e-8"))
    try:
        led.check_order("BTCUSDT", Side.SELL, D("0.01"), D(100_000), {}, {"BTCUSDT": D(100_000)}, D(99_999))
    except SimError as e:
        assert e.ret_code == 110007
    else:
        raise AssertionError("an order beyond the free margin passed")
