"""`bybit-mm simulate`: the Monte-Carlo experiment of Avellaneda & Stoikov (2008)."""

from __future__ import annotations

import math
from typing import Any, Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.errors import UsageError

_STRATEGIES = ("inventory", "symmetric", "glft")
_LABELS = {"inventory": "inventory", "symmetric": "symmetric", "glft": "GLFT"}


def _check(name: str, value: float, *, positive: bool = True) -> None:
    if not math.isfinite(value) or (positive and value <= 0):
        raise UsageError(f"{name} must be a {'positive ' if positive else ''}finite number, got {value}")


def simulate(
    ctx: typer.Context,
    gamma: Optional[list[float]] = typer.Option(None, "--gamma", "-g", help="Risk aversion; repeat for several (default 0.1)."),
    strategy: Optional[list[str]] = typer.Option(None, "--strategy", help="inventory, symmetric or glft; repeat for several (default inventory and symmetric)."),
    paths: int = typer.Option(1000, "--paths", "-n", help="Number of simulated paths."),
    seed: int = typer.Option(1, "--seed", help="Random seed: the same seed gives the same numbers."),
    s0: float = typer.Option(100.0, "--s0", help="Initial mid price."),
    horizon: float = typer.Option(1.0, "--T", help="Terminal time T."),
    sigma: float = typer.Option(2.0, "--sigma", help="Volatility of the mid, price units per square-root time unit."),
    dt: float = typer.Option(0.005, "--dt", help="Time step."),
    q0: float = typer.Option(0.0, "--q0", help="Initial inventory."),
    k: float = typer.Option(1.5, "--k", help="Intensity decay k of lambda(delta) = A exp(-k delta), per price unit."),
    intensity: float = typer.Option(140.0, "--A", help="Intensity A of lambda(delta) = A exp(-k delta), per time unit."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Reproduce the Monte-Carlo experiment of Avellaneda & Stoikov (2008), section 4.

    Defaults are the paper's: S0=100, T=1, sigma=2, dt=0.005, q0=0, k=1.5, A=140, 1000 paths. For
    each gamma it compares the inventory strategy (quotes around the reservation price) with the
    symmetric one (the same tabulated spread around the mid), and optionally GLFT. The spread
    column is (2/gamma) ln(1 + gamma/k), as the paper tabulates it (2 x GLFT's half-spread for
    GLFT). Profit is cash + q_T S_T; std is the standard deviation across paths.
    """
    gammas = list(gamma) if gamma else [0.1]
    strategies = list(dict.fromkeys(strategy)) if strategy else ["inventory", "symmetric"]
    for name in strategies:
        if name not in _STRATEGIES:
            raise UsageError(f"unknown strategy {name!r}", hint=f"choose from {', '.join(_STRATEGIES)}")
    for g in gammas:
        _check("--gamma", g)
    for label, value in (("--sigma", sigma), ("--dt", dt), ("--T", horizon), ("--k", k), ("--A", intensity)):
        _check(label, value)
    _check("--s0", s0)
    _check("--q0", q0, positive=False)
    if paths < 1:
        raise UsageError(f"--paths must be at least 1, got {paths}")
    if dt > horizon:
        raise UsageError(f"--dt ({dt}) must not exceed --T ({horizon})")

    from bybit_mm.quoting.simulation import SimParams, run

    params = SimParams(s0=s0, T=horizon, sigma=sigma, dt=dt, q0=q0, k=k, A=intensity, paths=paths)
    term = app_context(ctx).terminal
    results: list[dict[str, Any]] = []
    show_progress = term.err.is_terminal and paths * params.steps * len(gammas) >= 2_000_000
    if show_progress:
        from rich.progress import Progress

        with Progress(console=term.err, transient=True) as bar:
            for g in gammas:
                task = bar.add_task(f"gamma={g:g}", total=params.steps)
                stats = run(g, params, strategies, seed=seed,
                            progress=lambda done, t=task: bar.update(t, completed=done))
                results.append({"gamma": g, **{n: s.to_dict() for n, s in stats.items()}})
    else:
        for g in gammas:
            stats = run(g, params, strategies, seed=seed)
            results.append({"gamma": g, **{n: s.to_dict() for n, s in stats.items()}})

    if as_json:
        term.json({"params": {**params.to_dict(), "seed": seed, "strategies": strategies}, "results": results})
        return
    _print_table(term, params, seed, strategies, results)


def _print_table(term: Any, params: Any, seed: int, strategies: list[str], results: list[dict[str, Any]]) -> None:
    from rich.table import Table

    title = (f"Avellaneda-Stoikov Monte-Carlo: {params.paths} paths x {params.steps} steps, S0={params.s0:g}, "
             f"T={params.T:g}, sigma={params.sigma:g}, dt={params.dt:g}, k={params.k:g}, A={params.A:g}, seed={seed}")
    table = Table(title=title, title_justify="left")
    table.add_column("gamma", justify="right")
    table.add_column("strategy")
    for col in ("spread", "profit", "std(profit)", "final q", "std(final q)"):
        table.add_column(col, justify="right")
    from bybit_mm.ui.format import number

    for i, row in enumerate(results):
        for j, name in enumerate(strategies):
            s = row[name]
            table.add_row(f"{row['gamma']:g}" if j == 0 else "", _LABELS[name],
                          *(number(s[k], 2, group=False) for k in ("spread", "profit_mean", "profit_std",
                                                                   "final_q_mean", "final_q_std")),
                          end_section=(j == len(strategies) - 1 and i < len(results) - 1))
    term.out.print(table)


def register(app: typer.Typer) -> None:
    """Add `simulate` to the root app."""
    app.command("simulate")(simulate)
