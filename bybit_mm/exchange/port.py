"""The one client interface every command and the engine use, and its result types.

Two adapters implement :class:`FuturesClient`: ``BybitFuturesClient`` (ccxt; mainnet, testnet,
demo or the local emulator) and ``DryRunFuturesClient`` (the ``sim`` core in-process, a paper
account persisted in the data dir). Results are our own frozen dataclasses with ``Decimal``
prices and sizes, never vendor dicts. Timestamps are epoch milliseconds. Sides use
:class:`bybit_mm.domain.orders.Side` (``Buy`` / ``Sell``, Bybit's spelling).

Errors are raised from the project's tree (:mod:`bybit_mm.errors`): ``AuthError``,
``ExchangeUnavailable`` / ``RateLimited``, ``OrderRejected`` / ``InsufficientMargin``,
``UsageError`` for requests the exchange calls invalid (``ret_code`` keeps Bybit's retCode).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from bybit_mm.domain.orders import Side

if TYPE_CHECKING:
    from bybit_mm.domain.instruments import Instrument

OrderType = Literal["Limit", "Market"]
TimeInForce = Literal["GTC", "IOC", "FOK", "PostOnly"]
OrderStatus = Literal["new", "partially_filled", "filled", "cancelled", "rejected"]
MarginMode = Literal["isolated", "cross"]
PositionSide = Literal["long", "short", "flat"]

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Ticker:
    """Last, mark and index prices, the touch, and funding."""

    symbol: str
    ts_ms: int
    last: Decimal
    mark: Decimal
    index: Decimal
    bid: Decimal
    ask: Decimal
    funding_rate: Decimal
    next_funding_ms: int


@dataclass(frozen=True)
class OrderBook:
    """An L2 snapshot: ``bids`` best (highest) first, ``asks`` best (lowest) first."""

    symbol: str
    ts_ms: int
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]

    @property
    def best_bid(self) -> Decimal | None:
        """Highest bid price, or None on an empty side."""
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        """Lowest ask price, or None on an empty side."""
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        """Mid of the touch, or None when either side is empty."""
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2


@dataclass(frozen=True)
class PublicTrade:
    """A trade printed on the market; ``side`` is the taker's side."""

    trade_id: str
    symbol: str
    ts_ms: int
    price: Decimal
    qty: Decimal
    side: Side


@dataclass(frozen=True)
class PositionInfo:
    """One position as the exchange reports it (``size`` is absolute; ``side`` says which way)."""

    symbol: str
    side: PositionSide
    size: Decimal
    entry_price: Decimal
    mark_price: Decimal
    liquidation_price: Decimal | None
    bankruptcy_price: Decimal | None
    leverage: Decimal
    margin_mode: MarginMode
    position_margin: Decimal
    maintenance_margin: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    updated_ms: int = 0

    @property
    def signed_qty(self) -> Decimal:
        """Size with a sign: positive long, negative short."""
        return -self.size if self.side == "short" else self.size

    @property
    def liq_distance_pct(self) -> Decimal | None:
        """Distance from mark to the liquidation price, in percent of mark (None if no liq price)."""
        if self.liquidation_price is None or not self.mark_price:
            return None
        gap = (self.mark_price - self.liquidation_price) if self.side == "long" else (
            self.liquidation_price - self.mark_price)
        return gap / self.mark_price * _HUNDRED

    @property
    def roi_pct(self) -> Decimal | None:
        """Unrealised PnL in percent of the position margin."""
        if not self.position_margin:
            return None
        return self.unrealized_pnl / self.position_margin * _HUNDRED


@dataclass(frozen=True)
class Balance:
    """USDT wallet: balance (realised), equity (with unrealised PnL) and what is free for orders."""

    wallet_balance: Decimal
    equity: Decimal
    available: Decimal
    unrealized_pnl: Decimal
    position_margin: Decimal = Decimal(0)
    order_margin: Decimal = Decimal(0)
    currency: str = "USDT"


@dataclass(frozen=True)
class FeeRates:
    """The account's maker and taker rates for a symbol (fractions; negative maker = rebate)."""

    symbol: str
    maker: Decimal
    taker: Decimal


@dataclass(frozen=True)
class OrderInfo:
    """An order and its state."""

    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    price: Decimal | None
    qty: Decimal
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    status: OrderStatus
    time_in_force: TimeInForce
    reduce_only: bool
    reject_reason: str = ""
    created_ms: int = 0
    updated_ms: int = 0

    @property
    def is_open(self) -> bool:
        """True while the order can still fill."""
        return self.status in ("new", "partially_filled")

    @property
    def remaining_qty(self) -> Decimal:
        """Quantity not yet filled."""
        return self.qty - self.filled_qty


#: What an execution is (Bybit's ``execType``, see :func:`exec_type_from_bybit`):
#:
#: - ``trade``: a fill of one of our orders (Bybit ``Trade``; also ``BlockTrade``, ``MovePosition``).
#: - ``funding``: a funding settlement of the open position (``Funding``): no order; ``side`` and
#:   ``qty`` are the position's, ``price`` is the mark, ``fee`` the funding paid (negative: received).
#: - ``liquidation``: the exchange took the position over at the bankruptcy price (``BustTrade``).
#: - ``adl``: auto-deleveraging closed (part of) the position (``AdlTrade``).
#: - ``settle``: a delisting or delivery closed the position (``Settle``, ``Delivery``).
#:
#: Every type but ``funding`` changes the position like a fill.
ExecType = Literal["trade", "funding", "liquidation", "adl", "settle"]

_BYBIT_EXEC_TYPES: dict[str, ExecType] = {
    "Trade": "trade", "Funding": "funding", "BustTrade": "liquidation", "AdlTrade": "adl",
    "Settle": "settle", "Delivery": "settle",
}


def exec_type_from_bybit(value: str | None) -> ExecType:
    """The port's exec type for Bybit's ``execType`` (missing or unknown types are trades)."""
    return _BYBIT_EXEC_TYPES.get(value or "Trade", "trade")


@dataclass(frozen=True)
class Execution:
    """One execution on our account: a fill of one of our orders, a funding settlement or a forced
    close (``exec_type``, see :data:`ExecType`). ``fee`` is negative for a maker rebate; for
    funding it is the funding paid (negative: received)."""

    exec_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    is_maker: bool
    ts_ms: int
    exec_type: ExecType = "trade"

    @property
    def is_funding(self) -> bool:
        """True for a funding settlement (which moves the wallet, not the position)."""
        return self.exec_type == "funding"


@runtime_checkable
class FuturesClient(Protocol):
    """What bybit-mm needs from an exchange account on Bybit USDT perpetuals (category linear)."""

    #: ``mainnet``, ``testnet``, ``demo``, ``emulator`` or ``paper``.
    network: str

    @property
    def is_mainnet(self) -> bool:
        """True when actions move real money (mainnet, live account)."""
        ...

    async def instrument(self, symbol: str) -> Instrument:
        """Tick size, lot rules, max leverage and the live risk-limit tiers of ``symbol``."""
        ...

    async def ticker(self, symbol: str) -> Ticker:
        """Last, mark, index, touch and funding."""
        ...

    async def order_book(self, symbol: str, depth: int = 25) -> OrderBook:
        """An L2 snapshot, ``depth`` levels a side."""
        ...

    async def recent_trades(self, symbol: str, limit: int = 100) -> list[PublicTrade]:
        """Recent public trades, oldest first."""
        ...

    async def positions(self, symbol: str | None = None) -> list[PositionInfo]:
        """Open (non-flat) positions, for one symbol or all."""
        ...

    async def balance(self) -> Balance:
        """The USDT wallet."""
        ...

    async def fee_rates(self, symbol: str) -> FeeRates:
        """The account's maker/taker rates for ``symbol``."""
        ...

    async def set_leverage(self, symbol: str, leverage: Decimal) -> bool:
        """Set leverage; False when it was already that value ("already set" is success)."""
        ...

    async def margin_mode(self, symbol: str) -> MarginMode:
        """The current margin mode for ``symbol``."""
        ...

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> bool:
        """Set the margin mode; False when it was already that mode."""
        ...

    async def place_order(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal | None = None,
        *,
        order_type: OrderType = "Limit",
        time_in_force: TimeInForce = "PostOnly",
        reduce_only: bool = False,
        client_order_id: str,
    ) -> OrderInfo:
        """Place an order. ``client_order_id`` (Bybit's orderLinkId) makes retries idempotent."""
        ...

    async def amend_order(
        self,
        symbol: str,
        *,
        order_id: str = "",
        client_order_id: str = "",
        price: Decimal | None = None,
        qty: Decimal | None = None,
    ) -> OrderInfo:
        """Change price and/or quantity of a working order in one request."""
        ...

    async def cancel_order(self, symbol: str, *, order_id: str = "", client_order_id: str = "") -> OrderInfo:
        """Cancel one order."""
        ...

    async def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel every working order (of ``symbol``, or all); returns how many were cancelled."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[OrderInfo]:
        """Working orders."""
        ...

    async def get_order(self, symbol: str, *, order_id: str = "", client_order_id: str = "") -> OrderInfo | None:
        """One order by id, open or recently closed; None when the exchange does not know it."""
        ...

    async def executions(self, symbol: str | None = None, *, since_ms: int | None = None,
                         limit: int = 100) -> list[Execution]:
        """Our executions (fills, funding settlements, liquidations), oldest first, optionally only
        those at or after ``since_ms``."""
        ...

    async def close_position(self, symbol: str) -> OrderInfo | None:
        """Flatten ``symbol`` with a reduce-only market order; None when already flat."""
        ...

    async def close(self) -> None:
        """Release connections and persist state."""
        ...
