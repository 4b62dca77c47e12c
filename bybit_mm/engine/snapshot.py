"""What the engine publishes: a frozen snapshot per iteration and the run's summary.

The UI renders the latest snapshot; ``--json`` prints ``to_dict()`` as JSON lines. Prices and
money are Decimals (JSON numbers on output); ``None`` means not known yet.

The trading PnL is split (:func:`pnl_split`) so that, exactly (capture and adverse selection are
measured in floats and rounded to 10^-12 USDT; the ledger's figures are its exact Decimals)::

    total_pnl = spread_capture - adverse_selection + inventory_pnl - fees - funding

- ``spread_capture``: each of our quotes' fills against the mid at the fill's time,
  ``(mid - price) x qty`` for a buy, ``(price - mid) x qty`` for a sell;
- ``adverse_selection``: what the mid did against those fills within 60 s,
  ``capture - markout_60s`` (a cost: positive when the fills were picked off);
- ``inventory_pnl``: the rest of the trading PnL (realised + unrealised - capture + adverse
  selection): holding the position beyond 60 s, forced closes, and fills whose 60 s had not passed;
- ``fees`` (negative: rebates) and ``funding`` (negative: received) as paid.

Each also in bps of the traded notional (``*_bps``); markouts at 1, 10 and 60 s in notional-weighted
bps with the number of fills resolved (``markout_60s_fills`` of ``attributed_fills``; the others were
too close to the end). See :mod:`bybit_mm.engine.attribution`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from decimal import Context, Decimal
from typing import Any

from bybit_mm.engine.attribution import HORIZONS_S

#: Capture and adverse selection (float measurements) are rounded to this in the split.
ROUNDING = Decimal("1e-12")
#: Enough digits for the split's sums to be exact (the ledger's Decimals have at most 28).
_EXACT = Context(prec=100)


@dataclass(frozen=True)
class PnlSplit:
    """The trading PnL split (see the module docstring); money in USDT."""

    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    spread_capture: Decimal
    adverse_selection: Decimal
    inventory_pnl: Decimal
    total_pnl: Decimal
    #: Traded notional (all fills) and the bps of it of each term.
    notional: Decimal
    bps: dict[str, float | None]
    #: Fills with a mid at their time; per horizon (s): markout (USDT, bps) and fills resolved.
    attributed_fills: int
    markouts: dict[int, tuple[float, float | None, int]]


def _money(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(ROUNDING, context=_EXACT) + 0  # + 0: no "-0"


def pnl_split(ledger: Any, mark: Decimal) -> PnlSplit:
    """The PnL split of ``ledger`` (an engine Ledger) with its position valued at ``mark``."""
    L, att = ledger, ledger.attribution
    realized, unrealized, fees, funding = L.realized_pnl, L.unrealized(mark), L.fees, L.funding
    capture, adverse = _money(att.capture), _money(att.adverse)
    add, sub = _EXACT.add, _EXACT.subtract
    trading = add(realized, unrealized)
    inventory = add(sub(trading, capture), adverse)
    total = sub(sub(trading, fees), funding)
    notional = L.notional
    per = 1e4 / float(notional) if notional else None

    def bps(x: Decimal) -> float | None:
        return None if per is None else round(float(x) * per, 4)

    return PnlSplit(
        realized_pnl=realized, unrealized_pnl=unrealized, fees=fees, funding=funding, spread_capture=capture,
        adverse_selection=adverse, inventory_pnl=inventory, total_pnl=total, notional=notional,
        bps={"spread_capture": bps(capture), "adverse_selection": bps(adverse), "inventory_pnl": bps(inventory),
             "fees": bps(fees), "funding": bps(funding), "total_pnl": bps(total)},
        attributed_fills=att.fills,
        markouts={h: (att.mk_usdt[j], att.markout_bps(j), att.mk_fills[j]) for j, h in enumerate(att.horizons_s)})


def _markout_fields(split: PnlSplit) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for h in HORIZONS_S:
        usdt, bps, n = split.markouts.get(h, (0.0, None, 0))
        out[f"markout_{h}s"] = _money(usdt)
        out[f"markout_{h}s_bps"] = None if bps is None else round(bps, 4)
        out[f"markout_{h}s_fills"] = n
    return out


@dataclass(frozen=True)
class EngineSnapshot:
    """The engine's state after one iteration."""

    ts_ms: int
    symbol: str
    network: str
    status: str
    iteration: int
    elapsed_s: float
    #: Where market data came from: ``stream``, ``rest (fallback)`` (the stream failed) or ``rest``.
    feed: str = "rest"
    # market
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    mid: Decimal | None = None
    mark: Decimal | None = None
    tick: Decimal | None = None
    market_age_s: float | None = None
    # model
    model: str = ""
    reservation_price: float | None = None
    model_half_spread: float | None = None
    sigma: float | None = None
    k: float | None = None
    A: float | None = None
    skew: float | None = None
    inventory_q: float = 0.0
    # our quotes
    bid_price: Decimal | None = None
    bid_qty: Decimal | None = None
    ask_price: Decimal | None = None
    ask_qty: Decimal | None = None
    bid_from_touch_ticks: int | None = None
    ask_from_touch_ticks: int | None = None
    # position
    position_qty: Decimal = Decimal(0)
    entry_price: Decimal | None = None
    leverage: Decimal = Decimal(0)
    position_margin: Decimal = Decimal(0)
    liq_price: Decimal | None = None
    liq_distance_pct: Decimal | None = None
    liq_trigger_pct: Decimal | None = None
    liq_level: str = "flat"
    max_position: Decimal = Decimal(0)
    # money
    starting_balance: Decimal = Decimal(0)
    wallet_balance: Decimal = Decimal(0)
    equity: Decimal = Decimal(0)
    ledger_equity: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)
    spread_capture: Decimal = Decimal(0)
    adverse_selection: Decimal = Decimal(0)
    inventory_pnl: Decimal = Decimal(0)
    #: Traded notional (USDT) and notional-weighted markouts (bps; None: none resolved yet).
    notional: Decimal = Decimal(0)
    markout_1s_bps: float | None = None
    markout_10s_bps: float | None = None
    markout_60s_bps: float | None = None
    drawdown_pct: Decimal = Decimal(0)
    # activity
    fills: int = 0
    buy_fills: int = 0
    sell_fills: int = 0
    volume: Decimal = Decimal(0)
    orders_placed: int = 0
    orders_amended: int = 0
    orders_cancelled: int = 0
    orders_rejected: int = 0
    emergency_reduces: int = 0
    errors: int = 0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    max_abs_position: Decimal = Decimal(0)
    min_liq_distance_pct: Decimal | None = None
    liquidations: int = 0
    notes: tuple[str, ...] = ()
    stop_reason: str | None = None

    @property
    def total_pnl(self) -> Decimal:
        """Realised + unrealised - fees - funding."""
        return self.realized_pnl + self.unrealized_pnl - self.fees - self.funding

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (``type: snapshot``)."""
        out: dict[str, Any] = {"type": "snapshot"}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        out["total_pnl"] = self.total_pnl
        return out


@dataclass(frozen=True)
class RunSummary:
    """What a finished run did (printed at the end; the last JSON line with ``--json``).

    ``total_pnl = spread_capture - adverse_selection + inventory_pnl - fees - funding`` exactly
    (see the module docstring for each term)."""

    symbol: str
    network: str
    stop_reason: str
    fills: int
    buy_fills: int
    sell_fills: int
    maker_fills: int
    volume: Decimal
    notional: Decimal
    starting_balance: Decimal
    equity: Decimal
    wallet_balance: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    spread_capture: Decimal
    adverse_selection: Decimal
    inventory_pnl: Decimal
    total_pnl: Decimal
    spread_capture_bps: float | None
    adverse_selection_bps: float | None
    inventory_pnl_bps: float | None
    fees_bps: float | None
    funding_bps: float | None
    total_pnl_bps: float | None
    attributed_fills: int
    markout_1s: Decimal
    markout_1s_bps: float | None
    markout_1s_fills: int
    markout_10s: Decimal
    markout_10s_bps: float | None
    markout_10s_fills: int
    markout_60s: Decimal
    markout_60s_bps: float | None
    markout_60s_fills: int
    position_qty: Decimal
    max_abs_position: Decimal
    min_liq_distance_pct: Decimal | None
    liquidations: int
    emergency_reduces: int
    orders_placed: int
    orders_amended: int
    orders_cancelled: int
    orders_rejected: int
    errors: int
    cancelled_on_exit: int
    flattened: bool
    simulated_seconds: float
    started_ms: int
    ended_ms: int
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (``type: summary``)."""
        return {"type": "summary", **asdict(self)}


def summarize(ledger: Any, counters: dict[str, int], *, symbol: str, network: str, stop_reason: str,
              mark: Decimal, equity: Decimal | None, wallet_balance: Decimal | None, position_qty: Decimal,
              min_liq_distance_pct: Decimal | None, cancelled_on_exit: int, flattened: bool,
              started_ms: int, ended_ms: int, latency_p50_ms: float | None,
              latency_p99_ms: float | None) -> RunSummary:
    """A run's summary from the engine's ledger (``bybit_mm.engine.ledger.Ledger``) and counters;
    ``equity``/``wallet_balance`` as the exchange reports them (None: from the ledger at ``mark``).
    The run's attribution is finished at ``ended_ms`` (markouts its end did not reach stay unresolved)."""
    L = ledger
    L.attribution.finish(ended_ms)
    split = pnl_split(L, mark)
    unrealized = L.unrealized(mark)
    b = split.bps
    return RunSummary(
        symbol=symbol, network=network, stop_reason=stop_reason, fills=L.fills,
        buy_fills=L.buy_fills, sell_fills=L.sell_fills, maker_fills=L.maker_fills, volume=L.volume,
        notional=L.notional, starting_balance=L.starting_balance,
        equity=equity if equity is not None else L.equity(mark),
        wallet_balance=wallet_balance if wallet_balance is not None else L.equity(mark) - unrealized,
        realized_pnl=split.realized_pnl, unrealized_pnl=split.unrealized_pnl, fees=split.fees,
        funding=split.funding, spread_capture=split.spread_capture, adverse_selection=split.adverse_selection,
        inventory_pnl=split.inventory_pnl, total_pnl=split.total_pnl,
        spread_capture_bps=b["spread_capture"], adverse_selection_bps=b["adverse_selection"],
        inventory_pnl_bps=b["inventory_pnl"], fees_bps=b["fees"], funding_bps=b["funding"],
        total_pnl_bps=b["total_pnl"], attributed_fills=split.attributed_fills, **_markout_fields(split),
        position_qty=position_qty, max_abs_position=L.max_abs_position,
        min_liq_distance_pct=min_liq_distance_pct,
        liquidations=counters["liquidations"], emergency_reduces=counters["reduces"],
        orders_placed=counters["placed"], orders_amended=counters["amended"],
        orders_cancelled=counters["cancelled"], orders_rejected=counters["rejected"],
        errors=counters["errors"], cancelled_on_exit=cancelled_on_exit, flattened=flattened,
        simulated_seconds=(ended_ms - started_ms) / 1000, started_ms=started_ms, ended_ms=ended_ms,
        latency_p50_ms=latency_p50_ms, latency_p99_ms=latency_p99_ms,
    )
