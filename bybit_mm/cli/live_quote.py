"""The live form of `bybit-mm quote SYMBOL`: read the market, estimate, quote with A&S and GLFT.

From the symbol's book and recent trades (through the profile's client: a live network, the
emulator or the paper sim) it estimates volatility (of the trade prices and book mids) and the
arrival intensity ``lambda(delta) = A exp(-k delta)`` (distance of each trade from the mid
prevailing when it printed; that mid is rebuilt from the latest buy- and sell-taker prints), then
shows both models' quotes for the current inventory next to the touch. ``--watch`` keeps polling
and refining the estimates, redrawing in place with rich Live.
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
            self.intensity.on_trade(t.ts_ms, price, mid)
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
    return compute(app, symbol, inst, book, position, est, maker_fee=float(fees.maker)), est


def compute(app: AppContext, symbol: str, inst: Instrument, book: OrderBook, position: Decimal,
            est: MarketEstimates, *, maker_fee: float = 0.0) -> dict[str, Any]:
    """The `quote --json` document for one market state."""
    from bybit_mm.errors import ExchangeUnavailable
    from bybit_mm.quoting.models import model_for, quote_in_bps
    from bybit_mm.quoting.orders import shape_orders

    settings = app.profile.quoting
    if book.mid is None:
        raise ExchangeUnavailable(f"{symbol}: the order book is empty on one side; cannot quote")
    mid = float(book.mid)
    tick = inst.tick_size
    order_qty = (Decimal(str(settings.order_notional)) / book.mid // inst.qty_step) * inst.qty_step
    q = float(position / order_qty) if order_qty > 0 else 0.0
    sigma = est.vol.sigma()
    fit = est.intensity.fit()
    models: dict[str, Any] = {}
    for name in ("as", "glft"):
        entry: dict[str, Any] = {"model": name, "reservation_price": None, "bid": None, "ask": None,
                                 "bid_on_tick": None, "ask_on_tick": None, "spread": None, "skew": None}
        if sigma is not None and fit is not None:
            # In basis points of the mid, as the engine quotes: the profile's gamma is per bps.
            res = quote_in_bps(model_for(name), mid, q, sigma, settings.gamma, fit.k, fit.A, settings.horizon_s)
            shaped = shape_orders(res, tick=tick, order_qty=order_qty or inst.qty_step, qty_step=inst.qty_step,
                                  best_bid=book.best_bid, best_ask=book.best_ask, maker_fee=maker_fee)
            entry.update(reservation_price=res.reservation_price, bid=res.bid, ask=res.ask,
                         bid_on_tick=shaped.bid_price, ask_on_tick=shaped.ask_price, spread=res.spread,
                         skew=res.skew)
        models[name] = entry
    chosen = models[settings.model]
    return {
        "symbol": symbol, "ts_ms": book.ts_ms, "model": settings.model,
        "horizon": f"rolling, tau = {settings.horizon_s:g} s" if settings.model == "as" else "infinite (GLFT)",
        "bid": chosen["bid"], "ask": chosen["ask"], "reservation_price": chosen["reservation_price"],
        "bid_on_tick": chosen["bid_on_tick"], "ask_on_tick": chosen["ask_on_tick"],
        "best_bid": book.best_bid, "best_ask": book.best_ask, "mid": mid,
        "sigma": sigma, "k": fit.k if fit else None, "A": fit.A if fit else None,
        "gamma": settings.gamma, "tau": settings.horizon_s, "position": position, "order_qty": order_qty, "q": q,
        "trades_used": est.intensity.trades, "ready": sigma is not None and fit is not None,
        "models": models,
    }


def render(doc: dict[str, Any]) -> Any:
    """A rich table of both models next to the touch."""
    from rich.table import Table

    def f(value: Any, digits: int = 2) -> str:
        if value is None:
            return "-"
        return f"{float(value):,.{digits}f}"

    title = (f"{doc['symbol']} quotes  (sigma {f(doc['sigma'], 4)}/sqrt(s), k {f(doc['k'], 4)}, "
             f"A {f(doc['A'], 3)}/s, gamma {doc['gamma']:g}, q {doc['q']:.3g})")
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
    return table


def run_live_quote(app: AppContext, symbol: str | None, watch: bool, as_json: bool,
                   interval_s: float = 2.0) -> None:
    """Quote ``symbol`` (default: the profile's) from the live market; ``watch`` refreshes in place."""
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
            if as_json:
                while True:
                    app.terminal.json(doc, lines=True)
                    await asyncio.sleep(interval_s)
                    doc, est = await snapshot(client, app, sym, est, inst)
            from rich.live import Live

            with Live(render(doc), console=app.terminal.out, refresh_per_second=4, transient=False) as live:
                while True:
                    await asyncio.sleep(interval_s)
                    doc, est = await snapshot(client, app, sym, est, inst)
                    live.update(render(doc))

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        if not watch:  # Ctrl-C is how a watch ends: exit 0
            raise
