"""`bybit-mm emulator --preset`: every listed symbol's synthetic market takes the preset's shape."""

from __future__ import annotations

from bybit_mm.emulator.config import EmulatorConfig
from bybit_mm.emulator.server import build_exchange
from bybit_mm.sim.clock import SimClock
from bybit_mm.sim.market import PRESETS

DAY0 = 1_767_225_600_000


def test_a_preset_shapes_every_symbol_and_none_keeps_their_own() -> None:
    ex = build_exchange(EmulatorConfig(symbols=("BTCUSDT", "ARBUSDT"), preset="thin-alt"), SimClock(DAY0))
    btc = ex.orderbook("BTCUSDT", 1)
    assert (btc.asks[0][0] - btc.bids[0][0]) / ex.instrument("BTCUSDT").tick_size >= PRESETS["thin-alt"].spread_ticks
    arb = ex.orderbook("ARBUSDT", 1)
    assert 0.3 < float(arb.bids[0][0]) < 0.7  # the thin alt's own price
    own = build_exchange(EmulatorConfig(symbols=("BTCUSDT",)), SimClock(DAY0))
    assert own.orderbook("BTCUSDT", 1).asks[0][0] - own.orderbook("BTCUSDT", 1).bids[0][0] < 1


def test_an_unknown_preset_is_a_usage_error(cli) -> None:
    result = cli("emulator", "--preset", "deepest")
    assert result.exit_code == 2 and "--preset" in result.output and "thin-alt" in result.output
