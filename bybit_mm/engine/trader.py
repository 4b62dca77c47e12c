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
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import Position
from bybit_mm.domain.rounding import round_qty
from bybit_mm.engine.attribution import Attribution
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.journal import Journal, ResumeState
from bybit_mm.engine.ledger import Ledger, book_executions
from bybit_mm.engine.core import AccountView, StrategyCore
from bybit_mm.engine.reconcile import Action, OrderIds, RateBudget
from bybit_mm.engine.risk import RiskDecision
from bybit_mm.engine.snapshot import EngineSnapshot, RunSummary, pnl_split, summarize
from bybit_mm.engine.timing import EngineClock, as_engine_clock
from bybit_mm.errors import AuthError, BybitMMError, ConfigError, ExchangeUnavailable, OrderRejected, UsageError
from bybit_mm.exchange.port import Balance, Execution, FuturesClient, OrderInfo, PositionInfo
from bybit_mm.exchange.stream import FEED_FALLBACK, FEED_REST, FEED_STREAM, MarketStream

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ID_PREFIX = "mm"
#: The engine gives up (exit 5, after cancelling and its summary) when every read has failed for
#: this long (seconds of engine time) and at least MIN_FAILED_ITERATIONS times in a row.
EXCHANGE_DOWN_S = 60.0
MIN_FAILED_ITERATIONS = 3
#: A stream that failed to start is tried again after this long, doubling up to STREAM_RETRY_MAX_S.
STREAM_RETRY_S = 5.0
STREAM_RETRY_MAX_S = 120.0
#: Stream events one wait may take beyond its deadline (the queue is normally empty long before).
_MAX_DRAIN = 20_000
#: How long the mids seen are remembered to price fills reported late (a REST read of executions).
ATTRIBUTION_HISTORY_S = 180.0
#: Levels a side of a book read: the engine decides on the touch alone.
BOOK_DEPTH = 1


class RecentValues:
    """The last ``size`` values added, also kept in order: nearest-rank percentiles without a sort
    per read (the engine reads them every iteration)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._recent: deque[float] = deque()
        self._ordered: list[float] = []

    def add(self, value: float) -> None:
        """Add ``value``, forgetting the oldest one beyond ``size``."""
        if len(self._recent) == self.size:
            del self._ordered[bisect_left(self._ordered, self._recent.popleft())]
        self._recent.append(value)
        insort(self._ordered, value)

    def percentiles(self, *pcts: float) -> tuple[float | None, ...]:
        """The nearest-rank percentiles ``pcts`` of the values kept (None each when there are none)."""
        ordered = self._ordered
        n = len(ordered)
        if not n:
            return tuple(None for _ in pcts)
        return tuple(ordered[min(n - 1, max(0, math.ceil(p / 100 * n) - 1))] for p in pcts)


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
        self._stream_retry_s = STREAM_RETRY_S
        self._stream_retry_ms = 0
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
        #: The run's summary once it has stopped (also when ``run()`` then raises its fatal error).
        self.summary: RunSummary | None = None
        self.network = getattr(client, "network", "?")
        self._stop_reason: str | None = None
        self._fatal: BaseException | None = None
        self.counters = {"placed": 0, "amended": 0, "cancelled": 0, "rejected": 0, "errors": 0,
                         "reduces": 0, "liquidations": 0}
        self._latencies = RecentValues(2000)
        self._failed_iterations = 0
        self._failing_since_ms = 0
        self._iteration = 0
        self._seen_trades: deque[str] = deque(maxlen=4000)
        self._seen_trade_set: set[str] = set()
        self._last_trade_ts = 0
        self._sim: Any = None
        self._exec_since: int = 0
        self._next_snapshot_ms = 0
        self._working: list[OrderInfo] = []
        self._mismatch: tuple[Decimal, Decimal] | None = None
        self.started_ms = 0
        # set in _start
        self.instrument: Instrument
        self.ledger: Ledger
        self.core: StrategyCore
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
            for ex, _ in state.fills:
                self.ledger.apply(ex)
            self.ledger.funding = state.funding
            self.ledger.seen |= state.funding_ids
            self.counters.update({k: v for k, v in state.counters.items() if k in self.counters})
            min_liq = state.min_liq_distance_pct
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
            peak = min_liq = None
        self._attach_attribution(state)
        self.core = StrategyCore(cfg, self.instrument, maker_fee=self.maker_fee, taker_fee=self.taker_fee,
                                 peak_equity=peak)
        self.core.min_liq = min_liq
        if self.journal is not None:
            self.journal.start_run(cfg.symbol, self.network, self.started_ms, self.ledger.starting_balance,
                                   resumed=state is not None)
        # Quotes left by a previous (killed) run are cancelled: this run re-derives its own.
        for o in await c.open_orders(cfg.symbol):
            if o.client_order_id.startswith(ID_PREFIX + "-"):
                await self._cancel(o, "left by a previous run")

        # Fills the journal missed (the process died between the fill and the write) are booked now.
        await self._book_fills()
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
                mid = float(sum(last.values(), ZERO) / len(last))
                self.core.on_mid(mid)
                for tr in self._fresh_trades(bucket):
                    self.core.on_trade(tr.ts_ms, float(tr.price), tr.side is Side.BUY)
                self.core.sample(t, mid, t)
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
            if self.feed == FEED_FALLBACK:
                log.warning("market stream connected: leaving REST polling")
        except BybitMMError as e:
            self.feed = FEED_FALLBACK
            self._stream_retry_ms = self.clock.now_ms() + int(self._stream_retry_s * 1000)
            log.warning("market stream unavailable, polling REST (next try in %.0f s): %s",
                        self._stream_retry_s, e.one_line())
            self._stream_retry_s = min(self._stream_retry_s * 2, STREAM_RETRY_MAX_S)

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
                self._apply_executions(list(ev.executions))
                triggered = True
            elif ev.kind in ("book", "trades", "status"):
                triggered = True
                if ev.kind == "book":
                    self._see_book(self.stream.book())
            elif ev.kind == "orders" and any(not o.is_open for o in ev.orders):
                triggered = True

    async def _reconcile(self, now: int) -> None:
        """REST read of fills, position, wallet and working orders into the stream's account state
        (the safety net under the private stream). A failure is counted and tried again later."""
        st = self.stream
        assert st is not None and st.account is not None
        acct = st.account
        cfg = self.config
        if st.reconnects != self._seen_reconnects:
            log.info("private stream reconnected (%d so far): reconciling orders, fills and position over REST",
                     st.reconnects)
        self._seen_reconnects = st.reconnects
        self._next_reconcile_ms = now + int(cfg.reconcile_s * 1000)
        try:
            await self._book_fills()
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
                book = await c.order_book(cfg.symbol, BOOK_DEPTH)
            trades = st.recent_trades()
            acct = st.account
            if acct is not None:
                if now >= self._next_reconcile_ms or st.reconnects != self._seen_reconnects \
                        or acct.balance is None or not acct.position_known:
                    await self._reconcile(now)
                assert acct.balance is not None
                return ticker, book, trades, acct.position, acct.balance, acct.open_orders(ID_PREFIX + "-")
            await self._book_fills()
        else:
            ticker = await c.ticker(cfg.symbol)
            book = await c.order_book(cfg.symbol, BOOK_DEPTH)
            trades = await c.recent_trades(cfg.symbol, 200)
            await self._book_fills()
            if st is not None and st.account is not None:
                self._next_reconcile_ms = 0  # back on the stream: reconcile first
        pos = await self._position()
        if (pos.signed_qty if pos else ZERO) != self.ledger.position.qty:
            # A fill can land between the executions read and the position read: read both again
            # before calling it a mismatch.
            await self._book_fills()
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
        self._iteration += 1
        now = self.clock.now_ms()
        self._last_step_ms = now
        if self.stream is not None and not self._stream_started and now >= self._stream_retry_ms:
            await self._start_stream()
        try:
            ticker, book, trades, pos, balance, working = await self._read(now)
        except ExchangeUnavailable as e:
            self.counters["errors"] += 1
            if self._failed_iterations == 0:
                self._failing_since_ms = now
            self._failed_iterations += 1
            log.warning("market/account read failed: %s", e.one_line())
            if (self._failed_iterations >= MIN_FAILED_ITERATIONS
                    and now - self._failing_since_ms >= EXCHANGE_DOWN_S * 1000):
                self._fatal = e
                self.request_stop(f"exchange unavailable: {e.one_line()}")
            return self._publish(self._degraded_snapshot(now, "exchange unavailable"))
        self._failed_iterations = 0
        self._working = working

        core = self.core
        tick = self.instrument.tick_size
        bb, ba = book.best_bid, book.best_ask
        self._see_book(book)
        core.on_book(book.ts_ms or now, int((bb / tick).to_integral_value()) if bb else 0,
                     int((ba / tick).to_integral_value()) if ba else 0)
        mark = ticker.mark
        if bb is None or ba is None:
            core.on_mid(float(mark))
        for t in self._fresh_trades(trades):
            core.on_trade(t.ts_ms, float(t.price), t.side is Side.BUY)

        qty = pos.signed_qty if pos else ZERO
        if qty != self.ledger.position.qty:
            self._reconcile_position(pos)
        account = AccountView(position_qty=qty, entry_price=pos.entry_price if pos else ZERO,
                              liq_price=pos.liquidation_price if pos else None,
                              wallet_balance=balance.wallet_balance, equity=balance.equity,
                              available=balance.available, mark=mark)
        d = core.decide(now, account, [core.working(o.side, o.price, o.remaining_qty, o.filled_qty, o)
                                       for o in working if not o.reduce_only and o.is_open])
        if d.kill_reason:
            self.request_stop(d.kill_reason)
        await self._execute(d.actions, now)
        if d.reduce is not None:
            await self._emergency_reduce(d.reduce[0], d.reduce[1], now)
        mid = d.mid

        status = "stopping" if self._stop_reason else d.status
        if log.isEnabledFor(logging.DEBUG):
            q = d.quote
            log.debug("decision: mid %s mark %s position %s -> Buy %s / Sell %s; %s", mid, mark, qty,
                      f"{q.bid:.8g}" if q else "none", f"{q.ask:.8g}" if q else "none",
                      "; ".join(f"{a.kind} {a.side.value} {self._qty(a.steps) or ''} {self._price(a.tick) or ''}".rstrip()
                                for a in d.actions) or "no change")
        if self.latest is None or status != self.latest.status:
            log.info("status: %s%s", status, f" ({'; '.join(d.notes)})" if d.notes else "")
        snap = self._snapshot(now, status, book=book, mid=mid, mark=mark, quote=d.quote, pos=pos,
                              balance=balance, decision=d.risk, notes=d.notes)
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

    async def _book_fills(self) -> None:
        """Book new executions read through REST (everything since the last such read)."""
        execs = await self.client.executions(self.config.symbol, since_ms=self._exec_since, limit=1000)
        self._apply_executions(execs)
        for ex in execs:
            self._exec_since = max(self._exec_since, ex.ts_ms)

    def _apply_executions(self, execs: list[Execution]) -> None:
        """Book executions (each once, by exec id): fills and forced closes into the position,
        funding into funding; our fills' spread capture and markouts against the mids seen. Streamed
        ones do not move ``_exec_since``: the next REST read still covers anything the stream missed
        before them."""
        book_executions(self.ledger, execs, counters=self.counters, journal=self.journal)

    # -- decisions ----------------------------------------------------------------------------
    def order_qty(self, mid: Decimal) -> Decimal:
        """The quote size (see :meth:`StrategyCore.order_qty`)."""
        return self.core.order_qty(mid)

    def _fresh_trades(self, trades: list[Any]) -> list[Any]:
        """The prints of ``trades`` not seen before (a REST read returns the last N every time)."""
        seen, order = self._seen_trade_set, self._seen_trades
        cutoff, full = self._last_trade_ts - 60_000, order.maxlen
        fresh = []
        for t in trades:
            if t.trade_id in seen or t.ts_ms < cutoff:
                continue
            if len(order) == full:
                seen.discard(order[0])
            order.append(t.trade_id)
            seen.add(t.trade_id)
            fresh.append(t)
        if fresh:
            self._last_trade_ts = max(self._last_trade_ts, max(t.ts_ms for t in fresh))
        return fresh

    # -- actions ------------------------------------------------------------------------------
    async def _timed(self, coro: Any) -> Any:
        t0 = self.timer()
        try:
            return await coro
        finally:
            self._latencies.add((self.timer() - t0) * 1000.0)

    async def _execute(self, actions: list[Action], now: int) -> None:
        for a in actions:
            endpoint = {"place": "create", "amend": "amend", "cancel": "cancel"}[a.kind]
            if not self.budget.try_take(endpoint, now):
                continue
            try:
                if a.kind == "cancel":
                    assert a.order is not None
                    await self._cancel(a.order.ref, a.reason)
                elif a.kind == "amend":
                    await self._amend(a, now)
                else:
                    await self._place(a.side, self._price(a.tick), self._qty(a.steps), now)
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

    def _price(self, tick: int | None) -> Decimal | None:
        """An action's price in ticks as the exchange's Decimal."""
        return None if tick is None else self.core.price_of(tick)

    def _qty(self, steps: int | None) -> Decimal | None:
        """An action's size in lot steps as the exchange's Decimal."""
        return None if steps is None else self.core.qty_of(steps)

    async def _amend(self, a: Action, now: int) -> None:
        assert a.order is not None and a.steps is not None
        order: OrderInfo = a.order.ref
        try:
            o = await self._timed(self.client.amend_order(
                self.config.symbol, order_id=order.order_id, client_order_id=order.client_order_id,
                price=self._price(a.tick), qty=self._qty(a.steps)))
        except OrderRejected as e:
            # Amend impossible (the order filled or vanished meanwhile): cancel and replace.
            log.info("amend refused (%s): cancel/replace", e.one_line())
            await self._cancel(order, "amend impossible")
            remaining = a.steps - a.order.filled_steps
            if remaining > 0 and self.budget.try_take("create", now):
                await self._place(a.side, self._price(a.tick), self._qty(remaining), now)
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
            self.core.guard.stage = 0  # not done: try again next iteration
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
                    f"{self.config.symbol}.peak_equity": str(self.core.guard.peak_equity),
                    f"{self.config.symbol}.min_liq_distance_pct": None if self.core.min_liq is None else str(self.core.min_liq),
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

    def _latency_percentiles(self) -> tuple[float | None, ...]:
        """p50 and p99 of the recent request round trips."""
        return self._latencies.percentiles(50, 99)

    def _snapshot(self, now: int, status: str, *, book: Any, mid: Decimal, mark: Decimal, quote: Any,
                  pos: PositionInfo | None, balance: Balance, decision: RiskDecision,
                  notes: tuple[str, ...]) -> EngineSnapshot:
        tick = self.instrument.tick_size
        bid = next((o for o in self._working_after() if o.side is Side.BUY), None)
        ask = next((o for o in self._working_after() if o.side is Side.SELL), None)
        sigma, fit = self.core.sigma, self.core.fit
        L = self.ledger
        split = pnl_split(L, mark)
        trigger = (decision.entry_liq_distance_pct * (1 - Decimal(str(self.config.liquidation_threshold)))
                   if decision.entry_liq_distance_pct is not None else None)
        p50, p99 = self._latency_percentiles()
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
            equity=balance.equity, ledger_equity=L.equity(mark), realized_pnl=split.realized_pnl,
            unrealized_pnl=split.unrealized_pnl, fees=split.fees, funding=split.funding,
            spread_capture=split.spread_capture, adverse_selection=split.adverse_selection,
            inventory_pnl=split.inventory_pnl, notional=split.notional,
            markout_1s_bps=split.markouts[1][1], markout_10s_bps=split.markouts[10][1],
            markout_60s_bps=split.markouts[60][1],
            drawdown_pct=decision.drawdown_pct, fills=L.fills, buy_fills=L.buy_fills,
            sell_fills=L.sell_fills, volume=L.volume, orders_placed=self.counters["placed"],
            orders_amended=self.counters["amended"], orders_cancelled=self.counters["cancelled"],
            orders_rejected=self.counters["rejected"], emergency_reduces=self.counters["reduces"],
            errors=self.counters["errors"], latency_p50_ms=p50, latency_p99_ms=p99,
            max_abs_position=L.max_abs_position, min_liq_distance_pct=self.core.min_liq,
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
        self._detach_attribution()
        now = self.clock.now_ms()
        mark = self.latest.mark if self.latest and self.latest.mark else None
        balance = None
        try:
            await self._book_fills()
            ticker = await c.ticker(cfg.symbol)
            mark = ticker.mark
            balance = await c.balance()
            pos = await self._position()
            if pos is not None:
                # The mark the exchange valued the position at when it reported the balance (the
                # ticker above is a feed read: older by the feed latency).
                mark = pos.mark_price
        except Exception as e:  # the summary is best effort: it falls back on our own ledger
            log.warning("final account read failed: %s", e.one_line() if isinstance(e, BybitMMError) else repr(e))
            pos = None
        L = self.ledger
        mark = mark or L.position.entry_price or Decimal(1)
        p50, p99 = self._latency_percentiles()
        summary = summarize(
            L, self.counters, symbol=cfg.symbol, network=self.network, stop_reason=reason, mark=mark,
            equity=balance.equity if balance else None,
            wallet_balance=balance.wallet_balance if balance else None,
            position_qty=pos.signed_qty if pos else L.position.qty, min_liq_distance_pct=self.core.min_liq,
            cancelled_on_exit=cancelled, flattened=flattened, started_ms=self.started_ms, ended_ms=now,
            latency_p50_ms=p50, latency_p99_ms=p99)
        if self.latest is not None:
            self.latest = replace(self.latest, status="stopped", stop_reason=reason,
                                  orders_cancelled=self.counters["cancelled"], fills=L.fills,
                                  buy_fills=L.buy_fills, sell_fills=L.sell_fills)
        if self.journal is not None:
            self.journal.set_state(**{f"{cfg.symbol}.counters": self.counters,
                                      f"{cfg.symbol}.last_ts_ms": now})
            self.journal.end_run(now, reason, summary.to_dict())
        return summary

    # -- attribution (spread capture at the fill, markouts) ---------------------------------------
    def _attach_attribution(self, state: ResumeState | None) -> None:
        """The ledger's attribution: fed the mids this driver sees (on the paper account, the
        simulated touch itself, as it moves), fills journaled with their markouts, and on resume
        the session's earlier fills counted from the journal."""
        journal = self.journal
        att = Attribution(history_s=ATTRIBUTION_HISTORY_S,
                          on_done=journal.record_markouts if journal is not None else None)
        self.ledger.attribution = att
        if state is not None and journal is not None:
            marks = journal.fill_markouts(self.config.symbol)
            for ex, mid in state.fills:
                if ex.exec_type == "trade" and mid is not None:
                    att.restore(ex.side.sign, float(ex.price), float(ex.qty), float(mid), marks.get(ex.exec_id, {}))
        self._sim = _paper_sim(self.client)
        if self._sim is not None:
            self._sim.add_touch_listener(self._on_sim_touch)

    def _detach_attribution(self) -> None:
        if self._sim is not None:
            self._sim.remove_touch_listener(self._on_sim_touch)

    def _on_sim_touch(self, symbol: str, ts_ms: int, bid_tick: int, ask_tick: int, tick: Decimal) -> None:
        """The paper account's market stepped: its touch at that step (steps come in time order)."""
        if symbol == self.config.symbol and bid_tick > 0 and ask_tick > 0:
            # (bid + ask) / 2 of the touch's prices, summed exactly in Decimal as a read book's are
            self.ledger.attribution.on_mid(ts_ms, float((bid_tick + ask_tick) * tick) / 2)

    def _see_book(self, book: Any) -> None:
        """A book this driver read or was streamed: its mid at its time, for the attribution (on
        the paper account the simulated touch is seen as it moves instead)."""
        if book is not None and self._sim is None:
            bb, ba = book.best_bid, book.best_ask
            if bb and ba:
                self.ledger.attribution.on_mid(book.ts_ms or self.clock.now_ms(), float(bb + ba) / 2)


def _paper_sim(client: Any) -> Any:
    """The simulated exchange behind a paper account's client (its book steps give the touch at
    every fill's time), or None for any other client."""
    if getattr(client, "network", None) != "paper":
        return None
    try:
        sim = client.exchange
    except RuntimeError:
        return None
    return sim if hasattr(sim, "add_touch_listener") else None
