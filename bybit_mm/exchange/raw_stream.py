"""``RawPublicStream``: Bybit's public linear WebSocket, every message handed over as the text
received (for the recorder), with Bybit's ping, and reconnection.

ccxt.pro (see :mod:`bybit_mm.exchange.ccxt_stream`) hands its tap parsed objects, not the text
that came over the wire, so this is a plain aiohttp client. Each connection subscribes its
topics; a new subscription starts with a fresh snapshot (books, tickers), which is how a
reconnection resynchronises. Bybit wants ``{"op":"ping"}`` at least every 20 s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from bybit_mm.errors import ExchangeUnavailable, UsageError

log = logging.getLogger(__name__)

PUBLIC_PATH = "/v5/public/linear"
#: Public linear streams by network. Demo trading has no public stream of its own: Bybit's
#: demo-trading docs send public data to the mainnet stream.
PUBLIC_URLS = {
    "mainnet": "wss://stream.bybit.com" + PUBLIC_PATH,
    "demo": "wss://stream.bybit.com" + PUBLIC_PATH,
    "testnet": "wss://stream-testnet.bybit.com" + PUBLIC_PATH,
}
#: Book depths Bybit serves on linear contracts (``orderbook.{depth}.SYMBOL``).
BOOK_DEPTHS = (1, 50, 200, 1000)


def ws_base(url: str) -> str:
    """The WebSocket origin of an HTTP base URL (``https://h`` -> ``wss://h``, else ``ws://``)."""
    base = url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):]
    return "ws://" + base.split("://", 1)[-1]


def public_ws_url(network: str, url: str = "") -> str:
    """The public linear stream of ``network``; for ``emulator``, the one on ``url``'s host."""
    if network == "emulator":
        return ws_base(url) + PUBLIC_PATH
    try:
        return PUBLIC_URLS[network]
    except KeyError:
        raise UsageError(f"network {network!r} has no public stream") from None


def public_topics(symbol: str, depth: int) -> list[str]:
    """The topics a recording of ``symbol`` subscribes: its book, trades and ticker."""
    return [f"orderbook.{depth}.{symbol}", f"publicTrade.{symbol}", f"tickers.{symbol}"]


class RawPublicStream:
    """One connection's topics, kept subscribed; :meth:`run` until cancelled."""

    def __init__(self, url: str, topics: Sequence[str], *, ping_interval_s: float = 20.0,
                 stale_after_s: float = 30.0, backoff_max_s: float = 5.0, connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self.topics = list(topics)
        self.ping_interval_s = ping_interval_s
        self.stale_after_s = stale_after_s
        self.backoff_max_s = backoff_max_s
        self.connect_timeout_s = connect_timeout_s
        #: Connections made, connections lost, messages received.
        self.connects = 0
        self.disconnects = 0
        self.messages = 0
        self._ids = itertools.count(1)

    async def run(self, on_message: Callable[[int, str], None]) -> None:
        """Connect, subscribe and call ``on_message(recv_ns, text)`` for every text message,
        reconnecting with backoff (0.1 s doubling to ``backoff_max_s``) whenever the connection
        drops or goes quiet. ExchangeUnavailable if the first connection fails; UsageError if
        the exchange refuses a topic (an unknown symbol)."""
        import aiohttp

        delay = 0.1
        timeout = aiohttp.ClientTimeout(total=None, connect=self.connect_timeout_s, sock_connect=self.connect_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    async with session.ws_connect(self.url, autoping=True, max_msg_size=0) as ws:
                        self.connects += 1
                        delay = 0.1
                        await self._session(ws, on_message)
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
                    if self.connects == 0:
                        raise ExchangeUnavailable(f"cannot connect to {self.url} ({type(e).__name__}: {e})",
                                                  hint="check the network, or the emulator's address in the profile") from e
                    log.info("public stream %s lost (%s); reconnecting in %.1f s", self.url, type(e).__name__, delay)
                self.disconnects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)

    async def _session(self, ws: Any, on_message: Callable[[int, str], None]) -> None:
        """One connection: subscribe, then pass messages on until it closes or goes quiet."""
        import aiohttp

        await ws.send_str(json.dumps({"op": "subscribe", "args": self.topics, "req_id": f"rec-{next(self._ids)}"}))
        last_ping = last_message = time.monotonic()
        while True:
            wait = max(0.05, min(self.ping_interval_s - (time.monotonic() - last_ping),
                                 self.stale_after_s - (time.monotonic() - last_message)))
            try:
                msg = await ws.receive(timeout=wait)
            except asyncio.TimeoutError:
                msg = None
            now = time.monotonic()
            if now - last_ping >= self.ping_interval_s:
                await ws.send_str(json.dumps({"op": "ping", "req_id": f"rec-{next(self._ids)}"}))
                last_ping = now
            if msg is None:
                if now - last_message >= self.stale_after_s:
                    log.info("public stream %s quiet for %.0f s; reconnecting", self.url, self.stale_after_s)
                    return
                continue
            if msg.type == aiohttp.WSMsgType.TEXT:
                recv_ns = time.time_ns()
                last_message = now
                self.messages += 1
                text = msg.data
                if not text.startswith('{"topic"'):
                    _check_ack(text)
                on_message(recv_ns, text)
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.ERROR):
                return


def _check_ack(text: str) -> None:
    try:
        obj = json.loads(text)
    except ValueError:
        return
    if isinstance(obj, dict) and obj.get("op") == "subscribe" and obj.get("success") is False:
        raise UsageError(f"the exchange refused the subscription: {obj.get('ret_msg') or 'no reason given'}",
                         hint="check the symbol (a USDT perpetual such as BTCUSDT) and --depth")
