"""The static PNG report: the same charts drawn with matplotlib's Agg backend (no display needed).

Imported only by ``bybit-mm report``; matplotlib is the ``report`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bybit_mm.report import require
from bybit_mm.report.data import RunReport, utc
from bybit_mm.report.html import BUY, EQUITY, MID, SELL
from bybit_mm.report.text import (
    SPLIT_LABELS,
    facts,
    inventory_title,
    liq_missing,
    position_limit_shown,
    split_values,
    title,
)

#: Pixels: 14 x 18 inches at 80 dpi.
SIZE_IN, DPI = (14.0, 18.0), 80


def write_png(report: RunReport, path: Path) -> None:
    """Draw the report into ``path`` as one PNG."""
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    # A fixed layout: matplotlib's constrained layout would double the drawing time.
    fig = Figure(figsize=SIZE_IN, dpi=DPI)
    grid = fig.add_gridspec(6, 2, height_ratios=[0.8, 1, 1, 1, 1, 1], left=0.06, right=0.97, top=0.95,
                            bottom=0.03, hspace=0.4, wspace=0.34)
    fig.suptitle(title(report), fontsize=14, fontweight="bold")
    _facts(fig.add_subplot(grid[0, :]), report)
    time_axes = [fig.add_subplot(grid[i, 0]) for i in range(1, 6)]
    for ax in time_axes[1:]:
        ax.sharex(time_axes[0])
    _timeline(time_axes, report)
    _split(fig.add_subplot(grid[1:3, 1]), report)
    _markouts(fig.add_subplot(grid[3:5, 1]), report)
    _notes(fig.add_subplot(grid[5, 1]), report)
    fig.savefig(path, format="png")


def _facts(ax: Any, report: RunReport) -> None:
    ax.axis("off")
    lines = [f"{k}: {v}" for k, v in facts(report)]
    ax.text(0, 1, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=9, transform=ax.transAxes)


def _notes(ax: Any, report: RunReport) -> None:
    import textwrap

    ax.axis("off")
    text = "\n".join(textwrap.fill(f"• {n}", 90) for n in report.notes) or "(no notes)"
    ax.text(0, 1, text, va="top", ha="left", fontsize=8, color="#555", transform=ax.transAxes)


def _timeline(axes: list[Any], report: RunReport) -> None:
    c, x = report.curve, report.curve.times
    eq, pnl, inv, quotes, liq = axes

    def nan(ys: list[float | None], sign: float = 1) -> list[float]:
        return [float("nan") if v is None else sign * v for v in ys]

    eq.plot(x, nan(c.equity), color=EQUITY)
    eq.set_title("Equity (USDT)", loc="left")
    pnl.plot(x, nan(c.net_pnl), color="black", lw=2, label="net PnL")
    for name, ys, sign in (("spread capture", c.spread_capture, 1), ("inventory + adverse", c.inventory, 1),
                           ("fees", c.fees, -1), ("funding", c.funding, -1)):
        pnl.plot(x, nan(ys, sign), lw=1, label=name)
    pnl.set_title("Net PnL and its parts (USDT)", loc="left")
    pnl.legend(fontsize=7, ncol=5, loc="upper left")
    inv.step(x, nan(c.position), where="post", color="#9467bd", label="position")
    limit = position_limit_shown(report)
    if limit:
        inv.plot(x, nan(c.max_position), ls=":", color="#9467bd", lw=1, label="position limit")
        inv.plot(x, nan(c.max_position, -1), ls=":", color="#9467bd", lw=1)
    inv.set_title(inventory_title(report), loc="left")
    quotes.plot(x, nan(c.mid), color=MID, lw=1, label="mid")
    quotes.step(x, nan(c.bid), where="post", color=BUY, lw=0.8, label="our bid")
    quotes.step(x, nan(c.ask), where="post", color=SELL, lw=0.8, label="our ask")
    for side, color, marker in (("Buy", BUY, "^"), ("Sell", SELL, "v")):
        pts = [p for p in report.fills if p.side == side]
        quotes.scatter([utc(p.ts_ms) for p in pts], [p.price for p in pts], color=color, marker=marker, s=25,
                       label=f"{side.lower()} fills", zorder=3)
    quotes.set_title("Quotes, mid and fills", loc="left")
    quotes.legend(fontsize=7, ncol=5, loc="upper left")
    liq.plot(x, nan(c.liq_distance_pct), color="#ff7f0e", label="distance to liquidation")
    liq.plot(x, nan(c.liq_trigger_pct), color=SELL, ls="--", lw=1, label="guard trigger")
    liq.plot(x, [v / 2 for v in nan(c.liq_trigger_pct)], color=SELL, ls=":", lw=1, label="next reduce (trigger / 2)")
    liq.set_title("Distance to liquidation (% of price)", loc="left")
    missing = liq_missing(report)
    if missing:
        liq.text(0.5, 0.5, missing, ha="center", va="center", color="#555", transform=liq.transAxes)
    liq.legend(fontsize=7, loc="upper left")
    for start in report.run_starts_ms[1:]:
        for ax in axes:
            ax.axvline(utc(start), color="#999", ls=":", lw=1)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")


def _split(ax: Any, report: RunReport) -> None:
    values = split_values(report.split)
    labels = [SPLIT_LABELS[k] for k, _ in values] + ["net PnL"]
    ys = [v for _, v in values] + [report.split.net]
    colors = [BUY if v >= 0 else SELL for v in ys[:-1]] + [EQUITY]
    bars = ax.barh(labels[::-1], ys[::-1], color=colors[::-1])
    ax.bar_label(bars, labels=[f"{v:+.4g}" for v in ys[::-1]], fontsize=8, padding=3)
    ax.axvline(0, color="#999", lw=1)
    ax.set_title(f"PnL split (USDT, from the {report.split.source})", loc="left")
    ax.margins(x=0.25)


def _markouts(ax: Any, report: RunReport) -> None:
    ms = report.markouts
    xs = [f"{m.horizon_s} s\n({m.fills}/{m.of})" for m in ms]
    ax.set_xticks(range(len(xs)), xs)
    for name, attr, color in (("all fills", "bps", "black"), ("buys", "buy_bps", BUY), ("sells", "sell_bps", SELL)):
        known = [(i, getattr(m, attr)) for i, m in enumerate(ms) if getattr(m, attr) is not None]
        ax.plot([i for i, _ in known], [v for _, v in known], marker="o", color=color, label=name)
    ax.axhline(0, color="#999", lw=1)
    ax.set_title("Fill markouts (bps, + in our favour; fills marked / fills)", loc="left")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
