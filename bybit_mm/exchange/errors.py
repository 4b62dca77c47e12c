"""Bybit retCodes → the project's error tree, in one table shared by both adapters.

Pure (no ccxt): the ccxt adapter parses the retCode out of the vendor exception and calls
:func:`error_for_ret_code`; the paper adapter does the same with the sim's ``SimError``.
"""

from __future__ import annotations

from bybit_mm.errors import (
    AuthError,
    BybitMMError,
    ExchangeUnavailable,
    InsufficientMargin,
    OrderRejected,
    RateLimited,
    RiskLimitError,
    UsageError,
)

# Bybit V5 retCodes (https://bybit-exchange.github.io/docs/v5/error).
PARAMS_ERROR = 10001
TIMESTAMP_EXPIRED = 10002
INVALID_API_KEY = 10003
INVALID_SIGN = 10004
PERMISSION_DENIED = 10005
TOO_MANY_VISITS = 10006
SERVER_ERROR = 10016
ORDER_NOT_EXISTS = 110001
LEVERAGE_ABOVE_MAX = 110013
MARGIN_MODE_NOT_MODIFIED = 110026
LEVERAGE_NOT_MODIFIED = 110043
DUPLICATE_ORDER_LINK_ID = 110072

AUTH_CODES = frozenset({INVALID_API_KEY, INVALID_SIGN, PERMISSION_DENIED, 10007, 10008, 10009, 10010,
                        33004})
RATE_LIMIT_CODES = frozenset({TOO_MANY_VISITS, 10018})
#: Codes after which the request was not applied (or may have been) and a retry can succeed.
TRANSIENT_CODES = frozenset({10000, SERVER_ERROR, 10019}) | RATE_LIMIT_CODES
MARGIN_CODES = frozenset({110004, 110006, 110007, 110012, 110044, 110045, 110051, 110052})
RISK_LIMIT_CODES = frozenset({110016, 110040, 110090})
USAGE_CODES = frozenset({PARAMS_ERROR, LEVERAGE_ABOVE_MAX, 110027, 110028, 110029, 110030})
#: "Nothing to change" answers that mean the requested state is already in place.
NOT_MODIFIED_CODES = frozenset({LEVERAGE_NOT_MODIFIED, MARGIN_MODE_NOT_MODIFIED})


class OrderNotFound(OrderRejected):
    """The exchange does not know the order (Bybit 110001), e.g. cancelling one already closed."""


def error_for_ret_code(ret_code: int, message: str) -> BybitMMError:
    """The project's error for a Bybit answer with a non-zero ``ret_code`` and its retMsg."""
    text = message or "Bybit refused the request"
    if ret_code in AUTH_CODES:
        return AuthError(f"Bybit refused the API key: {text}",
                         hint="check the key, the secret, its permissions and IP whitelist",
                         ret_code=ret_code)
    if ret_code in RATE_LIMIT_CODES:
        return RateLimited(f"Bybit rate limit exceeded: {text}", hint="wait a moment and retry",
                           ret_code=ret_code)
    if ret_code == TIMESTAMP_EXPIRED:
        return ExchangeUnavailable(f"request timestamp rejected: {text}",
                                   hint="check that this machine's clock is synchronised (NTP)",
                                   ret_code=ret_code)
    if ret_code in TRANSIENT_CODES:
        return ExchangeUnavailable(f"Bybit is temporarily unavailable: {text}", hint="retry later",
                                   ret_code=ret_code)
    if ret_code in MARGIN_CODES:
        return InsufficientMargin(f"insufficient margin: {text}", ret_code=ret_code)
    if ret_code in RISK_LIMIT_CODES:
        return RiskLimitError(f"risk limit: {text}", ret_code=ret_code)
    if ret_code in USAGE_CODES:
        return UsageError(f"Bybit rejected the request parameters: {text}", ret_code=ret_code)
    if ret_code == ORDER_NOT_EXISTS:
        return OrderNotFound(f"order not found: {text}", ret_code=ret_code)
    return OrderRejected(f"Bybit rejected the request: {text}", ret_code=ret_code)


def is_transient(ret_code: int | None) -> bool:
    """Whether a request answered with ``ret_code`` may succeed when retried."""
    return ret_code is not None and (ret_code in TRANSIENT_CODES or ret_code == TIMESTAMP_EXPIRED)
