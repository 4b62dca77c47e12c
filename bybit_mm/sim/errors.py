"""The simulated exchange's REST-level rejections, carrying Bybit's V5 retCode and a Bybit-like retMsg.

``SimError`` is what a real Bybit answers with a non-zero retCode; the emulator sends it on the
wire, the paper client translates it into the project's error tree (see :func:`to_project_error`).
"""

from __future__ import annotations

from bybit_mm.errors import (
    BybitMMError,
    InsufficientMargin,
    OrderRejected,
    RiskLimitError,
    UsageError,
)

PARAMS_ERROR = 10001
ORDER_NOT_EXISTS = 110001
PRICE_OUT_OF_RANGE = 110003
INSUFFICIENT_AVAILABLE = 110007
LEVERAGE_RISK_LIMIT = 110013  # "cannot set leverage [..] gt maxLeverage [..] by risk limit"
REDUCE_ONLY_RULE = 110017
MARGIN_MODE_NOT_MODIFIED = 110026
LEVERAGE_NOT_MODIFIED = 110043
INSUFFICIENT_MARGIN = 110044
DUPLICATE_ORDER_LINK_ID = 110072
RISK_LIMIT_EXCEEDED = 110090  # position would exceed the max position value at this leverage
NOTIONAL_TOO_SMALL = 110094
TOO_MANY_ORDERS = 110020


class SimError(Exception):
    """A rejection as Bybit would answer it: ``ret_code`` (retCode) and ``message`` (retMsg)."""

    def __init__(self, ret_code: int, message: str) -> None:
        super().__init__(f"{message} (retCode {ret_code})")
        self.ret_code = ret_code
        self.message = message


def to_project_error(e: SimError) -> BybitMMError:
    """The project's error for a sim rejection (for in-process adapters), keeping the retCode."""
    if e.ret_code in (INSUFFICIENT_AVAILABLE, INSUFFICIENT_MARGIN):
        return InsufficientMargin(e.message, ret_code=e.ret_code)
    if e.ret_code in (LEVERAGE_RISK_LIMIT, RISK_LIMIT_EXCEEDED):
        return RiskLimitError(e.message, ret_code=e.ret_code)
    if e.ret_code == PARAMS_ERROR:
        return UsageError(e.message, ret_code=e.ret_code)
    return OrderRejected(e.message, ret_code=e.ret_code)
