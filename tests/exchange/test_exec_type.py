"""Bybit's execType values map onto the port's execution types."""

from __future__ import annotations

import pytest

from bybit_mm.exchange.port import exec_type_from_bybit


@pytest.mark.parametrize(("bybit", "port"), [
    ("Trade", "trade"), ("Funding", "funding"), ("BustTrade", "liquidation"), ("AdlTrade", "adl"),
    ("Settle", "settle"), ("Delivery", "settle"), ("BlockTrade", "trade"), ("MovePosition", "trade"),
    (None, "trade"), ("", "trade"),
])
def test_bybit_exec_types(bybit: str | None, port: str) -> None:
    assert exec_type_from_bybit(bybit) == port
