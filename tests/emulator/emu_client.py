"""Helpers for driving the emulator with the real ccxt client (real HTTP, real HMAC signatures).

``make_ccxt_bybit(url, key, secret)`` builds a ``ccxt.async_support.bybit`` pointed at any V5 URL
the way BYBIT.md §3 says (URLs mutated in place; linear markets only; no currency or
account-type probes). It lives with the tests, not in ``bybit_mm``: only the ccxt adapter may
import ccxt. Later tests import it with ``from emu_client import make_ccxt_bybit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bybit_mm.emulator.runner import EmulatorHandle

T = TypeVar("T")


def make_ccxt_bybit(url: str, api_key: str, api_secret: str, **config: Any) -> Any:
    """A ccxt async bybit client talking to ``url`` (an emulator or any Bybit V5 base URL)."""
    import ccxt.async_support as ccxt_async

    options = {"fetchMarkets": {"types": ["linear"]}, "enableUnifiedMargin": False,
               "enableUnifiedAccount": True, **config.pop("options", {})}
    exchange = ccxt_async.bybit({"apiKey": api_key, "secret": api_secret, "enableRateLimit": False,
                                 "timeout": 10_000, "options": options,
                                 "has": {"fetchCurrencies": False}, **config})
    for key in list(exchange.urls["api"]):
        exchange.urls["api"][key] = url  # in place: keeps the WebSocket URLs ccxt.pro needs
    return exchange


def run_with_client(emu: EmulatorHandle, scenario: Callable[[Any], Awaitable[T]], *,
                    secret: str | None = None, **config: Any) -> T:
    """Run ``scenario(client)`` to completion with a fresh ccxt client, closing it afterwards."""

    async def main() -> T:
        client = make_ccxt_bybit(emu.url, emu.api_key, secret if secret is not None else emu.api_secret,
                                 **config)
        try:
            return await scenario(client)
        finally:
            await client.close()

    return asyncio.run(main())


#: Ten simulated minutes of market history before a test starts trading.
WARM_UP_MS = 600_000
