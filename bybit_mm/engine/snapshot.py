"""What the engine publishes: a frozen snapshot per iteration and the run's summary.

The UI renders the latest snapshot; ``--json`` prints ``to_dict()`` as JSON lines. Prices and
money are Decimals (JSON numbers on output); ``None`` means not known yet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any


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
    spread_pnl: Decimal = Decimal(0)
    inventory_pnl: Decimal = Decimal(0)
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
    """What a finished run did (printed at the end; the last JSON line with ``--json``)."""

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
    spread_pnl: Decimal
    inventory_pnl: Decimal
    total_pnl: Decimal
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
    ``equity``/``wallet_balance`` as the exchange reports them (None: from the ledger at ``mark``)."""
    L = ledger
    unrealized = L.unrealized(mark)
    return RunSummary(
        symbol=symbol, network=network, stop_reason=stop_reason, fills=L.fills,
        buy_fills=L.buy_fills, sell_fills=L.sell_fills, maker_fills=L.maker_fills, volume=L.volume,
        notional=L.notional, starting_balance=L.starting_balance,
        equity=equity if equity is not None else L.equity(mark),
        wallet_balance=wallet_balance if wallet_balance is not None else L.equity(mark) - unrealized,
        realized_pnl=L.realized_pnl, unrealized_pnl=unrealized, fees=L.fees, funding=L.funding,
        spread_pnl=L.spread_capture, inventory_pnl=L.inventory_pnl(mark),
        total_pnl=L.realized_pnl + unrealized - L.fees - L.funding,
        position_qty=position_qty, max_abs_position=L.max_abs_position,
        min_liq_distance_pct=min_liq_distance_pct,
        liquidations=counters["liquidations"], emergency_reduces=counters["reduces"],
        orders_placed=counters["placed"], orders_amended=counters["amended"],
        orders_cancelled=counters["cancelled"], orders_rejected=counters["rejected"],
        errors=counters["errors"], cancelled_on_exit=cancelled_on_exit, flattened=flattened,
        simulated_seconds=(ended_ms - started_ms) / 1000, started_ms=started_ms, ended_ms=ended_ms,
        latency_p50_ms=latency_p50_ms, latency_p99_ms=latency_p99_ms,
    )
