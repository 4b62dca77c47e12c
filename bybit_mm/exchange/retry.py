"""Retry timing for transient exchange failures: exponential backoff with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for attempt 1, 2, …: ``min(cap, base × 2^(n-1))`` scaled by a random factor in [0.5, 1].

    ``max_retries`` is the budget of retries after the first attempt (the profile's
    ``exchange.max_retries``). ``reset_at_ms`` lets a rate-limit answer push the next delay to
    the time Bybit says the window resets (``X-Bapi-Limit-Reset-Timestamp``), capped by ``cap_s``.
    """

    max_retries: int = 4
    base_s: float = 0.25
    cap_s: float = 5.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, *, now_ms: int | None = None, reset_at_ms: int | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        exp = min(self.cap_s, self.base_s * (2 ** max(0, attempt - 1)))
        wait = exp * (0.5 + 0.5 * self.rng.random())
        if reset_at_ms is not None and now_ms is not None and reset_at_ms > now_ms:
            wait = max(wait, min(self.cap_s, (reset_at_ms - now_ms) / 1000))
        return wait
