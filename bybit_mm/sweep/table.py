"""Task rows -> one row per combination, aggregated over the data sets, sorted by a metric.

Net PnL, fees, fills and traded notional add up over the data sets; PnL per traded notional is
the total PnL over the total notional (in basis points); the Sharpe ratio pools the equity
returns of every data set (their count, sum and sum of squares) and is annualised from the
sampling period; the maximum drawdown is the worst of the data sets. A combination with a
failed task has no figures, only the error (the first, with how many of its tasks failed).
"""

from __future__ import annotations

import math
from typing import Any

from bybit_mm.sweep.task import YEAR_S

#: --sort choices -> (row field, True when larger is better).
METRICS: dict[str, tuple[str, bool]] = {
    "net_pnl": ("net_pnl", True),
    "sharpe": ("sharpe", True),
    "pnl_per_notional": ("pnl_per_notional_bps", True),
    "max_drawdown": ("max_drawdown_pct", False),
}


def aggregate(task_rows: list[dict[str, Any]], keys: list[str], datasets: int) -> list[dict[str, Any]]:
    """One row per combination (by combination index), its parameters as columns ``keys``."""
    by_combo: dict[int, list[dict[str, Any]]] = {}
    for row in task_rows:
        by_combo.setdefault(row["combo"], []).append(row)
    out = []
    for combo in sorted(by_combo):
        rows = sorted(by_combo[combo], key=lambda r: r["data"])
        params = dict(rows[0]["params"])
        agg: dict[str, Any] = {"combo": combo, **{k: params.get(k) for k in keys}, "datasets": len(rows)}
        errors = [r["error"] for r in rows if "error" in r]
        if errors or len(rows) < datasets:
            agg["error"] = (f"{len(errors)} of {datasets} failed: {errors[0]}" if errors
                            else f"{datasets - len(rows)} of {datasets} not run")
            out.append(agg)
            continue
        net = math.fsum(r["net_pnl"] for r in rows)
        notional = math.fsum(r["notional"] for r in rows)
        n = sum(r["returns_n"] for r in rows)
        s1 = math.fsum(r["returns_sum"] for r in rows)
        s2 = math.fsum(r["returns_sumsq"] for r in rows)
        sample_s = max(r["sample_s"] for r in rows)
        agg.update(net_pnl=net, fees=math.fsum(r["fees"] for r in rows), fills=sum(r["fills"] for r in rows),
                   notional=notional, pnl_per_notional_bps=net / notional * 1e4 if notional else None,
                   sharpe=_sharpe(n, s1, s2, sample_s), max_drawdown_pct=max(r["max_drawdown_pct"] for r in rows),
                   simulated_s=math.fsum(r["simulated_s"] for r in rows))
        out.append(agg)
    return out


def _sharpe(n: int, s1: float, s2: float, sample_s: float) -> float | None:
    if n < 2 or sample_s <= 0:
        return None
    mean = s1 / n
    var = (s2 - n * mean * mean) / (n - 1)
    if var <= 1e-30:
        return None
    return mean / math.sqrt(var) * math.sqrt(YEAR_S / sample_s)


def sort_rows(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Best first by ``metric`` (see :data:`METRICS`); rows without it (failed) last; ties by
    combination index, so equal results always give the same table."""
    field, larger = METRICS[metric]

    def key(row: dict[str, Any]) -> tuple[int, float, int]:
        v = row.get(field)
        if v is None:
            return (1, 0.0, row["combo"])
        return (0, -v if larger else v, row["combo"])

    return sorted(rows, key=key)


#: The output columns after the parameters (CSV order).
COLUMNS = ("datasets", "net_pnl", "sharpe", "pnl_per_notional_bps", "max_drawdown_pct", "fills", "notional",
           "fees", "simulated_s", "error")
