"""The strategy core: every market-making decision, synchronous and free of I/O.

Drivers feed it events and act on what it answers; it never reads a clock, a socket or a file:

- :meth:`StrategyCore.on_book` -- the touch changed (integer ticks, exchange time);
- :meth:`StrategyCore.on_trade` -- a public print (float price): the arrival-intensity estimator
  takes it at once, measured from the reference mid (renewed once per ``interval_s``);
- :meth:`StrategyCore.decide` -- a decision is due (the driver's timer or trigger): the mid is
  sampled into the volatility estimator, the risk guard judges the account, the model quotes,
  the quotes are shaped to the instrument and reconciled with the working orders into the
  fewest order actions (amend first).

The hot path is integer ticks, lot steps and floats, decisions included: the touch, the quotes,
the working orders (:class:`~bybit_mm.engine.reconcile.Working`) and the order actions are ticks
and steps; the risk guard decides on floats and leaves a decision near a boundary to the exact
Decimals of the account. Drivers make the exchange's Decimals when they send an action. The async driver
(:class:`~bybit_mm.engine.trader.LiveTrader`, for ``live`` and ``paper``) and the backtest driver
(:mod:`bybit_mm.engine.backtest`) run this one object, so both trade one strategy.

Estimator sampling: sigma is the quadratic variation of the mid *as sampled at decisions*
(as the engine always did: on REST one sample per ``interval_s``), so a decision cadence is part
of the strategy; trades reach the intensity estimator one by one as they arrive. Once fitted, A
and k are refitted at most once per ``interval_s`` of engine time (the refit period): decisions
in between (a stream's requotes, every 100 ms or on every update) reuse the last fit, as a
decision every ``interval_s`` always did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal
from typing import NamedTuple

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.orders import Side
from bybit_mm.domain.rounding import round_qty
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.reconcile import Action, Target, Working, plan_actions
from bybit_mm.engine.risk import AccountView, RiskDecision, RiskGuard
from bybit_mm.quoting.estimators import IntensityEstimator, IntensityFit, VolatilityEstimator
from bybit_mm.quoting.models import Quote, model_for, risk_quote
from bybit_mm.quoting.orders import shape_ticks, unwind_floor_tick

ZERO = Decimal(0)
_WARMING_UP = ("estimators warming up",)
_BUY, _SELL = Side.BUY, Side.SELL
#: Within this (relative) of the lowest distance to liquidation so far, the exact one is looked at.
_CLOSE = 1e-9


class Decision(NamedTuple):
    """The core's answer: order actions to send, an emergency reduction, or a stop."""

    actions: list[Action]
    mid: Decimal
    quote: Quote | None
    risk: RiskDecision
    notes: tuple[str, ...]
    #: A reduce-only market order the liquidation guard asks for (side, qty), or None.
    reduce: tuple[Side, Decimal] | None
    kill_reason: str | None
    status: str


class StrategyCore:
    """One symbol's market-making decisions (see the module docstring)."""

    def __init__(self, config: EngineConfig, instrument: Instrument, *, maker_fee: Decimal,
                 taker_fee: Decimal, peak_equity: Decimal | None = None) -> None:
        self.config = config
        self.instrument = instrument
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.guard = RiskGuard(config, instrument, peak_equity=peak_equity)
        self.model = model_for(config.model)
        self.tick = instrument.tick_size
        self.tick_f = float(instrument.tick_size)
        self._interval_ms = int(config.interval_s * 1000)
        # market (ticks; 0 = that side is empty)
        self.bid_tick = 0
        self.ask_tick = 0
        self.book_ts_ms = 0
        # estimators
        self.vol = VolatilityEstimator(config.vol_window_s, min_updates=config.vol_updates_needed,
                                       stale_after_s=max(config.stale_after_s * 4, 10.0))
        self.intensity: IntensityEstimator | None = None
        self._pending_trades: list[tuple[int, float, bool | None]] = []
        self._mid_f: float | None = None
        self._ref: float | None = None
        self._ref_ms = 0
        self.sigma: float | None = None
        self.fit: IntensityFit | None = None
        self._min_liq: Decimal | None = None
        self._min_liq_f: float | None = None
        self._judged: RiskDecision | None = None
        self._requote_ticks = config.requote_ticks
        self._fit_ms = 0
        self._maker_fee_f = float(maker_fee)
        step = instrument.qty_step
        #: Sizes below the exchange's minimum quantity (and one step) are not quoted.
        self._min_steps = int((max(instrument.min_qty, step) / step).to_integral_value(rounding=ROUND_CEILING))
        #: The minimum order value in units of one tick times one step (steps x ticks must reach it).
        self._min_value_units = int((instrument.min_notional / (self.tick * step)).to_integral_value(
            rounding=ROUND_CEILING))
        #: Per mid: the quote size, as a float, and in lot steps.
        self._order_qty: dict[Decimal, tuple[Decimal, float, int]] = {}
        #: The account view last decided on, with what is read of it (see :meth:`_targets`).
        self._view: tuple = (None,)
        self._deciding: tuple[AccountView, Sequence[Working]] | None = None
        self._steps_of_qty: dict[Decimal, int] = {}
        self._floor_of: dict[tuple[Decimal, bool], int] = {}
        self._max_inventory_f = float(config.max_inventory_usdt)
        #: Margin one tick x one step of a working order holds (float).
        self._margin_per_unit = self.tick_f * float(step) / float(config.leverage)

    # -- events -------------------------------------------------------------------------------
    def on_book(self, ts_ms: int, bid_tick: int, ask_tick: int) -> None:
        """The touch at exchange time ``ts_ms``: best bid and ask in ticks (0: that side is empty)."""
        self.bid_tick = bid_tick
        self.ask_tick = ask_tick
        self.book_ts_ms = ts_ms
        if bid_tick > 0 and ask_tick > 0:
            self._mid_f = (bid_tick + ask_tick) * 0.5 * self.tick_f

    def on_mid(self, mid: float) -> None:
        """A mid known without a book (a warm-up from prints, a mark fallback)."""
        self._mid_f = mid

    def on_trade(self, ts_ms: int, price: float, buy: bool | None = None) -> None:
        """A public print at ``price`` (``buy``: the aggressor's side; None: unknown, taken from the side
        of the mid it printed on): recorded at its depth signed by the aggressor from the reference
        mid, the mid the current quotes were placed against (see :meth:`sample`)."""
        ref = self._ref if self._ref is not None else self._mid_f
        if ref is None:
            return
        if self.intensity is not None:
            self.intensity.on_trade(ts_ms, price, ref, buy)
        else:
            pending = self._pending_trades
            pending.append((ts_ms, price - ref, buy))
            if len(pending) > 5000:
                del pending[:-5000]

    def sample(self, ts_ms: int, mid: float, now_ms: int) -> None:
        """Sample the mid into the estimators (every decision; the warm-up once per interval).

        Trade depths are measured from a reference mid renewed once per ``interval_s``, the mid the
        quotes of that interval are placed against: a quote is filled by a print beyond it, and
        between two requotes the mid moves too (on a volatile market most fills of a quote come
        from that move, not from the print's depth below the mid of its own instant), so the
        fitted λ(δ) is the fill rate of a quote δ from the decision mid, which is what the model
        quotes with.
        """
        self.vol.update(ts_ms, mid)
        if self._ref is None:
            self._ref = self._mid_f if self._mid_f is not None else mid
        if now_ms - self._ref_ms >= self._interval_ms:
            self._ref, self._ref_ms = mid, now_ms
        if self.intensity is None:
            sigma = self.vol.sigma(ts_ms)
            if sigma is None:
                return
            # Depth levels scaled to how far the price travels in one iteration, at least a tick.
            tick = self.tick_f
            step = max(tick, round(sigma * math.sqrt(self.config.interval_s) / 4 / tick) * tick)
            self.intensity = IntensityEstimator(step, window_s=self.config.intensity_window_s,
                                                min_trades=self.config.min_trades, event_ms=self._interval_ms)
            for ts, diff, side in self._pending_trades:
                self.intensity.on_trade(ts, diff, 0.0, side)
            self._pending_trades.clear()
        self.intensity.observe(ts_ms)

    # -- decisions ----------------------------------------------------------------------------
    def mid(self, fallback: Decimal) -> Decimal:
        """The touch's mid (exact: ticks times the tick), or ``fallback`` when a side is empty."""
        if self.bid_tick > 0 and self.ask_tick > 0:
            return self._mid_of(self.bid_tick + self.ask_tick)[0]
        return fallback

    def _mid_of(self, ticks2: int) -> tuple[Decimal, float]:
        """The mid of a touch whose ticks add up to ``ticks2``: exact, and as a float."""
        mid = self.guard.mid_of(ticks2)
        return mid, self.guard.floats[mid]

    @property
    def min_liq(self) -> Decimal | None:
        """The lowest distance to liquidation (% of the mark) seen so far (None: never in a position)."""
        return self._min_liq

    @min_liq.setter
    def min_liq(self, value: Decimal | None) -> None:
        self._min_liq = value
        self._min_liq_f = None if value is None else float(value)

    def decide(self, now_ms: int, account: AccountView, working: Sequence[Working]) -> Decision:
        """Sample the estimators, judge the risk, quote, and plan the actions for ``working``
        (our open non-reduce-only orders) at engine time ``now_ms``."""
        has_book = self.bid_tick > 0 and self.ask_tick > 0
        if has_book:
            mid, mid_f = self._mid_of(self.bid_tick + self.ask_tick)
        else:
            mid = account.mark
            mid_f = float(mid)
        self.sample(self.book_ts_ms or now_ms, mid_f, now_ms)
        decision = self.guard.judge(now_ms, self.book_ts_ms if has_book else None, account)
        if decision is not self._judged:  # the guard answers an unchanged account with the same verdict
            self._judged = decision
            d_f = decision.liq_distance_f
            low = self._min_liq_f
            if d_f is not None and (low is None or d_f <= low + _CLOSE * max(abs(d_f), 1.0)):
                d_pct = decision.liq_distance_pct
                if self._min_liq is None or d_pct < self._min_liq:  # type: ignore[operator]
                    self.min_liq = d_pct
        quote, buy, sell, notes = self._targets(now_ms, mid, mid_f, account, decision, working)
        kill = decision.kill_reason
        if kill:
            buy = sell = None
        actions = plan_actions(buy, sell, working, requote_ticks=self._requote_ticks)
        reduce = None
        if decision.reduce_side is not None and decision.reduce_qty > 0 and not decision.stale:
            reduce = (decision.reduce_side, min(decision.reduce_qty, abs(account.position_qty)))
        status = ("stopping" if kill else "stale data" if decision.stale
                  else "reducing" if decision.liq_level == "danger"
                  else "warming up" if quote is None else "quoting")
        return Decision(actions, mid, quote, decision, notes + decision.notes if decision.notes else notes, reduce,
                        kill, status)

    def order_qty(self, mid: Decimal) -> Decimal:
        """The quote size: ``order_notional / mid`` on the step, at least the exchange minimums."""
        return self._size(mid)[0]

    def _size(self, mid: Decimal) -> tuple[Decimal, float, int]:
        """:meth:`order_qty` at ``mid``, as a float and in lot steps too (remembered per mid)."""
        memo = self._order_qty
        got = memo.get(mid)
        if got is not None:
            return got
        inst = self.instrument
        qty = round_qty(self.config.order_notional / mid, inst.qty_step)
        if qty * mid < inst.min_notional:
            steps = (inst.min_notional / mid / inst.qty_step).to_integral_value(rounding=ROUND_CEILING)
            qty = steps * inst.qty_step
        qty = max(qty, inst.min_qty)
        if len(memo) >= 4096:
            memo.clear()
        got = memo[mid] = (qty, float(qty), self.steps_of(qty))
        return got

    def _intensity_fit(self, now_ms: int) -> IntensityFit | None:
        """A and k, refitted at most once per ``interval_s`` of engine time once there is a fit (see
        the module docstring); while warming up, at every decision."""
        if self.intensity is None:
            return None
        if self.fit is not None and now_ms - self._fit_ms < self._interval_ms:
            return self.fit
        self._fit_ms = now_ms
        return self.intensity.fit()

    def steps_of(self, qty: Decimal) -> int:
        """``qty`` in whole lot steps."""
        memo = self._steps_of_qty
        got = memo.get(qty)
        if got is None:
            if len(memo) >= 4096:
                memo.clear()
            got = memo[qty] = int(qty / self.instrument.qty_step)
        return got

    def _targets(self, now_ms: int, mid: Decimal, mid_f: float, account: AccountView, decision: RiskDecision,
                 working: Sequence[Working]) -> tuple[Quote | None, Target | None, Target | None, tuple[str, ...]]:
        cfg = self.config
        sigma = self.vol.sigma()
        fit = self._intensity_fit(now_ms)
        self.sigma, self.fit = sigma, fit
        if sigma is None or fit is None:
            return None, None, None, _WARMING_UP
        view = self._view
        if view[0] is not account:  # what the decisions on one account view share, read once
            qty = account.position_qty
            floats = self.guard.floats
            view = self._view = (account, qty, floats[qty], self.steps_of(qty), account.entry_price,
                                 floats[account.available])
        _, qty, qty_f, position_steps, entry, available_f = view
        _, oq_f, order_steps = self._size(mid)
        # Inventory and order size in USDT, prices in bps of the mid: one risk_aversion for A-S and GLFT.
        quote = risk_quote(self.model, mid_f, qty_f * mid_f, oq_f * mid_f, sigma, cfg.risk_aversion,
                           fit.k, fit.A, cfg.horizon_s)
        floor, release = self._unwind_floor(qty, qty_f, position_steps, entry, mid_f, decision)
        shaped = shape_ticks(quote, self.tick_f, order_steps, position_steps, decision.max_position_steps,
                             self.bid_tick or None, self.ask_tick or None, self._maker_fee_f, self._min_steps,
                             False, floor)
        notes = shaped.notes if release is None else (*shaped.notes, release)
        allow = decision.allow
        buy = sell = None
        held_buy = held_sell = -1
        for side, ticks, steps in ((_BUY, shaped.bid_tick, shaped.bid_steps), (_SELL, shaped.ask_tick, shaped.ask_steps)):
            if ticks is None or steps is None or not allow[side]:
                continue
            if steps * ticks < self._min_value_units:
                notes += (f"{side.value.lower()}: below the minimum order value",)
                continue
            if held_buy < 0:
                # Our working orders will be amended: the margin they hold is available to them.
                held_buy = held_sell = 0
                for o in working:
                    if o.side is _BUY:
                        held_buy += o.tick * o.steps
                    else:
                        held_sell += o.tick * o.steps
                self._deciding = (account, working)  # for _exact_available, near a margin limit
            ok, why = self.guard.order_is_safe_ticks(
                side, ticks, steps, position_steps, account,
                available_f + (held_buy if side is _BUY else held_sell) * self._margin_per_unit,
                self._exact_available, self.taker_fee)
            if not ok:
                notes += (f"{side.value.lower()}: {why}",)
                continue
            if side is _BUY:
                buy = Target(side, ticks, steps)
            else:
                sell = Target(side, ticks, steps)
        return quote, buy, sell, notes

    def _exact_available(self, side: Side) -> Decimal:
        """The exact margin an order on ``side`` may use at the decision being made: the account's
        available balance plus what our working orders on that side hold (they will be amended)."""
        account, working = self._deciding
        return account.available + self._working_margin(working, side)

    def _unwind_floor(self, qty: Decimal, qty_f: float, position_steps: int, entry: Decimal, mid_f: float,
                      decision: RiskDecision) -> tuple[int | None, str | None]:
        """The unwinding quote's floor in ticks (:func:`unwind_floor_tick`), or None with the reason
        it is released: flat, or the risk guard asks to reduce (liquidation danger, or the position
        beyond its limit: ``max_inventory_usdt`` at the mid, or the margin cap when smaller). At the
        limit exactly the floor holds: the bid has stopped, and the position waits for its price."""
        if qty_f == 0.0 or entry <= 0:
            return None, None
        if decision.liq_level == "danger":
            return None, f"{'ask' if qty_f > 0 else 'bid'}: unwind floor released (liquidation guard)"
        if abs(position_steps) > decision.max_position_steps or abs(qty_f) * mid_f > self._max_inventory_f:
            return None, f"{'ask' if qty_f > 0 else 'bid'}: unwind floor released (inventory beyond its limit)"
        key = (entry, qty_f > 0)
        got = self._floor_of.get(key)
        if got is None:
            if len(self._floor_of) >= 4096:
                self._floor_of.clear()
            got = self._floor_of[key] = unwind_floor_tick(entry, self.maker_fee, self.tick, long=qty > 0)
        return got, None

    def _working_margin(self, working: Sequence[Working], side: Side) -> Decimal:
        """Margin our working orders on ``side`` hold (exact)."""
        guard, leverage = self.guard, self.config.leverage
        total = ZERO
        for o in working:
            if o.side is side:
                total += guard.price_of(o.tick) * guard.qty_of(o.steps) / leverage
        return total

    def price_of(self, tick: int) -> Decimal:
        """``tick`` ticks as the exchange's price."""
        return self.guard.price_of(tick)

    def qty_of(self, steps: int) -> Decimal:
        """``steps`` lot steps as the exchange's quantity."""
        return self.guard.qty_of(steps)

    def working(self, side: Side, price: Decimal | None, remaining: Decimal, filled: Decimal, ref: object) -> Working:
        """An exchange's order (Decimals) as the core's working order (ticks, steps)."""
        tick = int((price / self.tick).to_integral_value()) if price is not None else 0
        return Working(side, tick, self.steps_of(remaining), self.steps_of(filled), ref)
