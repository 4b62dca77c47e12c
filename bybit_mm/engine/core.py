"""The strategy core: every market-making decision, synchronous and free of I/O.

Drivers feed it events and act on what it answers; it never reads a clock, a socket or a file:

- :meth:`StrategyCore.on_book` -- the touch changed (integer ticks, exchange time);
- :meth:`StrategyCore.on_trade` -- a public print (float price): the arrival-intensity estimator
  takes it at once, measured from the reference mid (renewed once per ``interval_s``);
- :meth:`StrategyCore.decide` -- a decision is due (the driver's timer or trigger): the mid is
  sampled into the volatility estimator, the risk guard judges the account, the model quotes,
  the quotes are shaped to the instrument and reconciled with the working orders into the
  fewest order actions (amend first).

The hot path (book and trade events) is integer ticks and floats; Decimals appear only in
:meth:`decide`, where prices and sizes leave for an exchange. The async driver
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
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.orders import Side
from bybit_mm.domain.rounding import round_qty
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.reconcile import Action, Target, plan_actions
from bybit_mm.engine.risk import RiskDecision, RiskGuard, RiskInputs
from bybit_mm.exchange.port import OrderInfo
from bybit_mm.quoting.estimators import IntensityEstimator, IntensityFit, VolatilityEstimator
from bybit_mm.quoting.models import Quote, model_for, risk_quote
from bybit_mm.quoting.orders import shape_ticks, unwind_floor_tick

ZERO = Decimal(0)
_NO_TARGETS: dict[Side, Target | None] = {Side.BUY: None, Side.SELL: None}


@dataclass(frozen=True, slots=True)
class AccountView:
    """What the core must know of the account at a decision (Decimals, as an exchange reports)."""

    position_qty: Decimal
    entry_price: Decimal
    liq_price: Decimal | None
    wallet_balance: Decimal
    equity: Decimal
    available: Decimal
    mark: Decimal


@dataclass(frozen=True, slots=True)
class Decision:
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
        self.decision_mid: Decimal | None = None
        self.sigma: float | None = None
        self.fit: IntensityFit | None = None
        self.min_liq: Decimal | None = None
        self._fit_ms = 0
        self._maker_fee_f = float(maker_fee)
        step = instrument.qty_step
        #: Sizes below the exchange's minimum quantity (and one step) are not quoted.
        self._min_steps = int((max(instrument.min_qty, step) / step).to_integral_value(rounding=ROUND_CEILING))
        #: The minimum order value in units of one tick times one step (steps x ticks must reach it).
        self._min_value_units = int((instrument.min_notional / (self.tick * step)).to_integral_value(
            rounding=ROUND_CEILING))
        self._order_qty: dict[Decimal, Decimal] = {}
        self._qty_of_steps: dict[int, Decimal] = {}
        self._price_of_ticks: dict[int, Decimal] = {}
        self._steps_of_qty: dict[Decimal, int] = {}
        self._floor_of: dict[tuple[Decimal, bool], int] = {}

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
            return (self.bid_tick + self.ask_tick) * self.tick / 2
        return fallback

    def decide(self, now_ms: int, account: AccountView, working: list[OrderInfo]) -> Decision:
        """Sample the estimators, judge the risk, quote, and plan the actions for ``working``
        (our open non-reduce-only orders) at engine time ``now_ms``."""
        cfg = self.config
        mid = self.mid(account.mark)
        has_book = self.bid_tick > 0 and self.ask_tick > 0
        self.sample(self.book_ts_ms or now_ms, float(mid), now_ms)
        qty = account.position_qty
        decision = self.guard.evaluate(RiskInputs(
            now_ms=now_ms, market_ts_ms=self.book_ts_ms if has_book else None, mark=account.mark,
            position_qty=qty, entry_price=account.entry_price, liq_price=account.liq_price,
            wallet_balance=account.wallet_balance, equity=account.equity, available=account.available))
        if decision.liq_distance_pct is not None:
            self.min_liq = (decision.liq_distance_pct if self.min_liq is None
                            else min(self.min_liq, decision.liq_distance_pct))
        quote, targets, notes = self._targets(now_ms, mid, account, decision, working)
        kill = decision.kill_reason
        if kill:
            targets = _NO_TARGETS
        actions = plan_actions(targets, working, tick=self.tick, requote_ticks=cfg.requote_ticks)
        reduce = None
        if decision.reduce_qty > 0 and decision.reduce_side is not None and not decision.stale:
            reduce = (decision.reduce_side, min(decision.reduce_qty, abs(qty)))
        self.decision_mid = mid
        status = ("stopping" if kill else "stale data" if decision.stale
                  else "reducing" if decision.liq_level == "danger"
                  else "warming up" if quote is None else "quoting")
        return Decision(actions, mid, quote, decision, tuple(notes) + decision.notes, reduce, kill, status)

    def order_qty(self, mid: Decimal) -> Decimal:
        """The quote size: ``order_notional / mid`` on the step, at least the exchange minimums."""
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
        memo[mid] = qty
        return qty

    def _intensity_fit(self, now_ms: int) -> IntensityFit | None:
        """A and k, refitted at most once per ``interval_s`` of engine time once there is a fit (see
        the module docstring); while warming up, at every decision."""
        if self.intensity is None:
            return None
        if self.fit is not None and now_ms - self._fit_ms < self._interval_ms:
            return self.fit
        self._fit_ms = now_ms
        return self.intensity.fit()

    def _steps(self, qty: Decimal) -> int:
        memo = self._steps_of_qty
        got = memo.get(qty)
        if got is None:
            if len(memo) >= 4096:
                memo.clear()
            got = memo[qty] = int(qty / self.instrument.qty_step)
        return got

    def _targets(self, now_ms: int, mid: Decimal, account: AccountView, decision: RiskDecision,
                 working: list[OrderInfo]) -> tuple[Quote | None, dict[Side, Target | None], list[str]]:
        cfg = self.config
        sigma = self.vol.sigma()
        fit = self._intensity_fit(now_ms)
        self.sigma, self.fit = sigma, fit
        if sigma is None or fit is None:
            return None, _NO_TARGETS, ["estimators warming up"]
        qty = account.position_qty
        oq = self.order_qty(mid)
        mid_f = float(mid)
        # Inventory and order size in USDT, prices in bps of the mid: one risk_aversion for A-S and GLFT.
        quote = risk_quote(self.model, mid_f, float(qty) * mid_f, float(oq) * mid_f, sigma, cfg.risk_aversion,
                           fit.k, fit.A, cfg.horizon_s)
        floor, release = self._unwind_floor(qty, account.entry_price, mid, decision)
        shaped = shape_ticks(quote, tick=self.tick_f, order_steps=self._steps(oq), position_steps=self._steps(qty),
                             max_position_steps=self._steps(decision.max_position),
                             best_bid_tick=self.bid_tick or None, best_ask_tick=self.ask_tick or None,
                             maker_fee=self._maker_fee_f, min_steps=self._min_steps, unwind_floor=floor)
        if release:
            shaped = replace(shaped, notes=(*shaped.notes, release))
        notes = list(shaped.notes)
        targets: dict[Side, Target | None] = {}
        for side, ticks, steps in ((Side.BUY, shaped.bid_tick, shaped.bid_steps),
                                   (Side.SELL, shaped.ask_tick, shaped.ask_steps)):
            if ticks is None or steps is None or not decision.allow[side]:
                targets[side] = None
                continue
            if steps * ticks < self._min_value_units:
                targets[side] = None
                notes.append(f"{side.value.lower()}: below the minimum order value")
                continue
            price = self._tick_price(ticks)
            size = self._step_qty(steps)
            ok, why = self.guard.order_is_safe(side, price, size, position_qty=qty,
                                               entry_price=account.entry_price, mark=account.mark,
                                               available=account.available + working_margin(working, side, cfg.leverage),
                                               fee_rate=self.taker_fee)
            if not ok:
                targets[side] = None
                notes.append(f"{side.value.lower()}: {why}")
                continue
            targets[side] = Target(side, price, size)
        return quote, targets, notes

    def _unwind_floor(self, qty: Decimal, entry: Decimal, mid: Decimal,
                      decision: RiskDecision) -> tuple[int | None, str | None]:
        """The unwinding quote's floor in ticks (:func:`unwind_floor_tick`), or None with the reason
        it is released: flat, or the risk guard asks to reduce (liquidation danger, or the position
        beyond its limit: ``max_inventory_usdt`` at the mid, or the margin cap when smaller). At the
        limit exactly the floor holds: the bid has stopped, and the position waits for its price."""
        if qty == 0 or entry <= 0:
            return None, None
        side = "ask" if qty > 0 else "bid"
        if decision.liq_level == "danger":
            return None, f"{side}: unwind floor released (liquidation guard)"
        if abs(qty) > decision.max_position or abs(qty) * mid > self.config.max_inventory_usdt:
            return None, f"{side}: unwind floor released (inventory beyond its limit)"
        key = (entry, qty > 0)
        got = self._floor_of.get(key)
        if got is None:
            if len(self._floor_of) >= 4096:
                self._floor_of.clear()
            got = self._floor_of[key] = unwind_floor_tick(entry, self.maker_fee, self.tick, long=qty > 0)
        return got, None

    def _tick_price(self, ticks: int) -> Decimal:
        # One Decimal per price (its hash computed once: the guard's memo is keyed by it).
        memo = self._price_of_ticks
        got = memo.get(ticks)
        if got is None:
            if len(memo) >= 4096:
                memo.clear()
            got = memo[ticks] = self.tick * ticks
        return got

    def _step_qty(self, steps: int) -> Decimal:
        got = self._qty_of_steps.get(steps)
        if got is None:
            step = self.instrument.qty_step
            got = self._qty_of_steps[steps] = (step * steps).quantize(step)
        return got


def working_margin(working: list[OrderInfo], side: Side, leverage: Decimal) -> Decimal:
    """Margin our working orders on ``side`` hold: they will be amended, so it is available to them."""
    total = ZERO
    for o in working:
        if o.side is side:
            total += (o.price or ZERO) * o.remaining_qty / leverage
    return total
