"""A client of the port that logs what it is asked to do, for ``-v`` / ``-vv``.

Order actions (place, amend, cancel, cancel-all, close, leverage and margin-mode changes) and
their outcome are logged at INFO (``-v``); every other call (the reads) at DEBUG (``-vv``) with
its round-trip time. Only symbols, sides, prices, quantities and ids are logged: never a
credential. Everything else (attributes, the market stream) passes through unchanged.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from bybit_mm.domain.orders import Side
from bybit_mm.errors import BybitMMError
from bybit_mm.exchange.port import FuturesClient, OrderInfo

log = logging.getLogger("bybit_mm.orders")


def _order(o: OrderInfo | None) -> str:
    if o is None:
        return "nothing to do"
    price = "market" if o.price is None else f"@ {o.price}"
    done = f", filled {o.filled_qty} @ {o.avg_fill_price}" if o.filled_qty and o.avg_fill_price else ""
    why = f" ({o.reject_reason})" if o.reject_reason else ""
    return f"{o.status}{why}: {o.side.value} {o.qty} {o.symbol} {price}{done} [{o.client_order_id or o.order_id}]"


class LoggedClient:
    """Wraps a :class:`FuturesClient`; see the module docstring."""

    def __init__(self, inner: FuturesClient) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not name.startswith("_") and callable(attr) and log.isEnabledFor(logging.DEBUG):
            import inspect

            if inspect.iscoroutinefunction(attr):
                async def timed(*args: Any, **kwargs: Any) -> Any:
                    t0 = time.perf_counter()
                    try:
                        return await attr(*args, **kwargs)
                    finally:
                        log.debug("%s(%s) %.1f ms", name, ", ".join(map(str, args)),
                                  (time.perf_counter() - t0) * 1000)
                return timed
        return attr

    async def place_order(self, symbol: str, side: Side, qty: Decimal, price: Decimal | None = None,
                          **kwargs: Any) -> OrderInfo:
        """Place, and log the request and the answer."""
        what = f"{side.value} {qty} {symbol} {'market' if price is None else f'@ {price}'}"
        try:
            o = await self._inner.place_order(symbol, side, qty, price, **kwargs)
        except BybitMMError as e:
            log.info("place %s failed: %s", what, e.one_line())
            raise
        log.info("place %s -> %s", what, _order(o))
        return o

    async def amend_order(self, symbol: str, **kwargs: Any) -> OrderInfo:
        """Amend, and log it."""
        ident = kwargs.get("client_order_id") or kwargs.get("order_id")
        o = await self._inner.amend_order(symbol, **kwargs)
        if log.isEnabledFor(logging.INFO):  # the engine amends every step: skip formatting nobody reads
            log.info("amend %s to %s x %s -> %s", ident, kwargs.get("price"), kwargs.get("qty"), _order(o))
        return o

    async def cancel_order(self, symbol: str, **kwargs: Any) -> OrderInfo:
        """Cancel, and log it."""
        o = await self._inner.cancel_order(symbol, **kwargs)
        log.info("cancel %s -> %s", kwargs.get("client_order_id") or kwargs.get("order_id"), _order(o))
        return o

    async def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel all, and log how many."""
        n = await self._inner.cancel_all(symbol)
        log.info("cancel all %s: %d order(s)", symbol or "symbols", n)
        return n

    async def close_position(self, symbol: str) -> OrderInfo | None:
        """Close the position, and log the market order."""
        o = await self._inner.close_position(symbol)
        log.info("close %s -> %s", symbol, _order(o))
        return o

    async def set_leverage(self, symbol: str, leverage: Decimal) -> bool:
        """Set the leverage, and log whether it changed."""
        changed = await self._inner.set_leverage(symbol, leverage)
        log.info("leverage %s %sx: %s", symbol, leverage, "set" if changed else "already so")
        return changed

    async def set_margin_mode(self, symbol: str, mode: Any) -> bool:
        """Set the margin mode, and log whether it changed."""
        changed = await self._inner.set_margin_mode(symbol, mode)
        log.info("margin mode %s (%s): %s", mode, symbol, "set" if changed else "already so")
        return changed
