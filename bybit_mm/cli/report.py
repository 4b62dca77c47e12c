"""``bybit-mm report``: a journaled run as a self-contained HTML page or a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.errors import UsageError

FORMATS = {".html": "html", ".htm": "html", ".png": "png"}


def register(app: typer.Typer) -> None:
    """Add the ``report`` command."""

    @app.command("report")
    def report(
        ctx: typer.Context,
        run_id: str = typer.Argument(..., metavar="RUN_ID", help="A run id from `bybit-mm runs` (kind/profile/SYMBOL/n), or an unambiguous tail of one (BTCUSDT/3)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="FILE.html (interactive, plotly.js inlined: opens offline) or FILE.png (static). Default: report-<kind>-<profile>-<SYMBOL>-<n>.html here."),
        as_json: bool = typer.Option(False, "--json", help="Print the report's figures (PnL split, markouts, notes) as JSON instead of writing a file."),
    ) -> None:
        """Report a journaled run: equity and net PnL over time, the PnL split (spread capture,
        adverse selection, inventory, fees, funding), inventory, quotes vs mid and fills, distance
        to liquidation with the guard's trigger, and fill markouts.

        Drawing needs the report extra (pip install 'bybit-mm[report]'; without it, exit 3);
        --json does not. Prints the written file's path.
        """
        from bybit_mm.config.paths import data_dir
        from bybit_mm.report.data import load_report
        from bybit_mm.report.runs import find_run, list_runs

        term = app_context(ctx).terminal
        fmt = FORMATS.get(out.suffix.lower()) if out is not None else "html"
        if fmt is None and not as_json:
            raise UsageError(f"--out {str(out)!r}: the report is written as .html or .png")
        found, problems = list_runs(data_dir())
        for line in problems:
            term.warn(line)
        run = find_run(found, run_id)
        path = out if out is not None else Path(f"report-{run.id.replace('/', '-')}.html")
        data = load_report(run)
        if as_json:
            term.json(data.to_dict())
            return
        try:
            if fmt == "png":
                from bybit_mm.report.png import write_png

                write_png(data, path)
            else:
                from bybit_mm.report.html import render_html

                path.write_text(render_html(data), encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
        typer.echo(str(path))
