"""The endpoint table: path → HTTP method, handler, and whether it is private and changes state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bybit_mm.emulator import account, dcp, market, trading
from bybit_mm.emulator.context import HandlerContext
from bybit_mm.emulator.params import Params

Handler = Callable[[HandlerContext, Params], Any]


@dataclass(frozen=True)
class Route:
    """One V5 endpoint."""

    method: str
    handler: Handler
    private: bool
    #: True when the request changes account state (faults may hit before or after applying it).
    mutating: bool = False


ROUTES: dict[str, Route] = {
    # public market data
    "/v5/market/time": Route("GET", market.server_time, private=False),
    "/v5/market/instruments-info": Route("GET", market.instruments_info, private=False),
    "/v5/market/tickers": Route("GET", market.tickers, private=False),
    "/v5/market/orderbook": Route("GET", market.orderbook, private=False),
    "/v5/market/recent-trade": Route("GET", market.recent_trades, private=False),
    "/v5/market/kline": Route("GET", market.kline, private=False),
    "/v5/market/risk-limit": Route("GET", market.risk_limit, private=False),
    "/v5/market/funding/history": Route("GET", market.funding_history, private=False),
    # orders and executions
    "/v5/order/create": Route("POST", trading.create, private=True, mutating=True),
    "/v5/order/amend": Route("POST", trading.amend, private=True, mutating=True),
    "/v5/order/cancel": Route("POST", trading.cancel, private=True, mutating=True),
    "/v5/order/cancel-all": Route("POST", trading.cancel_all, private=True, mutating=True),
    "/v5/order/disconnected-cancel-all": Route("POST", dcp.set_window, private=True, mutating=True),
    "/v5/order/realtime": Route("GET", trading.realtime, private=True),
    "/v5/order/history": Route("GET", trading.history, private=True),
    "/v5/execution/list": Route("GET", trading.executions, private=True),
    # positions and account
    "/v5/position/list": Route("GET", account.positions, private=True),
    "/v5/position/set-leverage": Route("POST", account.set_leverage, private=True, mutating=True),
    "/v5/position/switch-isolated": Route("POST", account.switch_isolated, private=True, mutating=True),
    "/v5/account/set-margin-mode": Route("POST", account.set_margin_mode, private=True, mutating=True),
    "/v5/account/wallet-balance": Route("GET", account.wallet_balance, private=True),
    "/v5/account/fee-rate": Route("GET", account.fee_rate, private=True),
    "/v5/account/info": Route("GET", account.account_info, private=True),
    "/v5/user/query-api": Route("GET", account.query_api, private=True),
}
