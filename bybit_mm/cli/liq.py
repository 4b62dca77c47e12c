"""`bybit-mm liq`: isolated-margin liquidation and bankruptcy prices, margins and distance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.cli.parsing import parse_decimal
from bybit_mm.errors import UsageError

#: Used when neither --symbol nor --mmr is given: BTCUSDT's lowest risk-limit tier.
DEFAULT_MMR = Decimal("0.005")


def liq_report(side: str, entry: str, qty: str, leverage: str, symbol: str | None = None,
               mmr: str | None = None, mm_deduction: str | None = None,
               extra_margin: str | None = None, mark: str | None = None) -> dict[str, Any]:
    """Validate the operator's input and compute the liquidation picture as a dict of Decimals.

    Raises UsageError (exit 2) with one clear line for any bad input.
    """
    from bybit_mm.domain import margin
    from bybit_mm.domain.instruments import get_instrument
    from bybit_mm.domain.orders import PositionSide

    try:
        pos_side = PositionSide.parse(side)
    except ValueError:
        raise UsageError(f"--side must be long or short, got {side!r}") from None
    entry_d = parse_decimal("--entry", entry, positive=True)
    qty_d = parse_decimal("--qty", qty, positive=True)
    lev_d = parse_decimal("--leverage", leverage, positive=True)
    mmr_d = parse_decimal("--mmr", mmr, non_negative=True)
    ded_d = parse_decimal("--mm-deduction", mm_deduction, non_negative=True)
    extra_d = parse_decimal("--extra-margin", extra_margin, non_negative=True) or Decimal(0)
    mark_d = parse_decimal("--mark", mark, positive=True)
    assert entry_d is not None and qty_d is not None and lev_d is not None
    if mmr_d is not None and mmr_d >= 1:
        raise UsageError(f"--mmr is a fraction (0.005 = 0.5%), got {mmr}")
    if lev_d < 1:
        raise UsageError(f"--leverage must be at least 1, got {leverage}")

    value = qty_d * entry_d
    notes: list[str] = []
    instrument = get_instrument(symbol) if symbol else None
    if instrument is not None:
        if lev_d > instrument.max_leverage:
            raise UsageError(f"--leverage {leverage} is above {instrument.symbol}'s maximum of "
                             f"{instrument.max_leverage}x")
        allowed = instrument.max_leverage_for(value)
        if lev_d > allowed:
            raise UsageError(f"--leverage {leverage} is above the {allowed}x {instrument.symbol} allows "
                             f"for a position worth {value} USDT (risk-limit tiers)")
        if qty_d < instrument.min_qty:
            notes.append(f"qty {qty} is below {instrument.symbol}'s minimum order qty {instrument.min_qty}")
    if mmr_d is not None:
        used_mmr, used_ded, source = mmr_d, ded_d or Decimal(0), "--mmr"
    elif instrument is not None:
        tier = instrument.tier_for(value)
        used_mmr = tier.mmr
        used_ded = ded_d if ded_d is not None else tier.mm_deduction
        source = f"{instrument.symbol} risk-limit tier up to {tier.limit_value} USDT"
    else:
        used_mmr, used_ded = DEFAULT_MMR, ded_d or Decimal(0)
        source = (f"the default {(DEFAULT_MMR * 100).normalize():f}% (BTCUSDT's lowest tier; no --symbol or --mmr "
                  "given)")

    im = margin.initial_margin(value, lev_d)
    mm = value * used_mmr - used_ded
    if im + extra_d <= mm:
        raise UsageError(f"at {leverage}x the margin ({im + extra_d} USDT) does not cover the maintenance "
                         f"margin ({mm} USDT): the position would be liquidated at once; lower the leverage")
    report: dict[str, Any] = {
        "symbol": instrument.symbol if instrument else None,
        "side": pos_side.value,
        "entry": entry_d,
        "qty": qty_d,
        "leverage": lev_d,
        "position_value": value,
        "liquidation_price": margin.liquidation_price(pos_side, entry_d, qty_d, lev_d, used_mmr,
                                                      used_ded, extra_d),
        "bankruptcy_price": margin.bankruptcy_price(pos_side, entry_d, lev_d, qty_d, extra_d),
        "initial_margin": im,
        "maintenance_margin": mm,
        "extra_margin": extra_d,
        "mmr": used_mmr,
        "mm_deduction": used_ded,
        "mmr_source": source,
    }
    if mark_d is not None:
        distance, pct = margin.liquidation_distance(pos_side, mark_d, report["liquidation_price"])
        report.update(mark=mark_d, distance=distance, distance_pct=pct)
    report["notes"] = notes
    return report


def _fmt(value: Decimal, places: int = 4) -> str:
    q = value.quantize(Decimal(1).scaleb(-places))
    text = f"{q:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def liq(
    ctx: typer.Context,
    side: str = typer.Option(..., "--side", "-s", metavar="long|short", help="Position side: long or short."),
    entry: str = typer.Option(..., "--entry", "-e", metavar="PRICE", help="Entry (average) price in USDT."),
    qty: str = typer.Option(..., "--qty", "-q", metavar="QTY", help="Position size in base units (e.g. BTC)."),
    leverage: str = typer.Option(..., "--leverage", "-l", metavar="L", help="Leverage (initial margin = value / L)."),
    symbol: Optional[str] = typer.Option(None, "--symbol", metavar="SYM",
                                         help="Use this symbol's risk-limit tiers and leverage cap (e.g. BTCUSDT)."),
    mmr: Optional[str] = typer.Option(None, "--mmr", metavar="RATE",
                                      help="Maintenance margin rate as a fraction (0.005 = 0.5%); overrides the tier."),
    mm_deduction: Optional[str] = typer.Option(None, "--mm-deduction", metavar="USDT",
                                               help="Maintenance margin deduction of the tier (default: the tier's, or 0)."),
    extra_margin: Optional[str] = typer.Option(None, "--extra-margin", metavar="USDT",
                                               help="Margin added to the isolated position beyond the initial margin."),
    mark: Optional[str] = typer.Option(None, "--mark", metavar="PRICE",
                                       help="Current mark price: also show the distance to liquidation."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Isolated-margin liquidation and bankruptcy prices of a linear USDT perpetual position.

    Bybit's formulas: IM = value / leverage, MM = value x MMR - deduction,
    long LP = entry - (IM - MM + extra) / qty, short LP = entry + (IM - MM + extra) / qty.
    Liquidation is triggered by the mark price; the position is then closed at the bankruptcy
    price and its whole margin is lost. Example: long 1 @ 10000, 50x, MMR 0.5% -> LP 9850.
    """
    term = app_context(ctx).terminal
    report = liq_report(side, entry, qty, leverage, symbol, mmr, mm_deduction, extra_margin, mark)
    notes = report.pop("notes")
    for note in notes:
        term.warn(note)
    if as_json:
        term.json(report)
        term.message(f"MMR from {report['mmr_source']}.")
        return
    from rich.table import Table

    title = f"{report['symbol'] or 'isolated'} {report['side']} {_fmt(report['qty'], 8)} @ " \
            f"{_fmt(report['entry'])}, {_fmt(report['leverage'], 2)}x"
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("item")
    table.add_column("value", justify="right")
    table.add_row("liquidation price", _fmt(report["liquidation_price"]))
    table.add_row("bankruptcy price", _fmt(report["bankruptcy_price"]))
    table.add_row("position value", _fmt(report["position_value"]))
    table.add_row("initial margin", _fmt(report["initial_margin"]))
    table.add_row("maintenance margin", _fmt(report["maintenance_margin"]))
    if report["extra_margin"]:
        table.add_row("extra margin", _fmt(report["extra_margin"]))
    table.add_row("MMR / deduction", f"{_fmt(report['mmr'] * 100)}% / {_fmt(report['mm_deduction'])}")
    if "mark" in report:
        table.add_row("mark price", _fmt(report["mark"]))
        table.add_row("distance to liquidation",
                      f"{_fmt(report['distance'])} ({_fmt(report['distance_pct'], 2)}%)")
    term.out.print(table)
    term.message(f"MMR from {report['mmr_source']}; liquidation is triggered by the mark price.")


def register(app: typer.Typer) -> None:
    """Add `liq` to the root app."""
    app.command("liq")(liq)
