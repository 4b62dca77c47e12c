"""The live form of `bybit-mm quote SYMBOL`: read the market, estimate, quote with A&S and GLFT.

From the symbol's book and recent trades (through the profile's client: a live network, the
emulator or the paper sim) it estimates volatility (of the trade prices and book mids) and the
arrival intensity ``lambda(delta) = A exp(-k delta)`` (distance of each trade from the mid
prevailing when it printed; that mid is rebuilt from the latest buy- and sell-taker prints), then
shows both models' quotes for the current inventory next to the touch. ``--watch`` follows the
public WebSocket streams (REST polling as the fallback), refining the estimates and redrawing in
place with rich Live (or a JSON line per refresh, saying which ``feed`` it came from).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybit_mm.domain.orders import Side

if TYPE_CHECKING:
    from bybit_mm.cli.context import AppContext
    from bybit_mm.domain.instruments import Instrument
    from bybit_mm.exchange.port import FuturesClient, OrderBook, PublicTrade
    from bybit_mm.exchange.stream import MarketStream
    from bybit_mm.quoting.estimators import IntensityEstimator, VolatilityEstimator


@dataclass
class MarketEstimates:
    """Rolling estimators fed from polled trades and books."""

    vol: VolatilityEstimator
    intensity: IntensityEstimator
    seen: set[str] = field(default_factory=set)
    last_buy: float | None = None
    last_sell: float | None = None

    @classmethod
    def for_instrument(cls, inst: Instrument, *, vol_window_s: float, intensity_window_s: float) -> MarketEstimates:
        """Estimators with thresholds low enough for one snapshot of recent trades."""
        from bybit_mm.quoting.estimators import IntensityEstimator, VolatilityEstimator

        return cls(vol=VolatilityEstimator(vol_window_s, min_updates=10, min_span_s=1.0, stale_after_s=None),
                   intensity=IntensityEstimator(float(inst.tick_size), window_s=intensity_window_s,
                                                n_levels=30, min_trades=20, min_levels=3, min_level_trades=3,
                                                min_span_s=1.0))

    def feed(self, trades: list[PublicTrade], book: OrderBook) -> None:
        """Add trades not seen yet (oldest first) and the book's mid."""
        for t in trades:
            if t.trade_id in self.seen:
                continue
            self.seen.add(t.trade_id)
            price = float(t.price)
            mid = self._mid(price)
            self.vol.update(t.ts_ms, price)
            self.intensity.on_trade(t.ts_ms, price, mid, t.side is Side.BUY)
            if t.side is Side.BUY:
                self.last_buy = price
            else:
                self.last_sell = price
        if len(self.seen) > 20_000:
            self.seen = {t.trade_id for t in trades}
        if book.mid is not None:
            self.vol.update(book.ts_ms, float(book.mid))
            self.intensity.observe(book.ts_ms)

    def _mid(self, price: float) -> float:
        if self.last_buy is not None and self.last_sell is not None:
            return (self.last_buy + self.last_sell) / 2
        return price


async def snapshot(client: FuturesClient, app: AppContext, symbol: str, est: MarketEstimates | None,
                   inst: Instrument) -> tuple[dict[str, Any], MarketEstimates]:
    """Poll the market once, update the estimates and compute both models' quotes."""
    settings = app.profile.quoting
    if est is None:
        est = MarketEstimates.for_instrument(inst, vol_window_s=settings.vol_window_s,
                                             intensity_window_s=settings.intensity_window_s)
    book = await client.order_book(symbol, 25)
    trades = await client.recent_trades(symbol, 1000)
    positions = await client.positions(symbol)
    fees = await client.fee_rates(symbol)
    est.feed(trades, book)
    position = positions[0].signed_qty if positions else Decimal(0)
    entry = positions[0].entry_price if positions else None
    return compute(app, symbol, inst, book, position, est, maker_fee=float(fees.maker), entry_price=entry), est


#: What `quote` says when the model's half-spread is below the maker fee (a round trip of two maker
#: fills then costs more than the spread it earns against the mid).
BELOW_BREAK_EVEN = "at these fees the model's edge is below break-even"


def compute(app: AppContext, symbol: str, inst: Instrument, book: OrderBook, position: Decimal,
            est: MarketEstimates, *, maker_fee: float = 0.0, entry_price: Decimal | None = None) -> dict[str, Any]:
    """The `quote --json` document for one market state.

    ``below_break_even``: the chosen model's half-spread (bps of the mid) is below the maker fee,
    the break-even of a round trip of two maker fills against the mid; the quotes the engine sends
    are widened to the fee floor, so their edge then comes from the floor, not the model.
    """
    from bybit_mm.errors import ExchangeUnavailable
    from bybit_mm.quoting.models import model_for, risk_quote
    from bybit_mm.quoting.orders import shape_orders

    settings = app.profile.quoting
    if book.mid is None:
        raise ExchangeUnavailable(f"{symbol}: the order book is empty on one side; cannot quote")
    mid = float(book.mid)
    tick = inst.tick_size
    order_qty = (Decimal(str(settings.order_notional)) / book.mid // inst.qty_step) * inst.qty_step
    sigma = est.vol.sigma()
    fit = est.intensity.fit()
    models: dict[str, Any] = {}
    for name in ("as", "glft"):
        entry: dict[str, Any] = {"model": name, "reservation_price": None, "bid": None, "ask": None,
                                 "bid_on_tick": None, "ask_on_tick": None, "spread": None, "skew": None,
                                 "half_spread_bps": None, "below_break_even": None, "notes": []}
        if sigma is not None and fit is not None:
            # As the engine quotes: bps of the mid, inventory and order size in USDT.
            res = risk_quote(model_for(name), mid, float(position) * mid, float(order_qty or inst.qty_step) * mid,
                             sigma, settings.risk_aversion, fit.k, fit.A, settings.horizon_s)
            shaped = shape_orders(res, tick=tick, order_qty=order_qty or inst.qty_step, qty_step=inst.qty_step,
                                  position=position, best_bid=book.best_bid, best_ask=book.best_ask,
                                  maker_fee=maker_fee, entry_price=entry_price)
            entry.update(reservation_price=res.reservation_price, bid=res.bid, ask=res.ask,
                         bid_on_tick=shaped.bid_price, ask_on_tick=shaped.ask_price, spread=res.spread,
                         skew=res.skew, half_spread_bps=res.half_spread / mid * 1e4,
                         below_break_even=res.half_spread / mid < maker_fee, notes=list(shaped.notes))
        models[name] = entry
    chosen = models[settings.model]
    below = chosen["below_break_even"]
    return {
        "symbol": symbol, "ts_ms": book.ts_ms, "model": settings.model,
        "horizon": f"rolling, tau = {settings.horizon_s:g} s" if settings.model == "as" else "infinite (GLFT)",
        "bid": chosen["bid"], "ask": chosen["ask"], "reservation_price": chosen["reservation_price"],
        "bid_on_tick": chosen["bid_on_tick"], "ask_on_tick": chosen["ask_on_tick"],
        "best_bid": book.best_bid, "best_ask": book.best_ask, "mid": mid,
        "sigma": sigma, "k": fit.k if fit else None, "A": fit.A if fit else None,
        "risk_aversion": settings.risk_aversion, "tau": settings.horizon_s, "position": position,
        "entry_price": entry_price, "order_qty": order_qty, "inventory_usdt": float(position) * mid,
        "maker_fee": maker_fee, "break_even_half_spread_bps": maker_fee * 1e4,
        "below_break_even": below, "verdict": BELOW_BREAK_EVEN if below else None,
        "trades_used": est.intensity.trades, "ready": sigma is not None and fit is not None,
        "models": models,
    }


def render(doc: dict[str, Any]) -> Any:
    """A rich table of both models next to the touch."""
    from rich.table import Table

    from bybit_mm.ui.format import number

    def f(value: Any, digits: int = 2) -> str:
        return number(value, digits, missing="-")

    title = (f"{doc['symbol']} quotes  (sigma {f(doc['sigma'], 4)}/sqrt(s), k {f(doc['k'], 4)}, "
             f"A {f(doc['A'], 3)}/s, risk_aversion {doc['risk_aversion']:g}, "
             f"inventory {doc['inventory_usdt']:,.0f} USDT)")
    table = Table(title=title, title_justify="left")
    for col in ("", "bid", "ask", "reservation", "spread", "skew"):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row("market touch", f(doc["best_bid"]), f(doc["best_ask"]), f(doc["mid"]),
                  f(Decimal(doc["best_ask"]) - Decimal(doc["best_bid"])), "")
    for name, label in (("as", "A-S"), ("glft", "GLFT")):
        m = doc["models"][name]
        table.add_row(label + (" *" if name == doc["model"] else ""), f(m["bid_on_tick"]), f(m["ask_on_tick"]),
                      f(m["reservation_price"]), f(m["spread"]), f(m["skew"]))
    if not doc["ready"]:
        table.caption = "estimates not ready yet (too few trades); --watch keeps collecting"
    else:
        half = doc["models"][doc["model"]]["half_spread_bps"]
        fee = doc["break_even_half_spread_bps"]
        table.caption = (f"{BELOW_BREAK_EVEN}: half-spread {half:.2f} bps < maker fee {fee:.2f} bps (the engine "
                         f"widens to the fee floor)" if doc["below_break_even"]
                         else f"half-spread {half:.2f} bps >= maker fee {fee:.2f} bps")
    return table


def run_live_quote(app: AppContext, symbol: str | None, watch: bool, as_json: bool,
                   interval_s: float = 2.0, *, stream: bool = True, min_refresh_s: float = 0.25,
                   max_refreshes: int | None = None) -> None:
    """Quote ``symbol`` (default: the profile's) from the live market; ``watch`` refreshes in place.

    A watch follows the network's public WebSocket streams (``stream``): it refreshes on book and
    trade updates, at most once per ``min_refresh_s`` (and at least every ``interval_s``); when the
    stream cannot be had or is unhealthy it polls REST every ``interval_s``. Each JSON line says
    which in ``feed``. ``max_refreshes`` ends a watch after that many refreshes (tests).
    """
    import asyncio

    from bybit_mm.cli.clients import open_client

    sym = (symbol or app.profile.market.symbol).strip().upper()

    async def main() -> None:
        async with open_client(app) as client:
            inst = await client.instrument(sym)
            doc, est = await snapshot(client, app, sym, None, inst)
            if not watch:
                if as_json:
                    app.terminal.json(doc)
                else:
                    app.terminal.out.print(render(doc))
                    if not doc["ready"]:
                        app.terminal.warn("not enough recent trades to estimate volatility and intensity")
                return
            market = await _open_stream(app, sym) if stream and _streamable(app) else None
            watcher = _Watcher(client, app, sym, inst, est, market, interval_s=interval_s,
                               min_refresh_s=min_refresh_s)
            doc["feed"] = watcher.feed()
            try:
                if as_json:
                    app.terminal.json(doc, lines=True)
                    n = 0
                    while max_refreshes is None or n < max_refreshes:
                        app.terminal.json(await watcher.next(), lines=True)
                        n += 1
                    return
                from rich.live import Live

                with Live(render(doc), console=app.terminal.out, refresh_per_second=4, transient=False) as live:
                    n = 0
                    while max_refreshes is None or n < max_refreshes:
                        live.update(render(await watcher.next()))
                        n += 1
            finally:
                if market is not None:
                    await market.close()

    asyncio.run(main())  # Ctrl-C ends a watch as it ends any command: exit 130 (README)


def _streamable(app: AppContext) -> bool:
    """A real network (or a paper account on one) has public streams; the synthetic market has not."""
    profile = app.profile
    return not profile.is_paper or profile.paper.market == "live"


async def _open_stream(app: AppContext, symbol: str) -> MarketStream | None:
    """The profile network's public stream for ``symbol``, or None (with a warning) when unreachable."""
    from bybit_mm.errors import BybitMMError
    from bybit_mm.exchange.ccxt_stream import CcxtMarketStream

    st = CcxtMarketStream.from_profile(app.profile, symbol, ready_timeout_s=5.0)
    try:
        await st.start()
    except BybitMMError as e:
        app.terminal.warn(f"market stream unavailable, polling REST: {e.one_line()}")
        # The watchers (if any) keep trying: the watch switches to the stream once it is healthy.
    return st


class _Watcher:
    """The next refreshed `quote` document, from the stream when it is healthy, else from REST."""

    def __init__(self, client: FuturesClient, app: AppContext, symbol: str, inst: Instrument,
                 est: MarketEstimates, market: MarketStream | None, *, interval_s: float,
                 min_refresh_s: float) -> None:
        import time

        self.client, self.app, self.symbol, self.inst, self.est = client, app, symbol, inst, est
        self.market = market
        self.interval_s = interval_s
        self.min_refresh_s = min_refresh_s
        self._monotonic = time.monotonic
        self._last = self._monotonic()
        self._position: Decimal = Decimal(0)
        self._entry: Decimal | None = None
        self._position_at = -1e18
        self._maker_fee: float | None = None

    def feed(self) -> str:
        """``stream``, ``rest (fallback)`` or ``rest`` (no stream asked for)."""
        from bybit_mm.exchange.stream import FEED_FALLBACK, FEED_REST, FEED_STREAM

        if self.market is None:
            return FEED_REST
        return FEED_STREAM if self.market.healthy else FEED_FALLBACK

    async def next(self) -> dict[str, Any]:
        """Wait for the next refresh and return its document."""
        import asyncio

        st = self.market
        if st is None or not st.healthy:
            await asyncio.sleep(self.interval_s)
            doc, self.est = await snapshot(self.client, self.app, self.symbol, self.est, self.inst)
            self._last = self._monotonic()
            doc["feed"] = self.feed()
            return doc
        # Until a book update or trades (or interval_s without any), then no sooner than min_refresh_s.
        deadline = self._last + self.interval_s
        while True:
            ev = await st.next_event(max(0.0, deadline - self._monotonic()))
            if ev is None or ev.kind in ("book", "trades", "status"):
                break
        wait = self._last + self.min_refresh_s - self._monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        while await st.next_event(0) is not None:  # what came meanwhile is in this refresh
            pass
        book = st.book()
        if book is None or not st.healthy:
            return await self.next()
        now = self._monotonic()
        if now - self._position_at >= self.interval_s or self._maker_fee is None:
            positions = await self.client.positions(self.symbol)
            self._position = positions[0].signed_qty if positions else Decimal(0)
            self._entry = positions[0].entry_price if positions else None
            if self._maker_fee is None:
                self._maker_fee = float((await self.client.fee_rates(self.symbol)).maker)
            self._position_at = now
        self.est.feed(st.recent_trades(), book)
        self._last = self._monotonic()
        doc = compute(self.app, self.symbol, self.inst, book, self._position, self.est, maker_fee=self._maker_fee,
                      entry_price=self._entry)
        doc["feed"] = self.feed()
        return doc
