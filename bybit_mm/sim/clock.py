"""Clocks for the simulation: a manual one for tests and accelerated runs, a scaled wall clock."""

from __future__ import annotations

import time


class SimClock:
    """A clock that moves only when told to: ``advance(ms)`` or ``set(ms)``.

    Starts at ``start_ms`` (epoch milliseconds, UTC). Time never goes backwards.
    """

    def __init__(self, start_ms: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00:00Z
        self._now = int(start_ms)

    def now_ms(self) -> int:
        """Current simulated time in epoch milliseconds."""
        return self._now

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` milliseconds (≥ 0); returns the new time."""
        if ms < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += int(ms)
        return self._now

    def set(self, ms: int) -> int:
        """Jump to ``ms`` (not earlier than now); returns the new time."""
        if ms < self._now:
            raise ValueError(f"a clock cannot go backwards ({ms} < {self._now})")
        self._now = int(ms)
        return self._now


class WallClock:
    """Real time scaled by ``speed`` from a start instant.

    ``now_ms() = start_ms + (monotonic elapsed) × speed``; ``speed=1`` is real time, ``speed=60``
    runs a simulated minute per real second. ``start_ms`` defaults to the current wall time.
    """

    def __init__(self, speed: float = 1.0, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self.start_ms = int(time.time() * 1000) if start_ms is None else int(start_ms)
        self._t0 = time.monotonic()

    def now_ms(self) -> int:
        """Current (scaled) time in epoch milliseconds."""
        return self.start_ms + int((time.monotonic() - self._t0) * 1000 * self.speed)
