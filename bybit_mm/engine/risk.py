"""The risk guard: position limits, the seed's liquidation protection, drawdown kill switch, stale data.

Liquidation protection (the seed's ``LIQUIDATION_THRESHOLD`` / ``EMERGENCY_REDUCE_RATIO``): with
``d_entry`` the distance from the entry price to the liquidation price and ``d`` the distance from
the mark price (both in % of price), once ``d < (1 - liquidation_threshold) x d_entry`` the guard
stops quoting the side that adds to the position and asks for a reduce-only order closing
``emergency_reduce_ratio`` of it. An isolated position's liquidation price does not move when it
is reduced, so each further halving of ``d`` below the trigger asks for one more reduction; the
stages re-arm once ``d`` is back above the trigger.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.margin import LiquidationInfo, isolated_liquidation, liquidation_distance
from bybit_mm.domain.orders import PositionSide, Side
from bybit_mm.domain.rounding import round_qty
from bybit_mm.engine.config import EngineConfig
from bybit_mm.errors import RiskLimitError

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RiskInputs:
    """What the guard looks at on one iteration."""

    now_ms: int
    market_ts_ms: int | None
    mark: Decimal
    position_qty: Decimal
    entry_price: Decimal
    liq_price: Decimal | None
    wallet_balance: Decimal
    equity: Decimal
    available: Decimal


@dataclass(frozen=True)
class RiskDecision:
    """The guard's verdict for one iteration."""

    max_position: Decimal
    allow: dict[Side, bool]
    reduce_qty: Decimal
    reduce_side: Side | None
    kill_reason: str | None
    stale: bool
    liq_distance_pct: Decimal | None
    entry_liq_distance_pct: Decimal | None
    liq_level: str
    drawdown_pct: Decimal
    notes: tuple[str, ...] = ()


class RiskGuard:
    """Stateful across iterations only for the equity peak and the liquidation-protection stage."""

    def __init__(self, config: EngineConfig, instrument: Instrument, *, peak_equity: Decimal | None = None) -> None:
        self.config = config
        self.instrument = instrument
        self.peak_equity = peak_equity
        self.stage = 0
        self._trigger_frac = Decimal(1) - Decimal(str(config.liquidation_threshold))
        self._trigger_frac_f = float(self._trigger_frac)
        self._max_drawdown = Decimal(str(config.max_drawdown_pct))
        self._memo: dict[tuple[PositionSide, Decimal, Decimal, Decimal], LiquidationInfo | None] = {}
        self._cost_per_value = _CostPerValue(config.leverage)
        self._max_position: dict[tuple[Decimal, Decimal], Decimal] = {}

    def max_position_qty(self, wallet_balance: Decimal, price: Decimal) -> Decimal:
        """The smaller of the margin cap ``balance x leverage x max_position_pct`` and the strategy cap
        ``max_inventory_usdt``, within the risk tiers, over ``price``, down to the step."""
        if price <= 0 or wallet_balance <= 0:
            return ZERO
        memo = self._max_position
        got = memo.get((wallet_balance, price))
        if got is not None:
            return got
        if len(memo) >= 4096:
            memo.clear()
        got = memo[(wallet_balance, price)] = self._max_position_qty(wallet_balance, price)
        return got

    def _max_position_qty(self, wallet_balance: Decimal, price: Decimal) -> Decimal:
        cfg = self.config
        notional = wallet_balance * cfg.leverage * Decimal(str(cfg.max_position_pct))
        notional = min(notional, cfg.max_inventory_usdt)
        tiers = [t for t in self.instrument.risk_tiers if t.max_leverage >= cfg.leverage]
        if tiers:
            notional = min(notional, tiers[-1].limit_value)
        return round_qty(notional / price, self.instrument.qty_step)

    def evaluate(self, x: RiskInputs) -> RiskDecision:
        """Limits, liquidation protection, kill switch and staleness for the state ``x``."""
        cfg = self.config
        notes: list[str] = []
        allow = {Side.BUY: True, Side.SELL: True}
        stale = (x.market_ts_ms is None
                 or x.now_ms - x.market_ts_ms > cfg.stale_after_s * 1000)
        if stale:
            allow = {Side.BUY: False, Side.SELL: False}
            notes.append("stale market data: not quoting")

        if self.peak_equity is None or x.equity > self.peak_equity:
            self.peak_equity = x.equity
        drawdown = ((self.peak_equity - x.equity) / self.peak_equity * HUNDRED
                    if self.peak_equity and self.peak_equity > 0 else ZERO)
        kill = None
        if drawdown >= self._max_drawdown:
            kill = f"kill switch: drawdown {drawdown:.2f}% >= {cfg.max_drawdown_pct:g}%"

        reduce_qty, reduce_side = ZERO, None
        d_pct = d_entry_pct = None
        level = "flat"
        qty = x.position_qty
        if qty != 0 and x.liq_price is not None and x.liq_price > 0 and x.mark > 0:
            side = PositionSide.LONG if qty > 0 else PositionSide.SHORT
            _, d_pct = liquidation_distance(side, x.mark, x.liq_price)
            _, d_entry_pct = liquidation_distance(side, x.entry_price, x.liq_price)
            trigger = d_entry_pct * self._trigger_frac
            level = "ok"
            if d_pct < trigger * 2:
                level = "warn"
            if d_pct < trigger:
                level = "danger"
                allow[side.open_side] = False
                notes.append(f"liquidation guard: distance {d_pct:.3f}% < {trigger:.3f}%")
                # Stage n fires below trigger / 2**(n-1): one reduction per halving.
                stage = 1
                while stage < 20 and d_pct < trigger / (2 ** stage):
                    stage += 1
                if stage > self.stage:
                    self.stage = stage
                    want = round_qty(abs(qty) * Decimal(str(cfg.emergency_reduce_ratio)),
                                     self.instrument.qty_step)
                    if want < self.instrument.min_qty:
                        want = min(abs(qty), self.instrument.min_qty)
                    reduce_qty, reduce_side = want, side.close_side
            else:
                self.stage = 0
        else:
            self.stage = 0

        return RiskDecision(
            max_position=self.max_position_qty(x.wallet_balance, x.mark),
            allow=allow, reduce_qty=reduce_qty, reduce_side=reduce_side, kill_reason=kill,
            stale=stale, liq_distance_pct=d_pct, entry_liq_distance_pct=d_entry_pct,
            liq_level=level, drawdown_pct=drawdown, notes=tuple(notes),
        )

    def _liquidation(self, side: PositionSide, entry: Decimal, qty: Decimal,
                     taker_rate: Decimal) -> LiquidationInfo | None:
        """The domain's isolated liquidation picture (None: the tiers refuse it), remembered: quotes
        come back to the same prices and sizes decision after decision."""
        key = (side, entry, qty, taker_rate)
        memo = self._memo
        if key in memo:
            return memo[key]
        try:
            info: LiquidationInfo | None = isolated_liquidation(self.instrument, side, entry, qty,
                                                                self.config.leverage, taker_rate=taker_rate)
        except RiskLimitError:
            info = None
        if len(memo) >= 4096:
            memo.clear()
        memo[key] = info
        return info

    def order_is_safe(self, side: Side, price: Decimal, qty: Decimal, *, position_qty: Decimal,
                      entry_price: Decimal, mark: Decimal, available: Decimal,
                      fee_rate: Decimal) -> tuple[bool, str]:
        """Whether an order adding to the position keeps it clear of liquidation and within margin.

        The position the order would leave (quantity-weighted entry) must have its isolated
        liquidation price beyond the liquidation-guard trigger from ``mark`` (so the guard would
        not fire at once), must be allowed by the risk tiers at this leverage, and the order's
        cost (initial margin plus fees) must fit in ``available``. Reducing orders are always safe.
        """
        cfg = self.config
        signed = qty * side.sign
        if position_qty != 0 and (position_qty > 0) != (signed > 0) and qty <= abs(position_qty):
            return True, ""
        new_qty = position_qty + signed
        if new_qty == 0:
            return True, ""
        if (position_qty > 0) == (new_qty > 0) and position_qty != 0:
            entry = (abs(position_qty) * entry_price + qty * price) / abs(new_qty)
        else:
            entry = price
        # Floats decide unless they land within _CLOSE of the boundary; then the exact Decimals do.
        cost_f = float(qty) * float(price) * self._cost_per_value[fee_rate]
        avail_f = float(available)
        if abs(cost_f - avail_f) <= _CLOSE * max(cost_f, abs(avail_f), 1.0):
            if qty * price / cfg.leverage + qty * price * fee_rate * 2 > available:
                return False, "not enough available margin"
        elif cost_f > avail_f:
            return False, "not enough available margin"
        pside = PositionSide.LONG if new_qty > 0 else PositionSide.SHORT
        # Opening from flat: the order's own qty object (its hash is cached for the memo's key).
        info = self._liquidation(pside, entry, qty if position_qty == 0 else abs(new_qty), fee_rate)
        if info is None:
            return False, "the risk-limit tiers do not allow this position at this leverage"
        liq, mark_f, entry_f = float(info.liquidation_price), float(mark), float(entry)
        sign = 1.0 if pside is PositionSide.LONG else -1.0
        d_f = sign * (mark_f - liq) / mark_f
        limit_f = sign * (entry_f - liq) / entry_f * self._trigger_frac_f
        if abs(d_f - limit_f) <= _CLOSE * max(abs(d_f), abs(limit_f), 1.0):
            _, d_pct = liquidation_distance(pside, mark, info.liquidation_price)
            _, d_entry = liquidation_distance(pside, entry, info.liquidation_price)
            inside = d_pct <= d_entry * self._trigger_frac
        else:
            inside = d_f <= limit_f
        if inside:
            return False, "would start inside the liquidation guard"
        return True, ""


#: Distance (relative, and absolute below 1) within which a float comparison is left to the exact
#: Decimal one: far above the floats' own error (~1e-16 relative), far below any real margin.
_CLOSE = 1e-9



class _CostPerValue(dict):  # type: ignore[type-arg]
    """``1 / leverage + 2 x fee rate`` per fee rate (float): an order's cost per unit of value."""

    def __init__(self, leverage: Decimal) -> None:
        super().__init__()
        self.inv_leverage = 1.0 / float(leverage)

    def __missing__(self, fee_rate: Decimal) -> float:
        value = self[fee_rate] = self.inv_leverage + 2.0 * float(fee_rate)
        return value
