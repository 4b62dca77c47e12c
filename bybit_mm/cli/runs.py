"""``bybit-mm runs``: the journaled runs (paper, live, backtest) in the data dir."""

from __future__ import annotations

from typing import Any

import typer

from bybit_mm.cli.context import app_context


def register(app: typer.Typer) -> None:
    """Add the ``runs`` command."""

    @app.command("runs")
    def runs(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list (numbers as JSON numbers, times in ms and ISO 8601 UTC)."),
    ) -> None:
        """List the journaled runs (paper, live, backtest) of every profile, oldest first.

        A run's id is kind/profile/SYMBOL/n (its journal in the data dir, and its number there);
        `bybit-mm report ID` draws it. A resumed run's fills and net PnL include its session's
        earlier runs (marked *).
        """
        from bybit_mm.config.paths import data_dir
        from bybit_mm.report.runs import list_runs

        term = app_context(ctx).terminal
        root = data_dir()
        found, problems = list_runs(root)
        for line in problems:
            term.warn(line)
        if as_json:
            term.json([r.to_dict() for r in found])
            return
        if not found:
            term.message(f"no journaled runs in {root} yet: start one with "
                         "`bybit-mm paper --market sim --duration 10m --speed 0`")
            return
        term.out.print(runs_table(found))


def runs_table(found: list[Any]) -> Any:
    """The runs as a rich table that fits 80 columns."""
    from rich import box
    from rich.table import Table

    from bybit_mm.report.runs import duration_text, iso_utc
    from bybit_mm.ui.dashboard import fmt_money

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    table.add_column("run", no_wrap=True, overflow="fold")
    table.add_column("start (UTC)", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("fills", justify="right", no_wrap=True)
    table.add_column("net PnL", justify="right", no_wrap=True)
    table.add_column("stopped", overflow="fold", min_width=8)
    for r in found:
        mark = "*" if r.resumed else ""
        table.add_row(r.id, iso_utc(r.started_ms)[:16].replace("T", " "), duration_text(r.duration_s),
                      f"{r.fills}{mark}", fmt_money(r.net_pnl, sign=True) + mark,
                      r.stop_reason or "no end journaled")
    if any(r.resumed for r in found):
        table.caption = "* resumed: includes the earlier runs of its session"
        table.caption_justify = "left"
    return table
