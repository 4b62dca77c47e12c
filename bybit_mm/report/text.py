"""The words and figures both report formats show (title, facts table, labels)."""

from __future__ import annotations

from bybit_mm.report.data import PnlSplit, RunReport
from bybit_mm.report.runs import duration_text, iso_utc

SPLIT_LABELS = {
    "spread_capture": "spread capture",
    "adverse_selection": "adverse selection",
    "inventory": "inventory",
    "fees": "fees",
    "funding": "funding",
}
#: The position limit is drawn once the position reached this fraction of it.
LIMIT_SHOWN_FROM = 0.2
LIQ_GUARD = ("the liquidation guard's trigger: (1 - liquidation_threshold) x the distance at entry; below it "
             "the guard stops adding and reduces by emergency_reduce_ratio, once more per halving")


def title(report: RunReport) -> str:
    """``bybit-mm report: <run id>``."""
    return f"bybit-mm report: {report.run.id}"


def facts(report: RunReport) -> list[tuple[str, str]]:
    """The run's key facts as (label, text) rows."""
    run, split = report.run, report.split
    summary = run.summary or {}
    rows = [
        ("run", f"{run.id} ({run.kind}, network {run.network}{', resumed' if run.resumed else ''})"),
        ("started (UTC)", iso_utc(run.started_ms).replace("T", " ").rstrip("Z")),
        ("duration", duration_text(run.duration_s)),
        ("stopped", run.stop_reason or "no end journaled (running, or killed)"),
        ("fills", f"{run.fills}" + (f" ({summary['maker_fills']} maker)" if "maker_fills" in summary else "")),
        ("net PnL (USDT)", f"{split.net:+.4f} on a starting balance of {run.starting_balance:.2f}"),
        ("PnL split (USDT)", ", ".join(f"{SPLIT_LABELS[k]} {v:+.4f}" for k, v in split_values(split))
         + f" (adverse selection within {split.adverse_horizon_s} s)"),
    ]
    if summary.get("min_liq_distance_pct") is not None:
        rows.append(("min distance to liquidation", f"{float(summary['min_liq_distance_pct']):.3f}%"
                     f", {summary.get('emergency_reduces', 0)} emergency reduces"))
    rows.append(("journal", str(run.journal)))
    return rows


def position_limit_shown(report: RunReport) -> bool:
    """Draw the position limit only when the position came near it (else it flattens the chart)."""
    limit = max((v for v in report.curve.max_position if v), default=0.0)
    peak = max((abs(v) for v in report.curve.position if v is not None), default=0.0)
    return bool(limit) and peak >= LIMIT_SHOWN_FROM * limit


def inventory_title(report: RunReport) -> str:
    """The inventory chart's title, saying the limit when it is not drawn."""
    limit = max((v for v in report.curve.max_position if v), default=0.0)
    if limit and not position_limit_shown(report):
        return f"Inventory (position; limit ±{limit:g}, off this scale)"
    return "Inventory (position)"


def liq_missing(report: RunReport) -> str | None:
    """Why the distance-to-liquidation chart is empty, or None when it is not."""
    if any(v is not None for v in report.curve.liq_distance_pct):
        return None
    if report.curve_source == "fills":
        return "not available: no snapshots journaled for this run"
    return "no position during the run: no liquidation price"


def split_values(split: PnlSplit) -> list[tuple[str, float]]:
    """The split's parts as signed contributions to the net PnL (fees and funding negated; adverse
    selection left out when not available)."""
    parts = [("spread_capture", split.spread_capture)]
    if split.adverse_selection is not None:
        parts.append(("adverse_selection", split.adverse_selection))
    parts += [("inventory", split.inventory), ("fees", -split.fees), ("funding", -split.funding)]
    return [(k, v + 0.0) for k, v in parts]  # + 0.0: no "-0" for a zero fee or funding
