"""One sweep task: a backtest of one combination on one data set, measured as one row.

:func:`run_task` never raises for a failed backtest: the row carries the error instead, so one
bad combination never aborts a sweep. Rows are plain JSON-friendly dicts (they cross process
and machine boundaries and are appended to the resume file as they are).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bybit_mm.errors import BybitMMError

if TYPE_CHECKING:
    from bybit_mm.config.schema import Profile
    from bybit_mm.engine.backtest import BacktestResult
    from bybit_mm.engine.snapshot import RunSummary
    from bybit_mm.sweep.grid import Params

#: Seconds in a year, for the annualised Sharpe ratio of the sampled equity returns.
YEAR_S = 365 * 86400


@dataclass(frozen=True)
class Task:
    """A combination (its index and parameters) on one data set: a file or a directory, or
    ``sim:SEED`` (the synthetic market of that seed for ``duration_s`` of market time)."""

    combo: int
    params: Params
    data: str
    profile: Profile
    interval_s: float = 1.0
    duration_s: float | None = None

    @property
    def key(self) -> str:
        """Identifies the task across runs: the profile as overridden, the data and the interval."""
        from bybit_mm.config.schema import profile_to_dict

        doc = {"profile": profile_to_dict(self.profile), "data": self.data, "interval_s": self.interval_s,
               **({"duration_s": self.duration_s} if self.duration_s is not None else {})}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


SIM = "sim:"


def plan(profile: Profile, combos: list[Params], datasets: list[str], interval_s: float = 1.0,
         duration_s: float | None = None) -> list[Task]:
    """Every combination on every data set, data set by data set (so a worker's consecutive
    tasks reuse the data it loaded); each combination's profile validated (a UsageError)."""
    from bybit_mm.sweep.grid import apply

    profiles = [apply(profile, p) for p in combos]
    return [Task(i, combo, d, prof, interval_s, duration_s) for d in datasets for i, (combo, prof) in enumerate(zip(combos, profiles))]


def run_task(task: Task) -> dict[str, Any]:
    """Run the task's backtest; its row (metrics, or ``error`` when it failed)."""
    row: dict[str, Any] = {"key": task.key, "combo": task.combo, "data": task.data,
                           "params": [[k, v] for k, v in task.params]}
    try:
        if task.data.startswith(SIM):
            row.update(measure(*_simulate(task)))
        else:
            result = _backtest(task)
            row.update(measure(result.summary, result.equity, events=result.events))
    except BybitMMError as e:
        row["error"] = e.one_line()
    except Exception as e:  # a bug or a broken worker: reported in the row, the sweep goes on
        row["error"] = f"{type(e).__name__}: {e}"
    return row


def failed_row(task: Task, error: str) -> dict[str, Any]:
    """The row of a task whose worker itself failed (a crashed process, a lost Ray node)."""
    return {"key": task.key, "combo": task.combo, "data": task.data,
            "params": [[k, v] for k, v in task.params], "error": error}


def measure(s: RunSummary, equity: Sequence[tuple[int, float]], *, events: int = 0) -> dict[str, Any]:
    """A run's figures: the summary's key numbers and the equity curve's return moments (count,
    sum, sum of squares: they pool exactly over data sets) and maximum drawdown."""
    curve = [e for _, e in equity]
    returns = [b / a - 1 for a, b in zip(curve, curve[1:]) if a > 0]
    peak, max_dd = -math.inf, 0.0
    for e in curve:
        peak = max(peak, e)
        if peak > 0:
            max_dd = max(max_dd, (peak - e) / peak * 100)
    times = [t for t, _ in equity]
    return {"net_pnl": float(s.total_pnl), "fees": float(s.fees), "fills": s.fills, "notional": float(s.notional),
            "starting_balance": float(s.starting_balance), "max_drawdown_pct": max_dd,
            "returns_n": len(returns), "returns_sum": math.fsum(returns),
            "returns_sumsq": math.fsum(r * r for r in returns),
            "sample_s": (times[-1] - times[0]) / 1000 / (len(times) - 1) if len(times) > 1 else 0.0,
            "events": events, "simulated_s": s.simulated_seconds, "stop_reason": s.stop_reason}


#: The last data set loaded by this process: consecutive tasks on the same data reuse it.
_loaded: dict[str, Any] = {}


def _backtest(task: Task) -> BacktestResult:
    from pathlib import Path

    from bybit_mm.data.loader import load_events
    from bybit_mm.engine.backtest import prepare, run_backtest
    from bybit_mm.errors import UsageError

    if task.data not in _loaded:
        _loaded.clear()
        _loaded[task.data] = load_events([Path(task.data)])
    events, report = _loaded[task.data]
    if len(events) <= report.synthetic_rows:
        raise UsageError(f"no market data in {task.data}")
    instrument, config, settings = prepare(task.profile, report.symbol, interval_s=task.interval_s)
    return run_backtest(events, config, instrument, settings)


def _simulate(task: Task) -> tuple[RunSummary, list[tuple[int, float]]]:
    """The paper engine on the synthetic market of seed ``sim:SEED``, on a simulated clock (as
    ``paper --market sim --speed 0 --duration``), with a fresh in-memory account; the equity
    curve from its snapshots."""
    import asyncio
    from dataclasses import replace

    from bybit_mm.engine.config import EngineConfig
    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.exchange.paper_client import DryRunFuturesClient
    from bybit_mm.sim.clock import SimClock

    p = task.profile
    profile = replace(p, exchange=replace(p.exchange, account="paper"),
                      paper=replace(p.paper, market="sim", seed=int(task.data[len(SIM):])))
    config = EngineConfig.from_profile(profile, interval_s=task.interval_s, duration_s=task.duration_s)
    equity: list[tuple[int, float]] = []

    async def run() -> RunSummary:
        clock = SimClock()
        client = DryRunFuturesClient.from_profile(profile, clock=clock, persist=False)
        try:
            await client.connect()
            trader = LiveTrader(client, clock, config,
                                on_snapshot=lambda snap: equity.append((snap.ts_ms, float(snap.equity))))
            return await trader.run()
        finally:
            await client.close()

    summary = asyncio.run(run())
    return summary, equity
