"""Bybit's liquidation loss and margin in the sim (issue 13, item 4), on fed markets at exact prices.

Isolated: taken over at the bankruptcy price with the fee to close, so the wallet loses the
position margin (IM + fee to close). Cross: taken over at the bankruptcy price, so the cross
margin balance is lost entirely. Orders that would leave a position beyond the known risk-limit
tiers are refused.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bybit_mm.domain.margin import cross_bankruptcy_price
from bybit_mm.exchange.paper_client import position_info
from bybit_mm.sim.clock import SimClock
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.exchange import SimExchange
from bybit_mm.sim.models import BookSnapshot, LiquidationEvent

from .conftest import DAY0

D = Decimal
BTC, ETH = "BTCUSDT", "ETHUSDT"
TAKER = D("0.00055")
#: Decimal's 28 digits round quotients around 1e-20 USDT; the books must agree far below a cent.
EPS = D("1e-12")
CENT = D("0.01")


def _book(symbol: str, bid: D, ask: D, size: str = "50") -> BookSnapshot:
    return BookSnapshot(symbol, DAY0, 0, 0, [(bid, D(size))], [(ask, D(size))])


def _exchange(*symbols: str, balance: str = "10000") -> SimExchange:
    return SimExchange(symbols=symbols, clock=SimClock(DAY0), market_source="external", balance=D(balance))


def _feed(ex: SimExchange, symbol: str, mark: D, *, bid: D | None = None, ask: D | None = None) -> list:
    """Advance one second and feed ``symbol`` a mark (and optionally a new touch); return the events."""
    ex.clock.advance(1000)
    now = ex.clock.now_ms()
    book = _book(symbol, bid, ask) if bid is not None and ask is not None else None
    ex.feed_market(symbol, ts_ms=now, book=book, mark=mark)
    return ex.advance()


def _open(ex: SimExchange, symbol: str, side: str, qty: str, price: D, *, leverage: str, mode: str) -> None:
    """Open ``qty`` at exactly ``price`` (the fed touch) with a taker IOC order."""
    tick = ex.instrument(symbol).tick_size
    ex.feed_market(symbol, ts_ms=DAY0, book=_book(symbol, price - tick, price) if side == "Buy"
                   else _book(symbol, price, price + tick), mark=price)
    if ex.margin_mode(symbol) != mode:
        ex.set_margin_mode(mode, symbol)
    if ex.leverage(symbol) != D(leverage):
        ex.set_leverage(symbol, D(leverage))
    ex.place_order(symbol=symbol, side=side, order_type="Limit", price=price, qty=D(qty), time_in_force="IOC")
    pos = ex.positions(symbol)[0]
    assert pos.entry_price == price and pos.size == D(qty)


def test_isolated_1_btc_at_95000_50x_loses_1951_205() -> None:
    """Bybit: IM 1,900 + fee to close 1 x 93,100 x 0.055% = 1,951.205 (the sim used to lose 1,900)."""
    ex = _exchange(BTC)
    _open(ex, BTC, "Buy", "1", D(95000), leverage="50", mode="isolated")
    pos = ex.positions(BTC)[0]
    assert pos.position_im == D("1951.205") and pos.bust_price == 93100
    assert pos.position_mm == D(475) + D("51.205")  # Bybit's positionMM carries the fee too
    before = ex.wallet().wallet_balance
    events = _feed(ex, BTC, pos.liq_price)
    (liq,) = [e for e in events if isinstance(e, LiquidationEvent)]
    assert liq.bust_price == 93100 and liq.loss == D("1951.205")
    assert before - ex.wallet().wallet_balance == D("1951.205")
    bust = ex.executions(limit=1)[0]
    assert (bust.exec_type, bust.price, bust.fee, bust.fee_rate) == ("BustTrade", 93100, D("51.205"), TAKER)
    assert bust.realised_pnl == -1900 and ex.positions(BTC)[0].size == 0


def test_roi_of_0_2_btc_at_7000_10x_at_7500_is_bybits_71_0767_pct() -> None:
    """`positions` divides uPnL by the position margin 140.693 (IM 140 + fee to close 0.693)."""
    ex = _exchange(BTC)
    _open(ex, BTC, "Buy", "0.2", D(7000), leverage="10", mode="isolated")
    _feed(ex, BTC, D(7500))
    info = position_info(ex.positions(BTC)[0])
    assert info.position_margin == D("140.693") and info.unrealized_pnl == 100
    assert info.roi_pct is not None and abs(info.roi_pct - D("71.0767")) / D("71.0767") < D("1e-6")


def test_cross_liquidation_loses_the_whole_cross_balance_at_the_bankruptcy_price() -> None:
    """Closing at the mark fee-free used to leave about the maintenance margin in the wallet."""
    ex = _exchange(BTC, balance="1000")
    _open(ex, BTC, "Buy", "0.1", D(95000), leverage="50", mode="cross")
    wallet = ex.wallet().wallet_balance
    assert wallet == 1000 - D("9500") * TAKER
    pos = ex.positions(BTC)[0]
    expected_bust = cross_bankruptcy_price("long", D(95000), D("0.1"), wallet, TAKER)
    assert pos.bust_price == expected_bust
    # (a cent either side of the reported LP: Decimal rounds the LP in its 28th digit)
    assert not [e for e in _feed(ex, BTC, pos.liq_price + CENT) if isinstance(e, LiquidationEvent)]
    events = _feed(ex, BTC, pos.liq_price - CENT)
    (liq,) = [e for e in events if isinstance(e, LiquidationEvent)]
    assert liq.bust_price == expected_bust < liq.mark_price
    assert abs(liq.loss - wallet) <= EPS
    # Nothing is left: not the ~47.5 USDT of maintenance margin a mark-price close would leave.
    assert abs(ex.wallet().wallet_balance) <= EPS
    bust = ex.executions(limit=1)[0]
    assert bust.exec_type == "BustTrade" and bust.price == expected_bust
    assert bust.fee == D("0.1") * expected_bust * TAKER


def test_cross_liquidation_keeps_what_isolated_positions_hold() -> None:
    ex = _exchange(BTC, ETH, balance="2000")
    _open(ex, ETH, "Sell", "1", D(3000), leverage="25", mode="isolated")
    _open(ex, BTC, "Buy", "0.1", D(95000), leverage="50", mode="cross")
    eth = ex.positions(ETH)[0]
    assert eth.position_im == D(120) + D(3120) * TAKER  # IM + fee to close at 3,120
    # The cross position is backed by the wallet less the isolated margin, not by the whole wallet.
    wallet = ex.wallet().wallet_balance
    btc = ex.positions(BTC)[0]
    assert btc.bust_price == cross_bankruptcy_price("long", D(95000), D("0.1"), wallet - eth.position_im, TAKER)
    events = _feed(ex, BTC, btc.liq_price - CENT)
    assert [e.symbol for e in events if isinstance(e, LiquidationEvent)] == [BTC]
    assert abs(ex.wallet().wallet_balance - eth.position_im) <= EPS
    assert ex.positions(ETH)[0].size == 1  # the isolated short is untouched


def test_two_cross_positions_share_the_loss_and_the_wallet_ends_empty() -> None:
    ex = _exchange(BTC, ETH, balance="1500")
    _open(ex, BTC, "Buy", "0.1", D(95000), leverage="50", mode="cross")
    _open(ex, ETH, "Buy", "1", D(3000), leverage="50", mode="cross")
    wallet = ex.wallet().wallet_balance
    # BTC falls; ETH is flat: both are taken over once the cross equity reaches the total MM.
    liqs: list[LiquidationEvent] = []
    for price in range(95000, 70000, -100):
        liqs = [e for e in _feed(ex, BTC, D(price)) if isinstance(e, LiquidationEvent)]
        if liqs:
            break
    assert sorted(e.symbol for e in liqs) == [BTC, ETH]
    assert abs(sum((e.loss for e in liqs), D(0)) - wallet) <= EPS
    assert abs(ex.wallet().wallet_balance) <= EPS
    eth_bust = next(e for e in liqs if e.symbol == ETH).bust_price
    assert eth_bust < 3000  # ETH's share of what was left makes its takeover price worse than the mark


def test_an_add_that_would_leave_the_position_beyond_the_tiers_is_refused() -> None:
    """The check used the order price for the whole position: 28 x 90,000 = 2.52 M looked allowed
    while the averaged position (27 @ 95,000 + 1 @ 90,000) is worth 2.655 M > 2.6 M, BTC's last
    known tier."""
    ex = _exchange(BTC, balance="1000000")
    _open(ex, BTC, "Buy", "27", D(95000), leverage="10", mode="isolated")
    _feed(ex, BTC, D(90000), bid=D("89999.9"), ask=D(90000))
    with pytest.raises(SimError) as info:
        ex.place_order(symbol=BTC, side="Buy", order_type="Limit", qty=D(1), price=D(90000))
    assert info.value.ret_code == 110090
    ex.place_order(symbol=BTC, side="Buy", order_type="Limit", qty=D("0.3"), price=D(90000))  # 2.592 M: fine


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ARBUSDT"])
def test_a_synthetic_markets_liquidation_check_in_ticks_is_the_decimal_check(symbol: str) -> None:
    import random

    from bybit_mm.domain.liquidation import is_liquidated
    from bybit_mm.domain.orders import PositionSide

    from .conftest import make_exchange

    ex = make_exchange(symbols=(symbol,), history_minutes=1)
    m = ex._markets[symbol]
    rng = random.Random(5)
    base = m.mark_tick()
    # on the tick grid, between two ticks, or a hair either side of one (each line used many times)
    lines = [(base + k) * m.tick + off for k in range(-3, 4)
             for off in (D(0), m.tick / 2, m.tick / 3, D("1e-12"), D("-1e-12"))]
    for _ in range(3000):
        long = rng.random() < 0.5
        liq = rng.choice(lines)
        m.mark = float((base + rng.randint(-4, 4)) * m.tick) + rng.uniform(-0.4, 0.4) * float(m.tick)
        side = PositionSide.LONG if long else PositionSide.SHORT
        assert ex._at_liquidation(m, long, liq) == is_liquidated(side, m.mark_price(), liq)
