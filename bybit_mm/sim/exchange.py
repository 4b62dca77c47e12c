"""The simulated exchange: synthetic markets, matching of our orders, and the account ledger.

One facade (:class:`SimExchange`) serves the HTTP emulator and the in-process paper client. It
runs on an injected clock: every call first processes the market up to ``clock.now_ms()``
(lazily, so real time, accelerated time and a manual :class:`~bybit_mm.sim.clock.SimClock` all
work), and :meth:`SimExchange.advance` hands out what happened since the last call.

Order handling, as Bybit does it (BYBIT.md §2) unless said otherwise:

- REST-level rejections raise :class:`~bybit_mm.sim.errors.SimError` with Bybit's retCode.
- Every order request acts ``latency.entry_ms()`` after it is sent: an order becomes active then
  (and cannot fill before); an amend or cancel takes effect then, so one that arrives after the
  order filled is rejected with 110001 ("order not exists or too late to replace/cancel"), as on
  Bybit. A synthetic market is run ahead to that instant when the request is handled (its answer
  is the exchange's state then); an external market cannot run ahead of its feed, so there amends
  and cancels act when the call is made.
- On activation a limit order that crosses the synthetic book takes liquidity level by level at
  the book's prices (taker fee), the rest rests; PostOnly that would take is accepted and then
  Cancelled with ``EC_PostOnlyWillTakeLiquidity``; IOC/Market cancel what they could not fill
  at once, FOK fills completely or not at all. Market orders are IOC limits capped at
  ``mark × (1 ± market_band)`` (Bybit's slippage protection; 3% here, an approximation); limit
  prices beyond that band are rejected with 110003.
- Resting orders fill at their own price from the market's prints (see ``matching``).
- Reduce-only: rejected with 110017 when flat or on the position's side; its quantity is cut to
  the position; when the position shrinks or closes, live reduce-only orders are cut or cancelled
  (``EC_CancelByReduceOnly``).
- Cancelled orders have status ``Cancelled`` even after a partial fill: ``PartiallyFilledCanceled``
  is a spot-only status on Bybit.
- Our own taker fills are printed on the public tape; they never fill our own resting orders.
  They consume the levels they take from for the rest of that book state (until the book's next
  update: a synthetic step, a fed book): a second taker order walks what the first left, and
  :meth:`SimExchange.orderbook` shows it.
- Several symbols are stepped in lockstep one second at a time, so cross-margin checks see
  every symbol's mark within a second of each other.

External markets (``market_source="external"``, for all symbols or per symbol): the symbol's
market is fed from outside through :meth:`SimExchange.feed_market` (a live feed, the emulator, a
replay) instead of generated (see ``sim.external``). Fed trades go through the same matching
(our resting orders fill at their own price per the queue model; a print older than an order's
activation never fills it), the fed book is what taker orders walk and post-only checks against,
the fed mark drives liquidation and uPnL, and funding settles at the fed funding times.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from bybit_mm.domain.clock import Clock
from bybit_mm.domain.fees import tier as fee_tier_named
from bybit_mm.domain.instruments import Instrument, get_instrument
from bybit_mm.domain.liquidation import is_liquidated
from bybit_mm.domain.orders import PositionSide, Side
from bybit_mm.domain.position import FillEffect, Position
from bybit_mm.sim import errors as E
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.executions import ExecutionLog
from bybit_mm.sim.external import ExternalMarket, sorted_new
from bybit_mm.sim.journal import Journal
from bybit_mm.sim.latency import ConstantLatency, LatencyModel
from bybit_mm.sim.ledger import MARGIN_MODES, Ledger
from bybit_mm.sim.market import MarketParams, SyntheticMarket
from bybit_mm.sim.matching import OrderRecord, check_amend, make_queue_model, match_print, new_id, validate_size
from bybit_mm.sim.models import (
    BookSnapshot,
    Event,
    Execution,
    FillEvent,
    FundingEvent,
    Kline,
    LiquidationEvent,
    OrderUpdate,
    PositionUpdate,
    PositionView,
    SimOrder,
    Ticker,
    Trade,
    TradeEvent,
    TradingStop,
    WalletView,
)

ZERO = Decimal(0)
_NO_STOP = TradingStop()
MARKET_SOURCES = ("synthetic", "external")
ORDER_TYPES = ("Limit", "Market")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "PostOnly")
TRIGGER_BY = ("LastPrice", "MarkPrice", "IndexPrice")
MAX_OPEN_ORDERS = 500
_LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_MAX_EVENTS = 200_000
#: Executions and closed orders kept for reads (the paper client and the emulator's clients ask for
#: what happened since their last read, seconds ago; Bybit's real-time order list shows the last
#: 500 closed orders). Bounded so a run of days keeps a flat memory.
_MAX_EXECUTIONS = 5_000
_MAX_CLOSED_ORDERS = 1_000


def _dec(value: object, name: str) -> Decimal:
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise SimError(E.PARAMS_ERROR, f"params error: {name} invalid") from None
    if not d.is_finite():
        raise SimError(E.PARAMS_ERROR, f"params error: {name} invalid")
    return d


class SimExchange:
    """A simulated Bybit linear-perpetual exchange with one account (see the module docstring)."""

    def __init__(self, *, symbols: Sequence[str] = ("BTCUSDT",), seed: int = 1, clock: Clock,
                 balance: Decimal = Decimal("10000"), fee_tier: str = "VIP0",
                 queue_model: str = "trade_through", latency_ms: float = 0.0,
                 market_params: MarketParams | None = None,
                 instruments: Mapping[str, Instrument] | None = None,
                 trade_events: bool = True,
                 market_band: Decimal = Decimal("0.03"),
                 market_source: str | Mapping[str, str] = "synthetic",
                 start_prices: Mapping[str, Decimal] | None = None,
                 latency: LatencyModel | None = None) -> None:
        self.clock = clock
        self.seed = seed
        #: When requests act (``latency``; else a constant entry latency of ``latency_ms``).
        self.latency: LatencyModel = latency if latency is not None else ConstantLatency(entry=float(latency_ms))
        self.latency_ms = float(getattr(self.latency, "entry", latency_ms))
        self.market_band = Decimal(market_band)
        self.trade_events = trade_events
        self._fees = fee_tier_named(fee_tier)
        self.fee_tier = self._fees.name
        self._instruments: dict[str, Instrument] = {}
        for s in symbols:
            inst = (instruments or {}).get(s) or get_instrument(s)
            self._instruments[inst.symbol] = inst
        mp = market_params or MarketParams()
        now = clock.now_ms()
        sources = {s: market_source if isinstance(market_source, str) else market_source.get(s, "synthetic")
                   for s in self._instruments}
        if any(v not in MARKET_SOURCES for v in sources.values()):
            raise ValueError(f"market_source must be one of {', '.join(MARKET_SOURCES)}")
        # ExternalMarket has the SyntheticMarket surface the exchange uses (duck-typed).
        self._markets: dict[str, SyntheticMarket] = {
            s: (SyntheticMarket(inst, mp.for_symbol(s, inst), seed=seed, start_ms=now, market_params=mp)
                if sources[s] == "synthetic" else
                ExternalMarket(inst, start_ms=now, start_price=(start_prices or {}).get(s)))  # type: ignore[misc]
            for s, inst in self._instruments.items()}
        self._market_list = list(self._markets.values())
        self.ledger = Ledger(self._instruments, Decimal(balance), self._fees.taker)
        #: Closed PnL and the transaction log (not saved with the account).
        self.journal = Journal()
        #: Take-profit / stop-loss per symbol (``set_trading_stop``).
        self._tpsl: dict[str, TradingStop] = {}
        # Order and execution ids: a hash of (seed, start time, sequence). The sequence is saved
        # with the account, so a reloaded account never hands out an id it handed out before.
        self._id_salt = f"ids-{seed}-{now}"
        self._id_seq = 0
        self.queue = make_queue_model(queue_model, random.Random(f"queue-{seed}"))
        self.queue_model = queue_model
        self._queue_steps = queue_model != "trade_through"
        self._orders: dict[str, OrderRecord] = {}
        self._by_link: dict[str, str] = {}
        self._bids: dict[str, list[OrderRecord]] = {s: [] for s in self._instruments}
        self._asks: dict[str, list[OrderRecord]] = {s: [] for s in self._instruments}
        self._pending: list[OrderRecord] = []
        self._executions = ExecutionLog(_MAX_EXECUTIONS)
        self._events: deque[Event] = deque(maxlen=_MAX_EVENTS)
        self._seq = 0
        self._closed_ids: deque[str] = deque()
        self._listeners: list[Callable[[list[Event]], None]] = []
        self._touch_listeners: list[Callable[[str, int, int, int, Decimal], None]] = []
        #: When the last order request acted (or, for a placement, becomes active).
        self.last_acted_ms = now
        #: What our taker orders took from each symbol's current book: (book update id, {(side, tick): steps}).
        self._taken: dict[str, tuple[int, dict[tuple[Side, int], int]]] = {}
        #: Per symbol: (liquidation price, long, the mark tick count at that line); see _at_liquidation.
        self._liq_lines: dict[str, tuple[Decimal, bool, int]] = {}

    # --- time -----------------------------------------------------------------------------------

    def advance(self) -> list[Event]:
        """Process everything up to ``clock.now_ms()`` and return what happened since the last call."""
        self._sync()
        if not self._events and not self._listeners:
            return []
        events = list(self._events)
        self._events.clear()
        for listener in self._listeners:
            listener(events)
        return events

    def add_listener(self, listener: Callable[[list[Event]], None]) -> None:
        """Also hand every batch :meth:`advance` returns to ``listener`` (e.g. the emulator's streams).

        Whoever calls ``advance`` drains the events; listeners see every batch whoever drains it.
        """
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[list[Event]], None]) -> None:
        """Stop handing batches to ``listener`` (no error if it was not added)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def add_touch_listener(self, listener: Callable[[str, int, int, int, Decimal], None]) -> None:
        """Call ``listener(symbol, ts_ms, bid_tick, ask_tick, tick)`` at every book step as it is
        processed (the touch in ticks of ``tick``; no event is made for it)."""
        self._touch_listeners.append(listener)

    def remove_touch_listener(self, listener: Callable[[str, int, int, int, Decimal], None]) -> None:
        """Stop calling ``listener`` (no error if it was not added)."""
        if listener in self._touch_listeners:
            self._touch_listeners.remove(listener)

    def run_until(self, ts_ms: int) -> list[Event]:
        """Move a manual clock (one with ``set``) to ``ts_ms`` and process; returns the events."""
        setter = getattr(self.clock, "set", None)
        if setter is None:
            raise TypeError("run_until needs a clock with set(ms), such as SimClock")
        if ts_ms > self.clock.now_ms():
            setter(ts_ms)
        return self.advance()

    def _sync(self, until: int | None = None) -> None:
        now = self.clock.now_ms() if until is None else until
        markets = self._market_list
        if len(markets) == 1:
            markets[0].step_until(now, self)
        else:
            t = min(m.ts_ms for m in markets)
            while t < now:
                t = min(now, t + 1000)
                for m in markets:
                    m.step_until(t, self)
        if self._pending:
            self._activate_due(now)

    # --- market callbacks (MarketSink) ----------------------------------------------------------

    def on_trade(self, market: SyntheticMarket, trade: Trade, price_tick: int, qty_steps: int) -> None:
        """A market print: fill our resting orders it reaches."""
        if self.trade_events:
            self._events.append(TradeEvent(trade))
        if self._pending:
            self._activate_due(trade.ts_ms)
        symbol = market.symbol
        if trade.side is Side.SELL:
            book = self._bids[symbol]
            if not book or book[0].tick < price_tick:
                return
        else:
            book = self._asks[symbol]
            if not book or book[0].tick > price_tick:
                return
        step = market.qty_step

        def fill(o: OrderRecord, n: int) -> int:
            n = min(n, int(o.leaves / step))
            return int(self._fill(o, n * step, o.price, True, trade.ts_ms) / step)

        match_print(book, price_tick, qty_steps, trade.ts_ms, self.queue, fill,
                    late=getattr(market, "external", False))

    def on_book(self, market: SyntheticMarket, ts_ms: int) -> None:
        """A book step: activate due orders, move queues, check liquidation."""
        symbol = market.symbol
        for listener in self._touch_listeners:
            listener(symbol, ts_ms, market.bid_tick, market.ask_tick, market.tick)
        if self._pending:
            self._activate_due(ts_ms)
        if self._queue_steps:
            for book in (self._bids[symbol], self._asks[symbol]):
                for o in book:
                    self.queue.on_step(o, market.displayed_at(o.side, o.tick), market.step_ms)
        pos = self.ledger.positions[symbol]
        if pos.qty:
            liq = self.ledger.isolated_liq(symbol)
            if liq is not None:
                if self._at_liquidation(market, pos.qty > 0, liq[0]):
                    self._liquidate_isolated(symbol, ts_ms, market.mark_price())
            elif self.ledger.margin_mode[symbol] == "cross" and self.ledger.cross_at_risk(self._marks()):
                self._liquidate_cross(ts_ms)
        if symbol in self._tpsl:
            self._check_tpsl(symbol, market, ts_ms)

    def _at_liquidation(self, market: SyntheticMarket, long: bool, liq_price: Decimal) -> bool:
        """Whether the mark has reached ``liq_price`` (:func:`is_liquidated`). A synthetic market's
        mark is a whole number of ticks: there it is compared in ticks with the last (long) or first
        (short) tick count at the line, worked out once per liquidation price (this runs every step)."""
        if not isinstance(market, SyntheticMarket):
            return is_liquidated(PositionSide.LONG if long else PositionSide.SHORT, market.mark_price(), liq_price)
        line = self._liq_lines.get(market.symbol)
        if line is None or line[0] is not liq_price or line[1] != long:
            tick = market.tick
            at = int(liq_price / tick)  # then exactly: the last tick count at or below the line
            while (at + 1) * tick <= liq_price:
                at += 1
            while at * tick > liq_price:
                at -= 1
            if not long and at * tick != liq_price:
                at += 1  # the first at or above it
            line = self._liq_lines[market.symbol] = (liq_price, long, at)
        return market.mark_tick() <= line[2] if long else market.mark_tick() >= line[2]

    def on_funding(self, market: SyntheticMarket, ts_ms: int, rate: Decimal, mark: Decimal) -> None:
        """Funding settles for a position open at this instant."""
        symbol = market.symbol
        pos = self.ledger.positions[symbol]
        if not pos.qty:
            return
        paid = self.ledger.fund(symbol, mark, rate, ts_ms)
        side = Side.BUY if pos.qty > 0 else Side.SELL
        ex = Execution(self._new_id(), "", "", symbol, side, mark, pos.size, paid, rate, False, ts_ms,
                       "Funding", ZERO, ZERO, mark)
        self._executions.append(ex)
        self.journal.on_funding(ex, self.ledger.positions[symbol], paid, self.ledger.balance)
        self._events.append(FundingEvent(symbol, ts_ms, rate, mark, paid))

    # --- external markets -----------------------------------------------------------------------

    def is_external(self, symbol: str) -> bool:
        """Whether ``symbol``'s market is fed from outside (:meth:`feed_market`)."""
        return isinstance(self._market(symbol), ExternalMarket)

    def feed_market(self, symbol: str, *, ts_ms: int, book: BookSnapshot | None = None,
                    trades: Sequence[Trade] = (), mark: Decimal | None = None, index: Decimal | None = None,
                    funding_rate: Decimal | None = None, next_funding_ms: int | None = None) -> None:
        """Feed an external market what happened up to ``ts_ms`` (exchange time, epoch ms).

        First everything due by the clock is processed and funding due by ``ts_ms`` settles (at
        the rate and mark known before); then ``trades`` not fed before (by trade id) print, oldest
        first, filling our resting orders through the matching; then ``book`` replaces the book,
        ``mark``/``index``/funding are taken, and the book step runs (queues, liquidation). The
        events are handed out by :meth:`advance` as usual.
        """
        m = self._market(symbol)
        if not isinstance(m, ExternalMarket):
            raise ValueError(f"{symbol} is not an external market")
        self._sync()
        m.step_until(ts_ms, self)  # type: ignore[arg-type]
        for trade in sorted_new(m, trades):
            if trade.symbol != symbol:
                raise ValueError(f"a {trade.symbol} trade fed to {symbol}")
            tick, steps = m.record(trade)
            self.on_trade(m, trade, tick, steps)  # type: ignore[arg-type]
        if book is not None:
            m.set_book(book)
        m.set_prices(ts_ms, mark=mark, index=index, funding_rate=funding_rate, next_funding_ms=next_funding_ms)
        if m.has_data:
            self.on_book(m, max(ts_ms, m.ts_ms))  # type: ignore[arg-type]
        if self._pending:
            self._activate_due(self.clock.now_ms())

    def set_instrument(self, instrument: Instrument) -> None:
        """Replace an external symbol's specs (e.g. with the live ones); resting orders are re-ticked."""
        m = self._market(instrument.symbol)
        if not isinstance(m, ExternalMarket):
            raise ValueError(f"{instrument.symbol}: only an external market's instrument can be replaced")
        self._instruments[instrument.symbol] = instrument  # the ledger shares this dict
        m.set_instrument(instrument)
        for o in self._live(instrument.symbol):
            o.tick = m.to_tick(o.price)
        self.ledger.refresh(instrument.symbol)

    def market_state(self) -> dict[str, dict]:
        """JSON-able last mid, mark and time of each symbol's market (to resume a market from)."""
        out: dict[str, dict] = {}
        for s, m in self._markets.items():
            try:
                mark = m.mark_price()
            except SimError:
                continue
            mid = (m.bid_tick + m.ask_tick) * m.tick / 2 if 0 < m.bid_tick < m.ask_tick < 10 ** 17 else mark
            out[s] = {"mid": str(mid), "mark": str(mark), "ts_ms": m.ts_ms,
                      "source": "external" if isinstance(m, ExternalMarket) else "synthetic"}
        return out

    def resume_market(self, symbol: str, mid: Decimal) -> None:
        """Start ``symbol``'s synthetic market from ``mid`` (a resumed account's last price)."""
        m = self._market(symbol)
        if isinstance(m, ExternalMarket):
            return
        m.rebase(float(mid))

    # --- order life cycle -----------------------------------------------------------------------

    def _arrive(self) -> int:
        """A request sent now reaches the exchange ``entry`` later: run the market to then; its time.

        Only synthetic markets can be run ahead; with an external one the request acts now.
        """
        now = self.clock.now_ms()
        at = now + self.latency.entry_ms()
        if at > now and not any(isinstance(m, ExternalMarket) for m in self._markets.values()):
            self._sync(at)
        else:
            self._sync()
            at = now
        self.last_acted_ms = at
        return at

    def _new_id(self) -> str:
        self._id_seq += 1
        return new_id(self._id_salt, self._id_seq)

    def _market(self, symbol: str) -> SyntheticMarket:
        m = self._markets.get(symbol)
        if m is None:
            raise SimError(E.PARAMS_ERROR, f"params error: symbol invalid ({symbol})")
        return m

    def _marks(self) -> dict[str, Decimal]:
        out = {}
        for s, m in self._markets.items():
            if getattr(m, "has_data", True) or self.ledger.positions[s].qty:
                out[s] = m.mark_price()
        return out

    def _book(self, o: OrderRecord) -> list[OrderRecord]:
        return self._bids[o.symbol] if o.side is Side.BUY else self._asks[o.symbol]

    def _rest(self, o: OrderRecord) -> None:
        book = self._book(o)
        book.append(o)
        if o.side is Side.BUY:
            book.sort(key=lambda r: (-r.tick, r.seq))
        else:
            book.sort(key=lambda r: (r.tick, r.seq))

    def _unrest(self, o: OrderRecord) -> None:
        book = self._book(o)
        if o in book:
            book.remove(o)
        if o in self._pending:
            self._pending.remove(o)

    def _close(self, o: OrderRecord, status: str, reason: str, ts_ms: int) -> None:
        o.status = status
        o.reject_reason = reason
        o.updated_ms = ts_ms
        self._unrest(o)
        self._events.append(OrderUpdate(o.view()))
        self._retire(o)

    def _retire(self, o: OrderRecord) -> None:
        """A closed (filled, cancelled, rejected) order: kept for reads until it is among the oldest
        beyond ``_MAX_CLOSED_ORDERS`` closed ones."""
        self._closed_ids.append(o.order_id)
        while len(self._closed_ids) > _MAX_CLOSED_ORDERS:
            oid = self._closed_ids.popleft()
            r = self._orders.get(oid)
            if r is not None and not r.is_live:
                del self._orders[oid]
                if self._by_link.get(r.order_link_id) == oid:
                    del self._by_link[r.order_link_id]

    def _activate_due(self, ts_ms: int) -> None:
        due = [o for o in self._pending if o.active_ms <= ts_ms]
        for o in due:
            self._pending.remove(o)
            self._activate(o, ts_ms)

    def _crosses(self, o: OrderRecord, m: SyntheticMarket) -> bool:
        return o.tick >= m.ask_tick if o.side is Side.BUY else o.tick <= m.bid_tick

    def _activate(self, o: OrderRecord, ts_ms: int) -> None:
        m = self._markets[o.symbol]
        o.active = True
        if o.reduce_only and self._reduce_allowance(o) <= 0:
            self._close(o, "Cancelled", "EC_CancelByReduceOnly", ts_ms)
            return
        if o.order_type == "Market" or o.time_in_force in ("IOC", "FOK"):
            self._take(o, ts_ms)
            if o.is_live:
                reason = "EC_NoImmediateQtyToFill" if not o.filled else "EC_NoError"
                self._close(o, "Cancelled", reason, ts_ms)
            return
        if self._crosses(o, m):
            if o.time_in_force == "PostOnly":
                self._close(o, "Cancelled", "EC_PostOnlyWillTakeLiquidity", ts_ms)
                return
            self._take(o, ts_ms)
            if not o.is_live:
                return
        self.queue.on_join(o, m.displayed_at(o.side, o.tick))
        self._rest(o)

    def _take(self, o: OrderRecord, ts_ms: int) -> None:
        """Fill ``o`` as taker against the synthetic book, up to its limit price."""
        m = self._markets[o.symbol]
        buy = o.side is Side.BUY
        book_side = Side.SELL if buy else Side.BUY
        leaves = int(o.leaves / m.qty_step)
        fills: list[tuple[int, int]] = []
        level = 0
        while leaves > 0 and level < m.book_levels:
            tick = m.ask_tick + level if buy else m.bid_tick - level
            if (buy and tick > o.tick) or (not buy and (tick < o.tick or tick < 1)):
                break
            q = min(leaves, m.level_size(book_side, level) - self._taken_at(m, book_side, tick))
            if q > 0:  # an external book has gaps between its levels; we may have taken a level
                fills.append((tick, q))
                leaves -= q
            level += 1
        if o.time_in_force == "FOK" and leaves > 0:
            self._close(o, "Cancelled", "EC_CancelForNoFullFill", ts_ms)
            return
        for tick, q in fills:
            if not o.is_live:
                break
            filled = self._fill(o, q * m.qty_step, tick * m.tick, False, ts_ms)
            if filled:
                self._consume(m, book_side, tick, int(filled / m.qty_step))
                trade = m.print_external(ts_ms, tick, int(filled / m.qty_step), buy)
                if self.trade_events:
                    self._events.append(TradeEvent(trade))

    def _taken_at(self, m: SyntheticMarket, side: Side, tick: int) -> int:
        """Steps our taker orders took at ``tick`` on ``side`` of the market's current book."""
        rec = self._taken.get(m.symbol)
        if rec is None or rec[0] != m.update_id:
            return 0
        return rec[1].get((side, tick), 0)

    def _consume(self, m: SyntheticMarket, side: Side, tick: int, steps: int) -> None:
        rec = self._taken.get(m.symbol)
        if rec is None or rec[0] != m.update_id:
            rec = self._taken[m.symbol] = (m.update_id, {})
        rec[1][(side, tick)] = rec[1].get((side, tick), 0) + steps

    def _reduce_allowance(self, o: OrderRecord) -> Decimal:
        pos = self.ledger.positions[o.symbol]
        if pos.qty and (pos.qty > 0) != (o.side is Side.BUY):
            return pos.size
        return ZERO

    def _fill(self, o: OrderRecord, qty: Decimal, price: Decimal, maker: bool, ts_ms: int) -> Decimal:
        """Fill ``qty`` of ``o`` at ``price``; returns what was filled (reduce-only may cut it)."""
        if o.reduce_only:
            allowed = self._reduce_allowance(o)
            if allowed <= 0:
                self._close(o, "Cancelled", "EC_CancelByReduceOnly", ts_ms)
                return ZERO
            qty = min(qty, allowed)
        if qty <= 0:
            return ZERO
        rate = self._fees.maker if maker else self._fees.taker
        before = self.ledger.positions[o.symbol]
        effect = self.ledger.fill(o.symbol, o.side, qty, price, rate, ts_ms)
        o.filled += qty
        o.value += qty * price
        o.updated_ms = ts_ms
        ex = Execution(self._new_id(), o.order_id, o.order_link_id, o.symbol, o.side, price, qty,
                       effect.fee, rate, maker, ts_ms, "Trade", effect.closed_qty, effect.realized_pnl,
                       self._markets[o.symbol].mark_price())
        self._executions.append(ex)
        self.journal.on_fill(ex, effect, before, self.ledger.positions[o.symbol], self.ledger.balance,
                             self.ledger.leverage[o.symbol], o.qty, o.price, o.order_type)
        self._events.append(FillEvent(ex))
        if o.filled >= o.qty:
            o.status = "Filled"
            self._unrest(o)
            self._retire(o)
        else:
            o.status = "PartiallyFilled"
        self._events.append(OrderUpdate(o.view()))
        self._events.append(PositionUpdate(self._view(o.symbol, self._markets[o.symbol].mark_price(),
                                                      self._marks())))
        self._check_reduce_only(o.symbol, ts_ms)
        return qty

    def _check_reduce_only(self, symbol: str, ts_ms: int) -> None:
        for o in [r for r in self._live(symbol) if r.reduce_only]:
            allowed = self._reduce_allowance(o)
            if allowed <= 0:
                self._close(o, "Cancelled", "EC_CancelByReduceOnly", ts_ms)
            elif o.leaves > allowed:
                o.qty = o.filled + allowed
                o.updated_ms = ts_ms
                self._events.append(OrderUpdate(o.view()))

    def _live(self, symbol: str | None = None) -> list[OrderRecord]:
        out: list[OrderRecord] = []
        for s in ([symbol] if symbol else list(self._instruments)):
            out.extend(self._bids[s])
            out.extend(self._asks[s])
        out.extend(o for o in self._pending if symbol is None or o.symbol == symbol)
        out.sort(key=lambda r: r.seq)
        return out

    # --- liquidation ----------------------------------------------------------------------------

    def _cancel_symbol(self, symbol: str, ts_ms: int, reason: str) -> list[SimOrder]:
        out = []
        for o in self._live(symbol):
            self._close(o, "Cancelled", reason, ts_ms)
            out.append(o.view())
        return out

    def _liquidate_isolated(self, symbol: str, ts_ms: int, mark: Decimal) -> None:
        self._cancel_symbol(symbol, ts_ms, "EC_Others")
        before, bust, effect = self.ledger.liquidate_isolated(symbol, ts_ms)
        self._record_bust(symbol, before, bust, effect, ts_ms, mark)

    def _liquidate_cross(self, ts_ms: int) -> None:
        marks = self._marks()
        for symbol, pos in self.ledger.positions.items():
            if pos.qty and self.ledger.margin_mode[symbol] == "cross":
                self._cancel_symbol(symbol, ts_ms, "EC_Others")
        for symbol, before, bust, effect in self.ledger.liquidate_cross(marks, ts_ms):
            self._record_bust(symbol, before, bust, effect, ts_ms, marks[symbol])

    def _record_bust(self, symbol: str, before: Position, price: Decimal, effect: FillEffect, ts_ms: int,
                     mark: Decimal) -> None:
        """A BustTrade execution (taker, fee to close charged), its journal entries and the liquidation event."""
        qty = before.qty
        close = Side.SELL if qty > 0 else Side.BUY
        ex = Execution(self._new_id(), self._new_id(), "", symbol, close, price, abs(qty), effect.fee,
                       self.ledger.taker_rate, False, ts_ms, "BustTrade", abs(qty), effect.realized_pnl, mark)
        self._executions.append(ex)
        self.journal.on_fill(ex, effect, before, self.ledger.positions[symbol], self.ledger.balance,
                             self.ledger.leverage[symbol], abs(qty), price, "Market")
        self._events.append(FillEvent(ex))
        self._events.append(LiquidationEvent(symbol, ts_ms, "Buy" if qty > 0 else "Sell", abs(qty), mark,
                                             price, -effect.cash_flow))
        self._events.append(PositionUpdate(self._view(symbol, mark, self._marks())))

    # --- public market data ---------------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        """The instruments this exchange lists."""
        return list(self._instruments.values())

    def instrument(self, symbol: str) -> Instrument:
        """One instrument; SimError 10001 if not listed."""
        self._market(symbol)
        return self._instruments[symbol]

    @property
    def symbols(self) -> list[str]:
        """Listed symbols."""
        return list(self._instruments)

    def ticker(self, symbol: str) -> Ticker:
        """The 24h ticker with mark, index and funding."""
        self._sync()
        m = self._market(symbol)
        high, low, prev, volume, turnover = m.stats_24h()
        prev_1h = m.price_at(m.ts_ms - 3_600_000)
        return Ticker(symbol, m.ts_ms, m.last_price(), m.mark_price(), m.index_price(),
                      m.bid_tick * m.tick, m.level_size(Side.BUY, 0) * m.qty_step,
                      m.ask_tick * m.tick, m.level_size(Side.SELL, 0) * m.qty_step,
                      m.funding_rate_decimal(), m.next_funding_ms(), high, low, prev, volume, turnover,
                      Decimal(str(round(m.params.open_interest))), prev_1h)

    def orderbook(self, symbol: str, depth: int = 25) -> BookSnapshot:
        """The L2 book, ``depth`` levels a side (less what our taker orders took from it)."""
        self._sync()
        m = self._market(symbol)
        rec = self._taken.get(symbol)
        if rec is None or rec[0] != m.update_id:
            return m.book(depth)
        # Each level our taker orders took from may be gone: read enough to show ``depth`` still.
        book = m.book(depth + len(rec[1]))

        def left(side: Side, levels: list) -> list:
            out = []
            for price, qty in levels:
                q = qty - self._taken_at(m, side, int(price / m.tick)) * m.qty_step
                if q > 0:
                    out.append((price, q))
            return out

        return BookSnapshot(book.symbol, book.ts_ms, book.update_id, book.seq, left(Side.BUY, book.bids)[:depth],
                            left(Side.SELL, book.asks)[:depth])

    def recent_trades(self, symbol: str, limit: int = 60) -> list[Trade]:
        """Public trades, newest first."""
        self._sync()
        return self._market(symbol).recent_trades(limit)

    def klines(self, symbol: str, interval_min: int, start_ms: int | None = None, end_ms: int | None = None,
               limit: int = 200) -> list[Kline]:
        """Candles of ``interval_min`` minutes, newest first."""
        self._sync()
        return self._market(symbol).klines(interval_min, start_ms, end_ms, limit)

    def funding_history(self, symbol: str, limit: int = 200) -> list[tuple[int, Decimal]]:
        """Past funding settlements (time, rate), newest first."""
        self._sync()
        hist = self._market(symbol).funding_history
        return [hist[-i] for i in range(1, min(limit, len(hist)) + 1)]

    def mark_price(self, symbol: str) -> Decimal:
        """The current mark price."""
        self._sync()
        return self._market(symbol).mark_price()

    # --- account settings -----------------------------------------------------------------------

    def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        """Set the symbol's leverage; 110043 if unchanged, 110013 above the maximum allowed."""
        self._sync()
        self._market(symbol)
        lev = _dec(leverage, "leverage")
        inst = self._instruments[symbol]
        if lev < 1 or lev != lev.quantize(Decimal("0.01")):
            raise SimError(E.PARAMS_ERROR, "params error: leverage invalid")
        pos = self.ledger.positions[symbol]
        allowed = inst.max_leverage_for(pos.entry_value) if pos.qty else inst.max_leverage
        if lev > allowed:
            raise SimError(E.LEVERAGE_RISK_LIMIT, f"cannot set leverage [{int(lev * 100)}] gt maxLeverage "
                                                  f"[{int(allowed * 100)}] by risk limit")
        if lev == self.ledger.leverage[symbol]:
            raise SimError(E.LEVERAGE_NOT_MODIFIED, "leverage not modified")
        self.ledger.leverage[symbol] = lev
        self.ledger.refresh(symbol)
        self._events.append(PositionUpdate(self._view(symbol, self._markets[symbol].mark_price(), self._marks())))

    # --- take-profit / stop-loss (Bybit's trading-stop, tpslMode Full) ----------------------------

    def set_trading_stop(self, symbol: str, *, take_profit: Decimal | None = None,
                         stop_loss: Decimal | None = None, tp_trigger_by: str | None = None,
                         sl_trigger_by: str | None = None) -> TradingStop:
        """Set (a price), keep (None) or cancel (0) the position's take-profit and stop-loss.

        As Bybit checks them: the position must be open, and a long's take-profit must be above
        (its stop-loss below) the trigger price now; a short's the other way round. When the
        trigger price reaches one of them, a reduce-only market order closes the whole position
        and both are removed; they are also removed when the position closes otherwise.
        """
        self._sync()
        m = self._market(symbol)
        pos = self.ledger.positions[symbol]
        if pos.is_flat:
            raise SimError(E.PARAMS_ERROR, "can not set tp/sl/ts for zero position")
        cur = self._tpsl.get(symbol, TradingStop())
        tp_by = tp_trigger_by or cur.tp_trigger_by
        sl_by = sl_trigger_by or cur.sl_trigger_by
        for by in (tp_by, sl_by):
            if by not in TRIGGER_BY:
                raise SimError(E.PARAMS_ERROR, f"params error: trigger by {by!r} invalid")
        long = pos.qty > 0
        tp, sl = cur.take_profit, cur.stop_loss
        if take_profit is not None:
            tp = None if take_profit == 0 else _dec(take_profit, "takeProfit")
            if tp is not None:
                base = self._trigger_price(m, tp_by)
                if (long and tp <= base) or (not long and tp >= base):
                    raise SimError(E.PARAMS_ERROR, f"TakeProfit:{tp} set for {'Buy' if long else 'Sell'} position "
                                                   f"should be {'higher' if long else 'lower'} than base_price:{base}({tp_by})")
        if stop_loss is not None:
            sl = None if stop_loss == 0 else _dec(stop_loss, "stopLoss")
            if sl is not None:
                base = self._trigger_price(m, sl_by)
                if (long and sl >= base) or (not long and sl <= base):
                    raise SimError(E.PARAMS_ERROR, f"StopLoss:{sl} set for {'Buy' if long else 'Sell'} position "
                                                   f"should be {'lower' if long else 'higher'} than base_price:{base}({sl_by})")
        for price in (tp, sl):
            if price is not None:
                self._validate_price(symbol, price)
        stop = TradingStop(tp, sl, tp_by, sl_by)
        if tp is None and sl is None:
            self._tpsl.pop(symbol, None)
        else:
            self._tpsl[symbol] = stop
        self._events.append(PositionUpdate(self._view(symbol, m.mark_price(), self._marks())))
        return stop

    def trading_stop(self, symbol: str) -> TradingStop:
        """The position's take-profit / stop-loss (empty when none)."""
        return self._tpsl.get(symbol, TradingStop())

    @staticmethod
    def _trigger_price(m: SyntheticMarket, trigger_by: str) -> Decimal:
        if trigger_by == "MarkPrice":
            return m.mark_price()
        if trigger_by == "IndexPrice":
            return m.index_price()
        return m.last_price()

    def _validate_price(self, symbol: str, price: Decimal) -> None:
        inst = self._instruments[symbol]
        if price % inst.tick_size != 0 or not inst.min_price <= price <= inst.max_price:
            raise SimError(E.PARAMS_ERROR, f"params error: price {price} is off the tick grid or out of range")

    def _check_tpsl(self, symbol: str, m: SyntheticMarket, ts_ms: int) -> None:
        pos = self.ledger.positions[symbol]
        stop = self._tpsl[symbol]
        if pos.is_flat:
            del self._tpsl[symbol]
            return
        long = pos.qty > 0
        if stop.take_profit is not None:
            price = self._trigger_price(m, stop.tp_trigger_by)
            if (long and price >= stop.take_profit) or (not long and price <= stop.take_profit):
                self._close_on_trigger(symbol, "TakeProfit", ts_ms)
                return
        if stop.stop_loss is not None:
            price = self._trigger_price(m, stop.sl_trigger_by)
            if (long and price <= stop.stop_loss) or (not long and price >= stop.stop_loss):
                self._close_on_trigger(symbol, "StopLoss", ts_ms)

    def _close_on_trigger(self, symbol: str, kind: str, ts_ms: int) -> None:
        """A triggered take-profit/stop-loss: a reduce-only market order for the whole position."""
        del self._tpsl[symbol]
        m = self._markets[symbol]
        pos = self.ledger.positions[symbol]
        side = Side.SELL if pos.qty > 0 else Side.BUY
        tick = self._band_tick(m, side)
        self._seq += 1
        o = OrderRecord(order_id=self._new_id(), order_link_id="", symbol=symbol, side=side, order_type="Market",
                        price=tick * m.tick, tick=tick, qty=pos.size, time_in_force="IOC", reduce_only=True,
                        created_ms=ts_ms, active_ms=ts_ms, seq=self._seq)
        o.create_type, o.stop_order_type = f"CreateBy{kind}", kind
        self._orders[o.order_id] = o
        self._events.append(OrderUpdate(o.view()))
        self._activate(o, ts_ms)

    def _view(self, symbol: str, mark: Decimal, marks: dict[str, Decimal]) -> PositionView:
        """The ledger's position view with what the exchange keeps beside it (TP/SL, current PnL)."""
        if self.ledger.positions[symbol].is_flat:
            return self.ledger.position_view(symbol, mark, marks)
        cur, opened = self.journal.holding(symbol)
        stop = self._tpsl.get(symbol, _NO_STOP)
        return self.ledger.position_view(symbol, mark, marks, cur_realised_pnl=cur, open_ms=opened,
                                         take_profit=stop.take_profit, stop_loss=stop.stop_loss,
                                         tp_trigger_by=stop.tp_trigger_by, sl_trigger_by=stop.sl_trigger_by)

    def leverage(self, symbol: str) -> Decimal:
        """The symbol's leverage."""
        self._market(symbol)
        return self.ledger.leverage[symbol]

    def set_margin_mode(self, mode: str, symbol: str | None = None) -> None:
        """Set isolated/cross for one symbol or (``symbol=None``, as Bybit's unified account) all.

        Accepts ``isolated``/``cross`` or Bybit's ``ISOLATED_MARGIN``/``REGULAR_MARGIN``;
        110026 when nothing would change.
        """
        self._sync()
        key = {"isolated_margin": "isolated", "regular_margin": "cross"}.get(mode.lower(), mode.lower())
        if key not in MARGIN_MODES:
            raise SimError(E.PARAMS_ERROR, f"params error: margin mode {mode!r} invalid")
        symbols = [symbol] if symbol else list(self._instruments)
        for s in symbols:
            self._market(s)
        if all(self.ledger.margin_mode[s] == key for s in symbols):
            raise SimError(E.MARGIN_MODE_NOT_MODIFIED, "Cross/isolated margin mode is not modified")
        for s in symbols:
            self.ledger.margin_mode[s] = key
            self.ledger.refresh(s)

    def margin_mode(self, symbol: str) -> str:
        """``isolated`` or ``cross``."""
        self._market(symbol)
        return self.ledger.margin_mode[symbol]

    def set_balance(self, amount: Decimal) -> None:
        """Set the wallet balance (kept apart from PnL as a deposit/withdrawal)."""
        self.ledger.set_balance(_dec(amount, "balance"))

    def fee_rates(self, symbol: str) -> tuple[Decimal, Decimal]:
        """(maker, taker) fee rates of the account's tier."""
        self._market(symbol)
        return self._fees.maker, self._fees.taker

    # --- orders ---------------------------------------------------------------------------------

    def _validate(self, inst: Instrument, m: SyntheticMarket, side: Side, qty: Decimal,
                  price: Decimal) -> None:
        validate_size(inst, qty, price)

    def _band_tick(self, m: SyntheticMarket, side: Side) -> int:
        mark = m.mark_price()
        if side is Side.BUY:
            return int((mark * (1 + self.market_band) / m.tick).to_integral_value(ROUND_FLOOR))
        return max(1, int((mark * (1 - self.market_band) / m.tick).to_integral_value(ROUND_CEILING)))

    def _check_limits(self, symbol: str, side: Side, qty: Decimal, price: Decimal, reduce_only: bool,
                      exclude: OrderRecord | None = None) -> None:
        """Risk-limit (110090) and margin (110007) checks for a new or amended order."""
        if reduce_only:
            return
        live = {s: [(o.side, o.leaves, o.price) for o in self._live(s) if o is not exclude and not o.reduce_only]
                for s in self._instruments}
        m = self._markets[symbol]
        self.ledger.check_order(symbol, side, qty, price, live, self._marks(), m.bid_tick * m.tick)

    def _find(self, symbol: str, order_id: str, order_link_id: str) -> OrderRecord:
        if not order_id and not order_link_id:
            raise SimError(E.PARAMS_ERROR, "params error: orderId or orderLinkId is required")
        oid = order_id or self._by_link.get(order_link_id, "")
        o = self._orders.get(oid)
        if o is None or o.symbol != symbol or (order_link_id and o.order_link_id != order_link_id):
            raise SimError(E.ORDER_NOT_EXISTS, "order not exists or too late to cancel")
        return o

    def place_order(self, *, symbol: str, side: Side | str, order_type: str, qty: Decimal,
                    price: Decimal | None = None, time_in_force: str = "GTC", reduce_only: bool = False,
                    order_link_id: str = "") -> SimOrder:
        """Place an order; raises SimError for REST-level rejections (see the module docstring)."""
        self._sync()
        m = self._market(symbol)
        inst = self._instruments[symbol]
        try:
            side = Side.parse(side)
        except ValueError:
            raise SimError(E.PARAMS_ERROR, f"params error: side invalid ({side})") from None
        if order_type not in ORDER_TYPES:
            raise SimError(E.PARAMS_ERROR, f"params error: orderType invalid ({order_type})")
        if time_in_force not in TIME_IN_FORCE:
            raise SimError(E.PARAMS_ERROR, f"params error: timeInForce invalid ({time_in_force})")
        if order_type == "Market":
            if time_in_force == "PostOnly":
                raise SimError(E.PARAMS_ERROR, "params error: market orders cannot be PostOnly")
            time_in_force = "FOK" if time_in_force == "FOK" else "IOC"
        if order_link_id and not _LINK_ID.match(order_link_id):
            raise SimError(E.PARAMS_ERROR, "params error: orderLinkId invalid")
        if order_link_id:
            prev = self._orders.get(self._by_link.get(order_link_id, ""))
            if prev is not None and prev.is_live:
                raise SimError(E.DUPLICATE_ORDER_LINK_ID, "OrderLinkedID is duplicate")
        qty = _dec(qty, "qty")
        band = self._band_tick(m, side)
        if order_type == "Market":
            tick = band
            price = tick * m.tick
            self._validate(inst, m, side, qty, m.mark_price())
        else:
            if price is None:
                raise SimError(E.PARAMS_ERROR, "params error: price is required for limit orders")
            price = _dec(price, "price")
            self._validate(inst, m, side, qty, price)
            tick = int(price / m.tick)
            if (side is Side.BUY and tick > band) or (side is Side.SELL and tick < band):
                raise SimError(E.PRICE_OUT_OF_RANGE, f"The order price is out of the permissible range "
                                                     f"({'max' if side is Side.BUY else 'min'} {band * m.tick})")
        if reduce_only:
            pos = self.ledger.positions[symbol]
            if not pos.qty:
                raise SimError(E.REDUCE_ONLY_RULE, "current position is zero, cannot fix reduce-only order qty")
            if (pos.qty > 0) == (side is Side.BUY):
                raise SimError(E.REDUCE_ONLY_RULE, "Reduce-only rule not satisfied")
            qty = min(qty, pos.size)
        if len(self._live(symbol)) >= MAX_OPEN_ORDERS:
            raise SimError(E.TOO_MANY_ORDERS, "number of active orders greater than 500")
        self._check_limits(symbol, side, qty, price, reduce_only)
        now = self.clock.now_ms()
        self._seq += 1
        o = OrderRecord(order_id=self._new_id(), order_link_id=order_link_id, symbol=symbol, side=side,
                        order_type=order_type, price=price, tick=tick, qty=qty, time_in_force=time_in_force,
                        reduce_only=reduce_only, created_ms=now,
                        active_ms=now + self.latency.entry_ms(), seq=self._seq)
        self.last_acted_ms = o.active_ms
        self._orders[o.order_id] = o
        if order_link_id:
            self._by_link[order_link_id] = o.order_id
        self._events.append(OrderUpdate(o.view()))
        if o.active_ms <= now:
            self._activate(o, now)
        else:
            self._pending.append(o)
        return o.view()

    def amend_order(self, *, symbol: str, order_id: str = "", order_link_id: str = "",
                    qty: Decimal | None = None, price: Decimal | None = None) -> SimOrder:
        """Amend the price and/or quantity of a live order; the order id is kept.

        A new price or a larger quantity loses the queue position; a smaller one keeps it. An
        amended PostOnly that would now take is cancelled (``EC_PostOnlyWillTakeLiquidity``).
        """
        now = self._arrive()
        m = self._market(symbol)
        try:
            o = self._find(symbol, order_id, order_link_id)
        except SimError as e:
            if e.ret_code != E.ORDER_NOT_EXISTS:
                raise
            raise SimError(E.ORDER_NOT_EXISTS, "order not exists or too late to replace") from None
        if not o.is_live:
            raise SimError(E.ORDER_NOT_EXISTS, "order not exists or too late to replace")
        if qty is None and price is None:
            raise SimError(E.PARAMS_ERROR, "params error: nothing to amend")
        new_qty = o.qty if qty is None else _dec(qty, "qty")
        new_price = o.price if price is None or o.order_type == "Market" else _dec(price, "price")
        check_amend(o, new_price, new_qty)
        self._validate(self._instruments[symbol], m, o.side, new_qty, new_price)
        band = self._band_tick(m, o.side)
        new_tick = int(new_price / m.tick)
        if (o.side is Side.BUY and new_tick > band) or (o.side is Side.SELL and new_tick < band):
            raise SimError(E.PRICE_OUT_OF_RANGE, "The order price is out of the permissible range")
        if o.reduce_only:
            new_qty = min(new_qty, o.filled + self._reduce_allowance(o))
        self._check_limits(symbol, o.side, new_qty - o.filled, new_price, o.reduce_only, exclude=o)
        requeue = new_price != o.price or new_qty > o.qty
        o.qty, o.price, o.tick, o.updated_ms = new_qty, new_price, new_tick, now
        if o.active:
            self._unrest(o)
            if self._crosses(o, m):
                if o.time_in_force == "PostOnly":
                    self._close(o, "Cancelled", "EC_PostOnlyWillTakeLiquidity", now)
                    return o.view()
                self._take(o, now)
                if not o.is_live:
                    return o.view()
                requeue = True
            if requeue:
                self.queue.on_join(o, m.displayed_at(o.side, o.tick))
            self._rest(o)
        view = o.view()
        self._events.append(OrderUpdate(view))
        return view

    def cancel_order(self, *, symbol: str, order_id: str = "", order_link_id: str = "") -> SimOrder:
        """Cancel a live order; 110001 if it is unknown or already closed when the request arrives."""
        now = self._arrive()
        self._market(symbol)
        o = self._find(symbol, order_id, order_link_id)
        if not o.is_live:
            raise SimError(E.ORDER_NOT_EXISTS, "order not exists or too late to cancel")
        self._close(o, "Cancelled", "EC_PerCancelRequest", now)
        return o.view()

    def cancel_all(self, symbol: str | None = None) -> list[SimOrder]:
        """Cancel every live order (of ``symbol``, or of all symbols); returns what was cancelled."""
        now = self._arrive()
        if symbol:
            self._market(symbol)
        out = []
        for o in self._live(symbol):
            self._close(o, "Cancelled", "EC_PerCancelRequest", now)
            out.append(o.view())
        return out

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        """Live orders (New, PartiallyFilled), newest first."""
        self._sync()
        return [o.view() for o in reversed(self._live(symbol))]

    def get_order(self, *, order_id: str = "", order_link_id: str = "") -> SimOrder | None:
        """An order by id or link id, live or closed (the newest with that link id); None if unknown."""
        self._sync()
        oid = order_id or self._by_link.get(order_link_id, "")
        o = self._orders.get(oid)
        if o is None or (order_link_id and o.order_link_id != order_link_id):
            return None
        return o.view()

    def order_history(self, symbol: str | None = None, limit: int = 50) -> list[SimOrder]:
        """All orders, live and closed, newest first."""
        self._sync()
        out = []
        for o in reversed(list(self._orders.values())):
            if symbol is None or o.symbol == symbol:
                out.append(o.view())
                if len(out) >= limit:
                    break
        return out

    # --- account views --------------------------------------------------------------------------

    def positions(self, symbol: str | None = None) -> list[PositionView]:
        """Positions of every listed symbol (or one), flat ones included with size 0."""
        self._sync()
        symbols = [symbol] if symbol else list(self._instruments)
        marks = self._marks()
        return [self._view(s, self._market(s).mark_price(), marks) for s in symbols]

    def total_order_im(self) -> Decimal:
        """Margin held by live orders (see ``ledger``)."""
        total = ZERO
        for s in self._instruments:
            rows = [(o.side, o.leaves, o.price) for o in self._live(s) if not o.reduce_only]
            if rows:
                total += self.ledger.order_cost(s, rows)
        return total

    def wallet(self) -> WalletView:
        """The USDT wallet."""
        self._sync()
        return self.ledger.wallet_view(self._marks(), self.total_order_im())

    def executions(self, symbol: str | None = None, limit: int = 50, start_ms: int | None = None,
                   end_ms: int | None = None) -> list[Execution]:
        """Our executions (trades, funding, liquidations), newest first (the last ``_MAX_EXECUTIONS``)."""
        self._sync()
        return self._executions.newest_first(symbol, limit, start_ms, end_ms)

    def order_executions(self, order_id: str) -> list[Execution]:
        """The kept executions of one order, oldest first."""
        return self._executions.of_order(order_id)

    @property
    def execution_seq(self) -> int:
        """The number the next execution gets: executions from a number on are
        :meth:`executions_since` it (how the paper store appends only what is new)."""
        return self._executions.next_seq

    def executions_since(self, seq: int) -> list[Execution]:
        """Executions numbered ``seq`` (see :attr:`execution_seq`) or later, oldest first."""
        return self._executions.since_seq(seq)

    # --- persistence ----------------------------------------------------------------------------

    def account_state(self, executions: bool = True) -> dict:
        """JSON-able account state: ledger, live orders, and the last 1000 executions (none
        without ``executions``: the paper store appends them as they come, see
        :meth:`executions_since`)."""
        def order(o: OrderRecord) -> dict:
            return {"order_id": o.order_id, "order_link_id": o.order_link_id, "symbol": o.symbol,
                    "side": o.side.value, "order_type": o.order_type, "price": str(o.price),
                    "qty": str(o.qty), "filled": str(o.filled), "value": str(o.value),
                    "time_in_force": o.time_in_force, "reduce_only": o.reduce_only, "status": o.status,
                    "created_ms": o.created_ms, "updated_ms": o.updated_ms}

        self._sync()
        return {"version": 1, "ts_ms": self.clock.now_ms(), "fee_tier": self.fee_tier,
                "id_salt": self._id_salt, "id_seq": self._id_seq,
                "ledger": self.ledger.to_state(),
                "orders": [order(o) for o in self._live()],
                "executions": [execution_state(e) for e in self._executions.newest_first(limit=1000)[::-1]]
                if executions else []}

    def load_account_state(self, state: dict) -> None:
        """Replace the account with ``state`` (from :meth:`account_state`); orders rest again at once.

        Ids go on from the saved sequence (of the saved salt), so new orders and executions never
        reuse an id of the saved account, even on a sim with the same seed and start time.
        """
        self._sync()
        saved_salt = state.get("id_salt")
        if saved_salt is not None:
            self._id_salt = str(saved_salt)
            self._id_seq = int(state.get("id_seq", 0))
        for o in self._live():
            self._unrest(o)
        self._orders.clear()
        self._by_link.clear()
        self.ledger.load_state(state["ledger"])
        self._executions.clear()
        for e in state.get("executions", []):
            self._executions.append(Execution(
                e["exec_id"], e["order_id"], e["order_link_id"], e["symbol"], Side(e["side"]),
                Decimal(e["price"]), Decimal(e["qty"]), Decimal(e["fee"]), Decimal(e["fee_rate"]),
                bool(e["is_maker"]), int(e["ts_ms"]), e["exec_type"], Decimal(e["closed_size"]),
                Decimal(e.get("realised_pnl", "0")),
                None if e.get("mark_price") is None else Decimal(e["mark_price"])))
        now = self.clock.now_ms()
        for d in state.get("orders", []):
            if d["symbol"] not in self._markets:
                continue
            m = self._markets[d["symbol"]]
            self._seq += 1
            o = OrderRecord(order_id=d["order_id"], order_link_id=d["order_link_id"], symbol=d["symbol"],
                            side=Side(d["side"]), order_type=d["order_type"], price=Decimal(d["price"]),
                            tick=int(Decimal(d["price"]) / m.tick), qty=Decimal(d["qty"]),
                            time_in_force=d["time_in_force"], reduce_only=bool(d["reduce_only"]),
                            created_ms=int(d["created_ms"]), active_ms=now, seq=self._seq)
            o.filled, o.value, o.status = Decimal(d["filled"]), Decimal(d["value"]), d["status"]
            o.updated_ms = int(d["updated_ms"])
            o.active = True
            self._orders[o.order_id] = o
            if o.order_link_id:
                self._by_link[o.order_link_id] = o.order_id
            self.queue.on_join(o, m.displayed_at(o.side, o.tick))
            self._rest(o)


def execution_state(e: Execution) -> dict:
    """One execution as JSON-able values (Decimals as strings), as :meth:`SimExchange.account_state`
    and :meth:`SimExchange.load_account_state` write and read it."""
    return {"exec_id": e.exec_id, "order_id": e.order_id, "order_link_id": e.order_link_id,
            "symbol": e.symbol, "side": e.side.value, "price": str(e.price), "qty": str(e.qty),
            "fee": str(e.fee), "fee_rate": str(e.fee_rate), "is_maker": e.is_maker, "ts_ms": e.ts_ms,
            "exec_type": e.exec_type, "closed_size": str(e.closed_size),
            "realised_pnl": str(e.realised_pnl),
            "mark_price": None if e.mark_price is None else str(e.mark_price)}
