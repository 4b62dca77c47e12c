"""`bybit-mm runs` and `bybit-mm report` over real paper runs; the HTML rendered by headless Chromium."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bybit_mm.cli.app import app

PAPER = ["paper", "--market", "sim", "--speed", "0", "--leverage", "50", "--gamma", "0.001", "--json"]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class Home:
    """A BYBIT_MM_HOME with journaled runs, and `bybit-mm` run in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runner = CliRunner()
        #: The backtest's JSON summary, when the fixture ran one.
        self.backtest: dict[str, Any] = {}

    def __call__(self, *args: str, columns: int = 100) -> Any:
        env = {"NO_COLOR": "1", "COLUMNS": str(columns), "BYBIT_MM_HOME": str(self.path), "BYBIT_MM_PROFILE": ""}
        return self.runner.invoke(app, list(args), env=env)


HAS_BACKTEST = importlib.util.find_spec("bybit_mm.cli.backtest") is not None
needs_backtest = pytest.mark.skipif(not HAS_BACKTEST, reason="`bybit-mm backtest` (the backtest driver) "
                                    "is not on this branch yet")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """A fresh 6-minute paper run (it fills), then a 2-minute run that resumes its session; and a
    backtest over a synthetic Bybit day when the backtest exists."""
    h = Home(tmp_path_factory.mktemp("home"))
    for args in (["--duration", "6m", "--fresh"], ["--duration", "2m"]):
        r = h(*PAPER, *args)
        assert r.exit_code == 0, r.stderr
    if HAS_BACKTEST:
        from bybit_mm.config.paths import templates_dir
        from bybit_mm.data.synthetic import write_bybit_day

        # The paper template with short estimator windows and no maker fee, so the synthetic
        # day's 7 minutes are quoted within reach and fill.
        profile = (templates_dir() / "paper.toml").read_text().replace('fee_tier = "VIP0"', 'fee_tier = "SVIP"')
        profile = profile.replace("[quoting]", "[quoting]\nvol_window_s = 60.0\nintensity_window_s = 120.0")
        (h.path / "profiles").mkdir()
        (h.path / "profiles" / "bt.toml").write_text(profile)
        book, trades = write_bybit_day(tmp_path_factory.mktemp("bybit"), "BTCUSDT", "2026-01-01",
                                       n_events=30_000, seed=4, start_price=95_000.0)
        r = h("--profile", "bt", "backtest", "--data", str(book), str(trades), "--gamma", "0.001", "--json")
        assert r.exit_code == 0, r.stderr
        h.backtest = json.loads(r.stdout)
    yield h


def test_runs_lists_the_paper_runs(home: Home) -> None:
    r = home("runs", "--json")
    assert r.exit_code == 0, r.stderr
    runs = [x for x in json.loads(r.stdout) if x["kind"] == "paper"]
    assert [x["id"] for x in runs] == ["paper/paper/BTCUSDT/1", "paper/paper/BTCUSDT/2"]
    first, second = runs
    assert first["kind"] == "paper" and first["profile"] == "paper" and first["symbol"] == "BTCUSDT"
    # the run ends after the step that reaches 6 min, whose requests take their simulated latency
    assert 360 <= first["duration_s"] < 363 and first["stop_reason"] == "duration reached" and not first["resumed"]
    assert first["fills"] > 0 and isinstance(first["net_pnl"], float)
    assert second["resumed"] and second["fills"] >= first["fills"] and second["started_ms"] > first["started_ms"]
    assert second["started"].endswith("Z")


@needs_backtest
def test_runs_lists_the_backtest_run_and_reports_it_from_its_fills(home: Home, tmp_path: Path) -> None:
    runs = json.loads(home("runs", "--json").stdout)
    (bt,) = [x for x in runs if x["kind"] == "backtest"]
    summary = home.backtest
    assert bt["id"] == "backtest/bt/BTCUSDT/1" and bt["network"] == "backtest" and not bt["resumed"]
    assert bt["fills"] == summary["fills"] > 0 and bt["net_pnl"] == pytest.approx(summary["total_pnl"])
    assert bt["stop_reason"] == summary["stop_reason"] and bt["started_ms"] == summary["started_ms"]
    r = home("report", "backtest/bt/BTCUSDT/1", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["fills"] == summary["fills"] and data["pnl_split"]["net"] == pytest.approx(summary["total_pnl"])
    assert data["pnl_split"]["spread_capture"] == pytest.approx(summary["spread_capture"])
    assert data["pnl_split"]["adverse_selection"] == pytest.approx(-summary["adverse_selection"])
    assert data["adverse_horizon_s"] == 60
    if data["curve_source"] == "fills":  # the backtest journals no snapshots: the curve is its fills replayed
        assert data["points"] == summary["fills"] and any("no snapshots" in n for n in data["notes"])
    out = tmp_path / "bt.png"
    assert home("report", "backtest/bt/BTCUSDT/1", "--out", str(out)).exit_code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_runs_table_fits_80_columns(home: Home) -> None:
    r = home("runs", columns=80)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    row = next(line for line in lines if line.startswith("paper/paper/BTCUSDT/1 "))
    assert re.search(r"\b6m0[0-2]s\b", row) and "duration reached" in row
    assert "resumed" in r.stdout  # the caption explaining the * of run 2


def test_runs_with_nothing_journaled_says_so(tmp_path: Path) -> None:
    r = Home(tmp_path)("runs")
    assert r.exit_code == 0 and r.stdout == ""
    assert "no journaled runs" in r.stderr and "bybit-mm paper" in r.stderr
    r = Home(tmp_path)("runs", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []


@pytest.mark.parametrize("ref, needle", [("paper/paper/BTCUSDT/9", "no run"), ("nope", "bybit-mm runs")])
def test_report_of_an_unknown_run_exits_2_with_where_to_find_ids(home: Home, ref: str, needle: str) -> None:
    r = home("report", ref, "--out", "x.html")
    assert r.exit_code == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_report_writes_html_named_for_the_run_here_by_default(home: Home, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = home("report", "paper/BTCUSDT/1")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == "report-paper-paper-BTCUSDT-1.html"
    assert (tmp_path / "report-paper-paper-BTCUSDT-1.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_refuses_other_formats_and_unwritable_places(home: Home, tmp_path: Path) -> None:
    r = home("report", "paper/BTCUSDT/1", "--out", str(tmp_path / "r.pdf"))
    assert r.exit_code == 2 and ".html or .png" in r.stderr
    r = home("report", "paper/BTCUSDT/1", "--out", str(tmp_path / "no" / "such" / "dir" / "r.png"))
    assert r.exit_code == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_report_json_has_the_split_and_markouts(home: Home) -> None:
    r = home("report", "paper/BTCUSDT/1", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    split = data["pnl_split"]
    parts = split["spread_capture"] + (split["adverse_selection"] or 0) + split["inventory"]
    assert parts - split["fees"] - split["funding"] == pytest.approx(split["net"], abs=1e-6)
    assert split["net"] == pytest.approx(data["run"]["net_pnl"]) and split["source"] == "summary"
    assert [m["horizon_s"] for m in data["markouts"]] == [0, 1, 10, 60]
    # a snapshot every 10 s of market time for 6 minutes, at the first step after each 10 s (a step
    # is a second plus its requests' latency)
    assert data["curve_source"] == "snapshots" and 30 <= data["points"] <= 36


def test_the_report_extra_missing_exits_3_naming_it(home: Home, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)  # as if not installed: importing it fails
    r = home("report", "paper/BTCUSDT/1", "--out", str(tmp_path / "r.html"))
    assert r.exit_code == 3 and "bybit-mm[report]" in r.stderr and "plotly" in r.stderr
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    r = home("report", "paper/BTCUSDT/1", "--out", str(tmp_path / "r.png"))
    assert r.exit_code == 3 and "bybit-mm[report]" in r.stderr and "matplotlib" in r.stderr


def test_png_report_is_a_valid_png(home: Home, tmp_path: Path) -> None:
    out = tmp_path / "run.png"
    r = home("report", "paper/paper/BTCUSDT/1", "--out", str(out))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == str(out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1120, 1440)  # 14 x 18 inches at 80 dpi
    assert 30_000 < len(data) < 2_000_000


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def render(page: Path, profile_dir: Path) -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium; returns the DOM after its scripts ran and the console lines."""
    browser = _browser()
    assert browser is not None
    out = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile_dir}",
         "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: the page must be self-contained
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout, [line for line in out.stderr.splitlines() if ":CONSOLE" in line]


needs_browser = pytest.mark.skipif(_browser() is None, reason="no Chromium to render the report (CI installs it: "
                                   "apt-get install chromium)")


@needs_browser
def test_the_render_check_catches_a_broken_page(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>noSuchFunction();</script></body></html>")
    dom, console = render(page, tmp_path / "chromium")
    assert "main-svg" not in dom and any("Uncaught ReferenceError" in line for line in console)


@needs_browser
def test_html_report_renders_in_a_headless_browser(home: Home, tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    r = home("report", "paper/paper/BTCUSDT/2", "--out", str(out))
    assert r.exit_code == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    assert set(re.findall(r"<script\b[^>]*>", text)) <= {"<script>", '<script type="text/javascript">'}  # inlined
    dom, console = render(out, tmp_path / "chromium")
    assert console == [], console  # no JavaScript error (nor any console output)
    assert dom.count('class="plot-container plotly"') == 3  # the timeline, the split and the markouts
    assert dom.count('class="main-svg"') >= 3
    for title in ("Equity (USDT)", "Inventory (position", "Distance to liquidation", "PnL split", "Fill markouts"):
        assert title in dom
    assert "run 2 resumed its session" in dom
