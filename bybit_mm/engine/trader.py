"""The market-making loop: the seed's ``LiveTrader`` in futures mode, over the client port.

One iteration (every ``interval_s`` of engine time): read the market (ticker, book, recent
trades), feed the estimators, book new fills, read position and wallet, ask the risk guard,
compute the model's quotes and shape them to the instrument, reconcile them with the working
orders (amend first; new orders only when there is nothing to amend; a rate budget per order
endpoint), then publish a snapshot. A read that fails skips the decision (the engine never acts
blind); a stop (duration, kill switch, signal, fatal error) cancels every working order, can
flatten, and returns a :class:`RunSummary`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_CEILING, Decimal
from typing import Any

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import Position
from bybit_mm.domain.rounding import round_qty
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.journal import Journal, ResumeState
from bybit_mm.engine.ledger import Ledger
from bybit_mm.engine.reconcile import Action, OrderIds, RateBudget, Target, plan_actions
from bybit_mm.engine.risk import RiskDecision, RiskGuard, RiskInputs
from bybit_mm.engine.snapshot import EngineSnapshot, RunSummary
from bybit_mm.engine.timing import EngineClock, as_engine_clock
from bybit_mm.errors import AuthError, BybitMMError, ConfigError, ExchangeUnavailable, OrderRejected, UsageError
from bybit_mm.exchange.port import Balance, Execution, FuturesClient, OrderInfo, PositionInfo
from bybit_mm.exchange.stream import FEED_FALLBACK, FEED_REST, FEED_STREAM, MarketStream

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ID_PREFIX = "mm"
#: Consecutive failed iterations (exchange unreachable) before the engine gives up.
MAX_FAILED_ITERATIONS = 60
#: Stream events one wait may take beyond its deadline (the queue is normally empty long before).
_MAX_DRAIN = 20_000


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[idx]


class LiveTrader:
    """Quotes one symbol on one account until stopped. Build it, then ``await run()``.

    ``clock``: a Clock (``now_ms()``); manual clocks are advanced by the engine's sleeps.
    ``on_snapshot``: called every ``snapshot_every_s`` with the latest snapshot (``latest`` is
    updated every iteration). ``timer``: a monotonic seconds counter used only to measure order
    round-trip latency (an observation, never a decision input).
    """

    def __init__(self, client: FuturesClient, clock: Any, config: EngineConfig, *,
                 journal: Journal | None = None, resume: bool = False,
                 on_snapshot: Callable[[EngineSnapshot], None] | None = None,
                 timer: Callable[[], float] = time.perf_counter, stream: MarketStream | None = None) -> None:
        self.client = client
        self.stream = stream
        self.feed = FEED_REST if stream is None else FEED_STREAM
        self._stream_started = False
        self._next_reconcile_ms = 0
        self._seen_reconnects = 0
        self._last_step_ms = 0
        self.clock: EngineClock = as_engine_clock(clock)
        self.config = config
        self.journal = journal
        self.resume = resume
        self.on_snapshot = on_snapshot
        self.timer = timer
        self.latest: EngineSnapshot | None = None
        self.network = getattr(client, "network", "?")
        self._stop_reason: str | None = None
        self._fatal: BaseException | None = None
        #: The summary of the finished run (also when ``run`` re-raised a fatal error).
        self.summary: RunSummary | None = None
        self.counters = {"placed": 0, "amended": 0, "cancelled": 0, "rejected": 0, "errors": 0,
                         "reduces": 0, "liquidations": 0}
        self._latencies: deque[float] = deque(maxlen=2000)
        self._failed_iterations = 0
        self._iteration = 0
        self._seen_trades: deque[str] = deque(maxlen=4000)
        self._seen_trade_set: set[str] = set()
        self._last_trade_ts = 0
        self._decision_mid: Decimal | None = None
        self._ref_mid: Decimal | None = None
        self._ref_mid_ms = 0
        self._exec_since: int = 0
        self._next_snapshot_ms = 0
        self._min_liq: Decimal | None = None
        self._working: list[OrderInfo] = []
        self._mismatch: tuple[Decimal, Decimal] | None = None
        self.started_ms = 0
        # set in _start
        self.instrument: Instrument
        self.ledger: Ledger
        self.guard: RiskGuard
        self.ids: OrderIds
        self.budget = RateBudget(config.order_rate_per_s)

    # -- control ------------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop after the current iteration (signal handlers call this)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    @property
    def stop_reason(self) -> str | None:
        """Why the loop stopped (or was asked to), None while running."""
        return self._stop_reason

    async def run(self) -> RunSummary:
        """Run until stopped; always cancels working orders on the way out. Returns the summary.

        A fatal error (authentication, configuration, exchange gone for too long) is re-raised
        after the shutdown, so the CLI can map it to an exit code.
        """
        await self._start()
        try:
            await self._start_stream()
            while self._stop_reason is None:
                await self.step()
                if self._stop_reason is not None:
                    break
                await self._wait()
                if (self.config.duration_s is not None
                        and self.clock.now_ms() - self.started_ms >= self.config.duration_s * 1000):
                    self.request_stop("duration reached")
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.request_stop("interrupted")
        except (AuthError, ConfigError, UsageError) as e:
            self.request_stop(f"error: {e.one_line()}")
            self._fatal = e
        except Exception as e:  # any other way out (a bug, a malformed answer) also cancels our orders
            log.error("unexpected error in the trading loop (%s); cancelling the orders", type(e).__name__)
            self.request_stop(f"error: unexpected {type(e).__name__}")
            self._fatal = e
        self.summary = await self._shutdown()
        if self._fatal is not None:
            raise self._fatal
        return self.summary

    # -- start --------------------------------------------------------------------------------
    async def _start(self) -> None:
        cfg = self.config
        c = self.client
        self.instrument = await c.instrument(cfg.symbol)
        if cfg.leverage > self.instrument.max_leverage:
            raise UsageError(f"{cfg.symbol}: leverage {cfg.leverage}x is above the maximum "
                             f"{self.instrument.max_leverage}x")
        await c.set_leverage(cfg.symbol, cfg.leverage)
        try:
            await c.set_margin_mode(cfg.symbol, cfg.margin_mode)  # type: ignore[arg-type]
        except (OrderRejected, UsageError) as e:
            log.warning("margin mode left as it is: %s", e.one_line())
        fees = await c.fee_rates(cfg.symbol)
        self.maker_fee = fees.maker
        self.taker_fee = fees.taker
        self.started_ms = self.clock.now_ms()
        self.ids = OrderIds(self.started_ms, prefix=ID_PREFIX)
        balance = await c.balance()
        state: ResumeState | None = None
        if self.resume and self.journal is not None:
            state = self.journal.resume_state(cfg.symbol)
        if state is not None:
            self.ledger = Ledger(cfg.symbol, state.starting_balance)
            for ex, mid in state.fills:
                self.ledger.apply(ex, mid)
            self.ledger.funding = state.funding
            self.ledger.seen |= state.funding_ids
            self.counters.update({k: v for k, v in state.counters.items() if k in self.counters})
            self._min_liq = state.min_liq_distance_pct
            self._exec_since = max(state.fills[-1][0].ts_ms if state.fills else state.started_ms,
                                   state.last_funding_ms)
            peak = state.peak_equity
        else:
            self.ledger = Ledger(cfg.symbol, balance.wallet_balance)
            pos = await self._position()
            if pos is not None and pos.size > 0:
                # An existing position is taken over at its entry price.
                self.ledger.position = Position(cfg.symbol, pos.signed_qty, pos.entry_price)
                self.ledger.max_abs_position = pos.size
            self._exec_since = self.started_ms
            peak = None
        self.guard = RiskGuard(cfg, self.instrument, peak_equity=peak)
        if self.journal is not None:
            self.journal.start_run(cfg.symbol, self.network, self.started_ms, self.ledger.starting_balance,
                                   resumed=state is not None)
        # Quotes left by a previous (killed) run are cancelled: this run re-derives its own.
        for o in await c.open_orders(cfg.symbol):
            if o.client_order_id.startswith(ID_PREFIX + "-"):
                await self._cancel(o, "left by a previous run")

        # Fills the journal missed (the process died between the fill and the write) are booked now.
        await self._book_fills(None)
        await self._bootstrap()

    # -- warm-up ------------------------------------------------------------------------------
    async def _bootstrap(self) -> None:
        """On a live market, replay its recent public trades into the estimators (see
        ``EngineConfig.bootstrap_trades``); the synthetic paper market starts cold."""
        cfg = self.config
        if cfg.bootstrap_trades <= 0 or getattr(self.client, "market_source", "live") == "sim":
            return
        try:
            trades = await self.client.recent_trades(cfg.symbol, cfg.bootstrap_trades)
        except ExchangeUnavailable as e:
            log.warning("no recent trades to warm up from, starting cold: %s", e.one_line())
            return
        used, span_s = self.replay_trades(trades, self.clock.now_ms())
        log.info("warm-up: %d recent trades over %.0f s replayed into the estimators", used, span_s)

    def replay_trades(self, trades: list[Any], now_ms: int) -> tuple[int, float]:
        """Feed ``trades`` (any order) to the estimators as if the engine had watched them: one
        observation every ``interval_s`` over the last estimator window, the mid at each rebuilt
        from the latest buy- and sell-taker prints (the book at the time is not public history),
        each trade measured from the previous observation's mid, as in a live iteration.
        Returns (trades used, seconds of history replayed)."""
        if not trades:
            return 0, 0.0
        cfg = self.config
        ordered = sorted(trades, key=lambda t: t.ts_ms)
        step = max(1, int(cfg.interval_s * 1000))
        end = max(now_ms, ordered[-1].ts_ms)
        start = max(ordered[0].ts_ms, end - int(max(cfg.vol_window_s, cfg.intensity_window_s) * 1000))
        last: dict[Side, Decimal] = {}
        i, n, used = 0, len(ordered), 0
        while i < n and ordered[i].ts_ms < start:
            last[ordered[i].side] = ordered[i].price
            i += 1
        t = start
        while True:
            bucket = []
            while i < n and ordered[i].ts_ms <= t:
                bucket.append(ordered[i])
                last[ordered[i].side] = ordered[i].price
                i += 1
            if last:
                mid = (sum(last.values(), ZERO) / len(last))
                self._feed_estimators(t, mid, bucket, t)
                used += len(bucket)
            if t >= end:
                break
            t = min(t + step, end)
        return used, (end - start) / 1000

    # -- streaming ----------------------------------------------------------------------------
    async def _start_stream(self) -> None:
        """Connect the stream; if it cannot be reached the engine runs on REST (the feed line says so)."""
        if self.stream is None:
            return
        if getattr(self.clock, "manual", False):
            raise UsageError("a market stream needs a real-time clock")
        try:
            await self.stream.start()
            self._stream_started = True
        except BybitMMError as e:
            self.feed = FEED_FALLBACK
            log.warning("market stream unavailable, polling REST: %s", e.one_line())

    def _use_stream(self) -> bool:
        st = self.stream
        ok = st is not None and self._stream_started and st.healthy
        self.feed = FEED_STREAM if ok else FEED_REST if st is None else FEED_FALLBACK
        return ok

    async def _wait(self) -> None:
        """Until the next decision: ``interval_s``, or sooner when the stream brings a book update,
        trades or a change to our orders (not before ``min_requote_s`` after the last decision).
        Executions are booked as they arrive."""
        cfg = self.config
        if self.stream is None or not self._stream_started:
            await self.clock.sleep(cfg.interval_s)
            return
        speed = float(getattr(getattr(self.clock, "clock", self.clock), "speed", 1.0) or 1.0)
        deadline = self._last_step_ms + int(cfg.interval_s * 1000)
        earliest = self._last_step_ms + int(cfg.min_requote_s * 1000)
        triggered = False
        drained = 0
        while self._stop_reason is None:
            now = self.clock.now_ms()
            until = earliest if triggered else deadline
            # Everything already queued is taken before deciding (a backlog of book updates must
            # not hold an execution back until a later wait); a flood is cut off all the same.
            ev = await self.stream.next_event(max(0.0, (until - now) / 1000 / speed))
            if ev is None:
                if self.clock.now_ms() >= until:
                    return
                continue
            drained += 1
            if drained > _MAX_DRAIN and self.clock.now_ms() >= until:
                return
            if ev.kind == "executions":
                self._apply_executions(list(ev.executions), self._decision_mid)
                triggered = True
            elif ev.kind in ("book", "trades", "status"):
                triggered = True
            elif ev.kind == "orders" and any(not o.is_open for o in ev.orders):
                triggered = True

    async def _reconcile(self, now: int) -> None:
        """REST read of fills, position, wallet and working orders into the stream's account state
        (the safety net under the private stream). A failure is counted and tried again later."""
        st = self.stream
        assert st is not None and st.account is not None
        acct = st.account
        cfg = self.config
        self._seen_reconnects = st.reconnects
        self._next_reconcile_ms = now + int(cfg.reconcile_s * 1000)
        try:
            await self._book_fills(self._decision_mid)
            acct.set_position(await self._position())
            acct.balance = await self.client.balance()
            rest_open = await self.client.open_orders(cfg.symbol)
        except ExchangeUnavailable as e:
            self.counters["errors"] += 1
            self._next_reconcile_ms = now + int(min(cfg.reconcile_s, 5.0) * 1000)
            log.warning("REST reconciliation failed: %s", e.one_line())
            if acct.balance is None or not acct.position_known:
                raise
            return
        ids = {o.order_id for o in rest_open}
        for o in rest_open:
            acct.merge_order(o)
        for o in acct.open_orders():
            # open in our view, gone on the exchange: it finished while the stream was away
            if o.order_id not in ids and o.created_ms < now - 2000:
                acct.orders[o.order_id] = replace(o, status="cancelled")

    async def _read(self, now: int) -> tuple[Any, Any, list[Any], PositionInfo | None, Balance, list[OrderInfo]]:
        """The market and the account: from the stream when it is healthy, else from REST."""
        cfg, c = self.config, self.client
        st = self.stream
        if self._use_stream():
            assert st is not None
            ticker, book = st.ticker(), st.book()
            if ticker is None:
                ticker = await c.ticker(cfg.symbol)
            if book is None:
                book = await c.order_book(cfg.symbol, 25)
            trades = st.recent_trades()
            acct = st.account
            if acct is not None:
                if now >= self._next_reconcile_ms or st.reconnects != self._seen_reconnects \
                        or acct.balance is None or not acct.position_known:
                    await self._reconcile(now)
                assert acct.balance is not None
                return ticker, book, trades, acct.position, acct.balance, acct.open_orders(ID_PREFIX + "-")
            await self._book_fills(self._decision_mid)
        else:
            ticker = await c.ticker(cfg.symbol)
            book = await c.order_book(cfg.symbol, 25)
            trades = await c.recent_trades(cfg.symbol, 200)
            await self._book_fills(self._decision_mid)
            if st is not None and st.account is not None:
                self._next_reconcile_ms = 0  # back on the stream: reconcile first
        pos = await self._position()
        balance = await c.balance()
        working = [o for o in await c.open_orders(cfg.symbol)
                   if o.client_order_id.startswith(ID_PREFIX + "-") and o.is_open]
        return ticker, book, trades, pos, balance, working

    def _note_order(self, o: OrderInfo) -> None:
        """What an order request answered, into the stream's account view (never undoing a push)."""
        if self.stream is not None and self.stream.account is not None:
            self.stream.account.merge_order(o)

    # -- one iteration --------------------------------------------------------------------------
    async def step(self) -> EngineSnapshot:
        """One read -> decide -> act cycle; returns (and publishes) the snapshot."""
        cfg = self.config
        self._iteration += 1
        now = self.clock.now_ms()
        self._last_step_ms = now
        try:
            ticker, book, trades, pos, balance, working = await self._read(now)
        except ExchangeUnavailable as e:
            self.counters["errors"] += 1
            self._failed_iterations += 1
            log.warning("market/account read failed: %s", e.one_line())
            if self._failed_iterations >= MAX_FAILED_ITERATIONS:
                self._fatal = e
                self.request_stop(f"exchange unavailable: {e.one_line()}")
            return self._publish(self._degraded_snapshot(now, "exchange unavailable"))
        self._failed_iterations = 0
        self._working = working

        mid = book.mid
        tick = self.instrument.tick_size
        if mid is None:
            mid = ticker.mark
        mark = ticker.mark
        self._feed_estimators(book.ts_ms or now, mid, trades, now)

        qty = pos.signed_qty if pos else ZERO
        entry = pos.entry_price if pos else ZERO
        liq = pos.liquidation_price if pos else None
        if qty != self.ledger.position.qty:
            self._reconcile_position(pos)
        decision = self.guard.evaluate(RiskInputs(
            now_ms=now, market_ts_ms=book.ts_ms if book.bids and book.asks else None, mark=mark,
            position_qty=qty, entry_price=entry, liq_price=liq, wallet_balance=balance.wallet_balance,
            equity=balance.equity, available=balance.available))
        if decision.liq_distance_pct is not None:
            self._min_liq = (decision.liq_distance_pct if self._min_liq is None
                             else min(self._min_liq, decision.liq_distance_pct))

        quote, targets, notes = self._targets(mid, qty, entry, mark, book, decision, balance)
        if decision.kill_reason:
            self.request_stop(decision.kill_reason)
            targets = {Side.BUY: None, Side.SELL: None}
        actions = plan_actions(targets, working, tick=tick, requote_ticks=cfg.requote_ticks)
        await self._execute(actions, now)
        if decision.reduce_qty > 0 and decision.reduce_side is not None and not decision.stale:
            await self._emergency_reduce(decision.reduce_side, min(decision.reduce_qty, abs(qty)), now)
        self._decision_mid = mid

        status = ("stopping" if self._stop_reason else "stale data" if decision.stale
                  else "reducing" if decision.liq_level == "danger"
                  else "warming up" if quote is None else "quoting")
        snap = self._snapshot(now, status, book=book, mid=mid, mark=mark, quote=quote, pos=pos,
                              balance=balance, decision=decision,
                              notes=tuple(notes) + decision.notes)
        return self._publish(snap)

    async def _position(self) -> PositionInfo | None:
        for p in await self.client.positions(self.config.symbol):
            if p.symbol == self.config.symbol and p.size > 0:
                return p
        return None

    def _reconcile_position(self, pos: PositionInfo | None) -> None:
        # The exchange moved the position without a fill we saw: a liquidation (bust) or an
        # outside order. Adopt the exchange's view so limits and PnL follow reality.
        exch = pos.signed_qty if pos else ZERO
        if (exch, self.ledger.position.qty) == self._mismatch:
            return
        self._mismatch = (exch, self.ledger.position.qty)
        log.warning("position %s differs from booked fills %s: adopting the exchange's",
                    exch, self.ledger.position.qty)

    def _feed_estimators(self, ts_ms: int, mid: Decimal, trades: list[Any], now: int) -> None:
        if not hasattr(self, "_vol"):
            from bybit_mm.quoting.estimators import VolatilityEstimator

            cfg = self.config
            self._vol = VolatilityEstimator(cfg.vol_window_s, min_updates=cfg.vol_updates_needed,
                                            stale_after_s=max(cfg.stale_after_s * 4, 10.0))
            self._intensity: Any = None
            self._pending_trades: list[tuple[int, float]] = []
        mid_f = float(mid)
        self._vol.update(ts_ms, mid_f)
        # Trade distances are measured from a reference mid renewed once per ``interval_s`` (on
        # REST: the previous decision's mid). On a stream decisions come faster, but the reference
        # must not follow every tick, or every trade would print at distance ~0 and A, k (whose
        # depth grid is scaled to one interval's move) could not be fitted.
        if self._ref_mid is None:
            self._ref_mid = self._decision_mid
        ref = float(self._ref_mid) if self._ref_mid is not None else mid_f
        if now - self._ref_mid_ms >= int(self.config.interval_s * 1000):
            self._ref_mid, self._ref_mid_ms = mid, now
        fresh = []
        for t in trades:
            if t.trade_id in self._seen_trade_set or t.ts_ms < self._last_trade_ts - 60_000:
                continue
            if len(self._seen_trades) == self._seen_trades.maxlen:
                self._seen_trade_set.discard(self._seen_trades[0])
            self._seen_trades.append(t.trade_id)
            self._seen_trade_set.add(t.trade_id)
            fresh.append(t)
        if fresh:
            self._last_trade_ts = max(self._last_trade_ts, max(t.ts_ms for t in fresh))
        sigma = self._vol.sigma(ts_ms)
        if self._intensity is None and sigma is not None:
            from bybit_mm.quoting.estimators import IntensityEstimator

            # Depth levels scaled to how far the price travels in one iteration, at least a tick.
            tick = float(self.instrument.tick_size)
            step = max(tick, round(sigma * math.sqrt(self.config.interval_s) / 4 / tick) * tick)
            self._intensity = IntensityEstimator(step, window_s=self.config.intensity_window_s,
                                                 min_trades=self.config.min_trades)
            for ts, dist in self._pending_trades:
                self._intensity.on_trade(ts, ref + dist, ref)
            self._pending_trades.clear()
        for t in fresh:
            # Distance from the mid our quotes were centred on when the trade printed.
            if self._intensity is not None:
                self._intensity.on_trade(t.ts_ms, float(t.price), ref)
            else:
                self._pending_trades.append((t.ts_ms, abs(float(t.price) - ref)))
                del self._pending_trades[:-5000]
        if self._intensity is not None:
            self._intensity.observe(ts_ms)

    async def _book_fills(self, mid: Decimal | None) -> None:
        """Book new executions read through REST (everything since the last such read)."""
        execs = await self.client.executions(self.config.symbol, since_ms=self._exec_since, limit=1000)
        self._apply_executions(execs, mid)
        for ex in execs:
            self._exec_since = max(self._exec_since, ex.ts_ms)

    def _apply_executions(self, execs: list[Execution], mid: Decimal | None) -> None:
        """Book executions (each once, by exec id): fills and forced closes into the position,
        funding into funding. Streamed ones do not move ``_exec_since``: the next REST read still
        covers anything the stream missed before them."""
        for ex in execs:
            # Spread capture is measured for our own quotes' fills only; a forced close is inventory.
            if self.ledger.apply(ex, mid if ex.exec_type == "trade" else None):
                if ex.exec_type == "liquidation":
                    self.counters["liquidations"] += 1
                if ex.exec_type in ("liquidation", "adl", "settle"):
                    log.warning("%s: %s %s %s @ %s by the exchange", ex.exec_type, self.config.symbol,
                                ex.side.value, ex.qty, ex.price)
                if self.journal is not None:
                    if ex.is_funding:
                        self.journal.record_funding(ex.symbol, ex.ts_ms, ex.fee, ex.exec_id)
                    else:
                        self.journal.record_fill(ex, mid)

    # -- decisions ----------------------------------------------------------------------------
    def order_qty(self, mid: Decimal) -> Decimal:
        """The quote size: ``order_notional / mid`` on the step, at least the exchange minimums."""
        inst = self.instrument
        qty = round_qty(self.config.order_notional / mid, inst.qty_step)
        if qty * mid < inst.min_notional:
            steps = (inst.min_notional / mid / inst.qty_step).to_integral_value(rounding=ROUND_CEILING)
            qty = steps * inst.qty_step
        return max(qty, inst.min_qty)

    def _targets(self, mid: Decimal, qty: Decimal, entry: Decimal, mark: Decimal, book: Any,
                 decision: RiskDecision, balance: Balance) -> tuple[Any, dict[Side, Target | None], list[str]]:
        from bybit_mm.quoting.models import model_for, quote_in_bps
        from bybit_mm.quoting.orders import shape_orders

        cfg = self.config
        none: dict[Side, Target | None] = {Side.BUY: None, Side.SELL: None}
        sigma = self._vol.sigma()
        fit = self._intensity.fit() if self._intensity is not None else None
        self._model_state = (sigma, fit)
        if sigma is None or fit is None:
            return None, none, ["estimators warming up"]
        oq = self.order_qty(mid)
        q = float(qty / oq)
        model = model_for(cfg.model)
        # In basis points of the mid, so the profile's gamma means the same on every symbol.
        quote = quote_in_bps(model, float(mid), q, sigma, cfg.gamma, fit.k, fit.A, cfg.horizon_s)
        shaped = shape_orders(quote, tick=self.instrument.tick_size, order_qty=oq,
                              qty_step=self.instrument.qty_step, position=qty,
                              max_position=decision.max_position, best_bid=book.best_bid,
                              best_ask=book.best_ask, maker_fee=float(self.maker_fee),
                              min_qty=self.instrument.min_qty)
        notes = list(shaped.notes)
        targets: dict[Side, Target | None] = {}
        for side, price, size in ((Side.BUY, shaped.bid_price, shaped.bid_qty),
                                  (Side.SELL, shaped.ask_price, shaped.ask_qty)):
            if price is None or size is None or not decision.allow[side]:
                targets[side] = None
                continue
            if size * price < self.instrument.min_notional:
                targets[side] = None
                notes.append(f"{side.value.lower()}: below the minimum order value")
                continue
            ok, why = self.guard.order_is_safe(side, price, size, position_qty=qty, entry_price=entry,
                                               mark=mark, available=balance.available + self._working_margin(side),
                                               fee_rate=self.taker_fee)
            if not ok:
                targets[side] = None
                notes.append(f"{side.value.lower()}: {why}")
                continue
            targets[side] = Target(side, price, size)
        return quote, targets, notes

    def _working_margin(self, side: Side) -> Decimal:
        # Our own working order on that side will be amended, so its margin is available to it.
        return sum(((o.price or ZERO) * o.remaining_qty / self.config.leverage
                    for o in self._working if o.side is side), ZERO)

    # -- actions ------------------------------------------------------------------------------
    async def _timed(self, coro: Any) -> Any:
        t0 = self.timer()
        try:
            return await coro
        finally:
            self._latencies.append((self.timer() - t0) * 1000.0)

    async def _execute(self, actions: list[Action], now: int) -> None:
        for a in actions:
            endpoint = {"place": "create", "amend": "amend", "cancel": "cancel"}[a.kind]
            if not self.budget.try_take(endpoint, now):
                continue
            try:
                if a.kind == "cancel":
                    assert a.order is not None
                    await self._cancel(a.order, a.reason)
                elif a.kind == "amend":
                    await self._amend(a, now)
                else:
                    await self._place(a.side, a.price, a.qty, now)
            except ExchangeUnavailable as e:
                self.counters["errors"] += 1
                log.warning("%s failed: %s", a.kind, e.one_line())
                return  # the next iteration re-reads the truth before acting again

    async def _place(self, side: Side, price: Decimal | None, qty: Decimal | None, now: int) -> OrderInfo | None:
        assert price is not None and qty is not None
        cid = self.ids.next("b" if side is Side.BUY else "a")
        try:
            o = await self._timed(self.client.place_order(
                self.config.symbol, side, qty, price, order_type="Limit", time_in_force="PostOnly",
                client_order_id=cid))
        except OrderRejected as e:
            self.counters["rejected"] += 1
            log.info("order rejected: %s", e.one_line())
            return None
        self.counters["placed"] += 1
        self._note_order(o)
        if o.status in ("cancelled", "rejected"):
            self.counters["rejected"] += 1
        elif o.is_open and not o.reduce_only:
            self._working.append(o)
        if self.journal is not None:
            self.journal.record_order(o, now)
        return o

    async def _amend(self, a: Action, now: int) -> None:
        assert a.order is not None
        try:
            o = await self._timed(self.client.amend_order(
                self.config.symbol, order_id=a.order.order_id, client_order_id=a.order.client_order_id,
                price=a.price, qty=a.qty))
        except OrderRejected as e:
            # Amend impossible (the order filled or vanished meanwhile): cancel and replace.
            log.info("amend refused (%s): cancel/replace", e.one_line())
            await self._cancel(a.order, "amend impossible")
            remaining = (a.qty or ZERO) - a.order.filled_qty
            if remaining > 0 and self.budget.try_take("create", now):
                await self._place(a.side, a.price, remaining, now)
            return
        self.counters["amended"] += 1
        self._note_order(o)
        self._working = [o if w.order_id == o.order_id else w for w in self._working]
        if self.journal is not None:
            self.journal.record_order(o, now)

    async def _cancel(self, o: OrderInfo, reason: str) -> None:
        try:
            done = await self._timed(self.client.cancel_order(
                self.config.symbol, order_id=o.order_id, client_order_id=o.client_order_id))
        except OrderRejected:
            done = None  # already gone (filled or cancelled): nothing to do
        self._working = [w for w in self._working if w.order_id != o.order_id]
        if done is None:
            return
        self._note_order(done)
        self.counters["cancelled"] += 1
        if self.journal is not None:
            self.journal.record_order(done, self.clock.now_ms())

    async def _emergency_reduce(self, side: Side, qty: Decimal, now: int) -> None:
        qty = round_qty(qty, self.instrument.qty_step)
        if qty <= 0:
            return
        cid = self.ids.next("r")
        try:
            o = await self._timed(self.client.place_order(
                self.config.symbol, side, qty, None, order_type="Market", time_in_force="IOC",
                reduce_only=True, client_order_id=cid))
        except OrderRejected as e:
            self.counters["rejected"] += 1
            log.warning("emergency reduce rejected: %s", e.one_line())
            return
        except ExchangeUnavailable as e:
            self.counters["errors"] += 1
            self.guard.stage = 0  # not done: try again next iteration
            log.warning("emergency reduce failed: %s", e.one_line())
            return
        self.counters["reduces"] += 1
        if self.journal is not None:
            self.journal.record_order(o, now)
        log.warning("liquidation guard: reduced %s %s", side.value, qty)

    # -- snapshots ----------------------------------------------------------------------------
    def _publish(self, snap: EngineSnapshot) -> EngineSnapshot:
        self.latest = snap
        if snap.ts_ms >= self._next_snapshot_ms:
            self._next_snapshot_ms = snap.ts_ms + int(self.config.snapshot_every_s * 1000)
            if self.journal is not None:
                self.journal.record_snapshot(snap.ts_ms, snap.to_dict())
                self.journal.set_state(**{
                    f"{self.config.symbol}.peak_equity": str(self.guard.peak_equity),
                    f"{self.config.symbol}.min_liq_distance_pct": None if self._min_liq is None else str(self._min_liq),
                    f"{self.config.symbol}.counters": self.counters,
                    f"{self.config.symbol}.last_ts_ms": snap.ts_ms,
                })
            if self.on_snapshot is not None:
                self.on_snapshot(snap)
        return snap

    def _degraded_snapshot(self, now: int, status: str) -> EngineSnapshot:
        prev = self.latest
        base = prev if prev is not None else EngineSnapshot(
            ts_ms=now, symbol=self.config.symbol, network=self.network, status=status, iteration=0,
            elapsed_s=0.0, starting_balance=self.ledger.starting_balance)
        return replace(base, ts_ms=now, status=status, iteration=self._iteration, feed=self.feed,
                       elapsed_s=(now - self.started_ms) / 1000, errors=self.counters["errors"],
                       stop_reason=self._stop_reason)

    def _snapshot(self, now: int, status: str, *, book: Any, mid: Decimal, mark: Decimal, quote: Any,
                  pos: PositionInfo | None, balance: Balance, decision: RiskDecision,
                  notes: tuple[str, ...]) -> EngineSnapshot:
        tick = self.instrument.tick_size
        bid = next((o for o in self._working_after() if o.side is Side.BUY), None)
        ask = next((o for o in self._working_after() if o.side is Side.SELL), None)
        sigma, fit = getattr(self, "_model_state", (None, None))
        L = self.ledger
        trigger = (decision.entry_liq_distance_pct * (1 - Decimal(str(self.config.liquidation_threshold)))
                   if decision.entry_liq_distance_pct is not None else None)
        p50 = _percentile(list(self._latencies), 50)
        p99 = _percentile(list(self._latencies), 99)
        return EngineSnapshot(
            ts_ms=now, symbol=self.config.symbol, network=self.network, status=status,
            iteration=self._iteration, elapsed_s=(now - self.started_ms) / 1000, feed=self.feed,
            best_bid=book.best_bid, best_ask=book.best_ask, mid=mid, mark=mark, tick=tick,
            market_age_s=(now - book.ts_ms) / 1000 if book.ts_ms else None,
            model=quote.model if quote is not None else self.config.model,
            reservation_price=quote.reservation_price if quote else None,
            model_half_spread=quote.half_spread if quote else None, sigma=sigma,
            k=fit.k if fit else None, A=fit.A if fit else None, skew=quote.skew if quote else None,
            inventory_q=float(L.position.qty / self.order_qty(mid)) if mid else 0.0,
            bid_price=bid.price if bid else None, bid_qty=bid.remaining_qty if bid else None,
            ask_price=ask.price if ask else None, ask_qty=ask.remaining_qty if ask else None,
            bid_from_touch_ticks=int((book.best_bid - bid.price) / tick) if bid and bid.price and book.best_bid else None,
            ask_from_touch_ticks=int((ask.price - book.best_ask) / tick) if ask and ask.price and book.best_ask else None,
            position_qty=pos.signed_qty if pos else ZERO, entry_price=pos.entry_price if pos else None,
            leverage=pos.leverage if pos else self.config.leverage,
            position_margin=pos.position_margin if pos else ZERO,
            liq_price=pos.liquidation_price if pos else None, liq_distance_pct=decision.liq_distance_pct,
            liq_trigger_pct=trigger, liq_level=decision.liq_level, max_position=decision.max_position,
            starting_balance=L.starting_balance, wallet_balance=balance.wallet_balance,
            equity=balance.equity, ledger_equity=L.equity(mark), realized_pnl=L.realized_pnl,
            unrealized_pnl=L.unrealized(mark), fees=L.fees, funding=L.funding,
            spread_pnl=L.spread_capture, inventory_pnl=L.inventory_pnl(mark),
            drawdown_pct=decision.drawdown_pct, fills=L.fills, buy_fills=L.buy_fills,
            sell_fills=L.sell_fills, volume=L.volume, orders_placed=self.counters["placed"],
            orders_amended=self.counters["amended"], orders_cancelled=self.counters["cancelled"],
            orders_rejected=self.counters["rejected"], emergency_reduces=self.counters["reduces"],
            errors=self.counters["errors"], latency_p50_ms=p50, latency_p99_ms=p99,
            max_abs_position=L.max_abs_position, min_liq_distance_pct=self._min_liq,
            liquidations=self.counters["liquidations"], notes=notes, stop_reason=self._stop_reason,
        )

    def _working_after(self) -> list[OrderInfo]:
        return self._working

    # -- stop ---------------------------------------------------------------------------------
    async def _shutdown(self) -> RunSummary:
        cfg, c = self.config, self.client
        reason = self._stop_reason or "stopped"
        cancelled = 0
        flattened = False
        for attempt in range(3):
            try:
                cancelled += await c.cancel_all(cfg.symbol)
                left = [o for o in await c.open_orders(cfg.symbol) if o.is_open]
                if not left:
                    break
            except Exception as e:  # whatever failed, try again: leaving orders working is the worst case
                log.warning("cancel on exit failed (attempt %d): %s", attempt + 1,
                            e.one_line() if isinstance(e, BybitMMError) else repr(e))
                await self.clock.sleep(0.5)
        else:
            log.error("orders may still be working on %s: check with `bybit-mm orders`", cfg.symbol)
            cancelled = -1
        self.counters["cancelled"] += max(cancelled, 0)
        if cfg.flatten_on_exit:
            try:
                o = await c.close_position(cfg.symbol)
                flattened = True
                if o is not None and self.journal is not None:
                    self.journal.record_order(o, self.clock.now_ms())
                await self.clock.sleep(cfg.interval_s)  # let the market order fill
            except BybitMMError as e:
                log.error("flatten on exit failed: %s", e.one_line())
        now = self.clock.now_ms()
        mark = self.latest.mark if self.latest and self.latest.mark else None
        balance = None
        try:
            await self._book_fills(None)
            ticker = await c.ticker(cfg.symbol)
            mark = ticker.mark
            balance = await c.balance()
            pos = await self._position()
        except Exception as e:  # the summary is best effort: it falls back on our own ledger
            log.warning("final account read failed: %s", e.one_line() if isinstance(e, BybitMMError) else repr(e))
            pos = None
        L = self.ledger
        mark = mark or L.position.entry_price or Decimal(1)
        latencies = list(self._latencies)
        summary = RunSummary(
            symbol=cfg.symbol, network=self.network, stop_reason=reason, fills=L.fills,
            buy_fills=L.buy_fills, sell_fills=L.sell_fills, maker_fills=L.maker_fills, volume=L.volume,
            notional=L.notional, starting_balance=L.starting_balance,
            equity=balance.equity if balance else L.equity(mark),
            wallet_balance=balance.wallet_balance if balance else L.equity(mark) - L.unrealized(mark),
            realized_pnl=L.realized_pnl, unrealized_pnl=L.unrealized(mark), fees=L.fees, funding=L.funding,
            spread_pnl=L.spread_capture, inventory_pnl=L.inventory_pnl(mark),
            total_pnl=L.realized_pnl + L.unrealized(mark) - L.fees - L.funding,
            position_qty=pos.signed_qty if pos else L.position.qty,
            max_abs_position=L.max_abs_position, min_liq_distance_pct=self._min_liq,
            liquidations=self.counters["liquidations"], emergency_reduces=self.counters["reduces"],
            orders_placed=self.counters["placed"], orders_amended=self.counters["amended"],
            orders_cancelled=self.counters["cancelled"], orders_rejected=self.counters["rejected"],
            errors=self.counters["errors"], cancelled_on_exit=cancelled, flattened=flattened,
            simulated_seconds=(now - self.started_ms) / 1000, started_ms=self.started_ms, ended_ms=now,
            latency_p50_ms=_percentile(latencies, 50), latency_p99_ms=_percentile(latencies, 99),
        )
        if self.latest is not None:
            self.latest = replace(self.latest, status="stopped", stop_reason=reason,
                                  orders_cancelled=self.counters["cancelled"], fills=L.fills,
                                  buy_fills=L.buy_fills, sell_fills=L.sell_fills)
        if self.journal is not None:
            self.journal.set_state(**{f"{cfg.symbol}.counters": self.counters,
                                      f"{cfg.symbol}.last_ts_ms": now})
            self.journal.end_run(now, reason, summary.to_dict())
        return summary
