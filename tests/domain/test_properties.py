"""Hypothesis properties of the futures math (issue 3, "Done when")."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from bybit_mm.domain.liquidation import settle_liquidation
from bybit_mm.domain.margin import (bankruptcy_price, fee_to_close, initial_margin, liquidation_price,
                                    position_margin)
from bybit_mm.domain.orders import PositionSide, Side
from bybit_mm.domain.position import (Position, apply_fill, apply_funding, roi, unrealized_pnl)

prices = st.decimals(min_value=D("0.01"), max_value=D("200000"), places=2)
qtys = st.decimals(min_value=D("0.001"), max_value=D("1000"), places=3)
mmrs = st.decimals(min_value=D("0.001"), max_value=D("0.1"), places=4)
rates = st.decimals(min_value=D("-0.0002"), max_value=D("0.001"), places=5)
sides = st.sampled_from(list(PositionSide))
order_sides = st.sampled_from(list(Side))

#: Per-test settings (not a global profile, which would change other packages' tests).
SETTINGS = settings(max_examples=200, deadline=None)


def _max_leverage(mmr: D) -> int:
    """The largest integer leverage whose IMR (1/L) still exceeds MMR, as Bybit's tiers ensure."""
    lev = int(1 / mmr)
    while lev > 1 and 1 / D(lev) <= mmr:
        lev -= 1
    return lev


@st.composite
def isolated_positions(draw):  # type: ignore[no-untyped-def]
    mmr = draw(mmrs)
    lev = D(draw(st.integers(min_value=1, max_value=max(1, _max_leverage(mmr)))))
    entry, qty = draw(prices), draw(qtys)
    # A deduction up to the position's own MM at this MMR (it only ever lowers MM).
    ded = draw(st.decimals(min_value=D(0), max_value=qty * entry * mmr, places=2))
    return draw(sides), entry, qty, lev, mmr, ded


@SETTINGS
@given(isolated_positions())
def test_liquidation_lies_between_entry_and_bankruptcy_on_the_losing_side(case) -> None:  # type: ignore[no-untyped-def]
    side, entry, qty, lev, mmr, ded = case
    lp = liquidation_price(side, entry, qty, lev, mmr, ded)
    bp = bankruptcy_price(side, entry, lev)
    if side is PositionSide.LONG:
        assert bp <= lp < entry
    else:
        assert entry < lp <= bp


@SETTINGS
@given(isolated_positions(), st.decimals(min_value=D(0), max_value=D("0.001"), places=5))
def test_isolated_liquidation_costs_the_position_margin_and_no_more(case, taker) -> None:  # type: ignore[no-untyped-def]
    """Taken over at the bankruptcy price: the trading loss is the IM, the fee is the fee to close,
    and the wallet loses exactly the position margin (issue 13)."""
    side, entry, qty, lev, _, _ = case
    pos = Position("X", qty * side.sign, entry)
    bust = bankruptcy_price(side, entry, lev)
    margin = position_margin(side, entry, qty, lev, taker)
    im = initial_margin(qty * entry, lev)
    flat, fx = settle_liquidation(pos, bust, margin, taker)
    tolerance = D("1e-20") * (1 + margin)  # Decimal's 28 significant digits
    assert flat.is_flat and fx.closed_qty == qty
    assert fx.fee == fee_to_close(qty, bust, taker) and margin >= im
    assert abs(-fx.cash_flow - margin) <= tolerance
    assert abs(fx.realized_pnl - unrealized_pnl(pos, bust)) <= tolerance
    assert abs(fx.realized_pnl + im) <= tolerance


@SETTINGS
@given(isolated_positions(), st.integers(min_value=1, max_value=200))
def test_higher_leverage_never_moves_liquidation_further_from_entry(case, step: int) -> None:  # type: ignore[no-untyped-def]
    side, entry, qty, lev, mmr, ded = case
    higher = min(lev + step, D(_max_leverage(mmr)))
    lo = liquidation_price(side, entry, qty, lev, mmr, ded)
    hi = liquidation_price(side, entry, qty, higher, mmr, ded)
    assert abs(hi - entry) <= abs(lo - entry)


@SETTINGS
@given(sides, prices, prices, qtys, st.integers(min_value=1, max_value=100),
       st.integers(min_value=1, max_value=100), rates)
def test_pnl_does_not_depend_on_leverage(side, entry, exit_, qty, lev_a, lev_b, rate) -> None:  # type: ignore[no-untyped-def]
    """An isolated-margin ledger at two leverages ends with the same wallet; only ROI differs."""

    def run(leverage: D) -> tuple[D, D, D]:
        wallet, reserved = D(100_000), D(0)
        pos, fx = apply_fill(Position.flat("X"), side.open_side, qty, entry, rate)
        wallet -= fx.fee
        reserved += initial_margin(qty * entry, leverage)  # leverage only sets the margin held
        ret = roi(pos, exit_, leverage, taker_rate=D(0))  # the fee to close would break proportionality
        pos, fx = apply_fill(pos, side.close_side, qty, exit_, rate)
        wallet += fx.realized_pnl - fx.fee
        reserved -= initial_margin(qty * entry, leverage)  # released on close
        return wallet, reserved, ret

    wallet_a, reserved_a, roi_a = run(D(lev_a))
    wallet_b, reserved_b, roi_b = run(D(lev_b))
    assert wallet_a == wallet_b
    assert wallet_a == D(100_000) + side.sign * qty * (exit_ - entry) - qty * (entry + exit_) * rate
    assert reserved_a == reserved_b == 0
    # ROI is proportional to leverage (equal up to the last of Decimal's 28 significant digits).
    assert abs(roi_a * lev_b - roi_b * lev_a) <= D("1e-24") * (1 + abs(roi_a * lev_b))


@SETTINGS
@given(order_sides, prices, qtys, rates, rates)
def test_round_trip_at_one_price_loses_exactly_two_fees(side, price, qty, open_rate, close_rate) -> None:  # type: ignore[no-untyped-def]
    pos, opened = apply_fill(Position.flat("X"), side, qty, price, open_rate)
    pos, closed = apply_fill(pos, side.opposite, qty, price, close_rate)
    assert pos.is_flat and pos.realized_pnl == 0
    assert opened.cash_flow + closed.cash_flow == -(qty * price * open_rate + qty * price * close_rate)
    assert pos.net_realized_pnl == -(opened.fee + closed.fee)


@SETTINGS
@given(order_sides, prices, prices, st.lists(qtys, min_size=1, max_size=8))
def test_splitting_a_close_realises_the_same_pnl(side, entry, exit_, parts) -> None:  # type: ignore[no-untyped-def]
    total = sum(parts, D(0))
    opened, _ = apply_fill(Position.flat("X"), side, total, entry, D(0))
    at_once, fx = apply_fill(opened, side.opposite, total, exit_, D(0))
    split = opened
    for part in parts:
        split, _ = apply_fill(split, side.opposite, part, exit_, D(0))
    assert split.is_flat and at_once.is_flat
    assert split.realized_pnl == at_once.realized_pnl == fx.realized_pnl


events = st.one_of(
    st.tuples(st.just("fill"), order_sides, qtys, prices, rates),
    st.tuples(st.just("funding"), prices, st.decimals(min_value=D("-0.003"), max_value=D("0.003"), places=6)),
)


@SETTINGS
@given(st.lists(events, min_size=1, max_size=25), prices)
def test_money_is_conserved(history, mark) -> None:  # type: ignore[no-untyped-def]
    """wallet == start + realised - fees - funding, and equity == start + every cash flow + qty x mark."""
    start = D(100_000)
    wallet = start
    traded_cash = D(0)  # what the fills would have moved in cash if settled in full: -sign x qty x price
    pos = Position.flat("X")
    for event in history:
        if event[0] == "fill":
            _, side, qty, price, rate = event
            pos, fx = apply_fill(pos, side, qty, price, rate)
            wallet += fx.realized_pnl - fx.fee
            traded_cash -= side.sign * qty * price
        else:
            _, funding_mark, rate = event
            pos, paid = apply_funding(pos, funding_mark, rate)
            wallet -= paid
    # Averaged entries are divided at Decimal's 28 significant digits, so sums may differ in the
    # last of those digits: far below a USDT satoshi (1e-8), and exactly zero when no averaging
    # left a remainder (see test_money_is_conserved_exactly_on_a_clean_history).
    tolerance = D("1e-12")
    assert abs(wallet - (start + pos.realized_pnl - pos.fees_paid - pos.funding_paid)) <= tolerance
    equity = wallet + unrealized_pnl(pos, mark)
    expected = start + traded_cash + pos.qty * mark - pos.fees_paid - pos.funding_paid
    assert abs(equity - expected) <= tolerance * (1 + abs(expected))


def test_money_is_conserved_exactly_on_a_clean_history() -> None:
    start, wallet, pos = D(1000), D(1000), Position.flat("X")
    for side, qty, price, rate in [(Side.BUY, D("0.5"), D(5000), D("0.0002")),
                                   (Side.BUY, D("0.3"), D(6000), D("0.00055")),   # entry 5,375
                                   (Side.SELL, D("1.0"), D(5500), D("0.0002")),   # flip to short 0.2
                                   (Side.BUY, D("0.2"), D(5400), D("-0.0001"))]:  # close, rebate
        pos, fx = apply_fill(pos, side, qty, price, rate)
        wallet += fx.cash_flow
    pos, paid = apply_funding(pos, D(5400), D("0.0001"))
    wallet -= paid
    assert pos.is_flat
    assert pos.realized_pnl == D("0.8") * (5500 - 5375) + D("0.2") * (5500 - 5400)
    assert wallet == start + pos.realized_pnl - pos.fees_paid - pos.funding_paid


def test_lp_equals_bankruptcy_when_mm_is_zero_despite_rounding() -> None:
    """Regression (found by Hypothesis): with MM = 0 and 1/L not exact in decimal, rounding in the
    28th digit put the short LP (0.04) above its bankruptcy price (0.0399...9)."""
    entry, qty, mmr = D("0.03"), D("0.001"), D("0.0011")
    lp = liquidation_price(PositionSide.SHORT, entry, qty, D(3), mmr, qty * entry * mmr)
    assert lp == bankruptcy_price(PositionSide.SHORT, entry, D(3)) == D("0.04")
