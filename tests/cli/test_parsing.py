"""Numbers typed on the command line: exact Decimals, one-line usage errors naming the option."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bybit_mm.cli.parsing import parse_decimal
from bybit_mm.errors import UsageError


def test_parses_exactly_and_keeps_none() -> None:
    assert parse_decimal("--x", " 0.1 ") == Decimal("0.1")
    assert parse_decimal("--x", None) is None


@pytest.mark.parametrize(("raw", "kwargs", "fragment"), [
    ("abc", {}, "--x must be a number, got 'abc'"),
    ("abc", {"unit": "USDT"}, "--x must be a number of USDT"),
    ("nan", {}, "finite"),
    ("inf", {}, "finite"),
    ("0", {"positive": True}, "greater than 0"),
    ("-1", {"non_negative": True}, "must not be negative"),
])
def test_bad_numbers(raw: str, kwargs: dict, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        parse_decimal("--x", raw, **kwargs)
