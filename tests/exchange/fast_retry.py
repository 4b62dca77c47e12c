"""Retry budgets for tests: real retries, no real waiting."""

from __future__ import annotations

from bybit_mm.exchange.retry import Backoff


def fast_backoff(retries: int = 6) -> Backoff:
    """Retries without real waiting (tests must stay fast)."""
    return Backoff(max_retries=retries, base_s=0.001, cap_s=0.01)
