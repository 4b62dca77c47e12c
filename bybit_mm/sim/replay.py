"""The backtest's exchange: our orders against a replayed market, in integer ticks and lot steps.

:class:`ReplayExchange` replays event rows (``bybit_mm.data.events``: book levels, prints, mark,
funding) in one tight loop, keeps the L2 book as ``{tick: steps}`` per side, and runs a strategy
(:class:`ReplayStrategy`, the backtest driver around the strategy core) on its own clock:

- **Feed latency**: the strategy sees the touch and the prints ``latency.feed_ms()`` after the
  exchange time of the row (at once with 0).
- **Order latency**: a decision's requests go out one after the other, as the async driver sends
  them: request ``j`` acts on the exchange at ``t + j x (entry + response) + entry``, and the
  next decision waits for the last answer. Executions reach the strategy at once.
- **Matching**: the simulated exchange's own pieces: :class:`~bybit_mm.sim.matching.OrderRecord`,
  :func:`~bybit_mm.sim.matching.match_print` and its queue models (``trade_through``, ``queue`` fed
  with the replayed depth at our level), resting orders filled at their own price, PostOnly
  cancelled when it would take, market orders walking the replayed book (taker fee).
- **Account**: the sim's :class:`~bybit_mm.sim.ledger.Ledger` (the domain's position, fee,
  funding, margin and liquidation math), with the order-limit checks the sim applies.
- **Mark**: MARK rows when the data has them, else the mid of the touch. **Funding**: at the
  funding times FUNDING rows announce, with the last rate and the mark; none without such rows.
  **Liquidation**: by the mark against the domain's isolated (or cross) liquidation price.

Our orders never change the replayed book (the usual small-trader assumption).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, Protocol

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.liquidation import is_liquidated
from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import FillEffect
from bybit_mm.domain.rounding import GridDecimals
from bybit_mm.sim import errors as E
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.latency import ConstantLatency, LatencyModel
from bybit_mm.sim.ledger import Ledger
from bybit_mm.sim.matching import OrderRecord, QueueModel, check_amend, match_print, new_id, validate_size
from bybit_mm.sim.models import Execution, SimOrder, WalletView

if TYPE_CHECKING:
    import numpy as np

ZERO = Decimal(0)
# Event kinds and flags of bybit_mm.data.events (the sim does not import the data layer).
BOOK_CLEAR, BID, ASK, TRADE_BUY, TRADE_SELL, MARK, FUNDING = 1, 2, 3, 4, 5, 6, 7
FLAG_LAST = 1
_NEVER = 1 << 62
_CHUNK = 1 << 16

#: A request the strategy sends: called with the exchange time at which it acts.
Request = Callable[[int], None]


def _bid_rank(r: OrderRecord) -> tuple[int, int]:
    """Our resting bids: the highest first, then the oldest."""
    return -r.tick, r.seq


def _ask_rank(r: OrderRecord) -> tuple[int, int]:
    """Our resting asks: the lowest first, then the oldest."""
    return r.tick, r.seq


def _ceil(x: Decimal, unit: Decimal) -> int:
    return int((x / unit).to_integral_value(rounding=ROUND_CEILING))


def _floor(x: Decimal, unit: Decimal) -> int:
    return int((x / unit).to_integral_value(rounding=ROUND_FLOOR))


class ReplayStrategy(Protocol):
    """What the replay drives (the backtest driver implements it around the strategy core)."""

    def on_book(self, ts_ms: int, bid_tick: int, ask_tick: int) -> None:
        """The touch as the strategy sees it (feed latency applied)."""

    def on_trade(self, ts_ms: int, price: float, buy: bool) -> None:
        """A print as the strategy sees it (``buy``: the aggressor bought)."""

    def decide(self, now_ms: int) -> list[Request]:
        """A decision is due at ``now_ms``: the requests to send, in order."""

    def on_execution(self, ex: Execution) -> None:
        """One of our executions (fill, funding, liquidation) happened."""


class ReplayExchange:
    """One symbol's exchange over replayed events (see the module docstring)."""

    def __init__(self, instrument: Instrument, *, balance: Decimal, maker_fee: Decimal, taker_fee: Decimal,
                 leverage: Decimal, margin_mode: str, queue: QueueModel,
                 latency: LatencyModel | None = None, seed: int = 1) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.tick = instrument.tick_size
        self.qty_step = instrument.qty_step
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.queue = queue
        self.latency = latency or ConstantLatency()
        self.ledger = Ledger({self.symbol: instrument}, balance, taker_fee)
        self.ledger.leverage[self.symbol] = leverage
        self.ledger.margin_mode[self.symbol] = margin_mode
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_tick = 0
        self.ask_tick = 0
        self.mark: float | None = None
        self.mark_rows = False
        self.funding_rows = False
        self.funding_rate = 0.0
        self.next_funding_ms = _NEVER
        self.now_ms = 0
        # our orders: live ones resting (best first), and every one by id / link id
        self._bids: list[OrderRecord] = []
        self._asks: list[OrderRecord] = []
        self._bid_ticks: set[int] = set()
        self._ask_ticks: set[int] = set()
        self._orders: dict[str, OrderRecord] = {}
        self._by_link: dict[str, str] = {}
        self._seq = 0
        #: What order and execution ids are hashed from (a journaled run makes it unique).
        self.id_salt = f"replay-{seed}"
        self._id_seq = 0
        self._liq_at: float | None = None  # the position's liquidation price (float), None when flat
        self._decimals = GridDecimals(self.tick, self.qty_step)
        self._tick_f = float(self.tick)
        self._step_f = float(self.qty_step)
        # The size rules in ticks and steps: steps within [min, max], ticks within [min, max], and
        # steps x ticks at least the minimum order value in units of one tick x one step.
        self._limits = (max(1, _ceil(instrument.min_qty, self.qty_step)), _floor(instrument.max_qty, self.qty_step),
                        max(1, _ceil(instrument.min_price, self.tick)), _floor(instrument.max_price, self.tick),
                        _ceil(instrument.min_notional, self.tick * self.qty_step))
        tiers = [t for t in instrument.risk_tiers if t.max_leverage >= leverage]
        self._cap_f = float(tiers[-1].limit_value) if tiers else 0.0
        self._free_key: tuple[Decimal, Decimal, Decimal] | None = None
        self._free = ZERO
        self._free_f = 0.0
        self._order_im: dict[tuple[object, ...], Decimal] = {}
        self._im_per_value = self.ledger.order_im_per_value(self.symbol)
        self.strategy: ReplayStrategy | None = None
        self._view: deque[tuple[int, int, int, int, float]] = deque()  # (due, 0 book/1 trade, bid / a buy print, ask, px)
        self._requests: deque[tuple[int, Request]] = deque()  # (due, request)
        self._next_decision = _NEVER
        self._busy_until = 0
        self._interval_ms = 0
        self._last_decision = -_NEVER
        self.events = 0
        self.liquidations = 0
        self.fundings = 0

    # --- the loop -------------------------------------------------------------------------------

    def run(self, events: np.ndarray, strategy: ReplayStrategy | None, *, interval_ms: int,
            requote_ms: int | None = None, progress: Callable[[int], None] | None = None) -> None:
        """Replay ``events`` (rows of ``bybit_mm.data.events.EVENT_DTYPE``; time: ``local_ts``) through
        the exchange, calling ``strategy`` to decide every ``interval_ms`` and, with ``requote_ms``,
        also after a complete update (book message or print) once ``requote_ms`` have passed since
        the last decision (0: after every update), as the engine does on a stream.
        ``strategy=None`` replays the market alone. ``progress(rows done)`` is called now and then."""
        n = len(events)
        if n == 0:
            return
        import numpy as np

        tick_f, step_f = float(self.tick), float(self.qty_step)

        def columns(lo: int, hi: int) -> Any:
            # A chunk's columns as Python lists (iterating numpy scalars is slow), prices and sizes in
            # ticks and lot steps by numpy: a chunk at a time, so memory holds one chunk's objects.
            rows = events[lo:hi]
            kinds = rows["kind"]
            book_or_trade = (kinds >= BID) & (kinds <= TRADE_SELL)
            px, qty = rows["px"], rows["qty"]
            return zip(kinds.tolist(), rows["flags"].tolist(), (rows["local_ts"] // 1_000_000).tolist(),
                       np.rint(np.where(book_or_trade, px, 0.0) / tick_f).astype(np.int64).tolist(),
                       np.rint(np.where(book_or_trade, qty, 0.0) / step_f).astype(np.int64).tolist(),
                       px.tolist(), qty.tolist())

        first_ms = int(events["local_ts"][0]) // 1_000_000
        self.strategy = strategy
        self._interval_ms = interval_ms
        feed = self.latency.feed_ms()
        half_tick = 0.5 * float(self.tick)
        bids, asks = self.bids, self.asks
        bid_ticks, ask_ticks = self._bid_ticks, self._ask_ticks
        my_bids, my_asks = self._bids, self._asks
        queue = self.queue
        view = self._view
        requests = self._requests
        self._next_decision = first_ms if strategy is not None else _NEVER
        next_due = self._next_due()
        bb, ba = self.bid_tick, self.ask_tick
        seen_bb, seen_ba = bb, ba
        on_book = strategy.on_book if strategy is not None else None
        on_trade = strategy.on_trade if strategy is not None else None
        on_update = requote_ms is not None and strategy is not None
        requote = requote_ms or 0
        # Locals, not module globals, in the loop (a global lookup per row costs more than the work).
        _BID, _ASK, _BUY, _SELL, _CLEAR, _MARK, _FUND, _LAST = BID, ASK, TRADE_BUY, TRADE_SELL, BOOK_CLEAR, MARK, FUNDING, FLAG_LAST
        for done in range(0, n, _CHUNK):
            if progress is not None:
                progress(done)
            for k, f, t, tk, st, p, q in columns(done, done + _CHUNK):
                if t > next_due:
                    # Everything due before this row: the strategy's view, requests, decisions, funding.
                    self.bid_tick, self.ask_tick = bb, ba
                    next_due = self._run_due(t)
                if k == _BID:
                    if st > 0:
                        bids[tk] = st
                        if tk > bb:
                            bb = tk
                    elif bids.pop(tk, None) is not None and tk == bb:
                        # the next best is almost always a tick or two away
                        lo = tk - 64
                        nxt = tk - 1
                        while nxt > lo and nxt not in bids:
                            nxt -= 1
                        bb = nxt if nxt > lo else (max(bids) if bids else 0)
                    if bid_ticks and tk in bid_ticks:
                        self._depth(my_bids, tk, st)
                elif k == _ASK:
                    if st > 0:
                        asks[tk] = st
                        if tk < ba or ba == 0:
                            ba = tk
                    elif asks.pop(tk, None) is not None and tk == ba:
                        hi = tk + 64
                        nxt = tk + 1
                        while nxt < hi and nxt not in asks:
                            nxt += 1
                        ba = nxt if nxt < hi else (min(asks) if asks else 0)
                    if ask_ticks and tk in ask_ticks:
                        self._depth(my_asks, tk, st)
                elif k == _SELL or k == _BUY:
                    mine = my_bids if k == _SELL else my_asks
                    if mine and (mine[0].tick >= tk if k == _SELL else mine[0].tick <= tk):
                        self.now_ms = t
                        self.bid_tick, self.ask_tick = bb, ba
                        match_print(mine, tk, max(1, st), t, queue, self._maker_fill)
                    if on_trade is not None:
                        if feed:
                            view.append((t + feed, 1, k == _BUY, 0, p))
                            if t + feed < next_due:
                                next_due = t + feed
                        else:
                            on_trade(t, p, k == _BUY)
                elif k == _CLEAR:
                    bids.clear()
                    asks.clear()
                    bb = ba = 0
                elif k == _MARK:
                    self.mark = p
                    self.mark_rows = True
                    if self._liq_at is not None:
                        self.now_ms = t
                        self._check_liquidation(t)
                elif k == _FUND:
                    self.funding_rows = True
                    self.funding_rate = p
                    nxt = int(q) // 1_000_000
                    if nxt == 0:  # no time given: the instrument's next funding boundary
                        every = self.instrument.funding_interval_min * 60_000
                        nxt = t - t % every + every
                    if nxt > t and nxt != self.next_funding_ms:
                        self.next_funding_ms = nxt
                        if nxt - 1 < next_due:
                            next_due = nxt - 1
                if f & _LAST:
                    if bb != seen_bb or ba != seen_ba:
                        seen_bb, seen_ba = bb, ba
                        if not self.mark_rows and bb and ba:
                            self.mark = (bb + ba) * half_tick
                            if self._liq_at is not None:
                                self.now_ms = t
                                self.bid_tick, self.ask_tick = bb, ba
                                self._check_liquidation(t)
                        if on_book is not None:
                            if feed:
                                view.append((t + feed, 0, bb, ba, 0.0))
                                if t + feed < next_due:
                                    next_due = t + feed
                            else:
                                on_book(t, bb, ba)
                    if on_update and not requests and t >= self._busy_until and t >= self._last_decision + requote:
                        self.now_ms = t
                        self.bid_tick, self.ask_tick = bb, ba
                        self._decide(t)
                        self._next_decision = max(t + self._interval_ms, self._busy_until)
                        next_due = self._next_due()
        self.bid_tick, self.ask_tick = bb, ba
        self.events += n
        # What is still in flight at the end of the data acts at its time (no new decisions).
        end = int(events["local_ts"][n - 1]) // 1_000_000
        while view:
            due, what, a, b, p = view.popleft()
            if what == 0:
                on_book(due, a, b)  # type: ignore[misc]
            else:
                on_trade(due, p, a)  # type: ignore[misc]
        while requests:
            due, req = requests.popleft()
            self.now_ms = max(due, end)
            req(self.now_ms)
        if progress is not None:
            progress(n)

    def _next_due(self) -> int:
        view, requests = self._view, self._requests
        return min(self._next_decision, self.next_funding_ms - 1, view[0][0] if view else _NEVER,
                   requests[0][0] if requests else _NEVER)

    def _decide(self, now: int) -> None:
        lat = self.latency
        rtt = lat.entry_ms() + lat.response_ms()
        entry = lat.entry_ms()
        self._last_decision = now
        sent = self.strategy.decide(now)  # type: ignore[union-attr]
        for j, req in enumerate(sent):
            self._requests.append((now + j * rtt + entry, req))
        self._busy_until = now + len(sent) * rtt

    def _run_due(self, t: int) -> int:
        """Run, in time order, what falls due before a row stamped ``t``; returns the next due time."""
        view, requests = self._view, self._requests
        strategy = self.strategy
        while True:
            due = self._next_decision
            which = 0
            if view and view[0][0] <= due:
                due, which = view[0][0], 1
            if requests and requests[0][0] < due:
                due, which = requests[0][0], 2
            if self.next_funding_ms <= due:  # funding at T settles before the rows stamped T
                due, which = self.next_funding_ms - 1, 3
            if due >= t:
                return due
            self.now_ms = due
            if which == 1:
                _, what, a, b, p = view.popleft()
                if what == 0:
                    strategy.on_book(due, a, b)  # type: ignore[union-attr]
                else:
                    strategy.on_trade(due, p, a)  # type: ignore[union-attr]
            elif which == 2:
                requests.popleft()[1](due)
            elif which == 3:
                self.now_ms = due + 1
                self._settle_funding(due + 1)
            else:
                self._decide(due)
                self._next_decision = max(due + self._interval_ms, self._busy_until)

    # --- market views ---------------------------------------------------------------------------

    def mark_decimal(self) -> Decimal:
        """The mark as a Decimal on the tick grid (the mid of the touch without MARK rows)."""
        if not self.mark_rows and self.bid_tick and self.ask_tick:
            return self._decimals.mid(self.bid_tick + self.ask_tick)
        if self.mark is None:
            raise SimError(10016, f"no market data for {self.symbol} yet")
        return Decimal(repr(self.mark))

    def _marks(self) -> dict[str, Decimal]:
        return {self.symbol: self.mark_decimal()}

    def displayed(self, side: Side, tick: int) -> int:
        """Replayed size (lot steps) at ``tick`` on ``side`` of the book."""
        return (self.bids if side is Side.BUY else self.asks).get(tick, 0)

    # --- account views --------------------------------------------------------------------------

    def order_im(self) -> Decimal:
        """Margin our live non-reduce-only orders hold (remembered per orders and position: quotes
        come back to the same prices)."""
        live = [o for o in self._live() if not o.reduce_only]
        if not live:
            return ZERO
        # The orders' own Decimals (their hashes are kept), not their leaves made afresh.
        key = (tuple((o.side, o.tick, o.qty, o.filled) for o in live), self.ledger.positions[self.symbol].qty)
        got = self._order_im.get(key)
        if got is None:
            if len(self._order_im) >= 4096:
                self._order_im.clear()
            got = self._order_im[key] = self.ledger.order_cost(self.symbol, [(o.side, o.leaves, o.price) for o in live])
        return got

    def available(self) -> Decimal:
        """The wallet's available balance (``wallet().available_balance``) alone: the free margin
        (kept while fills and funding leave it as it is, on an isolated position) less the order margin."""
        return max(ZERO, self._free_margin() - self.order_im())

    def _free_margin(self) -> Decimal:
        ledger = self.ledger
        if ledger.margin_mode[self.symbol] != "isolated":
            return ledger.free_margin(self._marks())
        pos = ledger.positions[self.symbol]
        key = (ledger.balance, pos.qty, pos.entry_price)
        if key != self._free_key:
            self._free_key = key
            # Isolated: the position margin is on the entry price, whatever the mark.
            self._free = ledger.free_margin(self._marks())
            self._free_f = float(self._free)
        return self._free

    def wallet(self) -> WalletView:
        """The USDT wallet, as the sim reports it."""
        return self.ledger.wallet_view(self._marks(), self.order_im())

    def open_orders(self) -> list[SimOrder]:
        """Our live orders, oldest first."""
        return [o.view() for o in self._live()]

    def _live(self) -> list[OrderRecord]:
        out = self._bids + self._asks
        out.sort(key=lambda r: r.seq)
        return out

    # --- orders ---------------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._id_seq += 1
        return new_id(self.id_salt, self._id_seq)

    def _find(self, order_id: str) -> OrderRecord:
        o = self._orders.get(order_id)
        if o is None or not o.is_live:
            raise SimError(E.ORDER_NOT_EXISTS, "order not exists or too late to replace")
        return o

    def _check(self, side: Side, qty: Decimal, price: Decimal, exclude: OrderRecord | None) -> None:
        validate_size(self.instrument, qty, price)
        live = [(o.side, o.leaves, o.price) for o in self._live() if o is not exclude and not o.reduce_only]
        self.ledger.check_order(self.symbol, side, qty, price, {self.symbol: live}, self._marks(),
                                self.bid_tick * self.tick)

    def _crosses(self, o: OrderRecord) -> bool:
        if o.side is Side.BUY:
            return self.ask_tick > 0 and o.tick >= self.ask_tick
        return self.bid_tick > 0 and o.tick <= self.bid_tick

    def _rest(self, o: OrderRecord) -> None:
        """Rest ``o`` at its tick (joining the queue there), or move it there if it rests already."""
        if o.side is Side.BUY:
            book, ticks, displayed = self._bids, self._bid_ticks, self.bids
        else:
            book, ticks, displayed = self._asks, self._ask_ticks, self.asks
        self.queue.on_join(o, displayed.get(o.tick, 0))
        if o not in book:
            book.append(o)
        if len(book) > 1:
            book.sort(key=_bid_rank if book is self._bids else _ask_rank)
        ticks.clear()
        ticks.update([r.tick for r in book])

    def _unrest(self, o: OrderRecord) -> None:
        book, ticks = (self._bids, self._bid_ticks) if o.side is Side.BUY else (self._asks, self._ask_ticks)
        if o in book:
            book.remove(o)
            ticks.clear()
            ticks.update([r.tick for r in book])

    def _close(self, o: OrderRecord, status: str, reason: str) -> None:
        o.status, o.reject_reason, o.updated_ms = status, reason, self.now_ms
        self._unrest(o)

    def place_post_only(self, side: Side, price: Decimal, qty: Decimal, link_id: str) -> SimOrder:
        """A PostOnly limit order acting now: rests, or is Cancelled when it would take."""
        tick, steps = self._grid(price, qty)
        if tick is None or steps is None:
            self._check(side, qty, price, None)  # off the grid: the sim's error
        return self.place_ticks(side, tick, steps, link_id, price=price, qty=qty).view()  # type: ignore[arg-type]

    def place_ticks(self, side: Side, tick: int, steps: int, link_id: str, *, price: Decimal | None = None,
                    qty: Decimal | None = None) -> OrderRecord:
        """:meth:`place_post_only` of ``steps`` lot steps at ``tick`` ticks; the exchange's own record."""
        price = self.price_of(tick) if price is None else price
        qty = self.qty_of(steps) if qty is None else qty
        if not self._fits(side, tick, steps, None):
            self._check(side, qty, price, None)
        now = self.now_ms
        self._seq += 1
        o = OrderRecord(order_id=self._new_id(), order_link_id=link_id, symbol=self.symbol, side=side,
                        order_type="Limit", price=price, tick=tick, qty=qty,
                        time_in_force="PostOnly", reduce_only=False, created_ms=now, active_ms=now,
                        seq=self._seq)
        o.active = True
        self._orders[o.order_id] = o
        if link_id:
            self._by_link[link_id] = o.order_id
        if self._crosses(o):
            self._close(o, "Cancelled", "EC_PostOnlyWillTakeLiquidity")
        else:
            self._rest(o)
        return o

    def amend(self, order_id: str, price: Decimal | None, qty: Decimal | None) -> SimOrder:
        """Amend a live order as the sim does (a new price or a larger size loses the queue place)."""
        o = self._find(order_id)
        new_qty = o.qty if qty is None else qty
        new_price = o.price if price is None else price
        tick, steps = self._grid(new_price, new_qty)
        if tick is None or steps is None:
            check_amend(o, new_price, new_qty)
            self._check(o.side, new_qty - o.filled, new_price, o)  # off the grid: the sim's error
        return self.amend_ticks(order_id, tick, steps, price=new_price, qty=new_qty).view()  # type: ignore[arg-type]

    def amend_ticks(self, order_id: str, tick: int, steps: int, *, price: Decimal | None = None,
                    qty: Decimal | None = None) -> OrderRecord:
        """:meth:`amend` to ``tick`` ticks and a total of ``steps`` lot steps; the exchange's own record."""
        o = self._find(order_id)
        new_qty = self._decimals.qty(steps) if qty is None else qty
        new_price = self._decimals.price(tick) if price is None else price
        check_amend(o, new_price, new_qty)
        filled = int(o.filled / self.qty_step) if o.filled else 0
        if not self._fits(o.side, tick, steps - filled, o):
            self._check(o.side, new_qty - o.filled, new_price, o)
        requeue = new_price != o.price or new_qty > o.qty
        o.qty, o.price, o.tick, o.updated_ms = new_qty, new_price, tick, self.now_ms
        if self._crosses(o):
            self._close(o, "Cancelled", "EC_PostOnlyWillTakeLiquidity")
            return o
        ahead = o.queue_ahead
        self._rest(o)
        if not requeue:
            o.queue_ahead = ahead
        return o

    def _grid(self, price: Decimal, qty: Decimal) -> tuple[int | None, int | None]:
        """``price`` in ticks and ``qty`` in lot steps (None: not on the grid)."""
        tick, off = divmod(price, self.tick)
        steps, off_q = divmod(qty, self.qty_step)
        return (int(tick) if not off else None), (int(steps) if not off_q else None)

    def price_of(self, tick: int) -> Decimal:
        """``tick`` ticks as a price."""
        return self._decimals.price(tick)

    def qty_of(self, steps: int) -> Decimal:
        """``steps`` lot steps as a quantity, on the step."""
        return self._decimals.qty(steps)

    def _fits(self, side: Side, tick: int, steps: int, exclude: OrderRecord | None) -> bool:
        """Whether an order of ``steps`` at ``tick`` certainly passes :meth:`_check` (the size rules in
        integers, the risk limit and margin on float bounds far from their limits). False: the
        exact check decides."""
        lim = self._limits
        if not (lim[0] <= steps <= lim[1] and lim[2] <= tick <= lim[3] and steps * tick >= lim[4]):
            return False
        pos = self.ledger.positions[self.symbol]
        # Our other live orders: their value per side (in ticks x base units), and on this side
        # their sizes and highest price.
        size = steps * self._step_f
        top = max(tick, self.bid_tick)
        values = []
        for book, book_side in ((self._bids, Side.BUY), (self._asks, Side.SELL)):
            mine = book_side is side
            value = 0.0
            for o in book:
                if o is not exclude and not o.reduce_only:
                    leaves = float(o.leaves)
                    value += leaves * o.tick
                    if mine:
                        size += leaves
                        top = max(top, o.tick)
            if mine:
                value += steps * self._step_f * tick
            values.append(value)
        value_buy, value_sell = values
        # Risk limit: the position value the fills could leave is at most every size involved at the
        # highest price involved (a crossing sell fills at up to the best bid).
        if ((abs(float(pos.qty)) + size) * max(top * self._tick_f, float(pos.entry_price)) * (1.0 + 1e-9)
                >= self._cap_f):
            return False
        # Margin: the ledger's float bound of the order margin (each order's whole value at the
        # highest cost per value), against the free margin.
        bound = max(value_buy, value_sell) * self._tick_f * self._im_per_value * (1.0 + 1e-9)
        return bound < self._free_margin_f()

    def _free_margin_f(self) -> float:
        """The ledger's free margin as a float."""
        if self.ledger.margin_mode[self.symbol] != "isolated":
            return float(self._free_margin())
        self._free_margin()
        return self._free_f

    def cancel(self, order_id: str) -> SimOrder:
        """Cancel a live order; 110001 if it is gone."""
        o = self._find(order_id)
        self._close(o, "Cancelled", "EC_PerCancelRequest")
        return o.view()

    def cancel_all(self) -> list[SimOrder]:
        """Cancel every live order."""
        out = []
        for o in self._live():
            self._close(o, "Cancelled", "EC_PerCancelRequest")
            out.append(o.view())
        return out

    def market_reduce(self, side: Side, qty: Decimal, link_id: str) -> SimOrder:
        """A reduce-only market (IOC) order: walks the replayed book up to the position's size."""
        pos = self.ledger.positions[self.symbol]
        if not pos.qty or (pos.qty > 0) == (side is Side.BUY):
            raise SimError(E.REDUCE_ONLY_RULE, "current position is zero, cannot fix reduce-only order qty")
        qty = min(qty, pos.size)
        now = self.now_ms
        self._seq += 1
        o = OrderRecord(order_id=self._new_id(), order_link_id=link_id, symbol=self.symbol, side=side,
                        order_type="Market", price=ZERO, tick=0, qty=qty, time_in_force="IOC",
                        reduce_only=True, created_ms=now, active_ms=now, seq=self._seq)
        o.active = True
        self._orders[o.order_id] = o
        book = self.asks if side is Side.BUY else self.bids
        levels = sorted(book, reverse=side is Side.SELL)
        for tk in levels:
            left = o.leaves
            if left <= 0:
                break
            take = min(left, book[tk] * self.qty_step)
            self._fill(o, take, tk * self.tick, False)
        o.status = "Filled" if o.filled >= o.qty else "Cancelled"
        return o.view()

    # --- fills, funding, liquidation ------------------------------------------------------------

    def _depth(self, resting: list[OrderRecord], tick: int, steps: int) -> None:
        for o in resting:
            if o.tick == tick:
                self.queue.on_depth(o, steps)

    def _maker_fill(self, o: OrderRecord, steps: int) -> int:
        step = self.qty_step
        n = min(steps, int(o.leaves / step))
        if n <= 0:
            return 0
        self._fill(o, n * step, o.price, True)
        if o.filled >= o.qty:
            o.status = "Filled"
            self._unrest(o)
        else:
            o.status = "PartiallyFilled"
        return n

    def _fill(self, o: OrderRecord, qty: Decimal, price: Decimal, maker: bool) -> None:
        rate = self.maker_fee if maker else self.taker_fee
        now = self.now_ms
        effect = self.ledger.fill(self.symbol, o.side, qty, price, rate, now)
        o.filled += qty
        o.value += qty * price
        o.updated_ms = now
        self._position_changed()
        self._emit(Execution(self._new_id(), o.order_id, o.order_link_id, self.symbol, o.side, price, qty,
                             effect.fee, rate, maker, now, "Trade", effect.closed_qty, effect.realized_pnl))

    def _emit(self, ex: Execution) -> None:
        if self.strategy is not None:
            self.strategy.on_execution(ex)

    def _position_changed(self) -> None:
        pos = self.ledger.positions[self.symbol]
        if not pos.qty:
            self._liq_at = None
            return
        cached = self.ledger.isolated_liq(self.symbol)
        if cached is not None:
            self._liq_at = float(cached[0])
        else:
            view = self.ledger.position_view(self.symbol, self.mark_decimal(), self._marks())
            self._liq_at = float(view.liq_price) if view.liq_price is not None else None

    def _check_liquidation(self, ts: int) -> None:
        liq = self._liq_at
        mark = self.mark
        pos = self.ledger.positions[self.symbol]
        if liq is None or mark is None or not pos.qty:
            return
        # Floats first (cheap); the domain decides on Decimals when the mark is near the price.
        if (mark > liq * 1.0001) if pos.qty > 0 else (mark < liq * 0.9999):
            return
        mark_d = self.mark_decimal()
        if self.ledger.isolated_liq(self.symbol) is not None:
            if not is_liquidated(pos.side, mark_d, self.ledger.isolated_liq(self.symbol)[0]):  # type: ignore[index]
                return
            for o in self._live():
                self._close(o, "Cancelled", "EC_Others")
            before, bust, effect = self.ledger.liquidate_isolated(self.symbol, ts)
            self._bust(before.qty, bust, effect, ts)
        elif self.ledger.cross_at_risk(self._marks()):
            for o in self._live():
                self._close(o, "Cancelled", "EC_Others")
            for _, before, bust, effect in self.ledger.liquidate_cross(self._marks(), ts):
                self._bust(before.qty, bust, effect, ts)
        else:
            self._position_changed()  # a cross price moves with the wallet: refresh it

    def _bust(self, qty: Decimal, price: Decimal, effect: FillEffect, ts: int) -> None:
        """A BustTrade execution as the sim records it (taker, the fee to close charged)."""
        self.liquidations += 1
        self._liq_at = None
        close = Side.SELL if qty > 0 else Side.BUY
        self._emit(Execution(self._new_id(), self._new_id(), "", self.symbol, close, price, abs(qty), effect.fee,
                             self.ledger.taker_rate, False, ts, "BustTrade", abs(qty), effect.realized_pnl))

    def _settle_funding(self, ts: int) -> None:
        rate = Decimal(repr(self.funding_rate))
        self.next_funding_ms = _NEVER
        pos = self.ledger.positions[self.symbol]
        if not pos.qty or self.mark is None:
            return
        mark = self.mark_decimal()
        paid = self.ledger.fund(self.symbol, mark, rate, ts)
        self.fundings += 1
        side = Side.BUY if pos.qty > 0 else Side.SELL
        self._emit(Execution(self._new_id(), "", "", self.symbol, side, mark, pos.size, paid, rate, False, ts,
                             "Funding", ZERO))
        if self._liq_at is not None and self.ledger.isolated_liq(self.symbol) is None:
            self._position_changed()
