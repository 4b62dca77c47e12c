"""Fault injection for reliability tests: deterministic (seeded), and never corrupting state.

A faulted request is answered with HTTP 502/503, retCode 10016 (system error), retCode 10006
(rate limit) or a timeout (the response is held longer than the client waits). Whether the
request was applied before the fault is decided by the same seeded RNG and is visible afterwards
(e.g. by ``orderLinkId`` in ``/v5/order/realtime``), as on the real exchange: a create that times
out may or may not have placed the order. Rate-limit faults are never applied (Bybit rejects
before processing). Read-only requests are always "applied" (nothing to corrupt).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["http_5xx", "system_error", "rate_limit", "timeout"]
KINDS: tuple[FaultKind, ...] = ("http_5xx", "system_error", "rate_limit", "timeout")


@dataclass(frozen=True)
class Fault:
    """One injected fault: what the client sees, and whether the request took effect first."""

    kind: FaultKind
    applied: bool
    #: HTTP status of the answer (502/503 for http_5xx, 504 after a held timeout, else 200).
    http_status: int = 200


class FaultInjector:
    """Decides, per request, whether and how to fail it; same seed ⇒ same sequence of faults."""

    def __init__(self, fail_rate: float, seed: int = 1, kinds: tuple[FaultKind, ...] = KINDS) -> None:
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if not kinds:
            raise ValueError("at least one fault kind is needed")
        self.fail_rate = fail_rate
        self.kinds = tuple(kinds)
        self._rng = random.Random(f"faults:{seed}")

    def decide(self, *, mutating: bool) -> Fault | None:
        """None for a normal answer, else the fault to inject."""
        if self.fail_rate <= 0.0 or self._rng.random() >= self.fail_rate:
            return None
        kind = self.kinds[self._rng.randrange(len(self.kinds))]
        applied = self._rng.random() < 0.5
        if kind == "rate_limit":
            applied = False
        elif not mutating:
            applied = True
        status = {"http_5xx": self._rng.choice((502, 503)), "timeout": 504}.get(kind, 200)
        return Fault(kind, applied, status)
