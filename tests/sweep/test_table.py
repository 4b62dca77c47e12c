"""The sweep's figures on worked examples: a task's measures and their aggregation over data sets."""

from __future__ import annotations

import math
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from bybit_mm.sweep.table import aggregate, sort_rows
from bybit_mm.sweep.task import YEAR_S, measure


def _result(curve: list[tuple[int, float]], pnl: str = "0", notional: str = "0", fills: int = 0) -> Any:
    summary = SimpleNamespace(total_pnl=Decimal(pnl), fees=Decimal("0.5"), fills=fills, notional=Decimal(notional),
                              starting_balance=Decimal(100), simulated_seconds=30.0, stop_reason="end of data")
    return SimpleNamespace(summary=summary, equity=tuple(curve))


def test_measure_takes_returns_and_the_worst_drawdown_from_the_equity_curve() -> None:
    r = _result([(0, 100.0), (10_000, 110.0), (20_000, 99.0), (30_000, 120.0)], "20", "4000", 3)
    m = measure(r.summary, r.equity)
    # returns 0.1, -0.1, 21/99; peak 110 then 99: a 10 % drawdown
    assert m["returns_n"] == 3
    assert m["returns_sum"] == pytest.approx(0.1 - 0.1 + 21 / 99)
    assert m["returns_sumsq"] == pytest.approx(0.01 + 0.01 + (21 / 99) ** 2)
    assert m["max_drawdown_pct"] == pytest.approx(10.0)
    assert m["sample_s"] == 10.0 and m["net_pnl"] == 20.0 and m["fills"] == 3 and m["notional"] == 4000.0


def _row(combo: int, data: str, curve: list[float], pnl: str, notional: str, **extra: Any) -> dict[str, Any]:
    r = _result([(i * 10_000, e) for i, e in enumerate(curve)], pnl, notional)
    m = measure(r.summary, r.equity)
    return {"key": f"{combo}{data}", "combo": combo, "data": data, "params": [["quoting.risk_aversion", 0.1 * (combo + 1)]],
            **m, **extra}


def test_aggregation_pools_returns_adds_money_and_keeps_the_worst_drawdown() -> None:
    a = [100.0, 101.0, 100.5, 102.0]
    b = [200.0, 198.0, 199.0]
    rows = [_row(0, "day1", a, "2", "1000"), _row(0, "day2", b, "-1", "3000")]
    (agg,) = aggregate(rows, ["quoting.risk_aversion"], 2)
    returns = [y / x - 1 for x, y in zip(a, a[1:])] + [y / x - 1 for x, y in zip(b, b[1:])]
    mean = sum(returns) / len(returns)
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    assert agg["sharpe"] == pytest.approx(mean / sd * math.sqrt(YEAR_S / 10))
    assert agg["net_pnl"] == 1.0 and agg["notional"] == 4000.0 and agg["fees"] == 1.0
    assert agg["pnl_per_notional_bps"] == pytest.approx(2.5)  # 1 / 4000 = 2.5 bps
    assert agg["max_drawdown_pct"] == pytest.approx(1.0)  # 200 -> 198
    assert agg["quoting.risk_aversion"] == 0.1 and agg["datasets"] == 2 and "error" not in agg


def test_a_failed_or_missing_data_set_leaves_the_combination_without_figures() -> None:
    ok = _row(0, "day1", [100.0, 101.0], "1", "100")
    failed = {"key": "x", "combo": 0, "data": "day2", "params": [["quoting.risk_aversion", 0.1]], "error": "boom"}
    (agg,) = aggregate([ok, failed], ["quoting.risk_aversion"], 2)
    assert agg["error"] == "1 of 2 failed: boom" and "net_pnl" not in agg
    (agg,) = aggregate([ok], ["quoting.risk_aversion"], 2)
    assert agg["error"] == "1 of 2 not run"


def test_sorting_best_first_failed_last_ties_by_combination() -> None:
    rows = [{"combo": 0, "net_pnl": 1.0, "max_drawdown_pct": 5.0}, {"combo": 1, "error": "x"},
            {"combo": 2, "net_pnl": 3.0, "max_drawdown_pct": 1.0}, {"combo": 3, "net_pnl": 1.0, "max_drawdown_pct": 9.0}]
    assert [r["combo"] for r in sort_rows(rows, "net_pnl")] == [2, 0, 3, 1]
    assert [r["combo"] for r in sort_rows(rows, "max_drawdown")] == [2, 0, 3, 1]


def test_the_heatmap_grid_averages_over_other_keys_and_leaves_failed_cells_empty() -> None:
    from bybit_mm.sweep.heatmap import heat_grid

    rows = [{"a": 1, "b": 10, "c": 0, "net_pnl": 2.0}, {"a": 1, "b": 10, "c": 1, "net_pnl": 4.0},
            {"a": 2, "b": 10, "c": 0, "net_pnl": -1.0}, {"a": 2, "b": 10, "c": 1, "error": "x"},
            {"a": 1, "b": 20, "c": 0, "error": "x"}, {"a": 1, "b": 20, "c": 1, "error": "y"},
            {"a": 2, "b": 20, "c": 0, "net_pnl": 0.5}]
    xs, ys, z = heat_grid(rows, "a", "b", "net_pnl")
    assert xs == [1, 2] and ys == [10, 20]
    assert z == [[3.0, -1.0], [None, 0.5]]


def test_a_backtest_samples_its_equity_every_10_s_of_market_time(tmp_path: Any) -> None:
    from bybit_mm.config.schema import Profile
    from bybit_mm.data.loader import load_events
    from bybit_mm.data.synthetic import write_bybit_day
    from bybit_mm.engine.backtest import prepare, run_backtest

    write_bybit_day(tmp_path, "BTCUSDT", "2026-01-01", n_events=4_000, seed=3, start_price=95_000.0)
    events, report = load_events([tmp_path], use_cache=False)
    instrument, config, settings = prepare(Profile(), report.symbol, interval_s=1.0)
    result = run_backtest(events, config, instrument, settings)
    times = [t for t, _ in result.equity]
    assert len(times) > 3 and times == sorted(set(times))
    assert all(b - a >= 10_000 for a, b in zip(times[:-2], times[1:-1]))  # the last one is the end
    assert times[-1] == result.summary.ended_ms
    assert result.equity[-1][1] == float(result.summary.equity)
    assert result.to_dict()["equity"] == result.summary.equity  # the summary's figure, not the curve
