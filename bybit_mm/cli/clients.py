"""The one place that chooses an exchange adapter from a profile, and the mainnet confirmation.

``exchange.account = "paper"`` → :class:`~bybit_mm.exchange.paper_client.DryRunFuturesClient`
(the sim in-process, account in the data dir; with ``paper.market = "live"`` its market is the
profile network's public feed, polled without keys); anything else → the ccxt
:class:`~bybit_mm.exchange.ccxt_client.BybitFuturesClient` on the profile's network.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from bybit_mm.errors import UsageError

if TYPE_CHECKING:
    from bybit_mm.cli.context import AppContext
    from bybit_mm.domain.clock import Clock
    from bybit_mm.exchange.port import FuturesClient
    from bybit_mm.exchange.retry import Backoff

T = TypeVar("T")

#: First retry delay (seconds) of the live client; tests lower it.
RETRY_BASE_S = 0.25


@asynccontextmanager
async def open_client(app: AppContext, *, paper_market: str | None = None, clock: Clock | None = None,
                      backoff: Backoff | None = None, persist: bool = True,
                      streaming: bool = False) -> AsyncIterator[FuturesClient]:
    """The profile's client, closed (and a paper account saved) on exit.

    ``paper_market`` overrides ``paper.market`` (``sim``: synthetic; ``live``: the network's public
    feed, polled); ``clock`` is the paper sim's clock (real time by default; the engine passes a
    SimClock or a faster WallClock; the live market takes real time only);
    ``backoff`` overrides the live client's retry timing; ``streaming``: a paper account's live
    market comes from the public WebSocket streams (REST polling as the fallback).
    """
    profile = app.profile
    client: Any
    if profile.is_paper:
        from dataclasses import replace

        from bybit_mm.exchange.paper_client import DryRunFuturesClient

        if paper_market is not None and paper_market != profile.paper.market:
            profile = replace(profile, paper=replace(profile.paper, market=paper_market))
        client = DryRunFuturesClient.from_profile(profile, clock=clock, persist=persist, streaming=streaming)
        try:
            await client.connect()  # a live feed: reach it now (exit 5 with the offline hint if not)
        except BaseException:
            await client.close()
            raise
    else:
        from bybit_mm.config.secrets import resolve_credentials
        from bybit_mm.exchange.ccxt_client import BybitFuturesClient
        from bybit_mm.exchange.retry import Backoff

        creds = resolve_credentials(profile)
        app.register_secret(creds.api_key, creds.api_secret)
        client = BybitFuturesClient.from_profile(
            profile, creds, backoff=backoff or Backoff(max_retries=profile.exchange.max_retries, base_s=RETRY_BASE_S))
    try:
        yield client
    finally:
        await client.close()


def run_with_client(app: AppContext, fn: Callable[[FuturesClient], Awaitable[T]]) -> T:
    """Open the profile's client, run ``fn`` with it on a fresh event loop, close it."""
    async def main() -> T:
        async with open_client(app) as client:
            return await fn(client)

    return asyncio.run(main())


def stdin_is_interactive() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def is_mainnet(app: AppContext) -> bool:
    """Whether the profile's account is real money: a live account on Bybit mainnet."""
    profile = app.profile
    return profile.exchange.network == "mainnet" and not profile.is_paper


def confirm_mainnet(app: AppContext, action: str, *, yes: bool) -> None:
    """On mainnet, ask before ``action`` unless ``yes``; refuse (exit 2) when nobody can answer.

    Called before the client is opened, so a refusal never sends a request (and exits 2 even
    when Bybit is unreachable).
    """
    if yes or not is_mainnet(app):
        return
    if not stdin_is_interactive():
        raise UsageError(f"refusing to {action} on MAINNET without confirmation",
                         hint="rerun with --yes to confirm non-interactively")
    if not typer.confirm(f"MAINNET: {action}?", default=False, err=True):
        raise UsageError(f"not confirmed; nothing was done ({action})")
