"""Bybit V5 request signing (HMAC-SHA256), checked exactly as Bybit checks it.

Signed string: ``timestamp + api_key + recv_window + payload`` where payload is the raw query
string of a GET (as sent, not re-sorted) or the raw body of a POST; the signature is lowercase
hex. A request is fresh when ``server_time - recv_window <= timestamp < server_time + 1000``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

from bybit_mm.emulator.wire import ApiError

DEFAULT_RECV_WINDOW = 5000
#: How far in the future a client timestamp may be (Bybit: 1 s).
FUTURE_TOLERANCE_MS = 1000

INVALID_TIMESTAMP = 10002
INVALID_KEY = 10003
INVALID_SIGN = 10004


def sign(secret: str, timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    """The ``X-BAPI-SIGN`` header value for this request."""
    message = f"{timestamp}{api_key}{recv_window}{payload}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def wall_ms() -> int:
    """Real time in epoch milliseconds (what clients sign with)."""
    return int(time.time() * 1000)


class Authenticator:
    """Verifies the ``X-BAPI-*`` headers of private requests against known credentials."""

    def __init__(self, credentials: Mapping[str, str], *, now_ms: Callable[[], int] = wall_ms) -> None:
        self._credentials = dict(credentials)
        self._now_ms = now_ms

    def verify(self, headers: Mapping[str, str], payload: str) -> str:
        """The authenticated API key; ApiError 10003 / 10002 / 10004 otherwise."""
        api_key = headers.get("X-BAPI-API-KEY", "")
        secret = self._credentials.get(api_key) if api_key else None
        if secret is None:
            raise ApiError(INVALID_KEY, "API key is invalid.")
        timestamp = headers.get("X-BAPI-TIMESTAMP", "")
        recv_window = headers.get("X-BAPI-RECV-WINDOW", "")
        try:
            ts = int(timestamp)
            window = int(recv_window) if recv_window else DEFAULT_RECV_WINDOW
        except ValueError:
            raise ApiError(INVALID_TIMESTAMP, "invalid request, please check your server timestamp "
                                              "or recv_window param") from None
        now = self._now_ms()
        if not (now - window <= ts < now + FUTURE_TOLERANCE_MS):
            raise ApiError(INVALID_TIMESTAMP,
                           "invalid request, please check your server timestamp or recv_window param. "
                           f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{window}]")
        given = headers.get("X-BAPI-SIGN", "")
        expected = sign(secret, timestamp, api_key, recv_window, payload)
        if not hmac.compare_digest(given.lower().encode(), expected.encode()):
            raise ApiError(INVALID_SIGN, "Error sign, please check your signature generation algorithm.")
        return api_key
