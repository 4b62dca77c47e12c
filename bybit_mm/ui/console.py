"""One terminal wrapper over rich: data on stdout, messages on stderr.

Colour is off when the stream is not a terminal or ``NO_COLOR`` is set (rich honours both).
"""

from __future__ import annotations

import json
import math
import os
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(value: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(data: Any, *, indent: int | None = 2) -> str:
    """Serialise ``data`` as stable JSON: Decimals become JSON numbers, NaN becomes null."""
    try:
        # Nearly always nothing to replace: no copy of ``data`` unless a NaN/inf is met.
        return json.dumps(data, default=_json_default, indent=indent, sort_keys=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), default=_json_default, indent=indent, sort_keys=False)


class Terminal:
    """The pair of consoles a command writes to, created on first use (so `--help` never imports rich)."""

    def __init__(self, *, no_color: bool = False) -> None:
        self.no_color = no_color
        self._out: Console | None = None
        self._err: Console | None = None

    @property
    def out(self) -> Console:
        """The data console (stdout)."""
        if self._out is None:
            from rich.console import Console

            self._out = Console(soft_wrap=False, no_color=self.no_color)
        return self._out

    @property
    def err(self) -> Console:
        """The message console (stderr)."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, soft_wrap=True, no_color=self.no_color)
        return self._err

    def json(self, data: Any, *, lines: bool = False) -> None:
        """Print ``data`` as JSON on stdout (one compact line with ``lines=True``)."""
        import sys

        # Not through rich (no markup, no highlighting): JSON must reach stdout byte for byte.
        sys.stdout.write(to_json(data, indent=None if lines else 2) + "\n")
        sys.stdout.flush()

    def message(self, text: str, *, style: str | None = None) -> None:
        """A human message on stderr."""
        self.err.print(text, style=style, highlight=False)

    def warn(self, text: str) -> None:
        """A warning on stderr."""
        self.err.print(f"warning: {text}", style="yellow", highlight=False)


def make_terminal() -> Terminal:
    """The consoles for this process, honouring ``NO_COLOR`` (rich itself honours ``COLUMNS``)."""
    return Terminal(no_color=bool(os.environ.get("NO_COLOR")))
