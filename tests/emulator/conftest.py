"""Fixtures: an emulator on a SimClock with market history (see ``emu_client`` for the ccxt side)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emu_client import WARM_UP_MS

from bybit_mm.emulator.runner import EmulatorHandle, running_emulator


@pytest.fixture
def emu() -> Iterator[EmulatorHandle]:
    """An emulator on a SimClock with BTCUSDT and ETHUSDT and ten minutes of market history."""
    with running_emulator(symbols=("BTCUSDT", "ETHUSDT"), seed=3) as handle:
        handle.run_until(handle.clock.now_ms() + WARM_UP_MS)
        yield handle
