"""`bybit-mm liq`: isolated-margin liquidation and bankruptcy prices, margins, the loss at
liquidation (position margin: IM + extra + fee to close) and distance / ROI at a mark price."""

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
               extra_margin: str | None = None, mark: str | None = None,
               taker_rate: str | None = None) -> dict[str, Any]:
    """Validate the operator's input and compute the liquidation picture as a dict of Decimals.

    Raises UsageError (exit 2) with one clear line for any bad input, including a position
    beyond the symbol's known risk-limit tiers.
    """
    from bybit_mm.domain import margin
    from bybit_mm.domain.fees import DEFAULT_TIER, tier as fee_tier
    from bybit_mm.domain.instruments import get_instrument
    from bybit_mm.domain.position import Position, roi, unrealized_pnl
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
    taker_d = parse_decimal("--taker-rate", taker_rate, non_negative=True)
    if taker_d is None:
        taker_d = fee_tier(DEFAULT_TIER).taker
    assert entry_d is not None and qty_d is not None and lev_d is not None
    if mmr_d is not None and mmr_d >= 1:
        raise UsageError(f"--mmr is a fraction (0.005 = 0.5%), got {mmr}")
    if taker_d >= 1:
        raise UsageError(f"--taker-rate is a fraction (0.00055 = 0.055%), got {taker_rate}")
    if lev_d < 1:
        raise UsageError(f"--leverage must be at least 1, got {leverage}")

    value = qty_d * entry_d
    notes: list[str] = []
    instrument = get_instrument(symbol) if symbol else None
    if instrument is not None:
        if lev_d > instrument.max_leverage:
            raise UsageError(f"--leverage {leverage} is above {instrument.symbol}'s maximum of "
                             f"{instrument.max_leverage}x")
        if value > instrument.max_position_value:
            # Beyond the shipped tiers the MMR is unknown: never reuse the last tier's.
            raise UsageError(f"a position worth {value:,f} USDT is beyond {instrument.symbol}'s known "
                             f"risk-limit tiers (up to {instrument.max_position_value:,f} USDT)",
                             hint="give the tier's --mmr and --mm-deduction from Bybit's risk-limit table "
                                  "without --symbol")
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
    bust = margin.bankruptcy_price(pos_side, entry_d, lev_d, qty_d, extra_d)
    close_fee = margin.fee_to_close(qty_d, bust, taker_d)
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
        "bankruptcy_price": bust,
        "initial_margin": im,
        "maintenance_margin": mm,
        "extra_margin": extra_d,
        "taker_rate": taker_d,
        "fee_to_close": close_fee,
        # Bybit's position margin, and exactly what a liquidation loses.
        "position_margin": margin.position_margin(pos_side, entry_d, qty_d, lev_d, taker_d, extra_d),
        "mmr": used_mmr,
        "mm_deduction": used_ded,
        "mmr_source": source,
    }
    if mark_d is not None:
        distance, pct = margin.liquidation_distance(pos_side, mark_d, report["liquidation_price"])
        pos = Position(instrument.symbol if instrument else "", qty_d * pos_side.sign, entry_d)
        ratio = roi(pos, mark_d, lev_d, taker_rate=taker_d, extra_margin=extra_d)
        report.update(mark=mark_d, distance=distance, distance_pct=pct,
                      unrealized_pnl=unrealized_pnl(pos, mark_d), roi_pct=ratio * 100)
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
                                       help="Current mark price: also show the distance to liquidation, uPnL and ROI."),
    taker_rate: Optional[str] = typer.Option(None, "--taker-rate", metavar="RATE",
                                             help="Taker fee rate for the fee to close, as a fraction "
                                                  "(default 0.00055: Bybit's standard 0.055%)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Isolated-margin liquidation and bankruptcy prices of a linear USDT perpetual position.

    Bybit's formulas: IM = value / leverage, MM = value x MMR - deduction,
    long LP = entry - (IM - MM + extra) / qty, short LP = entry + (IM - MM + extra) / qty.
    Liquidation is triggered by the mark price; the position is then taken over at the
    bankruptcy price and its whole position margin is lost: IM + extra + the fee to close
    (qty x bankruptcy price x taker rate). ROI divides uPnL by that position margin.
    Example: long 1 @ 10000, 50x, MMR 0.5% -> LP 9850, position margin 205.39.
    """
    term = app_context(ctx).terminal
    report = liq_report(side, entry, qty, leverage, symbol, mmr, mm_deduction, extra_margin, mark,
                        taker_rate)
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
    if report["extra_margin"]:
        table.add_row("extra margin", _fmt(report["extra_margin"]))
    table.add_row(f"fee to close ({_fmt(report['taker_rate'] * 100)}%)", _fmt(report["fee_to_close"]))
    table.add_row("position margin (loss if liquidated)", _fmt(report["position_margin"]))
    table.add_row("maintenance margin", _fmt(report["maintenance_margin"]))
    table.add_row("MMR / deduction", f"{_fmt(report['mmr'] * 100)}% / {_fmt(report['mm_deduction'])}")
    if "mark" in report:
        table.add_row("mark price", _fmt(report["mark"]))
        table.add_row("distance to liquidation",
                      f"{_fmt(report['distance'])} ({_fmt(report['distance_pct'], 2)}%)")
        table.add_row("unrealised PnL / ROI",
                      f"{_fmt(report['unrealized_pnl'])} ({_fmt(report['roi_pct'], 2)}%)")
    term.out.print(table)
    term.message(f"MMR from {report['mmr_source']}; liquidation is triggered by the mark price.")


def register(app: typer.Typer) -> None:
    """Add `liq` to the root app."""
    app.command("liq")(liq)
