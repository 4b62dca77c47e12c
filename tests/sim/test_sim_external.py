"""SimExchange on an external market: fed trades, book and mark drive the same matching and ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bybit_mm.domain.margin import isolated_liquidation
from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import Position, apply_fill
from bybit_mm.sim.clock import SimClock
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.exchange import SimExchange
from bybit_mm.sim.models import BookSnapshot, FillEvent, FundingEvent, LiquidationEvent, Trade

from .conftest import DAY0, make_exchange

BTC = "BTCUSDT"
D = Decimal


def book(bid: str, ask: str, *, ts: int = DAY0, levels: list[tuple[str, str]] | None = None,
         size: str = "2") -> BookSnapshot:
    """A BTC book with a touch at bid/ask, ``size`` at each touch; ``levels`` adds asks."""
    asks = [(D(ask), D(size))] + [(D(p), D(q)) for p, q in (levels or [])]
    return BookSnapshot(BTC, ts, 0, 0, [(D(bid), D(size)), (D(bid) - D("0.5"), D(size))], asks)


def trade(tid: str, ts: int, price: str, qty: str, side: Side) -> Trade:
    return Trade(tid, BTC, ts, D(price), D(qty), side)


@pytest.fixture
def ext() -> SimExchange:
    """A BTC exchange on an external market, fed one book at 95,000.0 / 95,000.1."""
    sim = SimExchange(symbols=(BTC,), clock=SimClock(DAY0), market_source="external")
    sim.feed_market(BTC, ts_ms=DAY0, book=book("95000.0", "95000.1"), mark=D("95000.0"),
                    funding_rate=D("0.0001"), next_funding_ms=DAY0 + 8 * 3_600_000)
    return sim


def fills(events) -> list:
    return [e.execution for e in events if isinstance(e, FillEvent)]


def test_fed_book_is_the_book_and_the_ticker(ext: SimExchange) -> None:
    ob = ext.orderbook(BTC, 5)
    assert ob.bids[0] == (D("95000.0"), D("2.000")) and ob.asks[0] == (D("95000.1"), D("2.000"))
    t = ext.ticker(BTC)
    assert (t.bid, t.ask, t.mark, t.funding_rate) == (D("95000.0"), D("95000.1"), D("95000.0"), D("0.0001"))
    assert t.next_funding_ms == DAY0 + 8 * 3_600_000


def test_resting_bid_fills_at_its_own_price_when_a_print_trades_through(ext: SimExchange) -> None:
    o = ext.place_order(symbol=BTC, side="Buy", order_type="Limit", qty=D("0.01"), price=D("94990.0"),
                        time_in_force="PostOnly")
    ext.clock.advance(1000)
    # At our price: trade-through model, we are last in the queue -> no fill.
    ext.feed_market(BTC, ts_ms=DAY0 + 1000, trades=[trade("a", DAY0 + 900, "94990.0", "5", Side.SELL)])
    assert not fills(ext.advance())
    ext.feed_market(BTC, ts_ms=DAY0 + 2000, trades=[trade("b", DAY0 + 1500, "94980.0", "0.004", Side.SELL),
                                                    trade("c", DAY0 + 1600, "94970.0", "1", Side.SELL)])
    got = fills(ext.advance())
    assert [(f.price, f.qty, f.is_maker) for f in got] == [(D("94990.0"), D("0.004"), True),
                                                         (D("94990.0"), D("0.006"), True)]
    assert ext.get_order(order_id=o.order_id).status == "Filled"
    pos = ext.positions(BTC)[0]
    assert (pos.side, pos.size, pos.entry_price) == ("Buy", D("0.010"), D("94990.0"))


def test_a_print_older_than_the_order_never_fills_it(ext: SimExchange) -> None:
    ext.clock.set(DAY0 + 5000)
    ext.place_order(symbol=BTC, side="Buy", order_type="Limit", qty=D("0.01"), price=D("94990.0"))
    # The feed delivers late: a print from before the order was placed.
    ext.feed_market(BTC, ts_ms=DAY0 + 6000, trades=[trade("old", DAY0 + 4000, "94900.0", "1", Side.SELL)])
    assert not fills(ext.advance())
    ext.feed_market(BTC, ts_ms=DAY0 + 7000, trades=[trade("new", DAY0 + 6500, "94900.0", "1", Side.SELL)])
    assert [f.price for f in fills(ext.advance())] == [D("94990.0")]


def test_a_trade_fed_twice_fills_once(ext: SimExchange) -> None:
    ext.place_order(symbol=BTC, side="Buy", order_type="Limit", qty=D("0.05"), price=D("94990.0"))
    ext.clock.advance(1000)
    t = trade("dup", DAY0 + 500, "94900.0", "0.01", Side.SELL)
    ext.feed_market(BTC, ts_ms=DAY0 + 1000, trades=[t])
    ext.feed_market(BTC, ts_ms=DAY0 + 2000, trades=[t])
    assert sum(f.qty for f in fills(ext.advance())) == D("0.01")
    assert [x.trade_id for x in ext.recent_trades(BTC)] == ["dup"]


def test_market_order_walks_the_fed_book_across_gaps(ext: SimExchange) -> None:
    ext.feed_market(BTC, ts_ms=DAY0 + 1, book=book("95000.0", "95000.1", size="0.01",
                                                   levels=[("95003.0", "0.02"), ("95010.0", "1")]))
    o = ext.place_order(symbol=BTC, side="Buy", order_type="Market", qty=D("0.05"))
    got = fills(ext.advance())
    assert [(f.price, f.qty, f.is_maker) for f in got] == [
        (D("95000.1"), D("0.01"), False), (D("95003.0"), D("0.02"), False), (D("95010.0"), D("0.02"), False)]
    assert ext.get_order(order_id=o.order_id).status == "Filled"
    assert ext.recent_trades(BTC, 3)[0].price == D("95010.0")  # our prints are on the tape


def test_post_only_checks_against_the_fed_book(ext: SimExchange) -> None:
    crossing = ext.place_order(symbol=BTC, side="Buy", order_type="Limit", qty=D("0.01"), price=D("95000.1"),
                               time_in_force="PostOnly")
    assert ext.get_order(order_id=crossing.order_id).reject_reason == "EC_PostOnlyWillTakeLiquidity"
    inside = ext.place_order(symbol=BTC, side="Sell", order_type="Limit", qty=D("0.01"), price=D("95000.1"),
                             time_in_force="PostOnly")
    assert ext.get_order(order_id=inside.order_id).status == "New"


def test_fed_mark_drives_upnl_and_isolated_liquidation(ext: SimExchange) -> None:
    ext.set_margin_mode("isolated")
    ext.set_leverage(BTC, D(50))
    ext.place_order(symbol=BTC, side="Buy", order_type="Market", qty=D("0.1"))
    pos = ext.positions(BTC)[0]
    entry = pos.entry_price
    ext.clock.advance(1000)
    ext.feed_market(BTC, ts_ms=DAY0 + 1000, mark=entry + 100)
    assert ext.positions(BTC)[0].unrealised_pnl == D("0.1") * 100
    info = isolated_liquidation(ext.instrument(BTC), Side.BUY, entry, D("0.1"), D(50), taker_rate=D("0.00055"))
    before = ext.wallet().wallet_balance
    ext.clock.advance(1000)
    ext.feed_market(BTC, ts_ms=DAY0 + 2000, mark=info.liquidation_price)
    liq = [e for e in ext.advance() if isinstance(e, LiquidationEvent)]
    assert len(liq) == 1 and liq[0].bust_price == info.bankruptcy_price
    assert ext.positions(BTC)[0].size == 0
    assert before - ext.wallet().wallet_balance == info.position_margin  # IM + fee to close


def test_funding_settles_once_at_the_fed_time_with_the_rate_before(ext: SimExchange) -> None:
    funding_at = DAY0 + 8 * 3_600_000
    ext.place_order(symbol=BTC, side="Sell", order_type="Market", qty=D("0.1"))
    ext.advance()
    ext.clock.set(funding_at - 1000)
    ext.feed_market(BTC, ts_ms=funding_at - 1000, mark=D("95000.0"), funding_rate=D("0.0003"),
                    next_funding_ms=funding_at)
    assert not [e for e in ext.advance() if isinstance(e, FundingEvent)]
    ext.clock.set(funding_at + 500)
    # A stale feed after the settlement still names the time just settled: not settled again.
    ext.feed_market(BTC, ts_ms=funding_at - 10, mark=D("95000.0"), funding_rate=D("-0.002"),
                    next_funding_ms=funding_at)
    ext.feed_market(BTC, ts_ms=funding_at + 600, mark=D("95000.0"), funding_rate=D("-0.002"),
                    next_funding_ms=funding_at + 8 * 3_600_000)
    paid = [e for e in ext.advance() if isinstance(e, FundingEvent)]
    assert [(e.ts_ms, e.rate) for e in paid] == [(funding_at, D("0.0003"))]
    assert paid[0].payment == -(D("0.1") * D("95000.0") * D("0.0003"))  # a short receives positive funding
    assert ext.ticker(BTC).next_funding_ms == funding_at + 8 * 3_600_000


def test_ledger_matches_the_domain_and_the_accounting_invariant(ext: SimExchange) -> None:
    ext.place_order(symbol=BTC, side="Buy", order_type="Limit", qty=D("0.02"), price=D("94990.0"))
    ext.place_order(symbol=BTC, side="Sell", order_type="Limit", qty=D("0.01"), price=D("95010.0"))
    ext.clock.advance(1000)
    ext.feed_market(BTC, ts_ms=DAY0 + 1000, trades=[trade("1", DAY0 + 1000, "94980.0", "1", Side.SELL),
                                                    trade("2", DAY0 + 1000, "95020.0", "1", Side.BUY)],
                    mark=D("95001.0"))
    pos, fee_total = Position.flat(BTC), D(0)
    for side, qty, price in ((Side.BUY, D("0.02"), D("94990.0")), (Side.SELL, D("0.01"), D("95010.0"))):
        pos, eff = apply_fill(pos, side, qty, price, D("0.0002"))
        fee_total += eff.fee
    w = ext.wallet()
    assert w.wallet_balance == D(10000) + pos.realized_pnl - fee_total
    assert w.equity == w.wallet_balance + ext.positions(BTC)[0].unrealised_pnl


def test_instrument_can_be_replaced_with_live_specs(ext: SimExchange) -> None:
    from dataclasses import replace

    o = ext.place_order(symbol=BTC, side="Buy", order_type="Limit", qty=D("0.01"), price=D("94990.0"))
    ext.set_instrument(replace(ext.instrument(BTC), tick_size=D("0.5")))
    ext.clock.advance(1000)
    ext.feed_market(BTC, ts_ms=DAY0 + 1000, book=book("95000.0", "95000.5"),
                    trades=[trade("t", DAY0 + 900, "94989.5", "1", Side.SELL)])
    assert [f.price for f in fills(ext.advance())] == [D("94990.0")]
    assert ext.get_order(order_id=o.order_id).status == "Filled"


def test_no_data_yet_is_a_sim_error_and_not_a_crash() -> None:
    sim = SimExchange(symbols=(BTC,), clock=SimClock(DAY0), market_source="external")
    with pytest.raises(SimError) as e:
        sim.place_order(symbol=BTC, side="Buy", order_type="Market", qty=D("0.01"))
    assert e.value.ret_code == 10016
    assert sim.wallet().wallet_balance == D(10000)


def test_per_symbol_sources_and_synthetic_markets_untouched() -> None:
    sim = SimExchange(symbols=(BTC, "ETHUSDT"), clock=SimClock(DAY0), market_source={BTC: "external"})
    assert sim.is_external(BTC) and not sim.is_external("ETHUSDT")
    with pytest.raises(ValueError):
        sim.feed_market("ETHUSDT", ts_ms=DAY0)
    with pytest.raises(ValueError):
        SimExchange(symbols=(BTC,), clock=SimClock(DAY0), market_source="replay")


def test_synthetic_market_resumes_from_a_saved_mid() -> None:
    sim = make_exchange()
    sim.resume_market(BTC, D("60000"))
    t = sim.ticker(BTC)
    assert abs(t.mark - 60000) < 60 and abs((t.bid + t.ask) / 2 - 60000) < 1
    assert all(abs(x.price - 60000) < 600 for x in sim.recent_trades(BTC, 100))
    state = sim.market_state()[BTC]
    assert state["source"] == "synthetic" and abs(D(state["mid"]) - 60000) < 1
