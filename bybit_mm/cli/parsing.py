"""Numbers typed on the command line, parsed exactly (Decimal) with one-line usage errors."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bybit_mm.errors import UsageError


def parse_decimal(option: str, raw: str | None, *, positive: bool = False, non_negative: bool = False,
                  unit: str = "") -> Decimal | None:
    """``raw`` as a finite Decimal (None stays None); UsageError naming ``option`` otherwise."""
    if raw is None:
        return None
    what = f"a number{' of ' + unit if unit else ''}"
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise UsageError(f"{option} must be {what}, got {raw!r}") from None
    if not value.is_finite():
        raise UsageError(f"{option} must be a finite number, got {raw!r}")
    if positive and value <= 0:
        raise UsageError(f"{option} must be greater than 0, got {raw}")
    if non_negative and value < 0:
        raise UsageError(f"{option} must not be negative, got {raw}")
    return value
