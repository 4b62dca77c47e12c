"""Disconnection protection (DCP), as Bybit documents it for ``/v5/order/disconnected-cancel-all``.

``POST /v5/order/disconnected-cancel-all`` sets the window (``timeWindow``, 3 to 300 s) of a
product (``OPTIONS`` by default, ``DERIVATIVES``, ``SPOT``). Bybit then watches the private
WebSocket connections subscribed to the ``dcp`` topic (``dcp.future`` for derivatives): when all
of them have been gone for longer than the window, every active order of the product is
cancelled; a new subscription within the window stops the countdown. The emulator keeps the
countdown in real (event-loop) seconds, as Bybit does, whatever the sim's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bybit_mm.emulator.wire import params_error

if TYPE_CHECKING:
    from bybit_mm.emulator.context import HandlerContext
    from bybit_mm.emulator.params import Params

PRODUCTS = ("OPTIONS", "DERIVATIVES", "SPOT")
#: The emulator lists linear perpetuals only: ``dcp.future`` (and plain ``dcp``) protect them.
DERIVATIVE_TOPICS = ("dcp", "dcp.future")
MIN_WINDOW_S, MAX_WINDOW_S = 3, 300


class Dcp:
    """The DCP windows of the emulated account and the countdown after the last subscriber left."""

    def __init__(self) -> None:
        self.windows: dict[str, int] = {}
        #: Times DCP fired (for tests).
        self.triggered = 0
        self._timer: asyncio.TimerHandle | None = None
        #: A dcp subscriber exists or existed since the last countdown began (nothing to watch otherwise).
        self._watched = False

    def subscribed(self) -> None:
        """A private connection subscribed a dcp topic: any countdown stops."""
        self._watched = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def subscribers_gone(self, loop: asyncio.AbstractEventLoop, cancel_all: Callable[[], Any]) -> None:
        """The last connection subscribed to a dcp topic went away: start the countdown."""
        window = self.windows.get("DERIVATIVES")
        if window is None or not self._watched or self._timer is not None:
            return
        self._watched = False

        def fire() -> None:
            self._timer = None
            self.triggered += 1
            cancel_all()

        self._timer = loop.call_later(window, fire)


def set_window(ctx: HandlerContext, p: Params) -> dict[str, Any]:
    """``POST /v5/order/disconnected-cancel-all``: ``product`` and ``timeWindow`` [3, 300] s."""
    product = p.string("product", "OPTIONS")
    if product not in PRODUCTS:
        raise params_error(f"params error: product invalid ({product!r}; {', '.join(PRODUCTS)})")
    if "timeWindow" not in p:
        raise params_error("params error: timeWindow is required")
    window = p.integer("timeWindow", lo=MIN_WINDOW_S, hi=MAX_WINDOW_S)
    assert window is not None and product is not None
    ctx.dcp.windows[product] = window
    return {}
