"""The backtest driver: the strategy core over replayed market data, in one tight loop.

:class:`Backtest` is to :class:`~bybit_mm.sim.replay.ReplayExchange` what
:class:`~bybit_mm.engine.trader.LiveTrader` is to an exchange client: it feeds the same
:class:`~bybit_mm.engine.core.StrategyCore` the touch and the prints, asks it to decide every
``interval_s`` of replayed time (and, like the engine on a stream, after market updates at most
every ``requote_s``), and sends its order actions
the way the async driver does (PostOnly limit orders, amend first, cancel/replace when an amend
is refused, the order-rate budget, the liquidation guard's reduce-only market orders). Fills,
funding and liquidations are booked into the engine's ledger and journaled like a paper run.

Time is the rows' ``local_ts`` (Bybit's history files: the exchange time). Nothing here reads
a clock: the same rows and settings give the same result, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import unrealized_pnl
from bybit_mm.domain.rounding import round_qty
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.core import AccountView, StrategyCore
from bybit_mm.engine.ledger import Ledger, book_executions
from bybit_mm.engine.reconcile import Action, OrderIds, RateBudget, Working
from bybit_mm.engine.snapshot import RunSummary, summarize
from bybit_mm.errors import OrderRejected
from bybit_mm.exchange.errors import error_for_ret_code
from bybit_mm.exchange.paper_client import execution_info, order_info
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.latency import ConstantLatency, LatencyModel, latency_from_settings
from bybit_mm.sim.replay import Request

if TYPE_CHECKING:
    import numpy as np

    from bybit_mm.config.schema import Profile
    from bybit_mm.domain.instruments import Instrument
    from bybit_mm.engine.journal import Journal
    from bybit_mm.sim.models import Execution as SimExecution

ZERO = Decimal(0)
ID_PREFIX = "mm"
NETWORK = "backtest"


@dataclass(frozen=True)
class BacktestSettings:
    """The simulated account and exchange of a backtest (the profile's ``paper`` section)."""

    starting_balance: Decimal = Decimal(10000)
    fee_tier: str = "VIP0"
    queue_model: str = "trade_through"
    latency: LatencyModel = field(default_factory=ConstantLatency)
    seed: int = 1
    #: Also decide after a complete book update or print, at most every ``requote_s`` (as the
    #: engine does on a stream; 0: after every update). None: every ``interval_s`` only (as on REST).
    requote_s: float | None = None
    #: The equity curve (:attr:`BacktestResult.equity`) is sampled at the first decision at least
    #: this many seconds of market time after the previous sample.
    equity_every_s: float = 10.0

    @classmethod
    def from_profile(cls, profile: Profile, *, requote_s: float | None = None) -> BacktestSettings:
        """``paper.starting_balance``, ``fee_tier``, ``queue_model``, ``seed`` and the latencies
        ``paper.latency_ms`` (order entry), ``paper.response_latency_ms``, ``paper.feed_latency_ms``
        (constant, or lognormal medians with ``paper.latency_p99_ms``: ``paper.latency_model``)."""
        p = profile.paper
        return cls(starting_balance=Decimal(str(p.starting_balance)), fee_tier=p.fee_tier,
                   queue_model=p.queue_model, seed=p.seed, requote_s=requote_s,
                   latency=latency_from_settings(p))


@dataclass(frozen=True)
class BacktestResult:
    """A finished backtest: the paper run's summary plus what was replayed."""

    summary: RunSummary
    events: int
    decisions: int
    data_start_ms: int
    data_end_ms: int
    #: ``mark rows`` (MARK rows in the data) or ``mid`` (the mid of the replayed touch).
    mark_source: str
    #: ``funding rows`` (settled at the times FUNDING rows announce) or ``none``.
    funding_source: str
    fundings: int
    settings: dict[str, Any]
    #: (time ms, equity) at decisions every ``equity_every_s`` and at the end; not in ``to_dict``.
    equity: tuple[tuple[int, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (``type: backtest``): the summary's keys, then the replay's.
        No wall-clock figure is in it, so equal inputs give byte-identical JSON."""
        out = self.summary.to_dict()
        out["type"] = "backtest"
        out.update(events=self.events, decisions=self.decisions, data_start_ms=self.data_start_ms,
                   data_end_ms=self.data_end_ms, data_span_s=(self.data_end_ms - self.data_start_ms) / 1000,
                   mark_source=self.mark_source, funding_source=self.funding_source, fundings=self.fundings,
                   settings=self.settings)
        return out


class _Stop(Exception):
    """The strategy stopped the run (kill switch)."""


class Backtest:
    """One backtest run of the strategy core over ``events`` (see the module docstring)."""

    def __init__(self, events: np.ndarray, config: EngineConfig, instrument: Instrument,
                 settings: BacktestSettings, *, journal: Journal | None = None) -> None:
        import random

        from bybit_mm.domain.fees import tier
        from bybit_mm.sim.matching import make_queue_model
        from bybit_mm.sim.replay import ReplayExchange

        if config.symbol != instrument.symbol:
            raise ValueError(f"config symbol {config.symbol} != instrument {instrument.symbol}")
        self.events = events
        self.config = config
        self.instrument = instrument
        self.settings = settings
        self.journal = journal
        fees = tier(settings.fee_tier)
        self.exchange = ReplayExchange(
            instrument, balance=settings.starting_balance, maker_fee=fees.maker, taker_fee=fees.taker,
            leverage=config.leverage, margin_mode=config.margin_mode,
            queue=make_queue_model(settings.queue_model, random.Random(f"queue-{settings.seed}")),
            latency=settings.latency, seed=settings.seed)
        self.core = StrategyCore(config, instrument, maker_fee=fees.maker, taker_fee=fees.taker)
        self.ledger = Ledger(config.symbol, settings.starting_balance)
        # attribution: fed the touch while markouts wait for it; fills journaled with their markouts
        self._att = self.ledger.attribution
        self._att.on_done = journal.record_markouts if journal is not None else None
        self._half_tick = float(instrument.tick_size) / 2
        self.budget = RateBudget(config.order_rate_per_s)
        self.counters = {"placed": 0, "amended": 0, "cancelled": 0, "rejected": 0, "errors": 0,
                         "reduces": 0, "liquidations": 0}
        self.decisions = 0
        self.stop_reason: str | None = None
        self.started_ms = int(events["local_ts"][0]) // 1_000_000 if len(events) else 0
        self.ids = OrderIds(self.started_ms, prefix=ID_PREFIX)
        #: Our working orders as the core sees them, kept from the requests sent and the fills
        #: (rebuilt from the exchange after a liquidation closed them), in the paper client's order.
        self._working: list[Working] = []
        self._created: dict[str, tuple[int, int]] = {}  # order id -> (created ms, -place sequence)
        self._rebuild = False
        #: Bumped by every execution (fills, funding, liquidation) and by every order request: a cached
        #: account view older than them is redone (only its available balance after a request).
        self._version = 0
        self._orders_version = 0
        self._account_orders = -1
        self._account: AccountView | None = None
        self._account_version = -1
        self._isolated = config.margin_mode == "isolated"
        self._equity: list[tuple[int, float]] = []
        self._equity_every_ms = max(1, int(settings.equity_every_s * 1000))
        self._next_equity_ms = 0

    # -- the run ------------------------------------------------------------------------------
    def run(self, progress: Any = None) -> BacktestResult:
        """Replay every row; ``progress(rows done)`` now and then. Returns the result."""
        ev = self.events
        n = len(ev)
        cfg = self.config
        if self.journal is not None:
            run_id = self.journal.start_run(cfg.symbol, NETWORK, self.started_ms, self.settings.starting_balance,
                                            resumed=False)
            # Every backtest of the same data starts at the same time: the run id keeps its order
            # and execution ids (the journal's keys) apart from earlier runs'.
            self.ids = OrderIds(self.started_ms, prefix=f"{ID_PREFIX}{run_id}")
            self.exchange.id_salt = f"replay-{self.settings.seed}-run{run_id}"
        first, last = (int(ev["local_ts"][0]) // 1_000_000, int(ev["local_ts"][-1]) // 1_000_000) if n else (0, 0)
        interval = max(1, int(cfg.interval_s * 1000))
        rq = self.settings.requote_s
        try:
            self.exchange.run(ev, self, interval_ms=interval, requote_ms=None if rq is None else int(rq * 1000),
                              progress=progress)
            reason = "end of data"
        except _Stop:
            reason = self.stop_reason or "stopped"
        end_ms = self.exchange.now_ms if reason != "end of data" else (last if n else self.started_ms)
        self.exchange.now_ms = max(self.exchange.now_ms, end_ms)
        return self._finish(reason, n, first, last, end_ms)

    def _finish(self, reason: str, n: int, first_ms: int, last_ms: int, end_ms: int) -> BacktestResult:
        ex = self.exchange
        cfg = self.config
        cancelled = len(ex.cancel_all())
        self.counters["cancelled"] += cancelled
        flattened = False
        if cfg.flatten_on_exit and ex.ledger.positions[cfg.symbol].qty:
            pos = ex.ledger.positions[cfg.symbol]
            self._reduce(Side.SELL if pos.qty > 0 else Side.BUY, pos.size, end_ms)
            flattened = True
        have_mark = ex.mark is not None
        mark = ex.mark_decimal() if have_mark else (self.ledger.position.entry_price or Decimal(1))
        wallet = ex.wallet() if have_mark else None
        lat = self.settings.latency
        rtt = float(getattr(lat, "entry", 0.0)) + float(getattr(lat, "response", 0.0))
        summary = summarize(
            self.ledger, self.counters, symbol=cfg.symbol, network=NETWORK, stop_reason=reason, mark=mark,
            equity=wallet.equity if wallet else None, wallet_balance=wallet.wallet_balance if wallet else None,
            position_qty=ex.ledger.positions[cfg.symbol].qty, min_liq_distance_pct=self.core.min_liq,
            cancelled_on_exit=cancelled, flattened=flattened, started_ms=self.started_ms, ended_ms=end_ms,
            latency_p50_ms=rtt, latency_p99_ms=rtt)
        s = self.settings
        if wallet is not None:
            if self._equity and self._equity[-1][0] >= end_ms:
                self._equity.pop()
            self._equity.append((end_ms, float(wallet.equity)))
        result = BacktestResult(
            summary=summary, events=n, decisions=self.decisions, data_start_ms=first_ms, data_end_ms=last_ms,
            mark_source="mark rows" if ex.mark_rows else "mid",
            funding_source="funding rows" if ex.funding_rows else "none", fundings=ex.fundings,
            settings={"interval_s": cfg.interval_s, "requote_s": s.requote_s,
                      "queue_model": s.queue_model, "fee_tier": s.fee_tier,
                      "order_latency_ms": getattr(s.latency, "entry", None),
                      "response_latency_ms": getattr(s.latency, "response", None),
                      "feed_latency_ms": getattr(s.latency, "feed", None), "leverage": cfg.leverage,
                      "margin_mode": cfg.margin_mode, "model": cfg.model},
            equity=tuple(self._equity))
        if self.journal is not None:
            self.journal.set_state(**{f"{cfg.symbol}.counters": self.counters, f"{cfg.symbol}.last_ts_ms": end_ms})
            self.journal.end_run(end_ms, reason, result.to_dict())
        return result

    # -- what the replay calls ----------------------------------------------------------------
    def on_book(self, ts_ms: int, bid_tick: int, ask_tick: int) -> None:
        """The touch reaches the strategy."""
        self.core.on_book(ts_ms, bid_tick, ask_tick)
        if self._att.pending and bid_tick and ask_tick:  # attribution: markouts waiting for a later mid
            self._att.on_mid(ts_ms, (bid_tick + ask_tick) * self._half_tick)

    def on_trade(self, ts_ms: int, price: float, buy: bool) -> None:
        """A print reaches the strategy (``buy``: the aggressor bought)."""
        self.core.on_trade(ts_ms, price, buy)

    def on_execution(self, ex: SimExecution) -> None:
        """Book a fill, funding or liquidation as the async driver does (spread capture against
        the replayed touch's mid at the execution)."""
        self._version += 1
        b, a = self.exchange.bid_tick, self.exchange.ask_tick
        book_executions(self.ledger, (execution_info(ex),), counters=self.counters, journal=self.journal,
                        mid=(b + a) * self._half_tick if b and a else None)
        if ex.exec_type == "Trade":
            self._filled(ex.order_id, self.core.steps_of(ex.qty))
        elif ex.exec_type != "Funding":
            self._rebuild = True  # a liquidation closed our orders

    def decide(self, now_ms: int) -> list[Request]:
        """One decision: the core's actions as requests (within the order-rate budget)."""
        ex = self.exchange
        if ex.mark is None:
            return []  # no market yet
        self.decisions += 1
        core = self.core
        # The replayed book is current at every decision (as the paper account's sim stamps it): a
        # quiet stretch of history is a quiet market, not a stale feed.
        core.on_book(now_ms, core.bid_tick, core.ask_tick)
        account = self._account_view()
        if now_ms >= self._next_equity_ms:
            self._equity.append((now_ms, float(account.equity)))
            self._next_equity_ms = now_ms + self._equity_every_ms
        d = core.decide(now_ms, account, self._working_orders())
        requests: list[Request] = []
        for a in d.actions:
            if self.budget.try_take(_ENDPOINT[a.kind], now_ms):
                requests.append(self._request(a, now_ms))
        if d.reduce is not None:
            side, qty = d.reduce
            requests.append(lambda t: self._reduce(side, qty, t))
        if d.kill_reason:
            self.stop_reason = d.kill_reason
            for req in requests:  # the kill decision's cancels go out, then the run stops
                req(now_ms)
            raise _Stop(d.kill_reason)
        return requests

    # -- account and orders as the core sees them --------------------------------------------
    def _account_view(self) -> AccountView:
        ex = self.exchange
        mark = ex.mark_decimal()
        pos = ex.ledger.positions[self.config.symbol]
        cached = self._account
        if cached is not None and self._account_version == self._version and (not pos.qty or self._isolated):
            # Our requests since moved the order margin, so the available balance, only.
            available = cached.available if self._account_orders == self._orders_version else ex.available()
            self._account_orders = self._orders_version
            if cached.mark == mark and available is cached.available:
                return cached
            # Flat, the mark moves nothing but the view's mark (no uPnL, no position margin, no LP).
            # An isolated position's margin is on its entry price and its liquidation price fixed:
            # the mark moves its uPnL, so the equity, only (as the sim's wallet view computes it).
            equity = cached.wallet_balance + unrealized_pnl(pos, mark) if pos.qty else cached.equity
            self._account = AccountView(cached.position_qty, cached.entry_price, cached.liq_price,
                                        cached.wallet_balance, equity, available, mark)
            return self._account
        sym = self.config.symbol
        w = ex.wallet()
        liq = ex.ledger.position_view(sym, mark, {sym: mark}).liq_price if pos.qty else None
        self._account = AccountView(position_qty=pos.qty, entry_price=pos.entry_price if pos.qty else ZERO,
                                    liq_price=liq, wallet_balance=w.wallet_balance, equity=w.equity,
                                    available=w.available_balance, mark=mark)
        self._account_version, self._account_orders = self._version, self._orders_version
        return self._account

    def _working_orders(self) -> list[Working]:
        if self._rebuild:
            self._rebuild = False
            core = self.core
            self._working = [core.working(o.side, o.price, o.qty - o.filled_qty, o.filled_qty, o.order_id)
                             for o in self.exchange.open_orders() if not o.reduce_only]
            self._created = {o.order_id: self._created.get(o.order_id, (o.created_ms, 0))
                             for o in self.exchange.open_orders()}
            self._working.sort(key=lambda w: self._created[w.ref])
        return self._working

    def _find(self, order_id: str) -> int:
        for i, w in enumerate(self._working):
            if w.ref == order_id:
                return i
        return -1

    def _filled(self, order_id: str, steps: int) -> None:
        i = self._find(order_id)
        if i < 0:
            return
        w = self._working[i]
        if w.steps <= steps:
            del self._working[i]
        else:
            self._working[i] = Working(w.side, w.tick, w.steps - steps, w.filled_steps + steps, w.ref)

    def _rest(self, side: Side, tick: int, steps: int, order_id: str, created_ms: int) -> None:
        # As the paper client lists them: by creation time, the newest first among equals.
        self._created[order_id] = (created_ms, -self.ids.seq)
        self._working.append(Working(side, tick, steps, 0, order_id))
        self._working.sort(key=lambda w: self._created[w.ref])

    # -- requests -----------------------------------------------------------------------------
    def _request(self, a: Action, decided_ms: int) -> Request:
        if a.kind == "cancel":
            assert a.order is not None
            order_id = a.order.ref
            return lambda t: self._cancel(order_id)
        if a.kind == "amend":
            return lambda t: self._amend(a, t, decided_ms)
        return lambda t: self._place(a.side, a.tick, a.steps, t)  # type: ignore[arg-type]

    def _call(self, fn: Any, *args: Any) -> Any:
        """An exchange call; its rejection as the project's error (as the paper client raises it)."""
        self._orders_version += 1
        try:
            return fn(*args)
        except SimError as e:
            raise error_for_ret_code(e.ret_code, e.message) from e

    def _place(self, side: Side, tick: int, steps: int, now_ms: int) -> None:
        cid = self.ids.next("b" if side is Side.BUY else "a")
        try:
            o = self._call(self.exchange.place_ticks, side, tick, steps, cid)
        except OrderRejected:
            self.counters["rejected"] += 1
            return
        self.counters["placed"] += 1
        if o.status == "Cancelled":  # PostOnly: it would have taken
            self.counters["rejected"] += 1
        else:
            self._rest(side, tick, steps, o.order_id, o.created_ms)
        if self.journal is not None:
            self.journal.record_order(order_info(o.view()), now_ms)

    def _amend(self, a: Action, now_ms: int, decided_ms: int) -> None:
        assert a.order is not None and a.tick is not None and a.steps is not None
        order_id = a.order.ref
        try:
            o = self._call(self.exchange.amend_ticks, order_id, a.tick, a.steps)
        except OrderRejected:
            # Amend impossible (the order filled or vanished meanwhile): cancel and replace.
            self._cancel(order_id)
            remaining = a.steps - a.order.filled_steps
            if remaining > 0 and self.budget.try_take("create", decided_ms):
                self._place(a.side, a.tick, remaining, now_ms)
            return
        self.counters["amended"] += 1
        i = self._find(order_id)
        if i >= 0:
            if o.status == "Cancelled":  # PostOnly: it would have taken
                del self._working[i]
            else:
                w = self._working[i]
                self._working[i] = Working(w.side, a.tick, a.steps - w.filled_steps, w.filled_steps, w.ref)
        if self.journal is not None:
            self.journal.record_order(order_info(o.view()), now_ms)

    def _cancel(self, order_id: str) -> None:
        i = self._find(order_id)
        if i >= 0:
            del self._working[i]
        try:
            o = self._call(self.exchange.cancel, order_id)
        except OrderRejected:
            return  # already gone (filled or cancelled)
        self.counters["cancelled"] += 1
        if self.journal is not None:
            self.journal.record_order(order_info(o), self.exchange.now_ms)

    def _reduce(self, side: Side, qty: Decimal, now_ms: int) -> None:
        qty = round_qty(qty, self.instrument.qty_step)
        if qty <= 0:
            return
        try:
            o = order_info(self._call(self.exchange.market_reduce, side, qty, self.ids.next("r")))
        except OrderRejected:
            self.counters["rejected"] += 1
            return
        self.counters["reduces"] += 1
        if self.journal is not None:
            self.journal.record_order(o, now_ms)


def prepare(profile: Profile, data_symbol: str | None, **overrides: Any
            ) -> tuple[Instrument, EngineConfig, BacktestSettings]:
    """The instrument, engine config and settings of a backtest of ``profile`` on data of
    ``data_symbol`` (the profile's symbol when the data does not say). ``overrides`` go to
    :meth:`EngineConfig.from_profile` (``gamma``, ``model``, ``interval_s``), except ``requote_s``
    (the settings'). An unknown symbol or a leverage above the symbol's maximum is a UsageError."""
    from bybit_mm.domain.instruments import get_instrument
    from bybit_mm.errors import UsageError

    requote_s = overrides.pop("requote_s", None)
    instrument = get_instrument((data_symbol or profile.market.symbol).upper())
    config = EngineConfig.from_profile(profile, **overrides).with_(symbol=instrument.symbol)
    if config.leverage > instrument.max_leverage:
        raise UsageError(f"{instrument.symbol}: leverage {config.leverage}x is above the maximum "
                         f"{instrument.max_leverage}x")
    return instrument, config, BacktestSettings.from_profile(profile, requote_s=requote_s)


#: The rate-limit bucket each action kind spends.
_ENDPOINT = {"place": "create", "amend": "amend", "cancel": "cancel"}


def run_backtest(events: np.ndarray, config: EngineConfig, instrument: Instrument, settings: BacktestSettings,
                 *, journal: Journal | None = None, progress: Any = None) -> BacktestResult:
    """Build a :class:`Backtest` and run it (the journal, if any, written in one transaction)."""
    bt = Backtest(events, config, instrument, settings, journal=journal)
    if journal is None:
        return bt.run(progress)
    with journal.transaction():
        return bt.run(progress)
