"""`bybit-mm sweep`: combinations × data sets, locally and on Ray, failures in their rows, resumable."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: 3 × 2 = 6 combinations; leverage 150 is a valid profile value but above BTCUSDT's 100x: those
#: three fail in their backtest (a deliberately failing combination), the others run.
GRID = ["--grid", "quoting.risk_aversion=0.01,0.05,0.2", "--grid", "market.leverage=10,150"]


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from bybit_mm.data.synthetic import write_bybit_day

    root = tmp_path_factory.mktemp("days")
    out = []
    for i, day in enumerate(("2026-01-01", "2026-01-02")):
        write_bybit_day(root / day, "BTCUSDT", day, n_events=8_000, seed=10 + i, start_price=95_000.0)
        out.append(root / day)
    return out


def _data(days: list[Path]) -> list[str]:
    return [a for d in days for a in ("--data", str(d))]


def _table(r: Any) -> list[dict[str, Any]]:
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def _check_table(rows: list[dict[str, Any]]) -> None:
    assert len(rows) == 6
    ok = [r for r in rows if "error" not in r]
    bad = [r for r in rows if "error" in r]
    assert {r["market.leverage"] for r in ok} == {10.0} and len(ok) == 3
    assert {r["market.leverage"] for r in bad} == {150.0} and len(bad) == 3
    for r in bad:
        assert "2 of 2 failed" in r["error"] and "leverage 150.0x is above the maximum 100x" in r["error"]
    for r in ok:
        assert r["datasets"] == 2 and r["simulated_s"] > 0 and r["max_drawdown_pct"] >= 0
    assert rows[-3:] == bad  # failed combinations sort last


def test_local_and_ray_give_the_same_table(cli: Callable[..., Any], days: list[Path], home: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    local = _table(cli("sweep", *_data(days), *GRID, "--workers", "2", "--json"))
    _check_table(local)
    ray = pytest.importorskip("ray")
    # The Ray workers inherit this environment: their data cache stays in the test's home.
    monkeypatch.setenv("BYBIT_MM_HOME", str(home))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        r = cli("sweep", *_data(days), *GRID, "--ray-address", "auto", "--json")
    finally:
        ray.shutdown()
    assert _table(r) == local
    assert "on Ray at auto" in r.stderr


def test_the_table_sorts_and_cuts(cli: Callable[..., Any], days: list[Path]) -> None:
    r = cli("sweep", *_data(days[:1]), "--grid", "quoting.risk_aversion=0.01,0.2", "--grid", "market.leverage=10,150",
            "--sort", "max_drawdown", "--top", "3", "--workers", "1")
    assert r.exit_code == 0, r.stderr
    assert "sweep: 3 of 4 combinations, by max drawdown" in r.stdout
    assert "ran 4 of 4 tasks (4 combinations × 1 data sets)" in r.stderr and "2 failed" in r.stderr


def test_a_resumed_sweep_skips_finished_rows(cli: Callable[..., Any], days: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    args = ["sweep", *_data(days), *GRID, "--workers", "2", "--out", str(out)]
    first = cli(*args)
    assert first.exit_code == 0, first.stderr
    table = out.read_text()
    rows = list(csv.DictReader(table.splitlines()))
    assert len(rows) == 6 and sum(1 for r in rows if r["error"]) == 3
    tasks = out.with_name("sweep.csv.tasks.jsonl")
    lines = tasks.read_text().splitlines()
    assert len(lines) == 12
    # A crash: the last two finished rows lost, the one being written torn in half.
    ok = [ln for ln in lines if "error" not in json.loads(ln)]
    failed = [ln for ln in lines if "error" in json.loads(ln)]
    tasks.write_text("\n".join(failed + ok[:-2]) + "\n" + ok[-2][: len(ok[-2]) // 2])
    second = cli(*args)
    assert second.exit_code == 0, second.stderr
    # 6 successful tasks were written; 4 survived. Failed tasks run again.
    assert "resuming: 4 of 12 tasks already done" in second.stderr
    assert "ran 8 of 12 tasks" in second.stderr
    assert out.read_text() == table
    third = cli(*args)
    assert "resuming: 6 of 12 tasks already done" in third.stderr and "ran 6 of 12 tasks" in third.stderr
    assert out.read_text() == table


def test_random_draws_are_seeded_and_crossed_with_the_grid(cli: Callable[..., Any], days: list[Path]) -> None:
    args = ["sweep", *_data(days[:1]), "--grid", "quoting.requote_ticks=1,3", "--random", "2",
            "--range", "quoting.risk_aversion=0.005:0.1", "--range", "quoting.requote_ticks=1:5", "--workers", "1", "--json"]
    r = cli(*args)
    assert r.exit_code == 2 and "quoting.requote_ticks is given more than once" in r.stderr
    args[args.index("quoting.requote_ticks=1:5")] = "quoting.vol_window_s=30:300"
    rows = _table(cli(*args))
    assert len(rows) == 4 and {r["quoting.requote_ticks"] for r in rows} == {1, 3}
    assert all(0.005 <= r["quoting.risk_aversion"] <= 0.1 and 30 <= r["quoting.vol_window_s"] <= 300 for r in rows)
    assert _table(cli(*args)) == rows


@pytest.mark.parametrize("args, needle", [
    (["--grid", "quoting.gama=0.1"], "unknown key 'quoting.gama'"),
    (["--grid", "quoting.risk_aversion=0.1,-1"], "quoting.risk_aversion must be greater than 0, got -1.0"),
    (["--grid", "quoting.risk_aversion=0.1,abc"], "quoting.risk_aversion must be a number, got 'abc'"),
    (["--grid", "quoting.order_notional=100,nan"], "quoting.order_notional must be a finite number, got nan"),
    (["--random", "2", "--range", "quoting.risk_aversion=0.1:inf"], "quoting.risk_aversion must be"),
    (["--grid", "quoting.risk_aversion"], "--grid 'quoting.risk_aversion' must be KEY=V1,V2,..."),
    (["--grid", "paper.fee_tier=VIP0,VIP99"], "paper.fee_tier must be one of"),
    (["--random", "3"], "--random N needs at least one --range"),
    (["--range", "quoting.risk_aversion=0.1:0.2"], "--range needs --random N"),
    (["--random", "2", "--range", "quoting.model=as:glft"], "only numeric keys"),
    (["--grid", "quoting.risk_aversion=0.1", "--sort", "pnl"], "--sort must be one of"),
    (["--grid", "quoting.risk_aversion=0.1", "--out", "x.parquet"], "the table is written as CSV"),
    ([], "nothing to sweep"),
])
def test_bad_keys_and_values_exit_2_before_any_task(cli: Callable[..., Any], days: list[Path], args: list[str],
                                                     needle: str, tmp_path: Path) -> None:
    r = cli("sweep", *_data(days), *args, "--out", str(tmp_path / "s.csv")) if "--out" not in args else \
        cli("sweep", *_data(days), *args)
    assert r.exit_code == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.csv.tasks.jsonl").exists()


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` unimportable (a None entry in sys.modules raises ImportError on import)."""
    import sys

    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_ray_missing_names_the_extra(cli: Callable[..., Any], days: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "ray")
    r = cli("sweep", *_data(days), "--grid", "quoting.risk_aversion=0.1", "--ray-address", "auto")
    assert r.exit_code == 2 and "pip install 'bybit-mm[cluster]'" in r.stderr


def test_charting_missing_names_the_extra(cli: Callable[..., Any], days: list[Path], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "plotly", "matplotlib")
    for name in ("h.html", "h.png"):
        r = cli("sweep", *_data(days[:1]), "--grid", "quoting.risk_aversion=0.1,0.2", "--grid", "market.leverage=10",
                "--workers", "1", "--heatmap", "quoting.risk_aversion,market.leverage", "--heatmap-out", str(tmp_path / name))
        assert r.exit_code == 3, r.stderr
        assert "pip install 'bybit-mm[report]'" in r.stderr and "Traceback" not in r.stderr


def test_the_synthetic_market_by_seed(cli: Callable[..., Any], tmp_path: Path) -> None:
    args = ["sweep", "--market", "sim", "--seeds", "1,2", "--duration", "5m", "--grid", "quoting.risk_aversion=0.01,0.1",
            "--workers", "2", "--json", "--out", str(tmp_path / "sim.csv")]
    rows = _table(cli(*args))
    assert len(rows) == 2 and all(r["datasets"] == 2 and "error" not in r for r in rows)
    assert all(600 <= r["simulated_s"] <= 610 for r in rows)  # 5 minutes × 2 seeds (each stops within seconds)
    assert any(r["fills"] > 0 for r in rows)
    again = cli(*args)
    assert "resuming: 4 of 4 tasks already done" in again.stderr and _table(again) == rows
    r = cli("sweep", "--market", "sim", "--seeds", "1,x", "--grid", "quoting.risk_aversion=0.1")
    assert r.exit_code == 2 and "--seeds: 'x' is not a seed" in r.stderr
    r = cli("sweep", "--market", "sim", "--data", str(tmp_path), "--grid", "quoting.risk_aversion=0.1")
    assert r.exit_code == 2 and "--market sim takes no --data" in r.stderr
    r = cli("sweep", "--grid", "quoting.risk_aversion=0.1")
    assert r.exit_code == 2 and "give the data sets" in r.stderr


def test_a_heatmap_of_the_metric_over_two_keys(cli: Callable[..., Any], days: list[Path], tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    pytest.importorskip("matplotlib")
    args = ["sweep", *_data(days[:1]), *GRID, "--workers", "2", "--heatmap", "market.leverage,quoting.risk_aversion"]
    html, png = tmp_path / "heat.html", tmp_path / "heat.png"
    r = cli(*args, "--heatmap-out", str(html))
    assert r.exit_code == 0, r.stderr
    page = html.read_text()
    assert "Plotly.newPlot" in page and "market.leverage" in page and "<script src=" not in page  # inlined
    r = cli(*args, "--heatmap-out", str(png), "--sort", "max_drawdown")
    assert r.exit_code == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = cli("sweep", *_data(days[:1]), *GRID, "--heatmap", "quoting.risk_aversion,paper.seed", "--heatmap-out", str(html))
    assert r.exit_code == 2 and "paper.seed is not a swept key" in r.stderr
    r = cli("sweep", *_data(days[:1]), *GRID, "--heatmap", "quoting.risk_aversion,market.leverage",
            "--heatmap-out", str(tmp_path / "h.svg"))
    assert r.exit_code == 2 and "must end in .html or .png" in r.stderr
    r = cli("sweep", *_data(days[:1]), *GRID, "--heatmap", "quoting.risk_aversion,market.leverage")
    assert r.exit_code == 2 and "go together" in r.stderr

