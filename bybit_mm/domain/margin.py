"""Margin, liquidation and bankruptcy prices for linear perpetuals (Bybit's formulas).

Isolated margin (``BYBIT.md`` §1), with value = qty x entry, IM = value / leverage and
MM = value x MMR - mm_deduction:

- long:  LP = entry - (IM - MM) / qty - extra_margin / qty
- short: LP = entry + (IM - MM) / qty + extra_margin / qty
- bankruptcy: long entry x (1 - 1/leverage), short entry x (1 + 1/leverage), moved by extra margin.

Bybit's unified account also adds an estimated fee to close to both IM and MM; it cancels out
of ``IM - MM`` and so out of the liquidation price, and is left out here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bybit_mm.domain.instruments import Instrument, RiskTier
from bybit_mm.domain.orders import PositionSide, Side
from bybit_mm.domain.rounding import round_qty
from bybit_mm.errors import RiskLimitError

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def _side(side: PositionSide | Side | str) -> PositionSide:
    return PositionSide.parse(side)


def _positive(name: str, value: Decimal) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def initial_margin(value: Decimal, leverage: Decimal) -> Decimal:
    """Initial margin of a position worth ``value`` USDT at ``leverage``: ``value / leverage``."""
    _positive("leverage", leverage)
    return value / leverage


def maintenance_margin(value: Decimal, tier: RiskTier | Instrument) -> Decimal:
    """``value x MMR - mm_deduction`` of the tier ``value`` falls in (or of the given tier)."""
    t = tier.tier_for(value) if isinstance(tier, Instrument) else tier
    return value * t.mmr - t.mm_deduction


def liquidation_price(side: PositionSide | Side | str, entry: Decimal, qty: Decimal, leverage: Decimal,
                      mmr: Decimal, mm_deduction: Decimal = ZERO, extra_margin: Decimal = ZERO) -> Decimal:
    """Isolated-margin liquidation price (triggered by the MARK price), never below zero.

    Bybit's example: long 1 @ 10,000, 50x, MMR 0.5% -> IM 200, MM 50, LP 9,850.
    """
    s = _side(side)
    _positive("qty", qty)
    _positive("entry", entry)
    value = qty * entry
    im = initial_margin(value, leverage)
    mm = value * mmr - mm_deduction
    cushion = (im - mm + extra_margin) / qty
    bust = bankruptcy_price(s, entry, leverage, qty, extra_margin)
    # MM >= 0 puts the LP between entry and bankruptcy; the clamp only absorbs Decimal's rounding in
    # the 28th digit when MM is 0 (a deduction equal to the tier's whole MM).
    if s is PositionSide.LONG:
        return max(entry - cushion, bust, ZERO)
    return min(entry + cushion, bust)


def bankruptcy_price(side: PositionSide | Side | str, entry: Decimal, leverage: Decimal,
                     qty: Decimal | None = None, extra_margin: Decimal = ZERO) -> Decimal:
    """The price at which the position margin (IM plus extra margin) is exhausted, never below zero.

    Long ``entry x (1 - 1/leverage) - extra/qty``, short ``entry x (1 + 1/leverage) + extra/qty``;
    ``qty`` is needed only with extra margin. Bybit's example: long @ 10,000, 50x -> 9,800.
    """
    s = _side(side)
    _positive("leverage", leverage)
    shift = ZERO
    if extra_margin:
        if qty is None or qty <= 0:
            raise ValueError("bankruptcy_price needs a positive qty when extra_margin is given")
        shift = extra_margin / qty
    # entry - entry/L rather than entry x (1 - 1/L): one rounding instead of two.
    if s is PositionSide.LONG:
        return max(entry - entry / leverage - shift, ZERO)
    return entry + entry / leverage + shift


@dataclass(frozen=True)
class LiquidationInfo:
    """An isolated position's liquidation picture, with the tier numbers it used."""

    liquidation_price: Decimal
    bankruptcy_price: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    mmr: Decimal
    mm_deduction: Decimal
    extra_margin: Decimal = ZERO

    @property
    def position_margin(self) -> Decimal:
        """Margin held by the isolated position (IM + extra): exactly what a liquidation loses."""
        return self.initial_margin + self.extra_margin

    def to_dict(self) -> dict[str, Decimal]:
        """JSON-friendly view (Decimals)."""
        return {
            "liquidation_price": self.liquidation_price,
            "bankruptcy_price": self.bankruptcy_price,
            "initial_margin": self.initial_margin,
            "maintenance_margin": self.maintenance_margin,
            "mmr": self.mmr,
            "mm_deduction": self.mm_deduction,
            "extra_margin": self.extra_margin,
        }


def isolated_liquidation(instrument: Instrument, side: PositionSide | Side | str, entry: Decimal,
                         qty: Decimal, leverage: Decimal, extra_margin: Decimal = ZERO) -> LiquidationInfo:
    """Liquidation and bankruptcy prices and margins, using the tier the position value falls in.

    Raises RiskLimitError when ``leverage`` exceeds what that tier allows.
    """
    _positive("qty", qty)
    _positive("entry", entry)
    value = qty * entry
    tier = instrument.tier_for(value)
    allowed = instrument.max_leverage_for(value)
    if leverage > allowed:
        raise RiskLimitError(
            f"{instrument.symbol}: leverage {leverage} is above the {allowed}x allowed for a "
            f"position worth {value} USDT (risk-limit tier up to {tier.limit_value} USDT)",
            hint="lower the leverage or the position size")
    return LiquidationInfo(
        liquidation_price=liquidation_price(side, entry, qty, leverage, tier.mmr, tier.mm_deduction,
                                            extra_margin),
        bankruptcy_price=bankruptcy_price(side, entry, leverage, qty, extra_margin),
        initial_margin=initial_margin(value, leverage),
        maintenance_margin=maintenance_margin(value, tier),
        mmr=tier.mmr,
        mm_deduction=tier.mm_deduction,
        extra_margin=extra_margin,
    )


def liquidation_distance(side: PositionSide | Side | str, mark: Decimal,
                         liq_price: Decimal) -> tuple[Decimal, Decimal]:
    """How far the mark price can move against the position before liquidation.

    Returns ``(price_distance, percent_of_mark)``; negative once the mark is beyond the LP.
    """
    _positive("mark", mark)
    s = _side(side)
    distance = mark - liq_price if s is PositionSide.LONG else liq_price - mark
    return distance, distance / mark * HUNDRED


def cross_margin_liquidated(equity: Decimal, total_mm: Decimal) -> bool:
    """Cross margin: liquidated once equity (wallet + all uPnL) falls to the total MM of all positions."""
    return equity <= total_mm


def cross_liquidation_price(side: PositionSide | Side | str, entry: Decimal, qty: Decimal,
                            balance: Decimal, mmr: Decimal, mm_deduction: Decimal = ZERO) -> Decimal:
    """Cross-margin liquidation price of ONE position backed by ``balance``.

    ``balance`` is the margin balance standing behind this position: wallet balance plus the
    other positions' uPnL minus their maintenance margin. Solves
    ``balance + uPnL(P) = qty x P x MMR - deduction`` (cross MM is on mark value):
    long ``P = (qty x entry - balance - d) / (qty x (1 - MMR))``,
    short ``P = (qty x entry + balance + d) / (qty x (1 + MMR))``. Never below zero.
    """
    s = _side(side)
    _positive("qty", qty)
    if s is PositionSide.LONG:
        return max((qty * entry - balance - mm_deduction) / (qty * (1 - mmr)), ZERO)
    return (qty * entry + balance + mm_deduction) / (qty * (1 + mmr))


def order_cost_per_unit(side: PositionSide | Side | str, price: Decimal, leverage: Decimal,
                        fee_rate: Decimal) -> Decimal:
    """Bybit's order cost for one unit: IM + fee to open at ``price`` + fee to close at bankruptcy."""
    bust = bankruptcy_price(side, price, leverage)
    return price / leverage + price * fee_rate + bust * fee_rate


def max_position_qty(balance: Decimal, leverage: Decimal, price: Decimal, instrument: Instrument,
                     fee_rate: Decimal, side: PositionSide | Side | str = PositionSide.LONG) -> Decimal:
    """The largest quantity ``balance`` can open at ``leverage`` and ``price`` (zero if none).

    Pays IM plus the fees to open and to close (Bybit's order cost), stays within the largest
    risk-limit tier that allows ``leverage``, and is rounded down to the qty step; below the
    minimum order qty or minimum order value the answer is zero.
    """
    _positive("price", price)
    if balance <= 0:
        return ZERO
    qty = balance / order_cost_per_unit(side, price, leverage, fee_rate)
    tiers = [t for t in instrument.risk_tiers if t.max_leverage >= leverage]
    if not tiers or leverage > instrument.max_leverage:
        return ZERO
    qty = min(qty, tiers[-1].limit_value / price)
    qty = round_qty(qty, instrument.qty_step)
    if qty < instrument.min_qty or qty * price < instrument.min_notional:
        return ZERO
    return qty
