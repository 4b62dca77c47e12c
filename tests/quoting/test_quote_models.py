"""Quoting formulas pinned on hand-computed cases, and their properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bybit_mm.quoting.models import (
    GLFT,
    AvellanedaStoikov,
    as_intensity_spread,
    as_reservation_price,
    as_spread,
    glft_coefficients,
    model_for,
)


def test_as_hand_computed() -> None:
    # s=100, q=3, sigma=2, gamma=0.1, k=1.5, tau=1: r = 100 - 3*0.1*4*1 = 98.8;
    # spread = 0.1*4*1 + 20*ln(16/15) = 0.4 + 1.2907704227514234 = 1.6907704227514234.
    quote = AvellanedaStoikov("finite").quote(100.0, 3.0, 2.0, 0.1, 1.5, tau=1.0)
    assert quote.reservation_price == pytest.approx(98.8, abs=1e-12)
    assert quote.spread == pytest.approx(1.6907704227514234, abs=1e-12)
    assert quote.bid == pytest.approx(98.8 - 0.8453852113757117, abs=1e-12)
    assert quote.ask == pytest.approx(98.8 + 0.8453852113757117, abs=1e-12)
    assert quote.skew == pytest.approx(-1.2, abs=1e-12)
    assert quote.model == "as-finite"
    assert as_reservation_price(100.0, 3.0, 2.0, 0.1, 1.0) == pytest.approx(98.8)
    assert as_spread(2.0, 0.1, 1.5, 1.0) == pytest.approx(1.6907704227514234)


@pytest.mark.parametrize(("gamma", "expected"), [
    (0.1, 1.2907704227514234), (0.01, 1.3289085437337158), (0.5, 1.1507282898071237),
])
def test_tabulated_spread_matches_the_paper(gamma: float, expected: float) -> None:
    # The paper's tables print 1.29, 1.33 and 1.15.
    assert as_intensity_spread(gamma, 1.5) == pytest.approx(expected, abs=1e-12)
    assert round(expected, 2) == {0.1: 1.29, 0.01: 1.33, 0.5: 1.15}[gamma]


def test_rolling_horizon_says_so() -> None:
    assert AvellanedaStoikov().quote(100.0, 0.0, 1.0, 0.1, 1.5, tau=300.0).model == "as-rolling"
    with pytest.raises(ValueError):
        AvellanedaStoikov("forever")


def test_glft_hand_computed() -> None:
    # gamma=0.1, A=140, k=1.5, sigma=2: c1 = 10 ln(16/15), c2 = sqrt(0.1/420 * (16/15)^16).
    c1, c2 = glft_coefficients(0.1, 140.0, 1.5)
    assert c1 == pytest.approx(0.6453852113757117, abs=1e-12)
    assert c2 == pytest.approx(0.025858608060983000, abs=1e-12)
    quote = GLFT().quote(100.0, 2.0, 2.0, 0.1, 1.5, A=140.0)
    assert quote.half_spread == pytest.approx(0.6712438194366947, abs=1e-12)
    assert quote.skew == pytest.approx(-2 * 0.05171721612196600, abs=1e-12)
    assert quote.bid == pytest.approx(100.0 - (0.6712438194366947 + 2 * 0.05171721612196600), abs=1e-12)
    assert quote.ask == pytest.approx(100.0 + (0.6712438194366947 - 2 * 0.05171721612196600), abs=1e-12)


def test_glft_tick_form_equals_price_form() -> None:
    # hftbacktest's form: everything in ticks (sigma, k, gamma per tick), Delta = 1.
    tick, gamma_ticks, A, k_ticks, sigma_ticks, q = 0.5, 0.05, 3.0, 0.2, 4.0, -1.5
    c1, c2 = glft_coefficients(gamma_ticks, A, k_ticks)
    half_ticks = c1 + 0.5 * sigma_ticks * c2
    bid_depth_ticks = half_ticks + sigma_ticks * c2 * q
    quote = GLFT().quote(1000.0, q, sigma_ticks * tick, gamma_ticks / tick, k_ticks / tick, A=A)
    assert quote.half_spread == pytest.approx(half_ticks * tick, rel=1e-12)
    assert 1000.0 - quote.bid == pytest.approx(bid_depth_ticks * tick, rel=1e-12)


def test_glft_needs_a() -> None:
    with pytest.raises(ValueError):
        GLFT().quote(100.0, 0.0, 1.0, 0.1, 1.5)


def test_model_for() -> None:
    assert model_for("as").name == "as-rolling"
    assert model_for("as-finite").name == "as-finite"
    assert model_for("glft").name == "glft"
    with pytest.raises(ValueError):
        model_for("nope")


pos = st.floats(min_value=0.01, max_value=10.0)
inventory = st.floats(min_value=-50.0, max_value=50.0)


@given(q1=inventory, q2=inventory, sigma=pos, gamma=pos, k=pos, tau=pos, A=pos)
def test_reservation_price_moves_against_inventory(q1: float, q2: float, sigma: float, gamma: float,
                                                    k: float, tau: float, A: float) -> None:
    if q1 >= q2:
        q1, q2 = q2, q1
    if q2 - q1 < 1e-3:
        return
    for model in (AvellanedaStoikov(), GLFT()):
        r1 = model.quote(100.0, q1, sigma, gamma, k, A=A, tau=tau).reservation_price
        r2 = model.quote(100.0, q2, sigma, gamma, k, A=A, tau=tau).reservation_price
        assert r2 < r1  # more long inventory, lower price to quote around
        assert (model.quote(100.0, 1.0, sigma, gamma, k, A=A, tau=tau).reservation_price < 100.0)


@given(sigma=pos, gamma=pos, k=pos, tau=pos, A=pos, q=inventory, factor=st.floats(min_value=1.01, max_value=5.0))
def test_spread_widens_with_volatility_and_time_left(sigma: float, gamma: float, k: float, tau: float,
                                                    A: float, q: float, factor: float) -> None:
    a = AvellanedaStoikov()
    base = a.quote(100.0, q, sigma, gamma, k, tau=tau).spread
    assert a.quote(100.0, q, sigma * factor, gamma, k, tau=tau).spread > base
    assert a.quote(100.0, q, sigma, gamma, k, tau=tau * factor).spread > base
    g = GLFT()
    assert g.quote(100.0, q, sigma * factor, gamma, k, A=A).spread > g.quote(100.0, q, sigma, gamma, k, A=A).spread


@given(sigma=st.floats(min_value=0.0, max_value=10.0), gamma=pos, k=pos, tau=pos, A=pos, q=inventory)
def test_bid_below_ask_and_centred(sigma: float, gamma: float, k: float, tau: float, A: float, q: float) -> None:
    for model in (AvellanedaStoikov(), GLFT()):
        quote = model.quote(100.0, q, sigma, gamma, k, A=A, tau=tau)
        assert quote.bid < quote.ask
        assert math.isclose(0.5 * (quote.bid + quote.ask), quote.reservation_price, rel_tol=1e-12, abs_tol=1e-9)
        assert math.isclose(quote.reservation_price - 100.0, quote.skew, rel_tol=1e-9, abs_tol=1e-9)
