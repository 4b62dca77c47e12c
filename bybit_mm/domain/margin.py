"""Margin, liquidation and bankruptcy prices for linear perpetuals (Bybit's formulas).

Isolated margin (``BYBIT.md`` §1), with value = qty x entry, IM = value / leverage and
MM = value x MMR - mm_deduction:

- long:  LP = entry - (IM - MM) / qty - extra_margin / qty
- short: LP = entry + (IM - MM) / qty + extra_margin / qty
- bankruptcy: long entry x (1 - 1/leverage), short entry x (1 + 1/leverage), moved by extra margin.

Bybit also reserves the estimated **fee to close** (``qty x bankruptcy price x taker rate``) in the
position: its *position margin* is ``IM + fee to close`` (plus any extra margin), and that is what
a liquidation loses and what ROI divides by. Sources: Bybit help centre "Profit and Loss
calculations (USDT Contract)", ROI example 0.2 BTC @ 7,000, 10x, price 7,500:
``100 / (140 + 6,300 x 0.2 x 0.055%) = 71.07%``, with "Position Margin = Initial Margin + Fee to
close"; "Order Cost (USDT Contract)" (fee to close at the bankruptcy price); "Liquidation Price
Calculation under Isolated Mode (Unified Trading Account)" (the LP formula above, whose example
1 BTC @ 20,000, 50x, MMR 0.5% gives 19,700: no fee term). The fee is added to both IM and MM
(Bybit's ``positionIM`` and ``positionMM`` both carry it: a recorded SOLUSDT position 0.2 @ 233.02,
10x, taker 0.055% + 0.0099% GST reports positionIM 4.6876214 = 4.6604 + 0.0272214 and positionMM
0.2602414 = 0.23302 + 0.0272214), so it cancels out of ``IM - MM`` and the liquidation price.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
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


def fee_to_close(qty: Decimal, bankruptcy: Decimal, taker_rate: Decimal) -> Decimal:
    """Bybit's estimated fee to close: ``qty x bankruptcy price x taker rate``.

    Reserved in the position margin and charged when a liquidation takes the position over at
    the bankruptcy price. Bybit's example: 1 @ 10,000, 50x (bankruptcy 9,800), taker 0.055% -> 5.39.
    """
    return qty * bankruptcy * taker_rate


def position_margin(side: PositionSide | Side | str, price: Decimal, qty: Decimal, leverage: Decimal,
                    taker_rate: Decimal, extra_margin: Decimal = ZERO) -> Decimal:
    """Bybit's position margin: IM + extra margin + fee to close at the bankruptcy price.

    ``price`` is the price margin is computed on (the entry price for an isolated position).
    Bybit's examples: 1 @ 10,000, 50x, taker 0.055% -> 200 + 5.39 = 205.39; 0.2 @ 7,000, 10x ->
    140 + 0.693 = 140.693. Exactly what an isolated liquidation loses.
    """
    _positive("qty", qty)
    _positive("price", price)
    bust = bankruptcy_price(side, price, leverage, qty, extra_margin)
    return initial_margin(qty * price, leverage) + extra_margin + fee_to_close(qty, bust, taker_rate)


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
    #: Bybit's estimated fee to close (qty x bankruptcy price x taker rate).
    fee_to_close: Decimal = ZERO

    @property
    def position_margin(self) -> Decimal:
        """Margin held by the isolated position (IM + extra + fee to close): what a liquidation loses."""
        return self.initial_margin + self.extra_margin + self.fee_to_close

    @property
    def reported_maintenance_margin(self) -> Decimal:
        """The MM Bybit reports (``positionMM``): the tier's MM plus the fee to close."""
        return self.maintenance_margin + self.fee_to_close

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
            "fee_to_close": self.fee_to_close,
            "position_margin": self.position_margin,
        }


def isolated_liquidation(instrument: Instrument, side: PositionSide | Side | str, entry: Decimal,
                         qty: Decimal, leverage: Decimal, *, taker_rate: Decimal,
                         extra_margin: Decimal = ZERO) -> LiquidationInfo:
    """Liquidation and bankruptcy prices and margins, using the tier the position value falls in.

    ``taker_rate`` prices the fee to close held in the position margin. Raises RiskLimitError when
    the position is beyond the instrument's known risk-limit tiers or ``leverage`` exceeds what
    its tier allows.
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
    bust = bankruptcy_price(side, entry, leverage, qty, extra_margin)
    return LiquidationInfo(
        liquidation_price=liquidation_price(side, entry, qty, leverage, tier.mmr, tier.mm_deduction,
                                            extra_margin),
        bankruptcy_price=bust,
        initial_margin=initial_margin(value, leverage),
        maintenance_margin=maintenance_margin(value, tier),
        mmr=tier.mmr,
        mm_deduction=tier.mm_deduction,
        extra_margin=extra_margin,
        fee_to_close=fee_to_close(qty, bust, taker_rate),
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
                            balance: Decimal, mmr: Decimal, mm_deduction: Decimal = ZERO,
                            close_fee_rate: Decimal = ZERO) -> Decimal:
    """Cross-margin liquidation price of ONE position backed by ``balance``.

    ``balance`` is the margin balance standing behind this position: wallet balance plus the
    other positions' uPnL minus their maintenance margin. Cross MM is on mark value and, as
    Bybit reports it, includes the fee to close: ``qty x P x MMR - deduction + qty x P x c`` with
    ``c`` = ``close_fee_rate`` (see :func:`cross_close_fee_rate`). Solves ``balance + uPnL(P) = MM(P)``:
    long ``P = (qty x entry - balance - d) / (qty x (1 - MMR - c))``,
    short ``P = (qty x entry + balance + d) / (qty x (1 + MMR + c))``. Never below zero.
    """
    s = _side(side)
    _positive("qty", qty)
    if s is PositionSide.LONG:
        return max((qty * entry - balance - mm_deduction) / (qty * (1 - mmr - close_fee_rate)), ZERO)
    return (qty * entry + balance + mm_deduction) / (qty * (1 + mmr + close_fee_rate))


def cross_close_fee_rate(side: PositionSide | Side | str, leverage: Decimal, taker_rate: Decimal) -> Decimal:
    """The fee to close per unit of mark value: ``(1 -/+ 1/L) x taker`` (the bankruptcy price of the mark)."""
    _positive("leverage", leverage)
    s = _side(side)
    return (1 - 1 / leverage if s is PositionSide.LONG else 1 + 1 / leverage) * taker_rate


def cross_bankruptcy_price(side: PositionSide | Side | str, entry: Decimal, qty: Decimal, balance: Decimal,
                           taker_rate: Decimal) -> Decimal:
    """Where ``balance`` (the margin behind a cross position) is gone once the fee to close is paid.

    Solves ``balance + uPnL(P) - qty x P x taker = 0``. Bybit takes a liquidated cross position
    over at this price: the trader keeps nothing of ``balance``.
    """
    return cross_liquidation_price(side, entry, qty, balance, ZERO, ZERO, taker_rate)


@lru_cache(maxsize=4096)  # orders come back to the same prices: the sims ask this per order check
def order_cost_per_unit(side: PositionSide | Side | str, price: Decimal, leverage: Decimal,
                        fee_rate: Decimal) -> Decimal:
    """Bybit's order cost for one unit: IM + fee to open at ``price`` + fee to close at bankruptcy."""
    return position_margin(side, price, Decimal(1), leverage, fee_rate) + price * fee_rate


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
