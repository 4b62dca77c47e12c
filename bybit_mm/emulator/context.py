"""What an endpoint handler gets: the sim, the settings, and small helpers shared by handlers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bybit_mm.emulator.config import EmulatorConfig
from bybit_mm.emulator.dcp import Dcp
from bybit_mm.emulator.wire import ApiError

if TYPE_CHECKING:
    from bybit_mm.domain.instruments import Instrument
    from bybit_mm.sim.exchange import SimExchange


@dataclass
class HandlerContext:
    """Shared by every request of one emulator instance."""

    exchange: SimExchange
    config: EmulatorConfig
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    #: Disconnection protection: windows set over REST, the countdown driven by the WebSocket side.
    dcp: Dcp = field(default_factory=Dcp)

    def next_seq(self) -> int:
        """A growing sequence number (Bybit's ``seq`` fields)."""
        return next(self._seq)

    def instrument(self, symbol: str) -> Instrument:
        """The instrument traded as ``symbol``; 10001 "symbol invalid" when the sim has none."""
        for inst in self.exchange.instruments():
            if inst.symbol == symbol:
                return inst
        raise ApiError(10001, f"params error: symbol invalid ({symbol!r} is not listed on the emulator)")

    def symbols(self) -> list[str]:
        """Every listed symbol, in the sim's order."""
        return [inst.symbol for inst in self.exchange.instruments()]
