"""Latency models: when a request of ours reaches the exchange, and when we hear back.

Small swappable objects (as hftbacktest's latency models), in integer milliseconds of exchange
time, used by the simulated exchange (an order placed, amended or cancelled at ``t`` acts at
``t + entry``), by the paper client (the engine hears the answer ``response`` later and sees
market data ``feed`` late), by the emulator, and by the backtest (a request sent at ``t`` acts at ``t + entry``; its answer reaches the
strategy ``response`` later; market data reaches the strategy ``feed`` after the exchange).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
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


#: z of the 99th percentile of the standard normal distribution.
_Z99 = 2.3263478740408408


@dataclass(slots=True)
class LognormalLatency:
    """Delays drawn from lognormal distributions, seeded (the same seed gives the same draws).

    ``entry``, ``response`` and ``feed`` are the MEDIANS in milliseconds; ``p99_ratio`` (≥ 1) is
    the 99th percentile over the median, shared by the three (σ = ln(p99_ratio) / z₀.₉₉). Network
    delays are right-skewed: most requests take about the median, a few take several times it.
    """

    entry: float = 0.0
    response: float = 0.0
    feed: float = 0.0
    p99_ratio: float = 3.0
    seed: int = 1
    _rng: random.Random = field(init=False, repr=False)
    _sigma: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ConstantLatency(self.entry, self.response, self.feed)  # the same checks
        if not math.isfinite(self.p99_ratio) or self.p99_ratio < 1:
            raise ValueError(f"latency p99/median ratio must be a finite number >= 1, got {self.p99_ratio}")
        self._rng = random.Random(f"latency-{self.seed}")
        self._sigma = math.log(self.p99_ratio) / _Z99

    def _draw(self, median: float) -> int:
        if median <= 0:
            return 0
        return math.ceil(median * math.exp(self._sigma * self._rng.gauss(0.0, 1.0)))

    def entry_ms(self) -> int:
        """A draw around ``entry``."""
        return self._draw(self.entry)

    def response_ms(self) -> int:
        """A draw around ``response``."""
        return self._draw(self.response)

    def feed_ms(self) -> int:
        """A draw around ``feed``."""
        return self._draw(self.feed)


LATENCY_MODELS = ("constant", "lognormal")


def make_latency(model: str, *, entry: float, response: float, feed: float, p99_ratio: float = 3.0,
                 seed: int = 1) -> LatencyModel:
    """The latency model called ``model`` (``constant`` or ``lognormal``); ValueError if unknown."""
    if model == "constant":
        return ConstantLatency(entry, response, feed)
    if model == "lognormal":
        return LognormalLatency(entry, response, feed, p99_ratio, seed)
    raise ValueError(f"unknown latency model {model!r} (known: {', '.join(LATENCY_MODELS)})")


def latency_from_settings(paper: object) -> LatencyModel:
    """The model a profile's ``[paper]`` section describes (``latency_model``, ``latency_ms``,
    ``response_latency_ms``, ``feed_latency_ms``, ``latency_p99_ms``, ``seed``)."""
    entry = float(getattr(paper, "latency_ms"))
    p99 = float(getattr(paper, "latency_p99_ms", entry))
    ratio = p99 / entry if entry > 0 and p99 > entry else 1.0
    return make_latency(str(getattr(paper, "latency_model", "constant")), entry=entry,
                        response=float(getattr(paper, "response_latency_ms")),
                        feed=float(getattr(paper, "feed_latency_ms")), p99_ratio=ratio,
                        seed=int(getattr(paper, "seed", 1)))
