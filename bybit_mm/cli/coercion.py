"""Plain option values (str, int, float, bool) converted without pydantic.

Typer (0.2x) converts every option value with a pydantic ``TypeAdapter`` built on the option's
first use: for ``bybit-mm paper`` importing pydantic and building its adapters is ~0.1 s of CPU at
every start. For the plain spellings nearly every option is given (``20``, ``-1.5``, ``BTCUSDT``)
Python's own ``str``/``int``/``float`` give the same values (a flag's value is a bool already, or
None when not given); any other spelling (``1e3``, `` 5``,
``nan``) and every invalid value still go through Typer's own conversion, so what it accepts and
its error messages are unchanged.
"""

from __future__ import annotations

import re
from typing import Any

_INT = re.compile(r"-?[0-9]{1,18}")
# At most 15 digits on either side of the point: both parsers round these exactly the same.
_FLOAT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")


class PlainValue:
    """The conversion of one str/int/float/bool option (Typer's runtime-param surface: ``coerce``)."""

    __slots__ = ("kind", "_typer")

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self._typer: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        """``value`` as ``kind``; Typer's own conversion for anything but a plain spelling."""
        if value is None:
            return None
        kind = self.kind
        if type(value) is kind:
            return value
        if type(value) is str:
            if kind is float and _FLOAT.fullmatch(value):
                return float(value)
            if kind is int and _INT.fullmatch(value):
                return int(value)
        if self._typer is None:
            from typer._coercion import build_runtime_param

            self._typer = build_runtime_param(param.type_descriptor)
        return self._typer.coerce(value, param=param, ctx=ctx)


def plain_kind(param: Any) -> type | None:
    """str, int, float or bool for an option Typer would convert with a bare adapter of that type (no
    parser, bounds, file, choices or several values); None otherwise."""
    desc = param.type_descriptor
    info = desc.parameter_info
    if (desc.annotation not in (str, int, float, bool) or desc.file_annotation is not None or info.parser is not None
            or info.min is not None or info.max is not None or param.multiple or param.nargs != 1):
        return None
    return desc.annotation


def install() -> None:
    """Have Typer convert plain options with :class:`PlainValue` (every command, including the
    help and completion options Typer adds as it parses). Nothing to do on a Typer without
    runtime params (older ones convert with Click's own types, without pydantic)."""
    try:
        from typer.core import _TyperParameter
    except ImportError:
        return
    typer_runtime_param = _TyperParameter.get_runtime_param
    if getattr(typer_runtime_param, "plain_values", False):
        return

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            kind = plain_kind(self)
            if kind is not None:
                self._runtime_param = PlainValue(kind)
        return typer_runtime_param(self)

    get_runtime_param.plain_values = True  # type: ignore[attr-defined]
    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
