"""The HTML report: interactive plotly charts with plotly.js inlined (opens offline, no CDN).

Imported only by ``bybit-mm report``; plotly is the ``report`` extra.
"""

from __future__ import annotations

import html
from typing import Any

from bybit_mm.report import require
from bybit_mm.report.data import ADVERSE_HORIZON_S, RunReport, utc
from bybit_mm.report.text import (
    LIQ_GUARD,
    SPLIT_LABELS,
    facts,
    inventory_title,
    liq_missing,
    position_limit_shown,
    split_values,
    title,
)

BUY, SELL, MID, EQUITY = "#2ca02c", "#d62728", "#7f7f7f", "#1f77b4"
_CONFIG = {"displaylogo": False, "responsive": True}


def render_html(report: RunReport) -> str:
    """The whole report as one self-contained HTML page."""
    require("plotly")
    import plotly.io as pio

    figures = [_timeline(report), _split(report), _markouts(report)]
    divs = [pio.to_html(fig, include_plotlyjs=(i == 0), full_html=False, config=_CONFIG)
            for i, fig in enumerate(figures)]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts(report))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title(report))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }}
h1 {{ font-size: 1.4em; }} table {{ border-collapse: collapse; }}
th {{ text-align: left; padding: 2px 1.5em 2px 0; font-weight: 600; }} td {{ padding: 2px 0; }}
.notes {{ color: #555; }} .charts {{ display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }}
</style></head>
<body>
<h1>{html.escape(title(report))}</h1>
<table>{rows}</table>
{f'<ul class="notes">{notes}</ul>' if notes else ''}
{divs[0]}
<div class="charts">{divs[1]}{divs[2]}</div>
</body></html>
"""


def _timeline(report: RunReport) -> Any:
    """Equity, net PnL and its parts, inventory, quotes vs mid with the fills, liquidation distance."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    c, x = report.curve, report.curve.times
    fig = make_subplots(rows=5, cols=1, shared_xaxes=True, vertical_spacing=0.035,
                        subplot_titles=("Equity (USDT)", "Net PnL and its parts (USDT)", inventory_title(report),
                                        "Quotes, mid and fills", "Distance to liquidation (% of price)"))
    fig.add_trace(go.Scatter(x=x, y=c.equity, name="equity", line={"color": EQUITY}), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=c.net_pnl, name="net PnL", line={"color": "black", "width": 2}), 2, 1)
    for name, ys, sign in (("spread capture", c.spread_capture, 1), ("inventory + adverse", c.inventory, 1),
                           ("fees", c.fees, -1), ("funding", c.funding, -1)):
        fig.add_trace(go.Scatter(x=x, y=[None if v is None else sign * v for v in ys], name=name,
                                 line={"width": 1}), 2, 1)
    fig.add_trace(go.Scatter(x=x, y=c.position, name="position", line={"color": "#9467bd", "shape": "hv"}), 3, 1)
    if position_limit_shown(report):
        for sign in (1, -1):
            fig.add_trace(go.Scatter(x=x, y=[None if v is None else sign * v for v in c.max_position],
                                     name="position limit", showlegend=sign > 0, legendgroup="limit",
                                     line={"color": "#9467bd", "dash": "dot", "width": 1}), 3, 1)
    fig.add_trace(go.Scatter(x=x, y=c.mid, name="mid", line={"color": MID, "width": 1}), 4, 1)
    fig.add_trace(go.Scatter(x=x, y=c.bid, name="our bid", line={"color": BUY, "width": 1, "shape": "hv"}), 4, 1)
    fig.add_trace(go.Scatter(x=x, y=c.ask, name="our ask", line={"color": SELL, "width": 1, "shape": "hv"}), 4, 1)
    for side, color, symbol in (("Buy", BUY, "triangle-up"), ("Sell", SELL, "triangle-down")):
        pts = [p for p in report.fills if p.side == side]
        fig.add_trace(go.Scatter(
            x=[utc(p.ts_ms) for p in pts], y=[p.price for p in pts], mode="markers", name=f"{side.lower()} fills",
            marker={"color": color, "symbol": symbol, "size": 8},
            text=[f"{p.qty:g} @ {p.price:g}, fee {p.fee:.4g}<br>{ADVERSE_HORIZON_S} s markout "
                  + ("n/a" if p.markouts_bps.get(ADVERSE_HORIZON_S) is None
                     else f"{p.markouts_bps[ADVERSE_HORIZON_S]:+.2f} bps") for p in pts],
            hoverinfo="text+x"), 4, 1)
    fig.add_trace(go.Scatter(x=x, y=c.liq_distance_pct, name="distance to liquidation",
                             line={"color": "#ff7f0e"}), 5, 1)
    fig.add_trace(go.Scatter(x=x, y=c.liq_trigger_pct, name="guard trigger", hovertext=LIQ_GUARD,
                             line={"color": SELL, "dash": "dash", "width": 1}), 5, 1)
    fig.add_trace(go.Scatter(x=x, y=[None if v is None else v / 2 for v in c.liq_trigger_pct],
                             name="next reduce (trigger / 2)", line={"color": SELL, "dash": "dot", "width": 1}), 5, 1)
    reduces = [i for i in range(1, len(c.reduces)) if c.reduces[i] > c.reduces[i - 1]]
    if reduces:
        fig.add_trace(go.Scatter(x=[x[i] for i in reduces], y=[c.liq_distance_pct[i] for i in reduces],
                                 mode="markers", name="emergency reduce", marker={"symbol": "x", "size": 10,
                                                                                   "color": SELL}), 5, 1)
    missing = liq_missing(report)
    if missing:
        fig.add_annotation(text=missing, xref="x5 domain", yref="y5 domain", x=0.5, y=0.5, showarrow=False)
    if len(report.run_starts_ms) > 1:
        for start in report.run_starts_ms[1:]:
            fig.add_vline(x=utc(start), line={"dash": "dot", "color": "#999", "width": 1})
    fig.update_yaxes(exponentformat="none", separatethousands=True, row=1, col=1)
    fig.update_layout(height=1250, margin={"l": 60, "r": 45, "t": 40, "b": 30}, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.03}, template="plotly_white", modebar={"orientation": "v"})
    return fig


def _split(report: RunReport) -> Any:
    """The PnL split as a waterfall ending at the net PnL."""
    import plotly.graph_objects as go

    values = split_values(report.split)
    labels = [SPLIT_LABELS[k] for k, _ in values] + ["net PnL"]
    ys = [v for _, v in values] + [report.split.net]
    fig = go.Figure(go.Waterfall(x=labels, y=ys, measure=["relative"] * len(values) + ["total"],
                                 text=[f"{v:+.4g}" for v in ys], textposition="outside",
                                 increasing={"marker": {"color": BUY}}, decreasing={"marker": {"color": SELL}},
                                 totals={"marker": {"color": EQUITY}}))
    fig.update_layout(title=f"PnL split (USDT, from the {report.split.source})", height=420, showlegend=False,
                      margin={"l": 60, "r": 45, "t": 80, "b": 40}, template="plotly_white", modebar={"orientation": "v"})
    return fig


def _markouts(report: RunReport) -> Any:
    """Notional-weighted markouts in bps by horizon, for all fills, buys and sells."""
    import plotly.graph_objects as go

    ms = report.markouts
    xs = [f"{m.horizon_s} s ({m.fills}/{m.of} fills)" for m in ms]
    fig = go.Figure()
    for name, attr, color in (("all fills", "bps", "black"), ("buys", "buy_bps", BUY), ("sells", "sell_bps", SELL)):
        fig.add_trace(go.Scatter(x=xs, y=[getattr(m, attr) for m in ms], name=name, mode="lines+markers",
                                 line={"color": color}, connectgaps=True))
    fig.update_yaxes(zeroline=True)
    fig.add_hline(y=0, line={"color": "#999", "width": 1})
    fig.update_layout(title="Fill markouts (bps, + in our favour)", height=420,
                      margin={"l": 60, "r": 45, "t": 80, "b": 40}, template="plotly_white", modebar={"orientation": "v"},
                      xaxis={"type": "category"}, legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"})
    return fig
