"""`bybit-mm quote`: model quotes for given inputs (offline form; a live form reading a symbol's
market will add an optional SYMBOL argument and fill the missing inputs from it)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.cli.parsing import parse_decimal
from bybit_mm.errors import UsageError

_MODELS = ("as", "glft")


def _positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value}")


def compute_quote(*, mid: float, sigma: float, gamma: float, k: float, A: float | None, q: float,
                  tau: float, model: str, tick: Decimal | None) -> dict[str, Any]:
    """The quote as a dict (what `--json` prints): inputs, model prices, and prices on the tick."""
    from bybit_mm.quoting.models import AvellanedaStoikov, GLFT
    from bybit_mm.quoting.orders import ask_ticks, bid_ticks

    if model == "glft":
        if A is None:
            raise UsageError("--model glft needs --A (arrivals per second at the mid)")
        result = GLFT().quote(mid, q, sigma, gamma, k, A, tau)
        horizon = "infinite (GLFT asymptotic quotes)"
    else:
        result = AvellanedaStoikov("rolling").quote(mid, q, sigma, gamma, k, A, tau)
        horizon = f"rolling, tau = {tau:g} s"
    out: dict[str, Any] = {
        "model": result.model,
        "horizon": horizon,
        "inputs": {"mid": mid, "sigma": sigma, "gamma": gamma, "k": k, "A": A, "q": q, "tau": tau},
        **{key: value for key, value in result.to_dict().items() if key != "model"},
        "tick": tick,
        "bid_on_tick": None,
        "ask_on_tick": None,
    }
    if tick is not None:
        out["bid_on_tick"] = tick * bid_ticks(result.bid, float(tick))
        out["ask_on_tick"] = tick * ask_ticks(result.ask, float(tick))
    return out


def quote(
    ctx: typer.Context,
    symbol: Optional[str] = typer.Argument(None, help="Live form: read this symbol's book and recent trades through the profile's client and estimate sigma, k and A (no --mid/--sigma/--k)."),
    watch: bool = typer.Option(False, "--watch", help="Live form: follow the public streams (REST polling as the fallback) and refresh the quotes in place, at most 4 times a second (Ctrl-C stops)."),
    mid: Optional[float] = typer.Option(None, "--mid", help="Mid price (required)."),
    sigma: Optional[float] = typer.Option(None, "--sigma", help="Volatility, price units per square-root second (required)."),
    gamma: Optional[float] = typer.Option(None, "--gamma", help="Risk aversion per price unit, as in the paper (required offline; the live form uses the profile's gamma per bps of mid)."),
    k: Optional[float] = typer.Option(None, "--k", help="Intensity decay k of lambda(delta) = A exp(-k delta), per price unit (required)."),
    intensity: Optional[float] = typer.Option(None, "--A", help="Arrival intensity A at the mid, per second (required for glft)."),
    q: float = typer.Option(0.0, "--q", help="Inventory in units of the order size, positive when long."),
    tau: float = typer.Option(1.0, "--tau", help="Time left to the horizon, in sigma's time unit (Avellaneda-Stoikov; default 1, the paper's T at t = 0)."),
    tick: Optional[str] = typer.Option(None, "--tick", help="Tick size: also show the bid rounded down and the ask rounded up to it."),
    model: str = typer.Option("as", "--model", help="as (Avellaneda-Stoikov) or glft."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Reservation price, bid, ask, spread and skew of a quoting model for the given inputs.

    Offline, every input is given in raw units, as in Avellaneda & Stoikov (2008): sigma in price
    units per square-root time unit, tau and 1/A in that time unit, k and gamma per price unit, q
    in order sizes; skew is reservation price minus mid. With a SYMBOL (live form) sigma, k and A
    are estimated from the market and the profile's [quoting] gamma is per basis point of the mid,
    as the engine uses it.
    """
    if (symbol is not None or watch) and mid is None and sigma is None and k is None:
        from bybit_mm.cli.live_quote import run_live_quote

        run_live_quote(app_context(ctx), symbol, watch, as_json)
        return
    missing = [name for name, value in (("--mid", mid), ("--sigma", sigma), ("--gamma", gamma), ("--k", k))
               if value is None]
    if missing:
        raise UsageError(f"quote needs {', '.join(missing)}",
                         hint="e.g. bybit-mm quote --mid 100 --sigma 2 --gamma 0.1 --k 1.5 "
                              "(or bybit-mm quote BTCUSDT for the live form)")
    app = app_context(ctx)
    if model not in _MODELS:
        raise UsageError(f"unknown model {model!r}", hint="choose as or glft")
    assert mid is not None and sigma is not None and k is not None and gamma is not None
    _positive("--mid", mid)
    _positive("--sigma", sigma, allow_zero=True)
    _positive("--gamma", gamma)
    _positive("--k", k)
    _positive("--A", intensity)
    _positive("--tau", tau, allow_zero=True)
    if not math.isfinite(q):
        raise UsageError(f"--q must be a finite number, got {q}")
    out = compute_quote(mid=mid, sigma=sigma, gamma=gamma, k=k, A=intensity, q=q, tau=tau, model=model,
                        tick=parse_decimal("--tick", tick, positive=True))
    if as_json:
        app.terminal.json(out)
        return
    from rich.table import Table

    table = Table(title=f"{out['model']} ({out['horizon']})", title_justify="left")
    table.add_column("")
    table.add_column("value", justify="right")
    rows = [("mid", mid), ("inventory q", q), ("reservation price", out["reservation_price"]),
            ("bid", out["bid"]), ("ask", out["ask"]), ("spread", out["spread"]),
            ("half-spread", out["half_spread"]), ("skew (r - mid)", out["skew"])]
    from bybit_mm.ui.format import number, significant

    for label, value in rows:
        table.add_row(label, significant(value, 6) if abs(value) < 1e6 else number(value, 2, group=False))
    if out["tick"] is not None:
        table.add_row(f"bid on tick {out['tick']}", str(out["bid_on_tick"]))
        table.add_row(f"ask on tick {out['tick']}", str(out["ask_on_tick"]))
    app.terminal.out.print(table)


def register(app: typer.Typer) -> None:
    """Add `quote` to the root app."""
    app.command("quote")(quote)
