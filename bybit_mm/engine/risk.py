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

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.margin import LiquidationInfo, isolated_liquidation, liquidation_distance
from bybit_mm.domain.orders import PositionSide, Side
from bybit_mm.domain.rounding import GridDecimals, round_qty
from bybit_mm.engine.config import EngineConfig
from bybit_mm.errors import RiskLimitError

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class AccountView(NamedTuple):
    """What the guard and the strategy core must know of the account at a decision (Decimals, as an
    exchange reports)."""

    position_qty: Decimal
    entry_price: Decimal
    liq_price: Decimal | None
    wallet_balance: Decimal
    equity: Decimal
    available: Decimal
    mark: Decimal


class RiskDecision:
    """The guard's verdict for one iteration.

    The position limit is kept in lot steps (``max_position_steps``; ``max_position`` is its
    Decimal); the drawdown and the distances to liquidation are exact Decimals computed when first
    read (the float ``liq_distance_f`` is always there): a backtest reads them rarely.
    """

    __slots__ = ("max_position_steps", "qty_step", "allow", "reduce_qty", "reduce_side", "kill_reason", "stale",
                 "liq_level", "_drawdown", "notes", "liq_distance_f", "_liq", "_d_pct", "_d_entry_pct")

    # Arguments in order, positional on the hot path (keywords cost more than the work here).
    def __init__(self, max_position_steps: int, qty_step: Decimal, allow: dict[Side, bool],
                 reduce_qty: Decimal = ZERO, reduce_side: Side | None = None, kill_reason: str | None = None,
                 stale: bool = False, liq_level: str = "flat", drawdown: Decimal | tuple[Decimal, Decimal] = ZERO,
                 notes: tuple[str, ...] = (), liq: tuple[PositionSide, Decimal, Decimal, Decimal] | None = None,
                 liq_distance_f: float | None = None, exact: tuple[Decimal, Decimal] | None = None) -> None:
        self.max_position_steps = max_position_steps
        self.qty_step = qty_step
        #: Whether each side may be quoted (shared between decisions: read it, never change it).
        self.allow = allow
        self.reduce_qty = reduce_qty
        self.reduce_side = reduce_side
        self.kill_reason = kill_reason
        self.stale = stale
        self.liq_level = liq_level
        self._drawdown = drawdown  # the Decimal, or (peak, equity) to compute it from
        self.notes = notes
        #: The mark's distance to liquidation in % of the mark, as a float (None: no position).
        self.liq_distance_f = liq_distance_f
        self._liq = liq  # (side, mark, entry, liquidation price) the distances are computed from
        if exact is None:
            self._d_pct = self._d_entry_pct = None
        else:
            self._d_pct, self._d_entry_pct = exact

    @property
    def drawdown_pct(self) -> Decimal:
        """The equity's drawdown from its peak, in %."""
        dd = self._drawdown
        if isinstance(dd, tuple):
            dd = self._drawdown = drawdown_pct(*dd)
        return dd

    @property
    def max_position(self) -> Decimal:
        """The position limit (base units, on the step)."""
        return (self.qty_step * self.max_position_steps).quantize(self.qty_step)

    @property
    def liq_distance_pct(self) -> Decimal | None:
        """How far (% of the mark) the mark is from the liquidation price; None without a position."""
        if self._d_pct is None and self._liq is not None:
            side, mark, _, liq = self._liq
            self._d_pct = liquidation_distance(side, mark, liq)[1]
        return self._d_pct

    @property
    def entry_liq_distance_pct(self) -> Decimal | None:
        """How far (% of the entry) the entry price is from the liquidation price."""
        if self._d_entry_pct is None and self._liq is not None:
            side, _, entry, liq = self._liq
            self._d_entry_pct = liquidation_distance(side, entry, liq)[1]
        return self._d_entry_pct


_BOTH = {Side.BUY: True, Side.SELL: True}
_NEITHER = {Side.BUY: False, Side.SELL: False}
_STALE_NOTES = ("stale market data: not quoting",)
#: An order that only reduces the position (always safe).
_REDUCING = ()
_SAFE = (True, "")
#: A liquidation line not drawn yet (None: none can be).
_UNDRAWN: Any = object()


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
        self._step = instrument.qty_step
        self._step_f = float(instrument.qty_step)
        self._tick_f = float(instrument.tick_size)
        self._stale_ms = config.stale_after_s * 1000
        self._notional_per_balance = float(config.leverage) * config.max_position_pct
        tiers = [t for t in instrument.risk_tiers if t.max_leverage >= config.leverage]
        #: The notional cap besides the margin cap: the risk tier's limit or max_inventory_usdt, the smaller.
        self._cap_f = min(float(tiers[-1].limit_value) if tiers else math.inf, float(config.max_inventory_usdt))
        self._max_drawdown_f = float(self._max_drawdown)
        self._dd_of: tuple[Decimal | None, Decimal | None] = (None, None)
        #: Decimal -> float, remembered (for the core too: it reads the same account).
        self.floats = _Floats()
        self._flat_key: tuple[Any, ...] | None = None
        self._flat: RiskDecision | None = None
        self._drawdown: tuple[Any, str | None] = (ZERO, None)
        self._plans: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._decimals = GridDecimals(instrument.tick_size, instrument.qty_step)
        self._lines: dict[tuple[PositionSide, Decimal, Decimal], tuple[float, float, float, float] | None] = {}
        #: The last verdict a view got without the exact guard, kept while the same view object comes back.
        self._judged_view: AccountView | None = None
        self._judged_stale = False
        self._judged: RiskDecision | None = None

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

    def max_position_steps(self, wallet_balance: Decimal, price: Decimal) -> int:
        """:meth:`max_position_qty` in lot steps: floats decide, the exact Decimals near a step."""
        floats = self.floats
        wallet_f, price_f = floats[wallet_balance], floats[price]
        if price_f <= 0 or wallet_f <= 0:
            return int(self.max_position_qty(wallet_balance, price) / self.instrument.qty_step)
        x = min(wallet_f * self._notional_per_balance, self._cap_f) / price_f / self._step_f
        steps = math.floor(x)
        if _CLOSE * (x + 1.0) < x - steps < 1.0 - _CLOSE * (x + 1.0):
            return steps
        return int(self.max_position_qty(wallet_balance, price) / self.instrument.qty_step)

    def judge(self, now_ms: int, market_ts_ms: int | None, x: AccountView) -> RiskDecision:
        """Limits, liquidation protection, kill switch and staleness for the account ``x`` at
        ``now_ms``, the market last heard of at ``market_ts_ms``. Floats decide the liquidation level unless they land near
        a threshold (then the exact Decimals do); the limit is in lot steps."""
        stale = market_ts_ms is None or now_ms - market_ts_ms > self._stale_ms
        if x is self._judged_view and stale is self._judged_stale:
            return self._judged  # the same account (one view object) and freshness: the same verdict
        equity = x.equity
        peak = self.peak_equity
        if peak is None or equity > peak:
            self.peak_equity = peak = equity
        if peak is not self._dd_of[0] or equity is not self._dd_of[1]:
            self._dd_of = (peak, equity)
            self._drawdown = self._kill_switch(peak, equity)
        drawdown, kill = self._drawdown
        max_steps = self.max_position_steps(x.wallet_balance, x.mark)
        qty = x.position_qty
        liq = x.liq_price
        floats = self.floats
        if qty and liq is not None:
            mark_f, liq_f = floats[x.mark], floats[liq]
            in_position = liq_f > 0 and mark_f > 0
        else:
            in_position = False
        if not in_position:
            self.stage = 0
            key = (stale, max_steps, drawdown, kill)
            if key != self._flat_key:  # the same verdict decision after decision: made once
                self._flat_key = key
                self._flat = RiskDecision(max_steps, self._step, _NEITHER if stale else _BOTH, ZERO, None, kill,
                                          stale, "flat", drawdown, _STALE_NOTES if stale else ())
            self._judged_view, self._judged_stale, self._judged = x, stale, self._flat
            return self._flat
        long = qty > 0
        side = PositionSide.LONG if long else PositionSide.SHORT
        entry_f = floats[x.entry_price]
        if entry_f > 0:
            sign = 1.0 if long else -1.0
            d_f = sign * (mark_f - liq_f) / mark_f * 100.0
            trigger_f = sign * (entry_f - liq_f) / entry_f * 100.0 * self._trigger_frac_f
            near = _CLOSE * max(abs(d_f), abs(trigger_f), 1.0)
            level = ("ok" if d_f > 2.0 * trigger_f + near
                     else "warn" if trigger_f + near < d_f < 2.0 * trigger_f - near else None)
            if level is not None:
                self.stage = 0
                verdict = RiskDecision(max_steps, self._step, _NEITHER if stale else _BOTH, ZERO, None, kill, stale,
                                       level, drawdown, _STALE_NOTES if stale else (),
                                       (side, x.mark, x.entry_price, liq), d_f)
                self._judged_view, self._judged_stale, self._judged = x, stale, verdict
                return verdict
        # The exact guard keeps stages (one reduction per halving): it answers every call afresh.
        self._judged_view = None
        return self._judge_exact(stale, x, side, max_steps, drawdown, kill)

    def _kill_switch(self, peak: Decimal, equity: Decimal) -> tuple[Decimal | tuple[Decimal, Decimal], str | None]:
        """(the drawdown, the kill reason or None): floats decide far from the limit (the drawdown is
        then computed when read: ``(peak, equity)``), the exact Decimals near it."""
        peak_f = self.floats[peak]
        if peak_f > 0:
            dd_f = (peak_f - float(equity)) / peak_f * 100.0
            if dd_f < self._max_drawdown_f - _CLOSE * max(abs(dd_f), 1.0):
                return (peak, equity), None
        drawdown = drawdown_pct(peak, equity)
        kill = None
        if drawdown >= self._max_drawdown:
            kill = f"kill switch: drawdown {drawdown:.2f}% >= {self.config.max_drawdown_pct:g}%"
        return drawdown, kill

    def _judge_exact(self, stale: bool, x: Any, side: PositionSide, max_steps: int, drawdown: Decimal,
                     kill: str | None) -> RiskDecision:
        """The liquidation guard on exact Decimals (near its thresholds, and once it fires)."""
        cfg = self.config
        notes = list(_STALE_NOTES) if stale else []
        allow = dict(_NEITHER if stale else _BOTH)
        qty = x.position_qty
        reduce_qty, reduce_side = ZERO, None
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
                want = round_qty(abs(qty) * Decimal(str(cfg.emergency_reduce_ratio)), self.instrument.qty_step)
                if want < self.instrument.min_qty:
                    want = min(abs(qty), self.instrument.min_qty)
                reduce_qty, reduce_side = want, side.close_side
        else:
            self.stage = 0
        return RiskDecision(max_position_steps=max_steps, qty_step=self._step, allow=allow, reduce_qty=reduce_qty,
                            reduce_side=reduce_side, kill_reason=kill, stale=stale, liq_level=level,
                            drawdown=drawdown, notes=tuple(notes), liq=(side, x.mark, x.entry_price, x.liq_price),
                            liq_distance_f=float(d_pct), exact=(d_pct, d_entry_pct))

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

    def order_is_safe_ticks(self, side: Side, tick: int, steps: int, position_steps: int, account: Any,
                            available_f: float, available: Callable[[Side], Decimal], fee_rate: Decimal) -> tuple[bool, str]:
        """:meth:`order_is_safe` of ``steps`` lot steps at ``tick`` ticks against ``account`` (its
        ``position_qty``, ``entry_price`` and ``mark``; ``position_steps`` is its position in steps),
        on floats: what depends only on the order and the position (the entry it would leave, its
        liquidation price, its cost) is remembered; against the mark and the available margin
        (``available_f``) the floats decide unless they land within ``_CLOSE`` of the boundary, and
        then :meth:`order_is_safe` does, on the exact Decimals (``available(side)`` gives the margin's)."""
        entry_price = account.entry_price
        key = (side, tick, steps, position_steps, entry_price, fee_rate)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(side, tick, steps, position_steps, account.position_qty, entry_price, fee_rate)
            if len(self._plans) >= 4096:
                self._plans.clear()
            self._plans[key] = plan
        if plan is _REDUCING:
            return _SAFE
        cost_f, sign, liq_f, limit_f = plan
        if abs(cost_f - available_f) <= _CLOSE * max(cost_f, abs(available_f), 1.0):
            return self._exact(side, tick, steps, account, available(side), fee_rate)
        if cost_f > available_f:
            return False, "not enough available margin"
        if liq_f is None:
            return False, "the risk-limit tiers do not allow this position at this leverage"
        mark_f = self.floats[account.mark]
        d_f = sign * (mark_f - liq_f) / mark_f
        if abs(d_f - limit_f) <= _CLOSE * max(abs(d_f), abs(limit_f), 1.0):
            return self._exact(side, tick, steps, account, available(side), fee_rate)
        if d_f <= limit_f:
            return False, "would start inside the liquidation guard"
        return _SAFE

    def _plan(self, side: Side, tick: int, steps: int, position_steps: int, position_qty: Decimal,
              entry_price: Decimal, fee_rate: Decimal) -> tuple[Any, ...]:
        """What :meth:`order_is_safe_ticks` keeps of an order against a position: ``_REDUCING``, or
        (cost, the new position's sign, its liquidation price or None, the guard's limit) in floats."""
        signed = steps * side.sign
        if position_steps != 0 and (position_steps > 0) != (signed > 0) and steps <= abs(position_steps):
            return _REDUCING
        new_steps = position_steps + signed
        if new_steps == 0:
            return _REDUCING
        price, qty = self.price_of(tick), self.qty_of(steps)
        new_qty = position_qty + qty * side.sign
        # As order_is_safe computes them (the memo of liquidation pictures is shared).
        if (position_steps > 0) == (new_steps > 0) and position_steps != 0:
            entry = (abs(position_qty) * entry_price + qty * price) / abs(new_qty)
        else:
            entry = price
        cost_f = steps * self._step_f * (tick * self._tick_f) * self._cost_per_value[fee_rate]
        pside = PositionSide.LONG if new_steps > 0 else PositionSide.SHORT
        # Opening from flat: the order's own qty object (its hash is cached for the memos' keys).
        liq = self.liquidation_f(pside, entry, qty if position_steps == 0 else abs(new_qty), fee_rate)
        if liq is None:
            return cost_f, 0.0, None, 0.0
        entry_f = float(entry)
        sign = 1.0 if pside is PositionSide.LONG else -1.0
        return cost_f, sign, liq, sign * (entry_f - liq) / entry_f * self._trigger_frac_f

    def liquidation_f(self, side: PositionSide, entry: Decimal, qty: Decimal, taker_rate: Decimal) -> float | None:
        """The isolated liquidation price (float) of a position of ``qty`` at ``entry`` (None: the
        tiers refuse it). Within one risk tier the domain's liquidation price is affine in the entry
        for a fixed size: its line, drawn through the domain's own answers, is kept per (side, qty,
        rate) and read where the position's value is clearly inside that tier; elsewhere (and for the
        line's first answer) the domain answers on Decimals."""
        key = (side, qty, taker_rate)
        line = self._lines.get(key, _UNDRAWN)
        if line is not _UNDRAWN and line is not None:
            slope, intercept, low, high = line
            entry_f = float(entry)
            if low < float(qty) * entry_f < high:
                return slope * entry_f + intercept
        info = self._liquidation(side, entry, qty, taker_rate)
        if line is _UNDRAWN and info is not None:
            if len(self._lines) >= 4096:
                self._lines.clear()
            self._lines[key] = self._line(side, entry, qty, taker_rate, info)
        return None if info is None else float(info.liquidation_price)

    def _line(self, side: PositionSide, entry: Decimal, qty: Decimal, taker_rate: Decimal,
              info: LiquidationInfo) -> tuple[float, float, float, float] | None:
        """(slope, intercept, lowest value, highest value) of the liquidation price against the entry
        in the tier of ``qty`` at ``entry`` (floats, the values a hair inside the tier's own bounds),
        through the domain's answer at ``entry`` and at an entry a quarter away in the same tier; None
        when no such second entry exists."""
        tiers = self.instrument.risk_tiers
        tier = self.instrument.tier_for(qty * entry)
        i = tiers.index(tier)
        low = float(tiers[i - 1].limit_value) * (1.0 + _CLOSE) if i > 0 else 0.0
        high = float(tier.limit_value) * (1.0 - _CLOSE)
        for other in (entry * Decimal("1.25"), entry * Decimal("0.8")):
            if not low < float(qty * other) < high:
                continue
            far = self._liquidation(side, other, qty, taker_rate)
            mid = self._liquidation(side, (entry + other) / 2, qty, taker_rate)
            if far is None or mid is None:
                continue
            e0, l0 = float(entry), float(info.liquidation_price)
            slope = (float(far.liquidation_price) - l0) / (float(other) - e0)
            intercept = l0 - slope * e0
            # A straight line through the middle too (no clamp bends it between the two).
            if abs(slope * float((entry + other) / 2) + intercept - float(mid.liquidation_price)) <= 1e-12 * l0:
                return slope, intercept, low, high
        return None

    def _exact(self, side: Side, tick: int, steps: int, account: Any, available: Decimal,
               fee_rate: Decimal) -> tuple[bool, str]:
        return self.order_is_safe(side, self.price_of(tick), self.qty_of(steps), position_qty=account.position_qty,
                                  entry_price=account.entry_price, mark=account.mark, available=available,
                                  fee_rate=fee_rate)

    def price_of(self, tick: int) -> Decimal:
        """``tick`` ticks as a price."""
        return self._decimals.price(tick)

    def mid_of(self, ticks2: int) -> Decimal:
        """The mid of a touch whose bid and ask ticks add up to ``ticks2``."""
        return self._decimals.mid(ticks2)

    def qty_of(self, steps: int) -> Decimal:
        """``steps`` lot steps as a quantity, on the step."""
        return self._decimals.qty(steps)


#: Distance (relative, and absolute below 1) within which a float comparison is left to the exact
#: Decimal one: far above the floats' own error (~1e-16 relative), far below any real margin.
_CLOSE = 1e-9



def drawdown_pct(peak: Decimal | None, equity: Decimal) -> Decimal:
    """How far ``equity`` is below ``peak``, in % of the peak (0 without a positive peak)."""
    return (peak - equity) / peak * HUNDRED if peak and peak > 0 else ZERO


class _Floats(dict):  # type: ignore[type-arg]
    """Decimal -> float, remembered: an account's prices and balances come back decision after
    decision, as the same objects (their hash is cached), and ``float(Decimal)`` costs ten lookups."""

    def __missing__(self, value: Decimal) -> float:
        if len(self) >= 8192:
            self.clear()
        got = self[value] = float(value)
        return got


class _CostPerValue(dict):  # type: ignore[type-arg]
    """``1 / leverage + 2 x fee rate`` per fee rate (float): an order's cost per unit of value."""

    def __init__(self, leverage: Decimal) -> None:
        super().__init__()
        self.inv_leverage = 1.0 / float(leverage)

    def __missing__(self, fee_rate: Decimal) -> float:
        value = self[fee_rate] = self.inv_leverage + 2.0 * float(fee_rate)
        return value
