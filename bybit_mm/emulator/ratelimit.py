"""Bybit's rate limits: per API key and endpoint per second, and per IP per 5 seconds.

Per-endpoint limits (category linear, UTA 2.0 Pro, docs v5/rate-limit "API Rate Limit Table"):
order create / amend / cancel / cancel-all, their batch forms, set-leverage and trading-stop 10/s;
realtime orders, positions, executions, order history 50/s; fee-rate and coin info 5/s.
Over the limit Bybit answers HTTP 200 with retCode 10006; every private response carries
``X-Bapi-Limit`` (the limit), ``X-Bapi-Limit-Status`` (remaining) and
``X-Bapi-Limit-Reset-Timestamp`` (ms when the window resets once exceeded, else the current time);
public responses carry the IP window's. Over the IP limit (600 requests / 5 s) Bybit answers
HTTP 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bybit_mm.emulator.auth import wall_ms

#: Requests per second per API key, by path; private paths not listed use the method default.
ENDPOINT_LIMITS: dict[str, int] = {
    "/v5/order/create": 10,
    "/v5/order/amend": 10,
    "/v5/order/cancel": 10,
    "/v5/order/cancel-all": 10,
    "/v5/order/create-batch": 10,
    "/v5/order/amend-batch": 10,
    "/v5/order/cancel-batch": 10,
    "/v5/position/set-leverage": 10,
    "/v5/position/switch-isolated": 10,
    "/v5/position/switch-mode": 10,
    "/v5/position/trading-stop": 10,
    "/v5/account/set-margin-mode": 5,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/position/list": 50,
    "/v5/position/closed-pnl": 50,
    "/v5/execution/list": 50,
    "/v5/account/wallet-balance": 50,
    "/v5/account/transaction-log": 25,
    "/v5/account/fee-rate": 5,
    "/v5/account/info": 50,
    "/v5/asset/coin/query-info": 5,
    "/v5/user/query-api": 10,
}
DEFAULT_GET_LIMIT = 50
DEFAULT_POST_LIMIT = 10
IP_LIMIT = 600
IP_WINDOW_MS = 5000


def endpoint_limit(method: str, path: str) -> int:
    """Requests per second allowed on this private endpoint."""
    return ENDPOINT_LIMITS.get(path, DEFAULT_GET_LIMIT if method == "GET" else DEFAULT_POST_LIMIT)


@dataclass
class LimitStatus:
    """The outcome of one request against its window, as the ``X-Bapi-Limit*`` headers show it."""

    allowed: bool
    limit: int
    remaining: int
    reset_ms: int

    def headers(self) -> dict[str, str]:
        """The three ``X-Bapi-Limit*`` response headers."""
        return {"X-Bapi-Limit": str(self.limit), "X-Bapi-Limit-Status": str(self.remaining),
                "X-Bapi-Limit-Reset-Timestamp": str(self.reset_ms)}


class _Window:
    __slots__ = ("start", "count")

    def __init__(self, start: int) -> None:
        self.start = start
        self.count = 0


class RateLimiter:
    """Fixed windows per (API key, path) and per IP, on real time (injectable for tests)."""

    def __init__(self, *, now_ms: Callable[[], int] = wall_ms, enabled: bool = True) -> None:
        self._now_ms = now_ms
        self.enabled = enabled
        self._endpoint: dict[tuple[str, str], _Window] = {}
        self._ip: dict[str, _Window] = {}

    def _hit(self, table: dict, key: object, span_ms: int, limit: int) -> LimitStatus:
        now = self._now_ms()
        w = table.get(key)
        if w is None or now >= w.start + span_ms:
            w = table[key] = _Window(now)
        if w.count >= limit and self.enabled:
            return LimitStatus(False, limit, 0, w.start + span_ms)
        w.count += 1
        # docs v5/rate-limit: the reset timestamp is when the limit resets once exceeded,
        # "otherwise, this is just the current timestamp".
        return LimitStatus(True, limit, max(limit - w.count, 0), now)

    def check_endpoint(self, api_key: str, method: str, path: str) -> LimitStatus:
        """Count one private request; ``allowed`` is False when over the per-second limit."""
        return self._hit(self._endpoint, (api_key, path), 1000, endpoint_limit(method, path))

    def check_ip(self, ip: str) -> LimitStatus:
        """Count one request from ``ip``; ``allowed`` is False when over 600 per 5 s."""
        return self._hit(self._ip, ip, IP_WINDOW_MS, IP_LIMIT)
