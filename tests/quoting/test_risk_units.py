"""One risk aversion for A-S and GLFT: inventory in USDT, the skew per 1,000 USDT, the unwind floor."""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest

from bybit_mm.quoting.models import (
    GLFT,
    AvellanedaStoikov,
    glft_coefficients,
    glft_xi_matching_as,
    quote_in_bps,
    risk_quote,
)
from bybit_mm.quoting.orders import shape_ticks, unwind_floor_tick
from bybit_mm.quoting.models import Quote

#: Estimator states measured in 1 h paper runs (`paper --preset P --speed 0`, last snapshot):
#: (mid, sigma per root second, k per price unit, A per second) in price units.
THIN_ALT = (0.4967, 0.00010458250331675863, 5867.3969687091, 0.6092603558915329)
DEEP_MAJOR = (94449.55, 8.855834205032474, 0.15509496039123505, 0.8133951619134717)


def test_skew_per_1000_usdt_by_hand() -> None:
    # mid 10,000 so one price unit is one bps; sigma 1 bps/sqrt(s), horizon 300 s, risk_aversion 0.01:
    # skew = 0.01 x 1^2 x 300 = 3 bps per 1,000 USDT; long 1,000 USDT -> reservation 3 bps below the mid.
    for model in (AvellanedaStoikov(), GLFT()):
        quote = risk_quote(model, 10_000.0, 1000.0, 100.0, 1.0, 0.01, 2.0, 1.5, 300.0)
        assert quote.skew == pytest.approx(-3.0, rel=1e-9)
        assert quote.reservation_price == pytest.approx(9_997.0, rel=1e-12)
    # Twice the inventory, twice the skew; short, the other way.
    assert risk_quote(AvellanedaStoikov(), 10_000.0, -2000.0, 100.0, 1.0, 0.01, 2.0, 1.5, 300.0).skew == pytest.approx(6.0)


def test_the_as_spread_with_an_order_size_by_hand() -> None:
    # Delta = 0.1 (100 USDT); half = 0.5 (gamma sigma^2 tau Delta + 2/(gamma Delta) ln(1 + gamma Delta / k))
    q = AvellanedaStoikov().quote(100.0, 0.0, 1.0, 0.5, 2.0, tau=10.0, delta=0.1)
    assert q.half_spread == pytest.approx(0.5 * (0.5 * 10 * 0.1 + 2 / 0.05 * math.log1p(0.05 / 2.0)))
    # Delta = 1 is the paper's spread (eq. 30).
    assert AvellanedaStoikov().quote(100.0, 0.0, 1.0, 0.5, 2.0, tau=10.0).half_spread == pytest.approx(
        0.5 * (0.5 * 10 + 4 * math.log1p(0.25)))


def test_glft_xi_solves_the_matching_equation() -> None:
    gamma, sigma, tau, A, k, delta = 0.01, 2.1, 300.0, 0.61, 0.29, 0.1
    xi = glft_xi_matching_as(gamma, sigma, tau, A, k, delta)
    x = xi * delta / k
    assert x * (1 + x) ** (1 / x + 1) == pytest.approx(2 * A * delta**2 * (gamma * sigma * tau) ** 2, rel=1e-10)
    _, c2 = glft_coefficients(xi, A, k, delta)
    assert sigma * c2 == pytest.approx(gamma * sigma**2 * tau, rel=1e-10)  # GLFT's skew per unit = A-S's
    # Large and tiny targets converge too (Newton on ln x with slope in [1, 2]).
    for g in (1e-6, 10.0):
        xi = glft_xi_matching_as(g, sigma, tau, A, k, delta)
        assert sigma * glft_coefficients(xi, A, k, delta)[1] == pytest.approx(g * sigma**2 * tau, rel=1e-9)


@pytest.mark.parametrize("state", [THIN_ALT, DEEP_MAJOR], ids=["thin-alt", "deep-major"])
@pytest.mark.parametrize("risk_aversion", [0.001, 0.01, 0.1])
@pytest.mark.parametrize("order_usdt", [50.0, 100.0, 300.0])
def test_as_and_glft_skew_within_a_factor_2_with_the_same_settings(state: tuple[float, ...], risk_aversion: float,
                                                                    order_usdt: float) -> None:
    mid, sigma, k, A = state
    for inventory in (-2000.0, -300.0, 100.0, 1000.0, 5000.0):
        a = risk_quote(AvellanedaStoikov(), mid, inventory, order_usdt, sigma, risk_aversion, k, A, 300.0)
        g = risk_quote(GLFT(), mid, inventory, order_usdt, sigma, risk_aversion, k, A, 300.0)
        assert a.skew * g.skew > 0
        assert 0.5 <= a.skew / g.skew <= 2.0
        # ... and their half-spreads are of one order (they differ in the intensity term only).
        assert 0.5 <= a.half_spread / g.half_spread <= 2.0


def test_the_order_size_does_not_change_the_skew_per_usdt() -> None:
    mid, sigma, k, A = THIN_ALT
    skews = {risk_quote(m, mid, 1000.0, o, sigma, 0.01, k, A, 300.0).skew
             for m in (AvellanedaStoikov(), GLFT()) for o in (50.0, 100.0, 300.0)}
    assert max(skews) == pytest.approx(min(skews), rel=1e-9)


def test_the_old_gamma_per_order_is_the_same_as_quote_at_gamma_x_1000_over_order_notional() -> None:
    from bybit_mm.config.schema import gamma_as_risk_aversion

    mid, sigma, k, A = DEEP_MAJOR
    order_usdt, position_usdt, gamma = 100.0, -250.0, 0.01
    old = quote_in_bps(AvellanedaStoikov(), mid, position_usdt / order_usdt, sigma, gamma, k, A, 300.0)
    ra = gamma_as_risk_aversion(gamma, order_usdt)
    assert ra == 0.1
    new = risk_quote(AvellanedaStoikov(), mid, position_usdt, order_usdt, sigma, ra, k, A, 300.0)
    assert (new.bid, new.ask) == pytest.approx((old.bid, old.ask), rel=1e-12)


def test_unwind_floor_by_hand() -> None:
    # Long 1 @ 0.5000, maker 0.02%, tick 0.0001: the ask must net >= 0 after both fees:
    # a >= 0.5 x 1.0002 / 0.9998 = 0.50020004... -> 5003 ticks; 5002 would lose 0.00000004 per unit.
    fee, entry, tick = D("0.0002"), D("0.5000"), D("0.0001")
    assert unwind_floor_tick(entry, fee, tick, long=True) == 5003
    assert D("0.5003") * (1 - fee) >= entry * (1 + fee) > D("0.5002") * (1 - fee)
    # Short 1 @ 0.5000: b <= 0.5 x 0.9998 / 1.0002 = 0.49980003... -> 4998 ticks (4999 would lose).
    assert unwind_floor_tick(entry, fee, tick, long=False) == 4998
    assert D("0.4998") * (1 + fee) <= entry * (1 - fee) < D("0.4999") * (1 + fee)
    # No fee: the entry itself; a rebate lets the close sit inside the entry.
    assert unwind_floor_tick(entry, D(0), tick, long=True) == 5000
    # rebate 0.025%: 0.5 x 0.99975 / 1.00025 = 0.49975006... -> 4998 ticks
    assert unwind_floor_tick(entry, D("-0.00025"), tick, long=True) == 4998
    # BTC: long @ 95,000.0, tick 0.1: 95,000 x 1.0002 / 0.9998 = 95,038.0076... -> 950,381 ticks.
    assert unwind_floor_tick(D("95000.0"), fee, D("0.1"), long=True) == 950_381


def _quote(bid: float, ask: float) -> Quote:
    mid = (bid + ask) / 2
    return Quote(mid, bid, ask, (ask - bid) / 2, 0.0, "test")


def test_shape_ticks_holds_the_unwinding_side_at_the_floor_and_says_so() -> None:
    # Skewed down for a long: the model's ask 0.4999 is below the floor 5003; the bid is untouched.
    t = shape_ticks(_quote(0.4990, 0.4999), tick=0.0001, order_steps=10, position_steps=5,
                    best_bid_tick=4995, best_ask_tick=4997, maker_fee=0.0002, unwind_floor=5003)
    assert (t.bid_tick, t.ask_tick) == (4990, 5003)
    assert "ask: held at the unwind floor 5003 (entry + fees)" in t.notes
    # A short: the bid is held at its ceiling.
    t = shape_ticks(_quote(0.5001, 0.5010), tick=0.0001, order_steps=10, position_steps=-5,
                    best_bid_tick=5003, best_ask_tick=5005, maker_fee=0.0002, unwind_floor=4998)
    assert (t.bid_tick, t.ask_tick) == (4998, 5010)
    assert "bid: held at the unwind floor 4998 (entry - fees)" in t.notes
    # Beyond the floor already, or released (None): the model's price stands.
    t = shape_ticks(_quote(0.4990, 0.5008), tick=0.0001, order_steps=10, position_steps=5, maker_fee=0.0002,
                    unwind_floor=5003)
    assert t.ask_tick == 5008 and not any("unwind" in n for n in t.notes)
    t = shape_ticks(_quote(0.4990, 0.4999), tick=0.0001, order_steps=10, position_steps=5, maker_fee=0.0002,
                    best_bid_tick=4995, unwind_floor=None)
    assert t.ask_tick == 4999


def test_shape_ticks_opening_quote_keeps_the_fee_floor_note() -> None:
    # Flat at 0.49995, maker 0.02%: a round trip needs 2 x 0.0002 x 0.49995 / 0.0001 = 1.9998 -> 2 ticks.
    t = shape_ticks(_quote(0.49990, 0.50000), tick=0.0001, order_steps=10, maker_fee=0.0002)
    assert t.ask_tick - t.bid_tick == 2
    assert "spread widened to 2 ticks (fees)" in t.notes
