"""Instrument specs, risk tiers and the shipped defaults."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bybit_mm.domain import instruments
from bybit_mm.domain.instruments import DEFAULT_INSTRUMENTS, Instrument, RiskTier, get_instrument
from bybit_mm.errors import EXIT_USAGE, RiskLimitError, UsageError

BTC = get_instrument("BTCUSDT")


def test_at_least_the_three_majors_ship_with_provenance() -> None:
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT"} <= set(DEFAULT_INSTRUMENTS)
    assert instruments.SPECS_SOURCE and instruments.SPECS_CHECKED
    assert set(DEFAULT_INSTRUMENTS) <= set(instruments.SPECS_NOTES)


@pytest.mark.parametrize("name", ["BTCUSDT", "btcusdt", " BTCUSDT ", "BTC/USDT:USDT"])
def test_lookup_is_forgiving(name: str) -> None:
    assert get_instrument(name) is BTC


def test_unknown_symbol_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        get_instrument("DOGEUSDX")
    assert info.value.exit_code == EXIT_USAGE and "BTCUSDT" in info.value.one_line()


@pytest.mark.parametrize("value, limit", [
    (D(1), D(2_000_000)), (D(2_000_000), D(2_000_000)), (D("2000000.01"), D(2_600_000)),
    (D(2_600_000), D(2_600_000)),
])
def test_tier_for(value: D, limit: D) -> None:
    assert BTC.tier_for(value).limit_value == limit


@pytest.mark.parametrize("value", [D("2600000.01"), D(5_000_000), D(10**9)])
def test_beyond_the_known_tiers_is_an_error_not_the_last_tier(value: D) -> None:
    """Issue 13: a 5 M position at 50x used to reuse the last tier silently (LP 98,536)."""
    with pytest.raises(RiskLimitError) as info:
        BTC.tier_for(value)
    assert "beyond the known risk-limit tiers (up to 2,600,000 USDT)" in info.value.one_line()
    with pytest.raises(RiskLimitError):
        BTC.max_leverage_for(value)


def test_max_leverage_for_value() -> None:
    assert BTC.max_leverage_for(D(1000)) == 100
    assert BTC.max_leverage_for(D(2_500_000)) == 90


@pytest.mark.parametrize("inst", list(DEFAULT_INSTRUMENTS.values()), ids=lambda i: i.symbol)
def test_shipped_specs_are_consistent(inst: Instrument) -> None:
    for tier in inst.risk_tiers:
        assert 0 < tier.mmr < tier.imr <= 1, "IMR at max leverage must exceed MMR"
        assert tier.max_leverage <= inst.max_leverage
    for lower, upper in zip(inst.risk_tiers, inst.risk_tiers[1:]):
        # The deduction makes MM continuous at each boundary.
        at = lower.limit_value
        assert at * lower.mmr - lower.mm_deduction == at * upper.mmr - upper.mm_deduction
    assert inst.min_qty % inst.qty_step == 0 and inst.min_price % inst.tick_size == 0
    assert inst.funding_interval_min in (60, 120, 240, 480)


def test_tiers_must_be_sorted() -> None:
    tiers = (RiskTier(D(2), D("0.01"), D(0), D(50)), RiskTier(D(1), D("0.02"), D(0), D(25)))
    with pytest.raises(ValueError):
        Instrument("X", "X", "USDT", D(1), D(1), D(1), D(1), D(1), D(1), D(2), D(50), 480, tiers)
