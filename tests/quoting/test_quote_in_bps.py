"""Quoting in basis points: one gamma gives the same relative quotes on any price level."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bybit_mm.quoting.models import GLFT, AvellanedaStoikov, quote_in_bps


def test_as_in_bps_by_hand() -> None:
    # mid 95,000, sigma 10.1 USDT/sqrt(s) = 1.0632 bps/sqrt(s); k 0.2 /USDT = 1.9 /bps.
    mid, sigma, k, gamma, tau, q = 95_000.0, 10.1, 0.2, 0.05, 60.0, 2.0
    s_bps, k_bps = sigma / mid * 1e4, k * mid / 1e4
    quote = quote_in_bps(AvellanedaStoikov("rolling"), mid, q, sigma, gamma, k, None, tau)
    skew_bps = -q * gamma * s_bps**2 * tau
    half_bps = 0.5 * (gamma * s_bps**2 * tau + (2 / gamma) * math.log1p(gamma / k_bps))
    assert quote.skew == pytest.approx(skew_bps * mid / 1e4)
    assert quote.reservation_price == pytest.approx(mid * (1 + skew_bps / 1e4))
    assert quote.bid == pytest.approx(mid * (1 + (skew_bps - half_bps) / 1e4))
    assert quote.ask == pytest.approx(mid * (1 + (skew_bps + half_bps) / 1e4))
    assert quote.model == "as-rolling"


@settings(max_examples=100, deadline=None)
@given(level=st.floats(0.01, 1e6), q=st.floats(-20, 20), model=st.sampled_from(["as", "glft"]))
def test_relative_quotes_do_not_depend_on_the_price_level(level: float, q: float, model: str) -> None:
    # The same market in relative terms (1 bps/sqrt(s) volatility, k 2/bps) at two price levels.
    m = AvellanedaStoikov("rolling") if model == "as" else GLFT()

    def rel(mid: float) -> tuple[float, float]:
        quote = quote_in_bps(m, mid, q, mid * 1e-4, 0.05, 2.0 / (mid * 1e-4), 2.5, 60.0)
        return (quote.bid / mid - 1) * 1e4, (quote.ask / mid - 1) * 1e4

    a, b = rel(100.0), rel(level)
    assert a[0] == pytest.approx(b[0], rel=1e-6, abs=1e-9)
    assert a[1] == pytest.approx(b[1], rel=1e-6, abs=1e-9)


def test_refuses_a_non_positive_mid() -> None:
    with pytest.raises(ValueError):
        quote_in_bps(GLFT(), 0.0, 0.0, 1.0, 0.1, 1.0, 1.0)
