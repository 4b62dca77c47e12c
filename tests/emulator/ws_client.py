"""Helpers for driving the emulator's WebSocket streams with ccxt.pro (real sockets, real auth).

``make_ccxt_pro_bybit(emu)`` builds a ``ccxt.pro.bybit`` whose REST URLs point at the emulator and
whose WebSocket URLs (``urls['api']['ws']``, mutated in place as ccxt.pro's ``describe()`` lays
them out) point at its ``/v5/public/linear`` and ``/v5/private`` paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bybit_mm.emulator.runner import EmulatorHandle

T = TypeVar("T")


def make_ccxt_pro_bybit(emu: EmulatorHandle, *, secret: str | None = None, **config: Any) -> Any:
    """A ccxt.pro bybit client on the emulator's REST and WebSocket endpoints."""
    import ccxt.pro as ccxt_pro

    options = {"fetchMarkets": {"types": ["linear"]}, "enableUnifiedMargin": False,
               "enableUnifiedAccount": True, **config.pop("options", {})}
    exchange = ccxt_pro.bybit({"apiKey": emu.api_key,
                               "secret": secret if secret is not None else emu.api_secret,
                               "enableRateLimit": False, "timeout": 10_000, "options": options,
                               "has": {"fetchCurrencies": False}, **config})
    api = exchange.urls["api"]
    for key in list(api):
        if key != "ws":
            api[key] = emu.url
    ws = api["ws"]
    for category in list(ws["public"]):
        ws["public"][category] = emu.ws_public_url
    ws["private"]["contract"] = emu.ws_private_url
    ws["private"]["spot"]["unified"] = emu.ws_private_url
    return exchange


def run_pro(emu: EmulatorHandle, scenario: Callable[[Any], Awaitable[T]], *, timeout: float = 30.0,
            **config: Any) -> T:
    """Run ``scenario(client)`` with a fresh ccxt.pro client, closing it (and its sockets) after."""

    async def main() -> T:
        client = make_ccxt_pro_bybit(emu, **config)
        try:
            return await asyncio.wait_for(scenario(client), timeout)
        finally:
            await client.close()

    return asyncio.run(main())
