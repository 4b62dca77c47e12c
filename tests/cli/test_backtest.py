"""`bybit-mm backtest`: Bybit-format files in, the paper summary plus the replay's figures out."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bybit_mm.cli.backtest import parse_time
from bybit_mm.errors import UsageError

PAPER_KEYS = {"fills", "buy_fills", "sell_fills", "volume", "starting_balance", "equity", "realized_pnl",
              "unrealized_pnl", "fees", "funding", "position_qty", "max_abs_position", "min_liq_distance_pct",
              "liquidations", "stop_reason", "simulated_seconds", "spread_capture", "adverse_selection", "inventory_pnl",
              "spread_capture_bps", "adverse_selection_bps", "inventory_pnl_bps", "fees_bps", "funding_bps",
              "total_pnl_bps", "attributed_fills", "markout_1s_bps", "markout_10s_bps", "markout_60s_bps",
              "markout_1s_fills", "markout_10s_fills", "markout_60s_fills", "orders_placed",
              "orders_amended", "orders_cancelled", "total_pnl"}


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from bybit_mm.data.synthetic import write_bybit_day

    book, trades = write_bybit_day(tmp_path_factory.mktemp("bybit"), "BTCUSDT", "2026-01-01", n_events=60_000,
                                   seed=4, start_price=95_000.0)
    return [book, trades]


def test_json_is_one_object_with_the_paper_keys_and_the_replay_and_is_deterministic(
        cli: Callable[..., Any], day: list[Path], home: Path) -> None:
    args = ["backtest", "--data", str(day[0]), str(day[1]), "--json"]
    first = cli(*args)
    assert first.exit_code == 0, first.stderr
    out = json.loads(first.stdout)
    assert PAPER_KEYS <= set(out) and out["type"] == "backtest" and out["network"] == "backtest"
    assert out["events"] > 50_000 and out["decisions"] > 0 and out["data_span_s"] > 0
    assert out["mark_source"] == "mid" and out["funding_source"] == "none"
    assert out["stop_reason"] == "end of data"
    assert "events/s" in first.stderr
    second = cli(*args)
    assert second.stdout == first.stdout  # byte-identical
    journals = list((home).rglob("backtest/*/journal-BTCUSDT.sqlite"))
    assert len(journals) == 1
    runs = sqlite3.connect(journals[0]).execute("SELECT network, summary FROM runs").fetchall()
    assert len(runs) == 2 and runs[0][0] == "backtest" and json.loads(runs[0][1])["events"] == out["events"]


def test_a_window_and_the_table(cli: Callable[..., Any], day: list[Path]) -> None:
    r = cli("backtest", "--data", str(day[0]), "--data", str(day[1]), "--from", "2026-01-01T00:01",
            "--to", "2026-01-01T00:30", "--interval", "0.5", "--requote", "0.1", env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.stderr
    for label in ("backtest", "fills (buy / sell)", "events (decisions)", "events/s", "data span (UTC)",
                  "the mid (no mark prices in the data)", "none (no funding rates in the data)"):
        assert label in r.stdout


@pytest.mark.parametrize("args, needle", [
    (["--from", "yesterday"], "--from 'yesterday' is not a time"),
    (["--from", "2026-01-02", "--to", "2026-01-01"], "--to must be after --from"),
    (["--model", "nope"], "--model must be as or glft"),
    (["--from", "2026-01-05"], "no market data in the given files and time window"),
])
def test_bad_options_exit_2_with_one_line(cli: Callable[..., Any], day: list[Path], args: list[str],
                                          needle: str) -> None:
    r = cli("backtest", "--data", str(day[0]), *args)
    assert r.exit_code == 2
    assert needle in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_missing_or_damaged_file_exits_2(cli: Callable[..., Any], tmp_path: Path) -> None:
    r = cli("backtest", "--data", str(tmp_path / "2026-01-01_BTCUSDT_ob500.data.zip"))
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    bad = tmp_path / "2026-01-02_BTCUSDT_ob500.data.zip"
    bad.write_bytes(b"PK\x03\x04 truncated")
    r = cli("backtest", "--data", str(bad))
    assert r.exit_code == 2 and str(bad.name) in r.stderr and "Traceback" not in r.stderr


def test_parse_time_forms() -> None:
    assert parse_time("--from", "2026-01-01") == 1_767_225_600_000 * 1_000_000
    assert parse_time("--from", "2026-01-01T00:00:01Z") == 1_767_225_601_000 * 1_000_000
    assert parse_time("--from", "1767225600000") == 1_767_225_600_000 * 1_000_000
    assert parse_time("--from", None) is None
    with pytest.raises(UsageError):
        parse_time("--to", "2026-13-01")
