"""Cross margin: the liquidation price a cross position reports is the one the sim liquidates at."""

from __future__ import annotations

from decimal import Decimal as D

from bybit_mm.domain.margin import cross_bankruptcy_price, cross_close_fee_rate, cross_liquidation_price
from bybit_mm.sim.market import MarketParams, SyntheticMarketParams


def test_cross_position_reports_the_domain_liquidation_price(make_ex) -> None:
    ex = make_ex(balance=D("1000"))
    ex.set_leverage("BTCUSDT", D("50"))
    assert ex.margin_mode("BTCUSDT") == "cross"
    ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D("0.1"))
    pos = ex.positions("BTCUSDT")[0]
    tier = ex.instrument("BTCUSDT").tier_for(pos.position_value)
    backing = ex.wallet().wallet_balance  # no other position backs or burdens it
    taker = D("0.00055")
    # MM holds the fee to close at the bankruptcy price of the mark, as Bybit's positionMM does
    assert pos.liq_price == cross_liquidation_price("long", pos.entry_price, pos.size, backing, tier.mmr,
                                                    tier.mm_deduction, cross_close_fee_rate("long", D(50), taker))
    # bankrupt where the backing is gone once the fee to close is paid
    assert pos.bust_price == cross_bankruptcy_price("long", pos.entry_price, pos.size, backing, taker)
    assert pos.bust_price == (pos.entry_price * pos.size - backing) / (pos.size * (1 - taker))
    # A cross long of ~9,500 USDT on a ~1,000 USDT wallet is liquidated ~9.5% below entry, well
    # beyond the isolated 50x price (~1.5% below): the whole wallet stands behind it.
    assert pos.bust_price < pos.liq_price < pos.entry_price * D("0.92")


def test_cross_long_is_liquidated_when_the_mark_reaches_its_reported_price(make_ex, until_liquidation) -> None:
    falling = SyntheticMarketParams(annual_vol=0.8, annual_drift=-3_000.0)
    ex = make_ex(balance=D("200"), market_params=MarketParams(history_minutes=2, symbols={"BTCUSDT": falling}))
    ex.set_leverage("BTCUSDT", D("50"))
    ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D("0.08"))
    reported = ex.positions("BTCUSDT")[0].liq_price
    assert reported is not None
    liq, marks = until_liquidation(ex, max_s=900)
    assert liq is not None, "the falling market should liquidate a 50x cross long on a small wallet"
    assert marks[-1] <= reported  # liquidated once the mark reached the reported price ...
    assert all(m > reported for m in marks[:-1])  # ... and not before
    assert ex.positions("BTCUSDT")[0].size == 0
