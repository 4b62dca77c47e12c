"""The port's contract, asserted identically against both adapters (paper, and ccxt + emulator)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bybit_mm.domain.margin import isolated_liquidation
from bybit_mm.domain.orders import Side
from bybit_mm.domain.rounding import round_liquidation_price
from bybit_mm.errors import InsufficientMargin, OrderRejected, UsageError
from bybit_mm.exchange.errors import OrderNotFound
from bybit_mm.exchange.port import FuturesClient

BTC = "BTCUSDT"


def test_both_adapters_implement_the_port(adapter) -> None:
    assert adapter.run(lambda c: _is_port(c))


async def _is_port(c) -> bool:
    return isinstance(c, FuturesClient) and not c.is_mainnet


def test_instrument_has_filters_and_risk_tiers(adapter) -> None:
    inst = adapter.run(lambda c: c.instrument(BTC))
    assert inst.symbol == BTC
    assert inst.tick_size == Decimal("0.1") and inst.qty_step == Decimal("0.001")
    assert inst.max_leverage == 100
    assert inst.risk_tiers and inst.risk_tiers[0].mmr == Decimal("0.005")
    assert [t.limit_value for t in inst.risk_tiers] == sorted(t.limit_value for t in inst.risk_tiers)


def test_market_data_is_consistent(adapter) -> None:
    async def go(c):
        return await c.ticker(BTC), await c.order_book(BTC, 5), await c.recent_trades(BTC, 50)

    ticker, book, trades = adapter.run(go)
    assert ticker.symbol == BTC and 0 < ticker.bid < ticker.ask
    assert ticker.mark > 0 and ticker.index > 0 and ticker.next_funding_ms > ticker.ts_ms
    assert len(book.bids) == 5 and len(book.asks) == 5
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    assert [p for p, _ in book.asks] == sorted(p for p, _ in book.asks)
    assert book.best_bid < book.best_ask and book.mid == (book.best_bid + book.best_ask) / 2
    assert 0 < len(trades) <= 50 and all(t.symbol == BTC and t.qty > 0 for t in trades)
    assert [t.ts_ms for t in trades] == sorted(t.ts_ms for t in trades)  # oldest first


def test_same_seed_same_market_through_both_adapters(paper_adapter, ccxt_adapter) -> None:
    a = paper_adapter.run(lambda c: c.order_book(BTC, 3))
    b = ccxt_adapter.run(lambda c: c.order_book(BTC, 3))
    assert (a.bids, a.asks) == (b.bids, b.asks)


def test_fresh_account_balance_and_fee_rates(adapter) -> None:
    async def go(c):
        return await c.balance(), await c.fee_rates(BTC), await c.positions(), await c.open_orders()

    bal, fees, positions, orders = adapter.run(go)
    assert bal.wallet_balance == bal.equity == bal.available == Decimal(10000)
    assert bal.unrealized_pnl == 0 and bal.order_margin == 0
    assert (fees.maker, fees.taker) == (Decimal("0.0002"), Decimal("0.00055"))
    assert positions == [] and orders == []


def test_set_leverage_is_idempotent_and_bounded(adapter) -> None:
    async def go(c):
        return await c.set_leverage(BTC, Decimal(50)), await c.set_leverage(BTC, Decimal(50))

    assert adapter.run(go) == (True, False)
    with pytest.raises(UsageError) as e:
        adapter.run(lambda c: c.set_leverage(BTC, Decimal(150)))
    assert e.value.ret_code == 110013


def test_margin_mode_switch_and_already_set(adapter) -> None:
    async def go(c):
        first = await c.set_margin_mode(BTC, "isolated")
        again = await c.set_margin_mode(BTC, "isolated")
        now = await c.margin_mode(BTC)
        back = await c.set_margin_mode(BTC, "cross")
        return first, again, now, back, await c.margin_mode(BTC)

    assert adapter.run(go) == (True, False, "isolated", True, "cross")


def test_resting_order_lifecycle_place_amend_cancel(adapter) -> None:
    async def go(c):
        book = await c.order_book(BTC, 1)
        price = book.best_bid - Decimal(50)
        placed = await c.place_order(BTC, Side.BUY, Decimal("0.01"), price, client_order_id="life-1")
        listed = await c.open_orders(BTC)
        amended = await c.amend_order(BTC, client_order_id="life-1", price=price - Decimal(10))
        by_id = await c.get_order(BTC, order_id=placed.order_id)
        cancelled = await c.cancel_order(BTC, order_id=placed.order_id)
        after = await c.get_order(BTC, client_order_id="life-1")
        return price, placed, listed, amended, by_id, cancelled, after, await c.open_orders(BTC)

    price, placed, listed, amended, by_id, cancelled, after, remaining = adapter.run(go)
    assert placed.status == "new" and placed.client_order_id == "life-1" and placed.price == price
    assert placed.time_in_force == "PostOnly" and placed.side is Side.BUY and placed.qty == Decimal("0.01")
    assert [o.order_id for o in listed] == [placed.order_id]
    assert amended.order_id == placed.order_id and amended.price == price - 10
    assert by_id is not None and by_id.price == price - 10 and by_id.is_open
    assert cancelled.status == "cancelled" and after is not None and after.status == "cancelled"
    assert remaining == []


def test_post_only_that_would_take_is_cancelled_not_refused(adapter) -> None:
    async def go(c):
        book = await c.order_book(BTC, 1)
        await c.place_order(BTC, Side.BUY, Decimal("0.01"), book.best_ask, client_order_id="po-x")
        return await c.get_order(BTC, client_order_id="po-x")

    order = adapter.run(go)
    assert order.status == "cancelled" and "PostOnly" in order.reject_reason


def test_cancel_all_counts_and_clears(adapter) -> None:
    async def go(c):
        book = await c.order_book(BTC, 1)
        await c.place_order(BTC, Side.BUY, Decimal("0.01"), book.best_bid - 100, client_order_id="ca-1")
        await c.place_order(BTC, Side.SELL, Decimal("0.01"), book.best_ask + 100, client_order_id="ca-2")
        return await c.cancel_all(BTC), await c.open_orders(), await c.cancel_all()

    assert adapter.run(go) == (2, [], 0)


def test_market_order_opens_position_with_domain_liquidation_price_and_flatten_closes(adapter) -> None:
    async def go(c):
        await c.set_margin_mode(BTC, "isolated")
        await c.set_leverage(BTC, Decimal(50))
        await c.place_order(BTC, Side.BUY, Decimal("0.02"), order_type="Market", time_in_force="IOC",
                            client_order_id="mkt-1")
        opened = await c.positions(BTC)
        inst = await c.instrument(BTC)
        fees = await c.fee_rates(BTC)
        closing = await c.close_position(BTC)
        return (opened, inst, fees, closing, await c.positions(), await c.executions(BTC),
                await c.close_position(BTC))

    opened, inst, fees, closing, after, fills, again = adapter.run(go)
    (pos,) = opened
    assert pos.side == "long" and pos.size == Decimal("0.02") and pos.leverage == 50
    assert pos.margin_mode == "isolated"
    expected = isolated_liquidation(inst, Side.BUY, pos.entry_price, pos.size, Decimal(50), taker_rate=fees.taker)
    # As Bybit shows it: on the tick grid, a long's rounded up (toward the mark).
    assert pos.liquidation_price == round_liquidation_price(expected.liquidation_price, inst.tick_size, Side.BUY)
    # Bybit's position margin: IM + fee to close at the bankruptcy price (ROI divides by it)
    assert abs(pos.position_margin - expected.position_margin) <= Decimal("1e-8")
    assert pos.roi_pct == pos.unrealized_pnl / pos.position_margin * 100
    assert pos.liq_distance_pct is not None and 0 < pos.liq_distance_pct < 2
    assert closing is not None and closing.reduce_only and closing.side is Side.SELL
    assert after == [] and again is None
    assert [f.client_order_id for f in fills] == ["mkt-1", closing.client_order_id]
    assert all(not f.is_maker and f.fee > 0 for f in fills)


def test_resting_orders_fill_at_their_own_price_when_the_market_trades_through(adapter) -> None:
    async def place(c):
        book = await c.order_book(BTC, 1)
        bid = await c.place_order(BTC, Side.BUY, Decimal("0.001"), book.best_bid - Decimal("0.5"),
                                  client_order_id="fill-b")
        ask = await c.place_order(BTC, Side.SELL, Decimal("0.001"), book.best_ask + Decimal("0.5"),
                                  client_order_id="fill-a")
        return bid, ask

    bid, ask = adapter.run(place)
    for _ in range(60):
        adapter.advance(10_000)
        got = adapter.run(lambda c: c.open_orders(BTC))
        if len(got) < 2:
            break
    fills = adapter.run(lambda c: c.executions(BTC))
    assert fills, "neither quote filled in ten simulated minutes"
    for f in fills:
        order = bid if f.order_id == bid.order_id else ask
        assert f.price == order.price and f.is_maker and f.side is order.side


def test_rejections_map_to_the_error_tree(adapter) -> None:
    async def live_order(c):
        book = await c.order_book(BTC, 1)
        await c.place_order(BTC, Side.BUY, Decimal("0.01"), book.best_bid - 100, client_order_id="dup-1")
        return book

    book = adapter.run(live_order)
    with pytest.raises(OrderRejected) as dup:
        adapter.run(lambda c: c.place_order(BTC, Side.BUY, Decimal("0.01"), book.best_bid - 100,
                                            client_order_id="dup-1"))
    assert dup.value.ret_code == 110072
    with pytest.raises(InsufficientMargin):
        adapter.run(lambda c: c.place_order(BTC, Side.BUY, Decimal("5"), book.best_bid - 100,
                                            client_order_id="big-1"))
    with pytest.raises(OrderNotFound):
        adapter.run(lambda c: c.cancel_order(BTC, client_order_id="nope"))
    assert adapter.run(lambda c: c.get_order(BTC, client_order_id="nope")) is None


#: 2026-01-01T08:00:00Z, a funding time of every 8-hourly symbol.
FUNDING_MS = 1_767_254_400_000


@pytest.fixture(params=["paper", "ccxt"])
def near_funding(request: pytest.FixtureRequest):
    """Each adapter over a same-seed sim whose market is five minutes before a funding time."""
    from bybit_mm.sim.clock import SimClock
    from fast_retry import fast_backoff
    from tests.exchange.conftest import SEED, SYMBOLS, Adapter, _NoLock

    start = FUNDING_MS - 900_000
    if request.param == "paper":
        from bybit_mm.exchange.paper_client import DryRunFuturesClient
        from bybit_mm.sim.exchange import SimExchange

        sim = SimExchange(symbols=SYMBOLS, seed=SEED, clock=SimClock(start))
        sim.run_until(start + 600_000)
        yield Adapter("paper", lambda: DryRunFuturesClient(sim), sim, _NoLock())
        return
    from bybit_mm.emulator.runner import running_emulator
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient

    with running_emulator(symbols=SYMBOLS, seed=SEED, rate_limits=False, clock=SimClock(start)) as emu:
        emu.run_until(start + 600_000)
        yield Adapter("ccxt", lambda: BybitFuturesClient(network="emulator", url=emu.url, api_key=emu.api_key,
                                                         api_secret=emu.api_secret, backoff=fast_backoff()),
                      emu.exchange, emu.lock)


def test_funding_at_a_funding_time_is_a_funding_execution(near_funding) -> None:
    async def open_long(c):
        await c.place_order(BTC, Side.BUY, Decimal("0.05"), order_type="Market", time_in_force="IOC",
                            client_order_id="fund-1")
        return await c.balance()

    before = near_funding.run(open_long)
    near_funding.advance(FUNDING_MS + 1_000 - near_funding.exchange.clock.now_ms())

    async def read(c):
        return await c.executions(BTC), await c.executions(BTC, since_ms=FUNDING_MS), await c.balance()

    execs, since, after = near_funding.run(read)
    assert [e.exec_type for e in execs] == ["trade", "funding"]
    trade, funding = execs
    assert trade.client_order_id == "fund-1" and not trade.is_funding
    assert since == [funding] and funding.is_funding
    # A settlement is no order (Bybit's execution carries a settlement id as orderId; the port drops it).
    assert funding.ts_ms == FUNDING_MS and funding.order_id == "" and funding.client_order_id == ""
    assert funding.side is Side.BUY and funding.qty == Decimal("0.05") and not funding.is_maker
    # The sim's own record (price = mark, fee = funding paid), and the wallet moved by exactly it.
    (sim_funding,) = [e for e in near_funding.exchange.executions(BTC) if e.exec_type == "Funding"]
    assert (funding.exec_id, funding.price, funding.fee) == (sim_funding.exec_id, sim_funding.price, sim_funding.fee)
    assert funding.fee == funding.qty * funding.price * sim_funding.fee_rate != 0
    assert before.wallet_balance - after.wallet_balance == funding.fee
