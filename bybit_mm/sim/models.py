"""Values the simulated exchange hands out: market data, orders, executions, positions, events.

All frozen; prices and quantities are Decimals, times are epoch milliseconds. Field names follow
Bybit V5 in snake_case so the emulator can map them one to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Union

from bybit_mm.domain.orders import Side

BookLevel = tuple[Decimal, Decimal]

OrderType = Literal["Limit", "Market"]
TimeInForce = Literal["GTC", "IOC", "FOK", "PostOnly"]
OrderStatus = Literal["New", "PartiallyFilled", "Filled", "Cancelled", "Rejected",
                      "PartiallyFilledCanceled", "Deactivated"]
ExecType = Literal["Trade", "Funding", "BustTrade"]

#: Statuses of live orders (the ones ``open_orders`` lists and amend/cancel act on).
LIVE_STATUSES = frozenset({"New", "PartiallyFilled"})


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade; ``side`` is the taker's side."""

    trade_id: str
    symbol: str
    ts_ms: int
    price: Decimal
    qty: Decimal
    side: Side
    #: The market's trade sequence number (Bybit's cross sequence ``seq``; 0 when unknown).
    seq: int = 0


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """An L2 order book: bids best (highest) first, asks best (lowest) first."""

    symbol: str
    ts_ms: int
    update_id: int
    seq: int
    bids: list[BookLevel]
    asks: list[BookLevel]


@dataclass(frozen=True, slots=True)
class Ticker:
    """The 24-hour ticker with mark/index prices and funding."""

    symbol: str
    ts_ms: int
    last: Decimal
    mark: Decimal
    index: Decimal
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal
    funding_rate: Decimal
    next_funding_ms: int
    high_24h: Decimal
    low_24h: Decimal
    prev_price_24h: Decimal
    volume_24h: Decimal
    turnover_24h: Decimal
    open_interest: Decimal
    #: The price an hour ago (the open of that minute's candle; the oldest we have if younger).
    prev_price_1h: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Kline:
    """One candle of last-trade prices; ``volume`` in base coin, ``turnover`` in USDT."""

    start_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    turnover: Decimal


@dataclass(frozen=True, slots=True)
class SimOrder:
    """An order of ours as the exchange reports it (a snapshot; the exchange keeps the live one)."""

    order_id: str
    order_link_id: str
    symbol: str
    side: Side
    order_type: str
    price: Decimal
    qty: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None
    time_in_force: str
    reduce_only: bool
    status: str
    reject_reason: str
    created_ms: int
    updated_ms: int
    #: Bybit's ``createType``: ``CreateByUser``, or ``CreateByTakeProfit``/``CreateByStopLoss`` for an
    #: order a position's take-profit/stop-loss placed when it triggered.
    create_type: str = "CreateByUser"
    #: Bybit's ``stopOrderType``: "" for plain orders, ``TakeProfit``/``StopLoss`` for triggered ones.
    stop_order_type: str = ""

    @property
    def leaves_qty(self) -> Decimal:
        """Quantity still open (0 once the order is closed)."""
        return self.qty - self.filled_qty if self.status in LIVE_STATUSES else Decimal(0)

    @property
    def is_live(self) -> bool:
        """True while the order can still fill (New or PartiallyFilled)."""
        return self.status in LIVE_STATUSES


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill of ours, a funding payment (``exec_type="Funding"``) or a liquidation (``BustTrade``).

    ``fee`` is what was charged (negative = rebate; for Funding, the funding paid, negative =
    received); ``closed_size`` is the part of ``qty`` that reduced a position.
    """

    exec_id: str
    order_id: str
    order_link_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_rate: Decimal
    is_maker: bool
    ts_ms: int
    exec_type: str
    closed_size: Decimal
    #: Realised PnL of the closed part, before fees (0 for opening fills and funding).
    realised_pnl: Decimal = Decimal(0)
    #: The symbol's mark price when it happened (None when unknown, e.g. a reloaded account).
    mark_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PositionView:
    """A position as ``/v5/position/list`` shows it; flat positions have side "" and size 0."""

    symbol: str
    side: str
    size: Decimal
    entry_price: Decimal
    mark_price: Decimal
    leverage: Decimal
    margin_mode: str
    liq_price: Decimal | None
    bust_price: Decimal | None
    position_im: Decimal
    position_mm: Decimal
    position_value: Decimal
    unrealised_pnl: Decimal
    cum_realised_pnl: Decimal
    risk_limit_value: Decimal
    updated_ms: int
    #: The realised PnL of the position held now (fees and funding included; 0 when flat).
    cur_realised_pnl: Decimal = Decimal(0)
    #: When the position held now was opened (0 when flat).
    open_ms: int = 0
    #: The position's take-profit / stop-loss (None when not set) and the price each triggers on.
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    tp_trigger_by: str = ""
    sl_trigger_by: str = ""


@dataclass(frozen=True, slots=True)
class TradingStop:
    """A position's take-profit and stop-loss (tpslMode Full: the whole position closes at market).

    ``*_trigger_by`` is Bybit's ``LastPrice``, ``MarkPrice`` or ``IndexPrice``.
    """

    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    tp_trigger_by: str = "LastPrice"
    sl_trigger_by: str = "LastPrice"


@dataclass(frozen=True, slots=True)
class WalletView:
    """The USDT wallet of the (unified) account."""

    wallet_balance: Decimal
    equity: Decimal
    available_balance: Decimal
    total_initial_margin: Decimal
    total_maintenance_margin: Decimal
    unrealised_pnl: Decimal
    cum_realised_pnl: Decimal
    total_order_im: Decimal


# --- events returned by SimExchange.advance() -------------------------------------------------

@dataclass(frozen=True, slots=True)
class TradeEvent:
    """A public trade printed by the synthetic market."""

    trade: Trade


@dataclass(frozen=True, slots=True)
class FillEvent:
    """One of our orders filled (partly)."""

    execution: Execution


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One of our orders changed status, quantity or price."""

    order: SimOrder


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A position changed (fill, funding is not a change of position, liquidation)."""

    position: PositionView


@dataclass(frozen=True, slots=True)
class FundingEvent:
    """A funding settlement; ``payment`` > 0 means we paid."""

    symbol: str
    ts_ms: int
    rate: Decimal
    mark: Decimal
    payment: Decimal


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    """A position was liquidated by the mark price and closed at the bankruptcy price."""

    symbol: str
    ts_ms: int
    side: str
    qty: Decimal
    mark_price: Decimal
    bust_price: Decimal
    loss: Decimal


Event = Union[TradeEvent, FillEvent, OrderUpdate, PositionUpdate, FundingEvent,
              LiquidationEvent]
