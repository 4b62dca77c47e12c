"""Bybit's derivatives fee schedule as data, and fee arithmetic.

Rates are fractions of fill notional (0.00055 = 0.055%). A negative maker rate is a rebate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

#: Where the schedule comes from and when it was last checked against that source.
FEE_SOURCE = "https://www.bybit.com/en/help-center/article/Trading-Fee-Structure (article 000001634)"
FEE_CHECKED = "2026-11-25"
FEE_NOTE = ("Base rates for Perpetual & Futures contracts; the actual rate can differ by region and "
            "account: the account's own rate is in /v5/account/fee-rate. PRO 3-6 takers apply to "
            "inverse contracts, dated futures and Bybit's top 72 USDT perpetuals (BTC, ETH, SOL among "
            "them); other USDT perpetuals pay taker_rate_other_perps.")
#: Where the PRO rows were read: copies of the same help-centre table (page updated 2026-07-23).
PRO_SOURCE = ("https://www.bybit.com/en/help-center/article/Trading-Fee-Structure (PRO table, updated "
              "2026-07-23, read from public copies; cross-checked against "
              "https://www.bybit.com/en/help-center/article/Benefits-of-the-VIP-Program)")


@dataclass(frozen=True)
class FeeTier:
    """One tier of the derivatives fee schedule."""

    name: str
    label: str
    maker: Decimal
    taker: Decimal
    source: str = FEE_SOURCE
    #: PRO 3-6 charge a higher taker rate on USDT perpetuals outside Bybit's top 72.
    taker_other_perps: Decimal | None = None

    def fee(self, notional: Decimal, *, maker: bool) -> Decimal:
        """Fee in USDT for a fill of ``notional`` USDT (negative for a maker rebate)."""
        return notional * (self.maker if maker else self.taker)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly view: rates as fractions and in percent."""
        return {
            "tier": self.name,
            "label": self.label,
            "maker_rate": float(self.maker),
            "taker_rate": float(self.taker),
            "maker_pct": float(self.maker * 100),
            "taker_pct": float(self.taker * 100),
            "taker_rate_other_perps": float(self.taker_other_perps if self.taker_other_perps is not None
                                            else self.taker),
            "source": self.source,
        }


def _pct(text: str) -> Decimal:
    return Decimal(text) / 100


_VIP = [
    ("VIP0", "VIP 0 (standard)", "0.0200", "0.0550"),
    ("VIP1", "VIP 1", "0.0180", "0.0400"),
    ("VIP2", "VIP 2", "0.0160", "0.0375"),
    ("VIP3", "VIP 3", "0.0140", "0.0350"),
    ("VIP4", "VIP 4", "0.0120", "0.0320"),
    ("VIP5", "VIP 5", "0.0100", "0.0320"),
    ("SVIP", "Supreme VIP", "0.0000", "0.0300"),
]

_PRO = [
    ("PRO1", "PRO 1", "0.0100", "0.0320", "0.0320"),
    ("PRO2", "PRO 2", "0.0050", "0.0320", "0.0320"),
    ("PRO3", "PRO 3", "0.0000", "0.0275", "0.0320"),
    ("PRO4", "PRO 4", "0.0000", "0.0240", "0.0280"),
    ("PRO5", "PRO 5", "0.0000", "0.0210", "0.0280"),
    ("PRO6", "PRO 6", "0.0000", "0.0180", "0.0280"),
]

FEE_TIERS: dict[str, FeeTier] = {
    **{name: FeeTier(name, label, _pct(maker), _pct(taker)) for name, label, maker, taker in _VIP},
    **{name: FeeTier(name, label, _pct(maker), _pct(taker), PRO_SOURCE, _pct(other))
       for name, label, maker, taker, other in _PRO},
}

DEFAULT_TIER = "VIP0"


def tier(name: str) -> FeeTier:
    """Look a tier up by name, case-insensitively (``vip0``, ``VIP0``, ``svip``). KeyError if unknown."""
    key = name.strip().upper().replace(" ", "").replace("-", "")
    aliases = {"NONVIP": "VIP0", "STANDARD": "VIP0", "SUPREMEVIP": "SVIP"}
    key = aliases.get(key, key)
    return FEE_TIERS[key]


def round_trip_breakeven_bps(open_rate: Decimal, close_rate: Decimal) -> Decimal:
    """Half-spread (bps of price) a round trip must capture to pay its two fees.

    Buying at ``mid - h`` and selling at ``mid + h`` earns ``2h`` per unit and pays
    ``(open_rate + close_rate) x mid`` (to first order), so break-even ``h/mid`` is
    ``(open_rate + close_rate) / 2``.
    """
    return (open_rate + close_rate) / 2 * Decimal(10000)
