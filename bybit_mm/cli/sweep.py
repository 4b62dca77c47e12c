"""``bybit-mm sweep``: backtests of every combination of some profile keys on every data set.

Combinations come from ``--grid KEY=V1,V2`` (crossed) and ``--random N --range KEY=LO:HI``
(seeded draws), validated by the profile schema before anything runs. Each (combination, data
set) is one backtest (:mod:`bybit_mm.sweep`), run on a local process pool or, with
``--ray-address``, on a Ray cluster. ``--out FILE.csv`` writes the table and keeps every finished
task in ``FILE.csv.tasks.jsonl`` as it finishes: the same command again skips them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.errors import UsageError

SORTS = ("net_pnl", "sharpe", "pnl_per_notional", "max_drawdown")


def register(app: typer.Typer) -> None:
    """Add the ``sweep`` command."""

    @app.command("sweep")
    def sweep(
        ctx: typer.Context,
        data: Optional[list[Path]] = typer.Option(None, "--data", metavar="PATH", help="A data set: a file or a directory (e.g. one Bybit day: its book zip and trades csv.gz). Repeat for more; each combination runs on each."),
        market: Optional[str] = typer.Option(None, "--market", help="sim: instead of --data, the synthetic market of each --seeds seed for --duration (the paper engine on a simulated clock)."),
        seeds: str = typer.Option("1", "--seeds", metavar="S1,S2,...", help="With --market sim: the synthetic markets' seeds (each one a data set)."),
        duration: str = typer.Option("20m", "--duration", "-d", help="With --market sim: market time of each run (20m, 90s, 1h30m)."),
        grid: Optional[list[str]] = typer.Option(None, "--grid", metavar="KEY=V1,V2,...", help="A profile key and its values (e.g. quoting.risk_aversion=0.01,0.05); repeated grids are crossed."),
        draws: Optional[int] = typer.Option(None, "--random", metavar="N", min=1, help="N random draws of the --range keys (crossed with the grid)."),
        ranges: Optional[list[str]] = typer.Option(None, "--range", metavar="KEY=LO:HI", help="A numeric profile key drawn uniformly from LO to HI (with --random)."),
        seed: int = typer.Option(1, "--seed", help="Seed of the --random draws."),
        profile: Optional[str] = typer.Option(None, "--profile", "-p", metavar="NAME|PATH", help="The profile swept (default: the one selected before the command)."),
        interval: float = typer.Option(1.0, "--interval", min=0.05, help="Seconds of market time between decisions."),
        workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="Local worker processes (default: the CPU count)."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", envvar="RAY_ADDRESS", metavar="ADDR", help="Run the tasks on this Ray cluster (auto, ray://HOST:10001); needs the cluster extra."),
        sort: str = typer.Option("net_pnl", "--sort", help="net_pnl | sharpe | pnl_per_notional | max_drawdown (best first)."),
        top: Optional[int] = typer.Option(None, "--top", metavar="K", min=1, help="Show only the K best combinations."),
        as_json: bool = typer.Option(False, "--json", help="Print the table as a JSON array on stdout."),
        heatmap: Optional[str] = typer.Option(None, "--heatmap", metavar="KEY1,KEY2", help="Also draw the --sort metric over two swept keys (with --heatmap-out; the report extra)."),
        heatmap_out: Optional[Path] = typer.Option(None, "--heatmap-out", metavar="FILE.html|FILE.png", help="Where --heatmap draws: an HTML page (interactive, opens offline) or a PNG."),
        out: Optional[Path] = typer.Option(None, "--out", metavar="FILE.csv", help="Write the table as CSV; finished tasks are kept beside it (FILE.csv.tasks.jsonl) and skipped when the command is run again."),
    ) -> None:
        """Backtest every combination of profile keys on every data set, and rank them.

        A failed backtest is reported in its row; the others go on.
        """
        app = app_context(ctx)
        if sort not in SORTS:
            raise UsageError(f"--sort must be one of {', '.join(SORTS)}, got {sort!r}")
        if out is not None and out.suffix.lower() != ".csv":
            raise UsageError(f"--out {out}: the table is written as CSV, name it FILE.csv",
                             hint="any dataframe library reads CSV; a sweep table is too small to need Parquet")
        if (heatmap is None) != (heatmap_out is None):
            raise UsageError("--heatmap KEY1,KEY2 and --heatmap-out FILE go together")
        if heatmap_out is not None:
            from bybit_mm.sweep.heatmap import check_path

            check_path(heatmap_out)
        if profile is not None:
            from bybit_mm.config.profiles import resolve

            app.use_profile(resolve(profile))
        if market is None and not data:
            raise UsageError("give the data sets: --data PATH (repeatable), or --market sim --seeds 1,2")
        if market is not None and (market != "sim" or data):
            raise UsageError("--market sim takes no --data" if data else f"--market must be sim, got {market!r}")
        if market == "sim":
            from bybit_mm.cli.paper import parse_duration
            from bybit_mm.sweep.task import SIM

            datasets = [f"{SIM}{_seed(s)}" for s in seeds.split(",")]
            seconds = parse_duration(duration)
        else:
            for path in data or []:
                if not path.exists():
                    raise UsageError(f"--data {path}: no such file or directory")
            datasets, seconds = [str(p.resolve()) for p in data or []], None
        _sweep(app, sorted(set(datasets)), grid or [], ranges or [], draws, seed=seed, interval=interval,
               duration_s=seconds, workers=workers,
               ray_address=ray_address or None, sort=sort, top=top, as_json=as_json, out=out,
               heatmap=(heatmap, heatmap_out) if heatmap and heatmap_out else None)


def _seed(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(f"--seeds: {text.strip()!r} is not a seed (a whole number, 0 or more)")
    return value


def _sweep(app: Any, datasets: list[str], grid_specs: list[str], range_specs: list[str], draws: int | None, *,
           seed: int, interval: float, duration_s: float | None, workers: int | None, ray_address: str | None, sort: str, top: int | None,
           as_json: bool, out: Path | None, heatmap: tuple[str, Path] | None = None) -> None:
    import time

    from bybit_mm.sweep import grid as g
    from bybit_mm.sweep.runner import cpu_count, run_local, run_ray
    from bybit_mm.sweep.store import ResultStore
    from bybit_mm.sweep.table import aggregate, sort_rows
    from bybit_mm.sweep.task import plan

    term = app.terminal
    base = app.profile
    grids = [g.parse_grid(s) for s in grid_specs]
    ranges = [g.parse_range(s) for s in range_specs]
    if not grids and not ranges and not draws:
        raise UsageError("nothing to sweep: give --grid KEY=V1,V2,... or --random N --range KEY=LO:HI")
    combos = g.combinations(grids, ranges, draws, seed)
    keys = [k for k, _ in grids] + [r.key for r in ranges]
    tasks = plan(base, combos, datasets, interval, duration_s)  # every combination valid before any task runs
    if heatmap is not None:
        from bybit_mm.sweep.heatmap import parse_keys

        heat_keys = parse_keys(heatmap[0], keys)
    store = ResultStore(out.with_name(out.name + ".tasks.jsonl") if out is not None else None)
    todo = [t for t in tasks if not store.done(t.key)]
    if len(todo) < len(tasks):
        term.message(f"resuming: {len(tasks) - len(todo)} of {len(tasks)} tasks already done in {store.path}")
    n_workers = workers or cpu_count()
    t0 = time.perf_counter()
    failed = 0

    def finished(row: dict[str, Any]) -> None:
        nonlocal failed
        store.add(row)
        failed += "error" in row

    with _progress(term, total=len(tasks), done=len(tasks) - len(todo), show=term.err.is_terminal) as advance:
        def on_row(row: dict[str, Any]) -> None:
            finished(row)
            advance()

        if ray_address:
            run_ray(todo, ray_address, on_row)
        else:
            run_local(todo, n_workers, on_row)
    wall = time.perf_counter() - t0
    keys_now = {t.key for t in tasks}
    rows = sort_rows(aggregate([r for k, r in store.rows.items() if k in keys_now], keys, len(datasets)), sort)
    if out is not None:
        _write_csv(out, rows, keys)
    if heatmap is not None:
        from bybit_mm.sweep.heatmap import write_heatmap

        write_heatmap(heatmap[1], rows, *heat_keys, sort)
        term.message(f"heatmap of {sort} over {heat_keys[0]} × {heat_keys[1]}: {heatmap[1]}")
    shown = rows[:top] if top else rows
    if as_json:
        term.json(shown)
    else:
        from bybit_mm.ui.sweep import sweep_table

        term.out.print(sweep_table(shown, keys, total=len(rows), metric=sort))
    where = f"Ray at {ray_address}" if ray_address else f"{min(n_workers, max(1, len(todo)))} local worker(s)"
    term.message(f"ran {len(todo)} of {len(tasks)} tasks ({len(combos)} combinations × {len(datasets)} data sets) "
                 f"in {wall:.2f} s on {where}" + (f"; {failed} failed (see their rows)" if failed else "")
                 + (f"; table: {out}" if out is not None else ""))


def _write_csv(path: Path, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """The table, written whole to a temporary file then renamed over ``path``."""
    import csv
    import os

    from bybit_mm.sweep.table import COLUMNS

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["combo", *keys, *COLUMNS], extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    os.replace(tmp, path)


class _progress:
    """A progress bar on stderr (tasks done / total, elapsed, ETA) when it is a terminal;
    entering gives the function that counts one task done."""

    def __init__(self, term: Any, *, total: int, done: int, show: bool) -> None:
        self.term, self.total, self.done, self.show = term, total, done, show
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.show:
            return lambda: None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("sweep"), BarColumn(), TextColumn("{task.completed}/{task.total} tasks"),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=self.term.err, transient=True)
        self.bar.__enter__()
        task = self.bar.add_task("sweep", total=self.total, completed=self.done)
        return lambda: self.bar.update(task, advance=1)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
