"""``bybit-mm backtest``: the market-making strategy over Bybit's history files or our recordings.

The profile's strategy, risk guard, leverage, margin mode, fees, latencies and queue model on the
replayed market (:mod:`bybit_mm.engine.backtest`), journaled like a paper run under
``<data dir>/backtest/<profile>/``. The summary has the ``paper`` summary's keys plus the replay's
(events, data span, where the mark and funding came from); ``--json`` prints it as one JSON
object, the same bytes for the same data and profile. Wall-clock figures (seconds, events/s) are
not part of that object: they go to stderr.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.errors import UsageError

if TYPE_CHECKING:
    from bybit_mm.engine.backtest import BacktestResult

_EPOCH_MS = re.compile(r"^\d{12,14}$")


def parse_time(option: str, text: str | None) -> int | None:
    """``2026-01-01``, ``2026-01-01T12:30``, ``2026-01-01 12:30:00Z`` (UTC unless an offset is
    given) or epoch milliseconds -> epoch nanoseconds; None for None."""
    if text is None:
        return None
    raw = text.strip()
    if _EPOCH_MS.match(raw):
        return int(raw) * 1_000_000
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a time",
                         hint="use e.g. 2026-01-01, 2026-01-01T12:30 (UTC) or epoch milliseconds") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1000) * 1_000_000


def register(app: typer.Typer) -> None:
    """Add the ``backtest`` command."""

    @app.command("backtest")
    def backtest(
        ctx: typer.Context,
        data: list[Path] = typer.Option(..., "--data", metavar="PATH", help="Data files or directories: Bybit's *_ob500.data.zip and *.csv.gz, our recordings; more paths may follow."),
        more: Optional[list[Path]] = typer.Argument(None, metavar="PATH", help="More data paths (after --data).", show_default=False),
        start: Optional[str] = typer.Option(None, "--from", help="Start of the replayed window: 2026-01-01, 2026-01-01T12:30 (UTC) or epoch ms."),
        end: Optional[str] = typer.Option(None, "--to", help="End of the replayed window (exclusive), same forms as --from."),
        risk_aversion: Optional[float] = typer.Option(None, "--risk-aversion", help="Inventory risk aversion: skew in bps per 1,000 USDT of position = risk_aversion x sigma^2 x horizon_s, the same in as and glft (default: the profile's quoting.risk_aversion)."),
        gamma: Optional[float] = typer.Option(None, "--gamma", hidden=True, help="Deprecated: --risk-aversion = gamma x 1000 / order_notional."),
        model: Optional[str] = typer.Option(None, "--model", help="as (Avellaneda-Stoikov, rolling horizon) or glft."),
        interval: float = typer.Option(1.0, "--interval", min=0.05, help="Seconds of market time between decisions (and the estimators' sampling period)."),
        requote: Optional[float] = typer.Option(None, "--requote", min=0.0, help="Also decide after book updates and trades, at most every this many seconds, as on a live stream (0: after every update)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
    ) -> None:
        """Replay market data through the market-making strategy (the profile's settings) and summarise.

        Fills, orders and the summary are journaled in the data dir (backtest/<profile>/).
        """
        app = app_context(ctx)
        if model is not None and model not in ("as", "glft"):
            raise UsageError(f"--model must be as or glft, got {model!r}")
        start_ns, end_ns = parse_time("--from", start), parse_time("--to", end)
        if start_ns is not None and end_ns is not None and end_ns <= start_ns:
            raise UsageError("--to must be after --from")
        from bybit_mm.config.schema import with_overrides

        app.use_profile(with_overrides(app.profile, {"quoting.risk_aversion": ("--risk-aversion", risk_aversion),
                                                     "quoting.gamma": ("--gamma", gamma)}))
        result = _backtest(app, [*data, *(more or [])], start_ns=start_ns, end_ns=end_ns, model=model,
                           interval=interval, requote=requote, as_json=as_json)
        if result.summary.stop_reason.startswith("kill switch"):
            from bybit_mm.errors import EXIT_REJECTED

            raise typer.Exit(EXIT_REJECTED)


def _backtest(app: Any, data: list[Path], *, start_ns: int | None, end_ns: int | None, model: str | None, interval: float, requote: float | None, as_json: bool) -> BacktestResult:
    import sys
    import time

    from bybit_mm.cli.paper import journal_path
    from bybit_mm.data.loader import load_events
    from bybit_mm.engine.backtest import prepare, run_backtest
    from bybit_mm.engine.journal import Journal

    term = app.terminal
    profile = app.profile
    show_progress = term.err.is_terminal and not as_json
    t0 = time.perf_counter()
    events, report = _load(term, load_events, data, start_ns, end_ns, show_progress)
    if len(events) <= report.synthetic_rows:  # nothing but the book as it stood at --from
        raise UsageError("no market data in the given files and time window",
                         hint=f"the data spans {_span(report)}" if report.files else None)
    instrument, config, settings = prepare(profile, report.symbol, model=model, interval_s=interval,
                                           requote_s=requote)
    symbol = instrument.symbol
    journal = Journal(journal_path("backtest", profile.name, symbol), exclusive=False)  # no session to resume
    t1 = time.perf_counter()
    try:
        if show_progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            columns = (TextColumn("replaying"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} events"),
                       TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
            with Progress(*columns, console=term.err, transient=True) as bar:
                task = bar.add_task("replay", total=len(events))
                result = run_backtest(events, config, instrument, settings, journal=journal,
                                      progress=lambda done: bar.update(task, completed=done))
        else:
            result = run_backtest(events, config, instrument, settings, journal=journal)
    finally:
        journal.close()
    replay_s = time.perf_counter() - t1
    rate = result.events / replay_s if replay_s > 0 else float("inf")
    if as_json:
        term.json(result.to_dict())
    else:
        from bybit_mm.ui.dashboard import backtest_table

        term.out.print(backtest_table(result, events_per_s=rate))
    sys.stdout.flush()
    term.message(f"replayed {result.events:,} events in {replay_s:.2f} s ({rate:,.0f} events/s; "
                 f"{t1 - t0:.2f} s to load); journal: {journal.path}")
    return result


def _span(report: Any) -> str:
    from datetime import datetime, timezone

    def when(ns: int | None) -> str:
        return "?" if ns is None else datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    firsts = [f.first_ts for f in report.files if getattr(f, "first_ts", None) is not None]
    lasts = [f.last_ts for f in report.files if getattr(f, "last_ts", None) is not None]
    return f"{when(min(firsts) if firsts else None)} to {when(max(lasts) if lasts else None)} UTC"


def _load(term: Any, load_events: Any, data: list[Path], start_ns: int | None, end_ns: int | None,
          show_progress: bool) -> tuple[Any, Any]:
    if not show_progress:
        return load_events(data, start_ns=start_ns, end_ns=end_ns)
    from rich.progress import Progress

    with Progress(console=term.err, transient=True) as bar:
        task = bar.add_task("reading data", total=None)
        return load_events(data, start_ns=start_ns, end_ns=end_ns,
                           progress=lambda done, total: bar.update(task, completed=done, total=total))
