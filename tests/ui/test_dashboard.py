"""The live table at the terminal's size, its last frame, sign conventions and number formatting."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from decimal import Decimal as D

import pytest
from rich.console import Console

from bybit_mm.engine.snapshot import EngineSnapshot, RunSummary
from bybit_mm.ui.dashboard import dashboard, final_snapshot, progress_line, summary_table
from bybit_mm.ui.format import number, significant

NEG_ZERO = re.compile(r"(?<![\d.,])-0(?:\.0+)?(?![\d.,])")
SECTIONS = ("Market", "Model", "Quotes", "Position", "PnL", "Activity")


def _snap(**kw: object) -> EngineSnapshot:
    base = EngineSnapshot(
        ts_ms=1, symbol="BTCUSDT", network="emulator", status="quoting", iteration=9, elapsed_s=65.0,
        feed="stream", best_bid=D("70123.4"), best_ask=D("70123.5"), mid=D("70123.45"), mark=D("70120.1"),
        tick=D("0.1"), model="as-rolling", reservation_price=70123.2, model_half_spread=12.5, sigma=3.2,
        k=0.4, A=1.2, skew=0.01, inventory_q=1.0, bid_price=D("70110.1"), bid_qty=D("0.001"),
        ask_price=D("70136.9"), ask_qty=D("0.001"), bid_from_touch_ticks=133, ask_from_touch_ticks=134,
        position_qty=D("0.001"), entry_price=D("70100.0"), leverage=D(50), position_margin=D("1.402"),
        liq_price=D("68800.2"), liq_distance_pct=D("1.883"), liq_trigger_pct=D("0.5"), liq_level="ok",
        max_position=D("0.05"), starting_balance=D(10000), wallet_balance=D("9999.7"), equity=D("9999.72"),
        realized_pnl=D("0.10"), unrealized_pnl=D("0.02"), fees=D("0.30"), funding=D("0.01"),
        spread_capture=D("0.2"), adverse_selection=D("0.05"), inventory_pnl=D("-0.03"), notional=D("210.37"),
        markout_1s_bps=4.2, markout_10s_bps=1.1, markout_60s_bps=-2.35, fills=3, buy_fills=2, sell_fills=1, volume=D("0.003"),
        orders_placed=5, orders_amended=40, orders_cancelled=2, orders_rejected=1, errors=0,
        latency_p50_ms=3.21, latency_p99_ms=45.6, max_abs_position=D("0.002"), min_liq_distance_pct=D("1.5"),
        notes=("estimators warming up",), stop_reason="duration reached")
    return replace(base, **kw)  # type: ignore[arg-type]


def _summary(**kw: object) -> RunSummary:
    base = RunSummary(
        symbol="BTCUSDT", network="emulator", stop_reason="duration reached", fills=4, buy_fills=2,
        sell_fills=2, maker_fills=4, volume=D("0.004"), notional=D("280"), starting_balance=D(10000),
        equity=D("9999.70"), wallet_balance=D("9999.70"), realized_pnl=D("0.12"), unrealized_pnl=D(0),
        fees=D("0.30"), funding=D("0.01"), spread_capture=D("0.21"), adverse_selection=D("0.04"),
        inventory_pnl=D("-0.05"), total_pnl=D("-0.19"), spread_capture_bps=7.5, adverse_selection_bps=1.4286,
        inventory_pnl_bps=-1.7857, fees_bps=10.7143, funding_bps=0.3571, total_pnl_bps=-6.7857, attributed_fills=4,
        markout_1s=D("0.1"), markout_1s_bps=3.5714, markout_1s_fills=4, markout_10s=D("0.05"),
        markout_10s_bps=1.7857, markout_10s_fills=3, markout_60s=D(0), markout_60s_bps=None, markout_60s_fills=0, position_qty=D(0), max_abs_position=D("0.002"), min_liq_distance_pct=D("1.5"),
        liquidations=0, emergency_reduces=0, orders_placed=6, orders_amended=41, orders_cancelled=3,
        orders_rejected=1, errors=0, cancelled_on_exit=1, flattened=False, simulated_seconds=66.0,
        started_ms=0, ended_ms=66_000)
    return replace(base, **kw)  # type: ignore[arg-type]


def _render(renderable: object, width: int, height: int = 60) -> list[str]:
    console = Console(width=width, height=height, no_color=True, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().rstrip("\n").splitlines()


def test_at_80x24_every_section_and_the_bottom_border_fit() -> None:
    lines = _render(dashboard(_snap(), width=80, height=24), 80, 24)
    assert len(lines) <= 24 and max(len(x) for x in lines) <= 80
    text = "\n".join(lines)
    assert all(name in text for name in SECTIONS)
    assert lines[-1].startswith("╰") and "stopped: duration reached" in text
    assert "70,110.1 × 0.001" in text and "70,136.9 × 0.001" in text  # prices whole


def test_a_wide_terminal_is_used() -> None:
    narrow = _render(dashboard(_snap(), width=80, height=60), 80)
    wide = _render(dashboard(_snap(), width=120, height=60), 120)
    assert max(len(x) for x in narrow) <= 80
    assert 100 <= max(len(x) for x in wide) <= 120  # three pairs a row, not 75 columns
    assert len(wide) < len(narrow)
    assert all(name in "\n".join(wide) for name in SECTIONS)


def test_the_last_frame_shows_what_the_summary_shows() -> None:
    frame = "\n".join(_render(dashboard(final_snapshot(_snap(), _summary()), width=80), 80))
    table = "\n".join(_render(summary_table(_summary()), 80))
    assert "0 (flat)" in frame and "0.001 (long)" not in frame
    assert "4 (2 b / 2 s)" in frame and "4 (2 / 2)" in table
    assert "0.004" in frame and "0.004" in table
    assert "stopped" in frame and "6 new / 41 amend" in frame


def test_fees_have_one_sign_in_the_table_and_the_summary() -> None:
    frame = "\n".join(_render(dashboard(_snap(fees=D("0.30")), width=80), 80))
    table = "\n".join(_render(summary_table(_summary(fees=D("0.30"))), 80))
    assert re.search(r"fees paid\s+\+0\.3000", frame) and re.search(r"fees paid.*\+0\.3000", table)
    rebate = "\n".join(_render(dashboard(_snap(fees=D("-0.30")), width=80), 80))
    assert re.search(r"fees paid\s+-0\.3000", rebate)


def test_negative_zero_is_never_printed() -> None:
    zeroish = dict(realized_pnl=D("-0.0001"), unrealized_pnl=D("-0"), fees=D("-0.00"), funding=D("-0.000"),
                   inventory_q=-0.0, skew=-0.0, position_qty=D("-0"), spread_capture=D("-0.004"),
                   inventory_pnl=D("0.004"), liq_distance_pct=D("-0.0001"), equity=D("-0.001"))
    text = "\n".join(_render(dashboard(_snap(**zeroish), width=120), 120))
    text += "\n".join(_render(summary_table(_summary(unrealized_pnl=D("-0"), funding=D("-0.00"),
                                                     position_qty=D("-0.000"))), 80))
    assert NEG_ZERO.findall(text) == []
    assert number(D("-0.001"), 2) == "0.00" and number(-0.0, 2, sign=True) == "+0.00"
    assert number(D("-0E-8")) == "0" and significant(-0.0) == "0"
    assert number(D("-1234.5"), 2) == "-1,234.50" and number(D("0.00010")) == "0.0001"


def test_progress_of_simulated_time_with_an_eta() -> None:
    line = progress_line(600, 1200, 30.0).plain
    assert "00:10:00 / 00:20:00" in line and "50%" in line and "ETA 00:00:30" in line
    lines = _render(dashboard(_snap(), width=80, height=24, progress=progress_line(600, 1200, None)), 80, 24)
    assert "50%" in lines[-1] and lines[-1].startswith("╰")


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_no_price_is_ever_cut(width: int) -> None:
    text = "\n".join(_render(dashboard(_snap(stop_reason=None), width=width, height=24), width, 24))
    for price in ("70,123.4", "70,123.5", "70,110.1", "70,136.9", "68,800.2", "70,100.0"):
        assert price in text
    assert "…" not in text


def test_the_live_view_shows_progress_and_eta_then_the_final_state() -> None:
    from types import SimpleNamespace

    from bybit_mm.cli.paper import _LiveView

    trader = SimpleNamespace(latest=_snap(elapsed_s=300.0, stop_reason=None), summary=None)
    view = _LiveView(trader, total_s=1200.0)  # type: ignore[arg-type]
    view._t0 -= 10.0  # 300 s of market time took 10 s: 900 s to go take 30 s
    console = Console(width=80, height=24, record=True, no_color=True, file=io.StringIO())
    console.print(view)
    frame = console.export_text()
    assert "00:05:00 / 00:20:00" in frame and " 25% ETA 00:00:3" in frame
    trader.summary = _summary()
    view.settle()
    console.print(view)
    final = console.export_text()
    assert "ETA" not in final and "0 (flat)" in final and "4 (2 b / 2 s)" in final


def test_the_attribution_is_on_the_80x24_table_and_in_the_summary() -> None:
    text = "\n".join(_render(dashboard(_snap(), width=80, height=24), 80, 24))
    # 0.2 of 210.37 traded: +9.5 bp; adverse selection a cost (+); markouts at 1/10/60 s
    assert re.search(r"capture\s+\+0\.2000 \+9\.5bp", text) and re.search(r"adverse\s+\+0\.0500 \+2\.4bp", text)
    assert re.search(r"inventory\s+-0\.0300 -1\.4bp", text) and "+4.2/+1.1/-2.4 bp" in text
    assert re.search(r"total\s+-0\.1900 -9\.0bp", text)
    fresh = "\n".join(_render(dashboard(_snap(notional=D(0), markout_1s_bps=None, markout_10s_bps=None,
                                               markout_60s_bps=None), width=80, height=24), 80, 24))
    assert re.search(r"1/10/60s\s+–", fresh) and "bp" not in fresh  # nothing traded yet
    table = "\n".join(_render(summary_table(_summary()), 80))
    assert re.search(r"spread capture \(at the fill\)\s+│\s+\+0\.2100 \(\+7\.5 bps\)", table)
    assert re.search(r"markout 10 s\s+│\s+\+1\.79 bps \(3 of 4 fills\)", table)
    assert re.search(r"markout 60 s\s+│\s+– \(0 of 4 fills\)", table)
