"""``DryRunFuturesClient``: the paper adapter — the ``sim`` core in-process behind the port.

The simulated account (balance, positions, leverage and margin mode, open orders, fills) lives in
a :class:`~bybit_mm.sim.exchange.SimExchange` and, when a :class:`PaperStore` is given, is written
to ``<data dir>/paper/<profile>/account.sqlite`` after every change (only what changed, one
transaction each, see :mod:`~bybit_mm.exchange.paper_store`), so a paper account survives restarts
and crashes (fills, the balance, positions, new and closed orders at once; an amend alone, a
quoting engine's every second, waits for the next change or the close: a run killed after an
amend resumes that order at its previous price and size, and the engine cancels what a killed run
left working); the client owns the account until :meth:`DryRunFuturesClient.close` (one process per
paper account). Market data comes from one of two sources (``paper.market``):

- ``sim``: the sim's synthetic market, driven by the injected clock: a ``WallClock`` (real time ×
  speed) or a ``SimClock`` that the caller (the engine's ``--speed 0``) moves; every call first
  lets the sim catch up with ``clock.now_ms()``. The market resumes from the mid saved with the
  account (so a position's uPnL does not jump back to the seed's start price on the next run).
- ``live``: the sim's external market, fed by a :class:`~bybit_mm.exchange.poller.PolledFeed`
  over a key-less ``BybitFuturesClient`` on the profile's network (Bybit's public feed, or the
  emulator's), or with ``streaming`` by a :class:`~bybit_mm.exchange.stream.StreamedFeed`: the
  network's public WebSocket streams (book, trades, ticker), REST polling while a stream is
  unhealthy. Every call first pulls (a poll at most every ``min_interval_s``); the sim runs on the
  feed's :class:`~bybit_mm.exchange.poller.FeedClock` (exchange time). The sim is built on the
  first pull (:meth:`DryRunFuturesClient.connect`), once the exchange's time and the live
  instrument specs are known.

Latency (the sim's :mod:`~bybit_mm.sim.latency` model, ``paper.latency_*``): an order request
(place, amend, cancel) acts on the exchange ``entry`` after it is sent, and its answer reaches the
caller ``response`` after that: the call returns when the clock has passed both (a manual clock is
moved, a real-time one is waited on). On the synthetic market a market-data read (ticker, book,
trades) shows the exchange when the call is made and returns ``feed`` later, so the engine acts
on data that old. A live feed is already as late as the network makes it: nothing is added.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybit_mm.domain.orders import Side
from bybit_mm.domain.rounding import round_liquidation_price
from bybit_mm.errors import BybitMMError, ConfigError, ExchangeUnavailable, UsageError
from bybit_mm.exchange import errors as codes
from bybit_mm.exchange.errors import error_for_ret_code
from bybit_mm.exchange.port import (
    Balance,
    Execution,
    FeeRates,
    MarginMode,
    OrderBook,
    OrderInfo,
    OrderStatus,
    OrderType,
    PositionInfo,
    PublicTrade,
    Ticker,
    TimeInForce,
    exec_type_from_bybit,
)
from bybit_mm.exchange.paper_store import PaperStore
from bybit_mm.sim.models import OrderUpdate, TradeEvent

__all__ = ["DryRunFuturesClient", "PaperStore"]

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from bybit_mm.config.schema import Profile
    from bybit_mm.domain.clock import Clock
    from bybit_mm.domain.instruments import Instrument
    from bybit_mm.exchange.poller import PolledFeed
    from bybit_mm.exchange.port import FuturesClient
    from bybit_mm.exchange.stream import MarketStream
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.market import MarketParams
    from bybit_mm.sim.models import Event, PositionView, SimOrder
    from bybit_mm.sim.models import Execution as SimExecution

_STATUS: dict[str, OrderStatus] = {
    "New": "new", "PartiallyFilled": "partially_filled", "Filled": "filled", "Cancelled": "cancelled",
    "PartiallyFilledCanceled": "cancelled", "Deactivated": "cancelled", "Rejected": "rejected",
}
_STATE_VERSION = 1


def _merge_state(new: dict[str, Any], old: dict[str, Any] | None, symbols: Sequence[str]) -> dict[str, Any]:
    """Keep what ``old`` says about symbols this sim does not list (they were not loaded)."""
    new["paper_version"] = _STATE_VERSION
    if not old:
        return new
    listed = set(symbols)
    ledger, old_ledger = new["ledger"], old.get("ledger", {})
    for key in ("positions", "leverage", "margin_mode", "updated_ms"):
        for sym, value in (old_ledger.get(key) or {}).items():
            if sym not in listed:
                ledger.setdefault(key, {})[sym] = value
    new["orders"] = list(new.get("orders", [])) + [o for o in old.get("orders", []) if o.get("symbol") not in listed]
    market = new.setdefault("market", {})
    for sym, value in (old.get("market") or {}).items():
        market.setdefault(sym, value)
    return new


def saved_mids(state: dict[str, Any] | None) -> dict[str, Decimal]:
    """The last mid of each symbol's market saved with a paper account."""
    out = {}
    for sym, m in ((state or {}).get("market") or {}).items():
        try:
            mid = Decimal(str(m["mid"]))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue
        if mid.is_finite() and mid > 0:
            out[sym] = mid
    return out


def sim_market_params(profile: Profile, symbol: str) -> MarketParams:
    """The synthetic market of the profile's ``[sim]`` section for ``symbol`` (others: their own)."""
    from bybit_mm.domain.instruments import get_instrument
    from bybit_mm.sim.market import MarketParams, synthetic_params

    sim = profile.sim
    preset = None if sim.preset == "auto" else sim.preset
    try:
        params = synthetic_params(symbol, get_instrument(symbol), preset, sim.overrides())
    except ValueError as e:
        raise ConfigError(f"{profile.path or profile.name}: sim.{e}") from None
    return MarketParams(symbols={symbol: params})


def symbols_in_state(state: dict[str, Any] | None) -> set[str]:
    """Symbols with an open position or a working order in a saved paper account."""
    if not state:
        return set()
    out = {s for s, p in (state.get("ledger", {}).get("positions") or {}).items() if Decimal(p.get("qty", "0"))}
    out |= {o["symbol"] for o in state.get("orders", []) if "symbol" in o}
    return out


def order_info(o: SimOrder) -> OrderInfo:
    """The port's view of a sim order."""
    is_market = o.order_type == "Market"
    reason = o.reject_reason if o.reject_reason not in ("", "EC_NoError") else ""
    return OrderInfo(order_id=o.order_id, client_order_id=o.order_link_id, symbol=o.symbol, side=o.side,
                     order_type="Market" if is_market else "Limit", price=None if is_market else o.price,
                     qty=o.qty, filled_qty=o.filled_qty,
                     avg_fill_price=o.avg_price if o.filled_qty > 0 else None,
                     status=_STATUS.get(o.status, "new"), time_in_force=o.time_in_force,  # type: ignore[arg-type]
                     reduce_only=o.reduce_only, reject_reason=reason, created_ms=o.created_ms,
                     updated_ms=o.updated_ms)


def position_info(p: PositionView, tick: Decimal | None = None) -> PositionInfo:
    """The port's view of a sim position; with ``tick``, the liquidation price on its grid as Bybit
    shows it (without, the sim's exact price)."""
    liq = p.liq_price
    if liq is not None and p.size and tick is not None:
        liq = round_liquidation_price(liq, tick, p.side)
    return PositionInfo(symbol=p.symbol, side="long" if p.side == "Buy" else "short" if p.side == "Sell" else "flat",
                        size=p.size, entry_price=p.entry_price, mark_price=p.mark_price,
                        liquidation_price=liq, bankruptcy_price=p.bust_price, leverage=p.leverage,
                        margin_mode="isolated" if p.margin_mode == "isolated" else "cross",
                        position_margin=p.position_im, maintenance_margin=p.position_mm,
                        unrealized_pnl=p.unrealised_pnl, realized_pnl=p.cum_realised_pnl, updated_ms=p.updated_ms)


def execution_info(e: SimExecution) -> Execution:
    """The port's view of a sim execution."""
    return Execution(exec_id=e.exec_id, order_id=e.order_id, client_order_id=e.order_link_id, symbol=e.symbol,
                     side=e.side, price=e.price, qty=e.qty, fee=e.fee, is_maker=e.is_maker, ts_ms=e.ts_ms,
                     exec_type=exec_type_from_bybit(e.exec_type))


def _account_unchanged(events: list[Event], amended: str) -> bool:
    """Whether ``events`` leave the saved account as it was: public trades, and order ``amended``
    still New (at the new price or size of an amend)."""
    for e in events:
        if not isinstance(e, TradeEvent) and not (
                isinstance(e, OrderUpdate) and e.order.order_id == amended and e.order.status == "New"):
            return False
    return True


class DryRunFuturesClient:
    """The paper account: a SimExchange in-process behind the port (see the module docstring)."""

    network = "paper"

    def __init__(self, exchange: SimExchange | None, *, store: PaperStore | None = None,
                 saved_state: dict[str, Any] | None = None, feed: PolledFeed | None = None,
                 build: Callable[[Mapping[str, Instrument]], SimExchange] | None = None,
                 symbols: Sequence[str] = ()) -> None:
        """Over ``exchange``; or, with a ``feed``, over the sim ``build(live instruments)`` makes on
        the first pull (``symbols`` names what it will list)."""
        if exchange is None and (feed is None or build is None):
            raise ValueError("a paper client needs an exchange, or a feed and a build function")
        self._exchange = exchange
        self.store = store
        self._saved = saved_state
        self.feed = feed
        self._build = build
        self._symbols = list(exchange.symbols) if exchange is not None else [s.upper() for s in symbols]
        self._exec_seq = 0  # the first execution the store has not been given
        # The last trades read (the sim's, newest first) and what they were returned as (oldest
        # first): a read returns the last N prints every time, so each print is converted once.
        self._last_trades: tuple[list[Any], list[PublicTrade]] = ([], [])
        if exchange is not None:
            if saved_state is not None:
                exchange.load_account_state(saved_state)
            self._exec_seq = exchange.execution_seq

    @property
    def exchange(self) -> SimExchange:
        """The sim behind the client (on a live feed: once :meth:`connect` has built it)."""
        if self._exchange is None:
            raise RuntimeError("the paper client is not connected to its market feed yet (await connect())")
        return self._exchange

    @property
    def feed_mode(self) -> str | None:
        """How the live market is fed now: ``stream``, ``rest (fallback)`` or ``rest`` (None: synthetic)."""
        if self.feed is None:
            return None
        return str(getattr(self.feed, "mode", "rest"))

    def market_stream(self, symbol: str) -> MarketStream | None:
        """The public stream feeding ``symbol``'s live market (None when polled or synthetic), for the
        engine to be woken by its events."""
        get = getattr(self.feed, "stream", None)
        return get(symbol) if get is not None else None

    @property
    def market_source(self) -> str:
        """``live`` (a polled feed) or ``sim`` (the synthetic market)."""
        return "live" if self.feed is not None else "sim"

    async def connect(self) -> None:
        """On a live feed: read the exchange's time, the live specs and a first poll; build the sim.

        ExchangeUnavailable (exit 5) when the feed cannot be reached; no-op on the synthetic market.
        """
        if self.feed is None or self._exchange is not None:
            return
        assert self._build is not None
        try:
            instruments = await self.feed.instruments()
            polls = await self.feed.poll_all()
        except ExchangeUnavailable as e:
            raise ExchangeUnavailable(
                f"cannot reach {self.feed.client.network} public market data for the paper account "
                f"({e.message})", hint="--market sim (paper.market = \"sim\") works offline") from e
        from bybit_mm.exchange.poller import feed as feed_poll

        exchange = self._build(instruments)
        if self._saved is not None:
            exchange.load_account_state(self._saved)
        self._exec_seq = exchange.execution_seq
        for poll in polls:
            feed_poll(exchange, poll)
        self._exchange = exchange
        start = getattr(self.feed, "start", None)
        if start is not None:
            await start()  # a streamed feed: connect its streams (REST polling when they fail)

    async def _pull(self) -> None:
        """On a live feed, poll (at most every ``feed.min_interval_s``) and feed the sim."""
        if self.feed is None:
            return
        if self._exchange is None:
            await self.connect()
            return
        try:
            await self.feed.pull(self._exchange)
        except ExchangeUnavailable as e:
            raise ExchangeUnavailable(f"lost {self.feed.client.network} public market data ({e.message})",
                                      hint="--market sim (paper.market = \"sim\") works offline") from e

    @classmethod
    def from_profile(cls, profile: Profile, *, clock: Clock | None = None, persist: bool = True,
                     symbols: Sequence[str] | None = None, store: PaperStore | None = None,
                     public_client: FuturesClient | None = None,
                     min_poll_interval_s: float = 0.5, streaming: bool = False,
                     stream_ready_timeout_s: float = 15.0) -> DryRunFuturesClient:
        """The profile's paper account on its market (``paper.*`` settings).

        ``paper.market = "sim"``: the synthetic market, resumed from the saved mid. ``clock``
        defaults to real time (a ``WallClock`` at speed 1); the engine passes a ``SimClock`` or a
        faster ``WallClock``. ``paper.market = "live"``: the profile network's public feed (no
        keys), polled through ``public_client`` (default: a key-less ``BybitFuturesClient``); the
        clock is the feed's (a real-time clock may be passed, a manual or faster one is refused).
        With ``streaming`` the live market comes from the network's public WebSocket streams
        (``stream_ready_timeout_s`` to get a first book and ticker), REST polling as the fallback.
        Await :meth:`connect` (``open_client`` does) to reach the feed before use. With
        ``persist`` the account is read from and written to the data dir (``store`` overrides where).
        """
        from bybit_mm.domain.instruments import DEFAULT_INSTRUMENTS, get_instrument
        from bybit_mm.sim.clock import WallClock
        from bybit_mm.sim.exchange import SimExchange
        from bybit_mm.sim.latency import latency_from_settings

        paper = profile.paper
        if paper.market not in ("sim", "live"):
            raise ConfigError(f"paper.market = {paper.market!r} is not a market the paper client knows",
                              hint="set paper.market = \"sim\" (synthetic) or \"live\" (Bybit's public feed)")
        store = store or (PaperStore.for_profile(profile) if persist else None)
        saved = store.open().load() if store is not None else None
        settings: dict[str, Any] = dict(seed=paper.seed, balance=Decimal(str(paper.starting_balance)),
                                        fee_tier=paper.fee_tier, queue_model=paper.queue_model,
                                        latency=latency_from_settings(paper))
        if paper.market == "live":
            return cls._live(profile, symbols, store, saved, settings, clock, public_client, min_poll_interval_s,
                             stream_ready_timeout_s if streaming else None)
        wanted = [get_instrument(s).symbol for s in (symbols or [profile.market.symbol])]
        wanted += sorted(s for s in symbols_in_state(saved) if s in DEFAULT_INSTRUMENTS and s not in wanted)
        exchange = SimExchange(symbols=wanted, clock=clock or WallClock(1.0), trade_events=False,
                               market_params=sim_market_params(profile, wanted[0]), **settings)
        for sym, mid in saved_mids(saved).items():
            if sym in wanted:
                exchange.resume_market(sym, mid)
        return cls(exchange, store=store, saved_state=saved)

    @classmethod
    def _live(cls, profile: Profile, symbols: Sequence[str] | None, store: PaperStore | None,
              saved: dict[str, Any] | None, settings: dict[str, Any], clock: Clock | None,
              public_client: FuturesClient | None, min_poll_interval_s: float,
              stream_ready_timeout_s: float | None) -> DryRunFuturesClient:
        from bybit_mm.exchange.poller import FeedClock, PolledFeed
        from bybit_mm.sim.exchange import SimExchange

        if clock is not None and (hasattr(clock, "set") or float(getattr(clock, "speed", 1.0)) != 1.0):
            raise UsageError("the live market runs in real time only",
                             hint="use --speed 1 with --market live, or --market sim to run faster")
        wanted = [s.strip().upper() for s in (symbols or [profile.market.symbol])]
        wanted += sorted(s for s in symbols_in_state(saved) if s not in wanted)
        if public_client is None:
            from bybit_mm.exchange.ccxt_client import BybitFuturesClient

            public_client = BybitFuturesClient.from_profile(profile, public_only=True)
        feed: PolledFeed
        if stream_ready_timeout_s is not None:
            from bybit_mm.exchange.ccxt_stream import CcxtMarketStream
            from bybit_mm.exchange.stream import MarketStream, StreamedFeed

            streams: dict[str, MarketStream] = {
                s: CcxtMarketStream.from_profile(profile, s, ready_timeout_s=stream_ready_timeout_s)
                for s in wanted}
            feed = StreamedFeed(public_client, wanted, streams, clock=FeedClock(),
                                min_interval_s=min_poll_interval_s)
        else:
            feed = PolledFeed(public_client, wanted, clock=FeedClock(), min_interval_s=min_poll_interval_s)
        mids = saved_mids(saved)

        def build(instruments: Mapping[str, Instrument]) -> SimExchange:
            return SimExchange(symbols=list(instruments), instruments=instruments, clock=feed.clock,
                               trade_events=False, market_source="external", start_prices=mids, **settings)

        return cls(None, store=store, saved_state=saved, feed=feed, build=build, symbols=wanted)

    # --- plumbing ---------------------------------------------------------------------------

    @property
    def is_mainnet(self) -> bool:
        """Never: paper money."""
        return False

    @property
    def clock(self) -> Clock:
        """The clock the sim runs on."""
        if self.feed is not None:
            return self.feed.clock
        return self.exchange.clock

    def _sim(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the sim, translating its Bybit-style rejections into the project's errors."""
        from bybit_mm.sim.errors import SimError

        try:
            return fn(*args, **kwargs)
        except SimError as e:
            raise error_for_ret_code(e.ret_code, e.message) from e

    def _symbol(self, symbol: str) -> str:
        sym = symbol.strip().upper()
        if sym not in self._symbols:
            raise UsageError(f"symbol {symbol!r} is not simulated by this paper account",
                             hint=f"simulated: {', '.join(self._symbols)}")
        return sym

    def advance(self, amended: str = "") -> list[Event]:
        """Let the sim catch up with the clock; persists when the account changed.

        Order ``amended`` (just amended) having a new price or size is not a change worth a save
        of its own: it is saved with the next change (see the module docstring).
        """
        events = (self._exchange or self.exchange).advance()
        if events and not _account_unchanged(events, amended):
            self.save()
        return events

    def save(self) -> None:
        """Write the account and each market's last mid/mark to the store (no-op without one)."""
        if self.store is None or self._exchange is None:
            return
        from bybit_mm.sim.exchange import execution_state

        ex = self.exchange
        state = ex.account_state(executions=False)
        state["market"] = ex.market_state()
        state = _merge_state(state, self._saved, ex.symbols)
        self.store.write(state, [execution_state(e) for e in ex.executions_since(self._exec_seq)])
        self._exec_seq = ex.execution_seq

    async def close(self) -> None:
        """Persist the account, let it go (and close the feed's public client)."""
        try:
            if self._exchange is not None:
                self.advance()
                self.save()
        finally:
            if self.store is not None:
                self.store.close()
            if self.feed is not None:
                await self.feed.close()

    # --- market data ------------------------------------------------------------------------

    async def _elapse_until(self, ms: int) -> None:
        """Let the clock pass ``ms`` (epoch ms): move a manual clock, wait on a real-time one."""
        clock = self.clock
        wait = ms - clock.now_ms()
        if wait <= 0:
            return
        if hasattr(clock, "advance"):
            clock.advance(wait)
            return
        await asyncio.sleep(wait / 1000.0 / (float(getattr(clock, "speed", 1.0)) or 1.0))

    async def _answer(self) -> None:
        """The answer to the order request just handled reaches us ``response`` after it acted."""
        ex = self.exchange
        await self._elapse_until(ex.last_acted_ms + ex.latency.response_ms())

    async def _feed_delay(self) -> None:
        """Market data read now reaches us ``feed`` later (synthetic market only)."""
        if self.feed is None:
            ex = self.exchange
            await self._elapse_until(ex.clock.now_ms() + ex.latency.feed_ms())

    async def instrument(self, symbol: str) -> Instrument:
        """The simulated instrument (shipped specs; live ones on a live feed)."""
        await self._pull()
        return self.exchange.instrument(self._symbol(symbol))

    async def ticker(self, symbol: str) -> Ticker:
        """Last, mark, index, the touch and funding of the sim's market."""
        await self._pull()
        self.advance()
        t = self.exchange.ticker(self._symbol(symbol))
        await self._feed_delay()
        return Ticker(symbol=t.symbol, ts_ms=t.ts_ms, last=t.last, mark=t.mark, index=t.index, bid=t.bid,
                      ask=t.ask, funding_rate=t.funding_rate, next_funding_ms=t.next_funding_ms)

    async def order_book(self, symbol: str, depth: int = 25) -> OrderBook:
        """An L2 snapshot of the sim's book."""
        await self._pull()
        self.advance()
        b = self.exchange.orderbook(self._symbol(symbol), depth)
        await self._feed_delay()
        return OrderBook(symbol=b.symbol, ts_ms=b.ts_ms, bids=tuple(b.bids), asks=tuple(b.asks))

    async def recent_trades(self, symbol: str, limit: int = 100) -> list[PublicTrade]:
        """Recent trades of the sim's market (ours included), oldest first."""
        await self._pull()
        self.advance()
        trades = self.exchange.recent_trades(self._symbol(symbol), limit)
        await self._feed_delay()
        return self._public_trades(trades)

    def _public_trades(self, trades: list[Any]) -> list[PublicTrade]:
        """The port's view of ``trades`` (the sim's, newest first), oldest first."""
        last, last_out = self._last_trades
        new = len(trades)  # how many of the newest were not in the last read
        if last:
            head = last[0]
            for i, t in enumerate(trades):
                if t is head:
                    new = i
                    break
        kept = len(trades) - new
        if kept and kept <= len(last) and all(map(operator.is_, trades[new:], last)):
            out = last_out[len(last_out) - kept:]
        else:
            out, new = [], len(trades)
        out.extend(PublicTrade(t.trade_id, t.symbol, t.ts_ms, t.price, t.qty, t.side) for t in reversed(trades[:new]))
        self._last_trades = (trades, out)
        return list(out)

    # --- account ----------------------------------------------------------------------------

    async def positions(self, symbol: str | None = None) -> list[PositionInfo]:
        """Open positions (flat ones left out)."""
        await self._pull()
        self.advance()
        views = self.exchange.positions(self._symbol(symbol) if symbol else None)
        return [position_info(v, self.exchange.instrument(v.symbol).tick_size) for v in views if v.size != 0]

    async def balance(self) -> Balance:
        """The simulated USDT wallet."""
        await self._pull()
        self.advance()
        w = self.exchange.wallet()
        return Balance(wallet_balance=w.wallet_balance, equity=w.equity, available=w.available_balance,
                       unrealized_pnl=w.unrealised_pnl,
                       position_margin=w.total_initial_margin - w.total_order_im, order_margin=w.total_order_im)

    async def fee_rates(self, symbol: str) -> FeeRates:
        """The paper fee tier's rates."""
        await self._pull()
        maker, taker = self.exchange.fee_rates(self._symbol(symbol))
        return FeeRates(symbol=symbol.upper(), maker=maker, taker=taker)

    async def set_leverage(self, symbol: str, leverage: Decimal) -> bool:
        """Set leverage; False when it already was."""
        await self._pull()
        self.advance()
        try:
            self._sim(self.exchange.set_leverage, self._symbol(symbol), Decimal(str(leverage)))
        except BybitMMError as e:
            if e.ret_code == codes.LEVERAGE_NOT_MODIFIED:
                return False
            raise
        self.save()
        return True

    async def leverage(self, symbol: str) -> Decimal:
        """The symbol's leverage setting."""
        await self._pull()
        return self.exchange.leverage(self._symbol(symbol))

    async def margin_mode(self, symbol: str) -> MarginMode:
        """``isolated`` or ``cross``."""
        await self._pull()
        return "isolated" if self.exchange.margin_mode(self._symbol(symbol)) == "isolated" else "cross"

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> bool:
        """Set the margin mode account-wide (as Bybit's unified account); False when already so."""
        await self._pull()
        if mode not in ("isolated", "cross"):
            raise UsageError(f"margin mode must be isolated or cross, got {mode!r}")
        self._symbol(symbol)
        self.advance()
        try:
            self._sim(self.exchange.set_margin_mode, mode, None)
        except BybitMMError as e:
            if e.ret_code in codes.NOT_MODIFIED_CODES:
                return False
            raise
        self.save()
        return True

    # --- orders -----------------------------------------------------------------------------

    async def place_order(self, symbol: str, side: Side, qty: Decimal, price: Decimal | None = None, *,
                          order_type: OrderType = "Limit", time_in_force: TimeInForce = "PostOnly",
                          reduce_only: bool = False, client_order_id: str) -> OrderInfo:
        """Place an order in the sim (idempotent by ``client_order_id`` like Bybit: 110072 if live).

        A taker order (Market, IOC, FOK) on a real-time clock waits out the simulated order-entry
        latency so the returned order shows its fills; with a manual clock the caller moves time.
        """
        await self._pull()
        if not client_order_id:
            raise UsageError("place_order needs a client_order_id (Bybit orderLinkId)")
        self.advance()
        tif = time_in_force if order_type == "Limit" else ("FOK" if time_in_force == "FOK" else "IOC")
        o = self._sim(self.exchange.place_order, symbol=self._symbol(symbol), side=Side.parse(side),
                      order_type=order_type, qty=Decimal(str(qty)),
                      price=Decimal(str(price)) if price is not None and order_type == "Limit" else None,
                      time_in_force=tif, reduce_only=reduce_only, order_link_id=client_order_id)
        self.advance()
        await self._answer()
        info = order_info(o)
        if order_type == "Market" or tif in ("IOC", "FOK"):
            info = await self._await_fate(info)
        return info

    async def amend_order(self, symbol: str, *, order_id: str = "", client_order_id: str = "",
                          price: Decimal | None = None, qty: Decimal | None = None) -> OrderInfo:
        """Change price and/or qty of a working order (same order id)."""
        await self._pull()
        self.advance()
        try:
            o = self._sim(self.exchange.amend_order, symbol=self._symbol(symbol), order_id=order_id,
                          order_link_id=client_order_id, qty=None if qty is None else Decimal(str(qty)),
                          price=None if price is None else Decimal(str(price)))
            self.advance(amended=o.order_id)
        finally:
            await self._answer()
        return order_info(o)

    async def cancel_order(self, symbol: str, *, order_id: str = "", client_order_id: str = "") -> OrderInfo:
        """Cancel one order."""
        await self._pull()
        self.advance()
        try:
            o = self._sim(self.exchange.cancel_order, symbol=self._symbol(symbol), order_id=order_id,
                          order_link_id=client_order_id)
            self.advance()
        finally:
            await self._answer()
        return order_info(o)

    async def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel every working order (of ``symbol``, or all); returns how many."""
        await self._pull()
        self.advance()
        cancelled = self._sim(self.exchange.cancel_all, self._symbol(symbol) if symbol else None)
        self.advance()
        await self._answer()
        return len(cancelled)

    async def open_orders(self, symbol: str | None = None) -> list[OrderInfo]:
        """Working orders, oldest first."""
        await self._pull()
        self.advance()
        orders = [order_info(o) for o in self.exchange.open_orders(self._symbol(symbol) if symbol else None)]
        orders.sort(key=lambda o: o.created_ms)
        return orders

    async def get_order(self, symbol: str, *, order_id: str = "", client_order_id: str = "") -> OrderInfo | None:
        """One order by id, open or recently closed."""
        await self._pull()
        if not order_id and not client_order_id:
            raise UsageError("get_order needs an order_id or a client_order_id")
        self.advance()
        o = self.exchange.get_order(order_id=order_id, order_link_id=client_order_id)
        if o is None or o.symbol != symbol.upper():
            return None
        return order_info(o)

    async def executions(self, symbol: str | None = None, *, since_ms: int | None = None,
                         limit: int = 100) -> list[Execution]:
        """Our executions (fills, funding, liquidations; ``exec_type`` says which), oldest first."""
        await self._pull()
        self.advance()
        rows = self.exchange.executions(self._symbol(symbol) if symbol else None,
                                        limit=limit if since_ms is None else 1_000_000, start_ms=since_ms)
        out = [execution_info(e) for e in reversed(rows) if since_ms is None or e.ts_ms >= since_ms]
        out.sort(key=lambda x: x.ts_ms)
        return out[-limit:]

    async def close_position(self, symbol: str) -> OrderInfo | None:
        """Flatten ``symbol`` with a reduce-only market order; None when already flat."""
        import uuid

        positions = await self.positions(symbol)
        if not positions:
            return None
        pos = positions[0]
        side = Side.SELL if pos.side == "long" else Side.BUY
        return await self.place_order(symbol, side, pos.size, order_type="Market", time_in_force="IOC",
                                      reduce_only=True, client_order_id=f"flat-{uuid.uuid4().hex[:24]}")

    async def _await_fate(self, order: OrderInfo) -> OrderInfo:
        if not order.is_open:
            return order
        if hasattr(self.clock, "set"):  # a manual clock has passed the answer's time: read its fate
            return await self.get_order(order.symbol, order_id=order.order_id) or order
        speed = float(getattr(self.clock, "speed", 1.0)) or 1.0
        wait_s = (self.exchange.latency_ms / 1000.0) / speed + 0.005
        for _ in range(20):
            await asyncio.sleep(wait_s)
            found = await self.get_order(order.symbol, order_id=order.order_id)
            if found is not None and not found.is_open:
                return found
        return order

