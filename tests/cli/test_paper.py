"""`bybit-mm paper`: JSON lines, the table at 80 columns, options, resume, errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from bybit_mm.cli.paper import parse_duration
from bybit_mm.errors import UsageError

SUMMARY_KEYS = {"fills", "buy_fills", "sell_fills", "volume", "starting_balance", "equity", "realized_pnl",
                "unrealized_pnl", "fees", "funding", "position_qty", "max_abs_position",
                "min_liq_distance_pct", "liquidations", "stop_reason", "simulated_seconds",
                "spread_capture", "adverse_selection", "inventory_pnl", "spread_capture_bps",
                "adverse_selection_bps", "inventory_pnl_bps", "fees_bps", "funding_bps", "total_pnl_bps",
                "attributed_fills", "markout_1s_bps", "markout_10s_bps", "markout_60s_bps", "markout_1s_fills",
                "markout_10s_fills", "markout_60s_fills"}
FAST = ["paper", "--leverage", "50", "--market", "sim", "--speed", "0", "--gamma", "0.001"]


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.strip().splitlines()]


def test_json_lines_snapshots_then_the_summary(cli: Callable[..., Any]) -> None:
    r = cli(*FAST, "--duration", "4m", "--json")
    assert r.exit_code == 0, r.stderr
    rows = _lines(r.stdout)
    snaps, summary = rows[:-1], rows[-1]
    assert summary["type"] == "summary" and SUMMARY_KEYS <= set(summary)
    # the run ends after the step that reaches 4 min, whose requests take their simulated round trips
    assert summary["stop_reason"] == "duration reached" and 240 <= summary["simulated_seconds"] < 243
    assert summary["starting_balance"] == 10000
    # one per 10 s of market time: 24 in 4 min, 23 when the steps' round trips put the 24th after the end
    assert all(s["type"] == "snapshot" for s in snaps) and len(snaps) in (23, 24)
    assert all(b["ts_ms"] - a["ts_ms"] >= 10_000 for a, b in zip(snaps, snaps[1:]))
    assert summary["fills"] == summary["buy_fills"] + summary["sell_fills"] > 0


def test_balance_and_seed_apply_to_a_new_account(cli: Callable[..., Any]) -> None:
    r = cli(*FAST, "--duration", "2m", "--balance", "2500", "--seed", "9", "--json")
    assert r.exit_code == 0, r.stderr
    assert _lines(r.stdout)[-1]["starting_balance"] == 2500


def test_a_second_run_resumes_the_session_and_fresh_starts_over(cli: Callable[..., Any]) -> None:
    # 3 market minutes each: the resume is the point, not the length of the runs
    first = _lines(cli(*FAST, "--duration", "3m", "--json").stdout)[-1]
    second = cli(*FAST, "--duration", "3m", "--json")
    again = _lines(second.stdout)[-1]
    assert first["fills"] > 0 and again["fills"] > first["fills"]
    assert again["starting_balance"] == first["starting_balance"]
    fresh = _lines(cli(*FAST, "--duration", "1m", "--fresh", "--balance", "777", "--json").stdout)[-1]
    assert fresh["starting_balance"] == 777 and fresh["fills"] == 0


def test_the_table_fits_80_columns(cli: Callable[..., Any]) -> None:
    r = cli(*FAST, "--duration", "3m", env={"COLUMNS": "80", "LINES": "24"})
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    for label in ("Market", "Quotes", "Position", "liq price", "PnL", "capture", "adverse", "inventory", "Activity",
                  "latency", "stopped: duration reached", "fills (buy / sell)", "min liq distance"):
        assert label in out
    assert max(len(line) for line in out.splitlines()) <= 80
    lines = out.splitlines()
    frame = lines[:next(i for i, line in enumerate(lines) if line.startswith("╰")) + 1]
    assert len(frame) <= 24  # the whole last frame, bottom border included, on an 80x24 screen
    # ... and it shows the final state the summary under it reports
    summary = {m.group(1).strip(): m.group(2).strip() for line in lines[len(frame):]
               if (m := re.match(r"│ (.+?)\s+│\s+(.+?) │", line))}
    frame_text = "\n".join(frame)
    fills = re.search(r"fills\s+(\d+) \((\d+) b / (\d+) s\)", frame_text)
    assert fills is not None and summary["fills (buy / sell)"] == f"{fills[1]} ({fills[2]} / {fills[3]})"
    assert re.search(r"volume\s+" + re.escape(summary["volume"]) + r"\s", frame_text)
    assert re.search(r"size\s+" + re.escape(summary["position"]) + r" \(", frame_text)
    fees = re.fullmatch(r"(\S+) \((\S+) bps\)", summary["fees paid (− = rebates)"])
    assert fees is not None and re.search(r"fees paid\s+" + re.escape(f"{fees[1]} {fees[2]}bp") + r"\s", frame_text)


@pytest.mark.parametrize("args, needle", [
    (["--duration", "soon"], "is not a duration"),
    (["--model", "xyz"], "--model must be one of as, glft"),
    (["--market", "moon"], "--market must be one of sim, live"),
    (["--symbol", "NOPEUSDT", "--duration", "1m"], "NOPEUSDT"),
])
def test_bad_options_exit_2_with_one_line(cli: Callable[..., Any], args: list[str], needle: str) -> None:
    r = cli(*FAST, *args)
    assert r.exit_code == 2
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_leverage_above_the_symbol_maximum_is_refused(cli: Callable[..., Any]) -> None:
    r = cli("paper", "--market", "sim", "--speed", "0", "--duration", "1m", "--leverage", "150")
    assert r.exit_code == 2 and "leverage" in r.stderr


@pytest.mark.parametrize("text, seconds", [("20m", 1200), ("90s", 90), ("1h30m", 5400), ("1200", 1200),
                                           ("0.5m", 30), (None, None)])
def test_parse_duration(text: str | None, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_nonsense() -> None:
    for bad in ("abc", "0", "m", "-5m", "", " "):
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_verbose_logs_decisions_and_order_actions_on_stderr(cli: Callable[..., Any]) -> None:
    r = cli("-v", *FAST, "--duration", "2m", "--json")
    assert r.exit_code == 0, r.stderr
    assert re.search(r"INFO bybit_mm\.orders: place (Buy|Sell) 0\.\d+ BTCUSDT @ [\d.]+ -> new", r.stderr)
    assert re.search(r"INFO bybit_mm\.orders: amend mm-\S+ to [\d.]+ x", r.stderr)
    assert "status: quoting" in r.stderr and "cancel all BTCUSDT" in r.stderr
    assert "decision:" not in r.stderr and all(line.startswith("{") for line in r.stdout.splitlines())
    rr = cli("-vv", *FAST, "--duration", "1m", "--json")
    assert re.search(r"DEBUG bybit_mm\.engine\.trader: decision: mid [\d.]+ .* -> Buy", rr.stderr)
    assert re.search(r"DEBUG bybit_mm\.orders: balance\(\) [\d.]+ ms", rr.stderr)
    quiet = cli(*FAST, "--duration", "1m", "--json")
    assert "INFO" not in quiet.stderr and "DEBUG" not in quiet.stderr


def test_order_latency_changes_a_paper_run_on_the_same_seed(cli: Callable[..., Any], home: Any) -> None:
    """`paper --market sim`: the same seed with 0 ms and 250 ms on every request and on the feed."""
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    for ms in (0, 250):
        (home / "profiles" / f"lat{ms}.toml").write_text(
            f'[market]\nsymbol = "BTCUSDT"\nleverage = 50\n[paper]\nseed = 3\nlatency_ms = {ms}\n'
            f'response_latency_ms = {ms}\nfeed_latency_ms = {ms}\n', encoding="utf-8")
    summaries = {}
    for ms in (0, 250):
        r = cli("--profile", f"lat{ms}", *FAST, "--duration", "4m", "--fresh", "--json")
        assert r.exit_code == 0, r.stderr
        summaries[ms] = _lines(r.stdout)[-1]
    fast, slow = summaries[0], summaries[250]
    assert fast["fills"] > 0 and slow["fills"] > 0
    assert (fast["fills"], fast["realized_pnl"], fast["fees"]) != (slow["fills"], slow["realized_pnl"], slow["fees"])
    # every decision waits for its answers: fewer decisions, so fewer amends, in the same four minutes
    assert slow["orders_amended"] < fast["orders_amended"]
