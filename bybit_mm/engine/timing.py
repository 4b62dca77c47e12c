"""The engine's clock: the injected time source plus an async ``sleep`` that follows it.

The engine never calls ``time.time()`` or ``asyncio.sleep`` itself. A manual clock (``SimClock``,
anything with ``advance(ms)``) jumps forward instantly, so a simulated run goes as fast as the CPU
allows; a scaled wall clock (``WallClock(speed)``) sleeps ``seconds / speed`` of real time.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class EngineClock(Protocol):
    """What the engine needs from time."""

    def now_ms(self) -> int:
        """Current (possibly simulated) time in epoch milliseconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of this clock's time pass."""
        ...


class ClockDriver:
    """Wraps a ``Clock`` (``now_ms()``) and gives it the async ``sleep`` the engine uses.

    If the wrapped clock has its own async ``sleep`` it is used; a manual clock is advanced (and
    the event loop is yielded to once, so signal handlers and the UI still run); otherwise the
    clock's ``speed`` (default 1) scales a real sleep.
    """

    def __init__(self, clock: Any) -> None:
        self.clock = clock

    def now_ms(self) -> int:
        """The wrapped clock's time."""
        return int(self.clock.now_ms())

    @property
    def manual(self) -> bool:
        """True when time only moves when the engine sleeps (simulation as fast as possible)."""
        return hasattr(self.clock, "advance")

    async def sleep(self, seconds: float) -> None:
        """Advance a manual clock by ``seconds``, or sleep ``seconds / speed`` of real time."""
        own = getattr(self.clock, "sleep", None)
        if own is not None and asyncio.iscoroutinefunction(own):
            await own(seconds)
            return
        if self.manual:
            self.clock.advance(max(0, round(seconds * 1000)))
            await asyncio.sleep(0)
            return
        speed = float(getattr(self.clock, "speed", 1.0) or 1.0)
        await asyncio.sleep(max(0.0, seconds) / speed)


def as_engine_clock(clock: Any) -> EngineClock:
    """The clock as the engine wants it (unchanged if it already has an async ``sleep``)."""
    own = getattr(clock, "sleep", None)
    if own is not None and asyncio.iscoroutinefunction(own):
        return clock
    return ClockDriver(clock)
