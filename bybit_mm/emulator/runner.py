"""An emulator running in-process, in a background thread with its own event loop (for tests).

>>> from bybit_mm.sim.clock import SimClock
>>> with running_emulator(clock=SimClock(), symbols=("BTCUSDT",)) as emu:   # doctest: +SKIP
...     emu.url, emu.api_key, emu.api_secret
...     emu.run_until(emu.clock.now_ms() + 60_000)   # drive the market deterministically

With a ``SimClock`` (the default here) the market only moves when the test says so; the sim is
shared with the server thread, so touch ``emu.exchange`` only inside ``with emu.lock:`` (or via
:meth:`EmulatorHandle.run_until` / :meth:`EmulatorHandle.call`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from bybit_mm.emulator.config import EmulatorConfig
from bybit_mm.emulator.server import EmulatorState, build_state, start
from bybit_mm.emulator.ws_wire import PRIVATE_PATH, PUBLIC_PATH

if TYPE_CHECKING:
    from bybit_mm.domain.clock import Clock
    from bybit_mm.emulator.ws import WsHub
    from bybit_mm.sim.exchange import SimExchange

T = TypeVar("T")


@dataclass
class EmulatorHandle:
    """A running emulator: where it listens, its credentials, and the sim behind it."""

    url: str
    api_key: str
    api_secret: str
    state: EmulatorState
    #: The server thread's event loop (WebSocket fault injection runs on it).
    loop: asyncio.AbstractEventLoop | None = None

    @property
    def exchange(self) -> SimExchange:
        """The SimExchange behind the server (use under :attr:`lock`)."""
        return self.state.exchange

    @property
    def clock(self) -> Clock:
        """The sim's clock."""
        return self.state.exchange.clock

    @property
    def lock(self) -> threading.RLock:
        """Held by the server while it touches the sim."""
        return self.state.lock

    @property
    def config(self) -> EmulatorConfig:
        """The settings the emulator runs with."""
        return self.state.config

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` while holding the sim lock."""
        with self.lock:
            return fn(*args, **kwargs)

    def run_until(self, ts_ms: int) -> list[Any]:
        """Advance a SimClock-driven market to ``ts_ms`` (under the lock); returns the sim's events."""
        with self.lock:
            return self.exchange.run_until(ts_ms)

    @property
    def ws_public_url(self) -> str:
        """The public linear stream (``ws://host:port/v5/public/linear``)."""
        return _ws_base(self.url) + PUBLIC_PATH

    @property
    def ws_private_url(self) -> str:
        """The private stream (``ws://host:port/v5/private``)."""
        return _ws_base(self.url) + PRIVATE_PATH

    @property
    def ws(self) -> WsHub:
        """The WebSocket side (connections, counters, ``delay_ms`` and ``drop_rate``)."""
        assert self.state.ws is not None, "the app was not built"
        return self.state.ws

    def drop_ws_connections(self) -> int:
        """Drop every WebSocket connection now (as a network failure would); returns how many."""
        if self.loop is None:
            raise RuntimeError("the emulator is not running in a background loop")
        return asyncio.run_coroutine_threadsafe(self.ws.drop_all(), self.loop).result(timeout=10)

    def set_ws_delay_ms(self, delay_ms: float) -> None:
        """Delay every WebSocket message sent from now on by ``delay_ms`` (real ms)."""
        if delay_ms < 0:
            raise ValueError("delay must be non-negative")
        self.ws.delay_ms = float(delay_ms)

    def set_ws_drop_rate(self, rate: float) -> None:
        """From now on drop a connection instead of a push with chance ``rate`` (0..1)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self.ws.drop_rate = float(rate)


def _ws_base(url: str) -> str:
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    return "ws://" + url.split("://", 1)[-1]


@contextmanager
def running_emulator(*, exchange: SimExchange | None = None, clock: Clock | None = None,
                     background: bool | None = None, **options: Any) -> Iterator[EmulatorHandle]:
    """Start an emulator on 127.0.0.1, a free port, in a background thread; stop it on exit.

    ``options`` are :class:`EmulatorConfig` fields (``symbols``, ``seed``, ``balance``,
    ``fail_rate``...). Without ``exchange`` or ``clock`` the sim runs on a ``SimClock`` (time moves
    only when the test advances it). ``background`` (the ticker that advances the sim between
    requests) defaults to off for a SimClock, on otherwise.
    """
    from bybit_mm.sim.clock import SimClock

    options.setdefault("host", "127.0.0.1")
    options.setdefault("port", 0)
    if "symbols" in options:
        options["symbols"] = tuple(options["symbols"])
    config = EmulatorConfig(**options)
    if exchange is None and clock is None:
        clock = SimClock()
    state = build_state(config, exchange=exchange, clock=clock)
    if background is None:
        background = not isinstance(state.exchange.clock, SimClock)

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        try:
            runner, url = await start(state, config.host, config.port, background=background)
        except BaseException as e:  # report start-up failures to the caller's thread
            box["error"] = e
            ready.set()
            return
        box["url"] = url
        stop = asyncio.Event()
        box["stop"] = stop
        ready.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="bybit-mm-emulator", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        thread.join()
        raise box["error"]
    try:
        yield EmulatorHandle(url=box["url"], api_key=config.api_key, api_secret=config.api_secret,
                             state=state, loop=loop)
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=10)
