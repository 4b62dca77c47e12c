"""Numbers for people: the one formatting helper every table uses (never prints ``-0``).

Decimals stay Decimals (no float round trip); floats are read through ``repr``; a value that
rounds to zero prints as ``0`` (``0.00``, ``+0.00``), never with a minus sign.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

DASH = "–"


def _decimal(value: Decimal | float | int) -> Decimal | None:
    d = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)
    return d if d.is_finite() else None


def number(value: Decimal | float | int | None, places: int | None = None, *, sign: bool = False,
           group: bool = True, missing: str = DASH) -> str:
    """``value`` with ``places`` decimals (None: exactly the digits it has, no exponent),
    thousands grouped unless ``group=False``, a ``+`` on positives with ``sign``; ``missing`` for
    None or a non-finite value. Zero (also a negative value that rounds to zero) has no minus."""
    if value is None:
        return missing
    d = _decimal(value)
    if d is None:
        return missing
    if places is not None:
        try:
            d = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        except InvalidOperation:  # more digits than the context holds: keep it as it is
            pass
    else:
        d = d.normalize()
    if d.is_zero():
        d = abs(d)
    spec = ("+" if sign else "") + ("," if group else "") + (f".{places}f" if places is not None else "f")
    return format(d, spec)


def significant(value: float | Decimal | None, digits: int = 4, *, missing: str = DASH) -> str:
    """A model number with ``digits`` significant digits (``g`` format), never ``-0``."""
    if value is None:
        return missing
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        return missing
    text = f"{v:.{digits}g}"
    return "0" if text in ("-0", "0") else text
