"""Instrument specs and risk-limit tiers of Bybit linear perpetuals, with offline defaults.

The defaults are data (see ``_SPECS``), copied from Bybit's public market endpoints
(``/v5/market/instruments-info`` and ``/v5/market/risk-limit``, category=linear). Exchanges
change these numbers; a later issue loads live ones. ``SPECS_SOURCE``/``SPECS_CHECKED`` say
where and when the shipped numbers were read.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bybit_mm.errors import RiskLimitError, UsageError


@dataclass(frozen=True)
class RiskTier:
    """One risk-limit tier: positions valued up to ``limit_value`` USDT use this MMR and deduction."""

    limit_value: Decimal
    mmr: Decimal
    mm_deduction: Decimal
    max_leverage: Decimal

    @property
    def imr(self) -> Decimal:
        """Minimum initial margin rate of the tier (1 / max leverage)."""
        return 1 / self.max_leverage


@dataclass(frozen=True)
class Instrument:
    """A linear USDT perpetual (contract size 1 base unit) and its trading filters."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    min_price: Decimal
    max_price: Decimal
    max_leverage: Decimal
    funding_interval_min: int
    risk_tiers: tuple[RiskTier, ...]

    def __post_init__(self) -> None:
        if not self.risk_tiers:
            raise ValueError(f"{self.symbol}: an instrument needs at least one risk tier")
        limits = [t.limit_value for t in self.risk_tiers]
        if limits != sorted(limits):
            raise ValueError(f"{self.symbol}: risk tiers must be sorted by limit value")

    def tier_for(self, value: Decimal) -> RiskTier:
        """The tier whose limit ``value`` (position value, USDT) falls within.

        Raises RiskLimitError beyond the last known tier: the MMR there is unknown, never the last
        tier's (the shipped tables are partial; live specs carry the exchange's full table).
        """
        for t in self.risk_tiers:
            if value <= t.limit_value:
                return t
        raise RiskLimitError(
            f"{self.symbol}: a position worth {value:,f} USDT is beyond the known risk-limit tiers "
            f"(up to {self.max_position_value:,f} USDT)",
            hint="use a smaller position, or the exchange's own risk-limit tiers")

    def max_leverage_for(self, value: Decimal) -> Decimal:
        """The highest leverage Bybit allows for a position of ``value`` USDT (RiskLimitError beyond the tiers)."""
        return min(self.tier_for(value).max_leverage, self.max_leverage)

    @property
    def max_position_value(self) -> Decimal:
        """The largest position value any tier allows."""
        return self.risk_tiers[-1].limit_value


#: Where the default specs come from and when they were read.
SPECS_SOURCE = ("Bybit V5 GET /v5/market/instruments-info and GET /v5/market/risk-limit "
                "(category=linear), https://bybit-exchange.github.io/docs/v5/market/instrument and "
                "https://bybit-exchange.github.io/docs/v5/market/risk-limit; read from recorded "
                "responses in public test fixtures (see SPECS_NOTES), not from the live endpoints")
SPECS_CHECKED = "2026-11-25"
#: Per-symbol provenance. Tier tables are PARTIAL: only the lowest tiers are shipped, and the
#: last shipped limit is the largest position value these defaults allow (``max_position_value``).
SPECS_NOTES: dict[str, str] = {
    "BTCUSDT": ("filters: instruments-info response recorded 2023-09-14 (nautilus_trader test fixture "
                "linear/instruments.json); tiers 1-2: risk-limit rows 2,000,000 / 0.5% / 100x and "
                "2,600,000 / 0.56% / 90x / deduction 1,200 (recorded risk-limit payloads in public "
                "test suites; the deduction makes MM continuous at 2,000,000)."),
    "ETHUSDT": ("filters: same recorded instruments-info response (2023-09-14); tier 1 "
                "(1,000,000 / 0.5% / 100x) NOT verified against a recorded risk-limit payload."),
    "SOLUSDT": ("filters and tier 1 (200,000 / 1% / 50x) NOT verified against a recorded payload: "
                "conservative values (higher MMR, lower leverage than may be live); load live specs "
                "before trading SOL."),
    "ARBUSDT": ("tickSize 0.0001, qtyStep/minOrderQty 0.1 and minNotionalValue 5 as in an instruments-info "
                "row for ARBUSDT recorded in a public test suite; maxOrderQty, maxPrice, 50x and tier 1 "
                "(200,000 / 1% / 50x) NOT verified: conservative values as for SOLUSDT. Ships for the "
                "synthetic thin-alt preset; load live specs before trading ARB."),
}


def continuous_tiers(rows: list[tuple[Decimal, Decimal, Decimal]]) -> tuple[RiskTier, ...]:
    """Tiers from ``(limit_value, mmr, max_leverage)`` rows, with the deductions that make MM continuous.

    Bybit's deduction for tier n is ``deduction(n-1) + limit(n-1) x (mmr(n) - mmr(n-1))``, so that
    ``value x MMR - deduction`` has no jump at a tier boundary (useful when a risk-limit payload
    sends an empty ``mmDeduction``).
    """
    tiers: list[RiskTier] = []
    deduction, prev_limit, prev_mmr = Decimal(0), Decimal(0), None
    for limit, mmr, max_lev in rows:
        if prev_mmr is not None:
            deduction += prev_limit * (mmr - prev_mmr)
        tiers.append(RiskTier(limit, mmr, deduction, max_lev))
        prev_limit, prev_mmr = limit, mmr
    return tuple(tiers)


def _tiers(rows: list[tuple[str, str, str, str]]) -> tuple[RiskTier, ...]:
    return tuple(RiskTier(Decimal(a), Decimal(b), Decimal(c), Decimal(d)) for a, b, c, d in rows)


def _inst(symbol: str, base: str, tick: str, step: str, min_qty: str, max_qty: str,
          min_notional: str, min_price: str, max_price: str, max_lev: str, funding_min: int,
          tiers: list[tuple[str, str, str, str]]) -> Instrument:
    return Instrument(symbol, base, "USDT", Decimal(tick), Decimal(step), Decimal(min_qty),
                      Decimal(max_qty), Decimal(min_notional), Decimal(min_price), Decimal(max_price),
                      Decimal(max_lev), funding_min, _tiers(tiers))


# Columns: symbol, base, tickSize, qtyStep, minOrderQty, maxOrderQty, minNotionalValue, minPrice,
# maxPrice, maxLeverage, fundingInterval (min); tiers: riskLimitValue, maintenanceMargin (fraction),
# mmDeduction, maxLeverage.
DEFAULT_INSTRUMENTS: dict[str, Instrument] = {
    i.symbol: i for i in (
        _inst("BTCUSDT", "BTC", "0.10", "0.001", "0.001", "100", "5", "0.10", "199999.80", "100", 480,
              [("2000000", "0.005", "0", "100"), ("2600000", "0.0056", "1200", "90")]),
        _inst("ETHUSDT", "ETH", "0.01", "0.01", "0.01", "1500", "5", "0.01", "19999.98", "100", 480,
              [("1000000", "0.005", "0", "100")]),
        _inst("SOLUSDT", "SOL", "0.010", "0.1", "0.1", "79770", "5", "0.010", "19999.980", "50", 480,
              [("200000", "0.01", "0", "50")]),
        _inst("ARBUSDT", "ARB", "0.0001", "0.1", "0.1", "1000000", "5", "0.0001", "199.9998", "50", 480,
              [("200000", "0.01", "0", "50")]),
    )
}


def get_instrument(symbol: str) -> Instrument:
    """The shipped spec of ``symbol`` (case-insensitive); UsageError naming the known ones if unknown."""
    key = symbol.strip().upper().replace("/", "").replace(":USDT", "")
    try:
        return DEFAULT_INSTRUMENTS[key]
    except KeyError:
        raise UsageError(f"unknown symbol {symbol!r}",
                         hint=f"known symbols: {', '.join(sorted(DEFAULT_INSTRUMENTS))}") from None
