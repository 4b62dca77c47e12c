"""Bybit's own Python SDK (pybit 5.x) pointed at the emulator, unchanged but for its URLs.

pybit builds its REST base URL from ``domain``/``tld`` in ``__post_init__`` into ``endpoint``
(``https://api.bybit.com``); setting ``endpoint`` afterwards points every request at the emulator.
Its WebSocket client formats the module's ``PUBLIC_WSS``/``PRIVATE_WSS`` templates and connects in
the constructor, so :class:`EmuWebSocket` hands ``_connect`` the emulator's URL instead (pybit keeps
it as ``endpoint`` for reconnects). Messages arrive on pybit's own thread; :class:`Inbox` collects
them for the test.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from pybit.unified_trading import HTTP, WebSocket

from bybit_mm.emulator.runner import EmulatorHandle


def make_http(emu: EmulatorHandle, **kwargs: Any) -> HTTP:
    """A pybit HTTP session on the emulator (one attempt: a failure shows at once)."""
    session = HTTP(api_key=emu.api_key, api_secret=emu.api_secret, max_retries=1, **kwargs)
    session.endpoint = emu.url
    return session


class EmuWebSocket(WebSocket):
    """pybit's WebSocket connecting to ``url`` instead of stream.bybit.com."""

    def __init__(self, url: str, channel_type: str, **kwargs: Any) -> None:
        self._emu_url = url
        super().__init__(channel_type, **kwargs)

    def _connect(self, url: str) -> None:
        super()._connect(self._emu_url)


def make_ws(emu: EmulatorHandle, channel_type: str, *, auth_timeout: float = 15.0) -> EmuWebSocket:
    """A pybit WebSocket on the emulator's public linear or private stream.

    A private one is returned once authenticated: pybit signs ``expires`` only
    ``private_auth_expire`` seconds ahead (1 by default, too tight on a loaded machine), and after a
    failed auth it closes the socket and then waits forever in ``subscribe``, so the wait is here.
    """
    if channel_type != "private":
        return EmuWebSocket(emu.ws_public_url, channel_type, testnet=False, retries=3)
    ws = EmuWebSocket(emu.ws_private_url, "private", testnet=False, api_key=emu.api_key,
                      api_secret=emu.api_secret, retries=3, private_auth_expire=30)
    deadline = time.monotonic() + auth_timeout
    while not ws.auth:
        if time.monotonic() > deadline:
            ws.exit()
            raise AssertionError("pybit's private WebSocket did not authenticate")
        time.sleep(0.05)
    return ws


class Inbox:
    """Thread-safe collection of the messages pybit's callbacks receive."""

    def __init__(self) -> None:
        self._q: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self._q.put(message)

    def wait(self, match: Callable[[dict[str, Any]], bool], *, timeout: float = 10.0,
             tick: Callable[[], None] | None = None) -> dict[str, Any]:
        """The first message (already seen or new) ``match`` accepts; ``tick`` runs while waiting."""
        for m in self.seen:
            if match(m):
                return m
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if tick is not None:
                tick()
            try:
                m = self._q.get(timeout=0.05)
            except queue.Empty:
                continue
            self.seen.append(m)
            if match(m):
                return m
        raise AssertionError(f"no matching message within {timeout} s (got {len(self.seen)})")


def within(seconds: float, fn: Callable[[], None]) -> None:
    """Run ``fn`` (pybit calls that may block forever) in a thread; AssertionError past ``seconds``."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"pybit did not return within {seconds} s")
    if errors:
        raise errors[0]
