"""`bybit-mm fees`: Bybit's derivatives fee schedule, fees on a notional, break-even spreads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.cli.parsing import parse_decimal
from bybit_mm.errors import UsageError


def fee_rows(tier_name: str | None, notional: Decimal | None) -> list[dict[str, Any]]:
    """One dict per tier: rates, fees on ``notional`` and break-even half-spreads in bps."""
    from bybit_mm.domain import fees as fee_data

    if tier_name is None:
        tiers = list(fee_data.FEE_TIERS.values())
    else:
        try:
            tiers = [fee_data.tier(tier_name)]
        except KeyError:
            raise UsageError(f"unknown fee tier {tier_name!r}",
                             hint=f"choose from {', '.join(fee_data.FEE_TIERS)}") from None
    rows = []
    for t in tiers:
        row = t.to_dict()
        row["breakeven_maker_maker_bps"] = float(fee_data.round_trip_breakeven_bps(t.maker, t.maker))
        row["breakeven_maker_taker_bps"] = float(fee_data.round_trip_breakeven_bps(t.maker, t.taker))
        if notional is not None:
            row["notional"] = float(notional)
            row["maker_fee"] = float(t.fee(notional, maker=True))
            row["taker_fee"] = float(t.fee(notional, maker=False))
        rows.append(row)
    return rows


def fees(
    ctx: typer.Context,
    tier: Optional[str] = typer.Option(None, "--tier", "-t", metavar="TIER",
                                       help="Show one tier: VIP0..VIP5, SVIP (Supreme VIP), PRO1..PRO6."),
    notional: Optional[str] = typer.Option(None, "--notional", "-n", metavar="USDT",
                                           help="Also compute the maker and taker fee on this fill notional."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    live: bool = typer.Option(False, "--live", help="Show the profile account's actual rates (GET /v5/account/fee-rate) instead of the schedule."),
    symbol: Optional[str] = typer.Option(None, "--symbol", "-s", help="With --live: the symbol (default: the profile's)."),
) -> None:
    """Bybit's USDT-perpetual fee schedule, with break-even half-spreads of round trips.

    A maker-maker round trip (both legs resting, e.g. market making) must capture a half-spread
    of (maker + maker) / 2 to break even; a maker-taker one (resting entry, market exit)
    (maker + taker) / 2. Both are shown in basis points of price.
    """
    if live:
        from bybit_mm.cli.fees_live import run_fees_live

        run_fees_live(app_context(ctx), symbol, as_json)
        return
    from bybit_mm.domain import fees as fee_data

    term = app_context(ctx).terminal
    rows = fee_rows(tier, parse_decimal("--notional", notional, positive=True, unit="USDT"))
    if as_json:
        term.json({"source": fee_data.FEE_SOURCE, "checked": fee_data.FEE_CHECKED, "tiers": rows})
        return
    from rich.table import Table

    table = Table(title="Bybit derivatives fees (USDT perpetuals)", title_justify="left")
    table.add_column("tier")
    table.add_column("maker %", justify="right")
    table.add_column("taker %", justify="right")
    table.add_column("b/e m-m bps", justify="right")
    table.add_column("b/e m-t bps", justify="right")
    if notional is not None:
        table.add_column("maker fee", justify="right")
        table.add_column("taker fee", justify="right")
    from bybit_mm.ui.format import number

    for r in rows:
        cells = [r["label"], number(r["maker_pct"], 4), number(r["taker_pct"], 4),
                 number(r["breakeven_maker_maker_bps"], 2), number(r["breakeven_maker_taker_bps"], 2)]
        if notional is not None:
            cells += [number(r["maker_fee"], 4), number(r["taker_fee"], 4)]
        table.add_row(*cells)
    term.out.print(table)
    term.message(f"source: {fee_data.FEE_SOURCE}, checked {fee_data.FEE_CHECKED}. {fee_data.FEE_NOTE} "
                 "b/e = break-even half-spread of a maker-maker / maker-taker round trip.")


def register(app: typer.Typer) -> None:
    """Add `fees` to the root app."""
    app.command("fees")(fees)
