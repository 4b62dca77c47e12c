"""Latency models: when a request of ours reaches the exchange, and when we hear back.

Small swappable objects (as hftbacktest's latency models), in integer milliseconds of exchange
time, used by the simulated exchange (an order placed at ``t`` is active from ``t + entry``)
and by the backtest (a request sent at ``t`` acts at ``t + entry``; its answer reaches the
strategy ``response`` later; market data reaches the strategy ``feed`` after the exchange).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


class LatencyModel(Protocol):
    """Delays in milliseconds."""

    def entry_ms(self) -> int:
        """From sending a request to the exchange acting on it."""

    def response_ms(self) -> int:
        """From the exchange acting on a request to the sender hearing the answer."""

    def feed_ms(self) -> int:
        """From the exchange's event time to the strategy seeing it."""


@dataclass(frozen=True, slots=True)
class ConstantLatency:
    """The same delays every time (``entry``, ``response`` and ``feed``, in milliseconds)."""

    entry: float = 0.0
    response: float = 0.0
    feed: float = 0.0

    def __post_init__(self) -> None:
        for name in ("entry", "response", "feed"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"latency {name} must be a finite number of ms >= 0, got {value}")

    def entry_ms(self) -> int:
        """``entry`` rounded up to a whole millisecond."""
        return math.ceil(self.entry)

    def response_ms(self) -> int:
        """``response`` rounded up to a whole millisecond."""
        return math.ceil(self.response)

    def feed_ms(self) -> int:
        """``feed`` rounded up to a whole millisecond."""
        return math.ceil(self.feed)
