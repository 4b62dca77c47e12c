"""Tracebacks of unexpected errors, with secrets masked in the traceback data before rich renders it.

Masking the rendered text is not enough: rich wraps long lines (a secret split across two lines
no longer matches) and shortens long strings in locals (a cut secret no longer matches either).
So the exception text, the source lines shown and every local's repr are masked first, at full
length, then shortened, then rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.pretty import Node
    from rich.traceback import Trace

#: Longest repr of one local shown (after masking), as rich's ``locals_max_string`` would.
MAX_REPR = 120


def masked_trace(exc: tuple[type[BaseException], BaseException, TracebackType | None], mask: Callable[[str], str], *,
                 show_locals: bool) -> Trace:
    """The rich :class:`Trace` of ``exc`` with ``mask`` applied to every text it holds."""
    from rich.traceback import Traceback

    # No string shortening here: a shortened secret would escape the mask.
    trace = Traceback.extract(*exc, show_locals=show_locals, locals_max_string=None)  # type: ignore[arg-type]
    for stack in trace.stacks:
        stack.exc_value = mask(stack.exc_value)
        stack.notes = [mask(n) for n in stack.notes]
        if stack.syntax_error is not None:
            stack.syntax_error.line = mask(stack.syntax_error.line)
            stack.syntax_error.msg = mask(stack.syntax_error.msg)
        for frame in stack.frames:
            frame.line = mask(frame.line)
            for node in (frame.locals or {}).values():
                _mask_node(node, mask)
    return trace


def _mask_node(node: Node, mask: Callable[[str], str]) -> None:
    node.key_repr = mask(node.key_repr)
    value = mask(node.value_repr)
    if len(value) > MAX_REPR:
        value = f"{value[:MAX_REPR]}…+{len(value) - MAX_REPR}"
    node.value_repr = value
    for child in node.children or ():
        _mask_node(child, mask)


def print_traceback(console: Console, exc: tuple[Any, Any, Any], mask: Callable[[str], str], *,
                    show_locals: bool, suppress: list[Any]) -> None:
    """Render the masked traceback of ``exc`` on ``console``."""
    from rich.traceback import Traceback

    import linecache

    import rich.traceback

    trace = masked_trace(exc, mask, show_locals=show_locals)

    class _MaskedSource:
        # rich reads the source lines it shows through ``linecache`` while rendering: mask those too.
        @staticmethod
        def getlines(filename: str, module_globals: Any = None) -> list[str]:
            return [mask(line) for line in linecache.getlines(filename, module_globals)]

    real = rich.traceback.linecache  # type: ignore[attr-defined]
    rich.traceback.linecache = _MaskedSource  # type: ignore[attr-defined]
    try:
        console.print(Traceback(trace, show_locals=show_locals, suppress=suppress, width=console.width))
    finally:
        rich.traceback.linecache = real  # type: ignore[attr-defined]
