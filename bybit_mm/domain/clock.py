"""The clock protocol: time is injected, never read from the wall inside domain, sim or engine."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Something that knows the current time. Implementations (real, simulated) live in ``sim``."""

    def now_ms(self) -> int:
        """Current time in epoch milliseconds (UTC)."""
        ...
