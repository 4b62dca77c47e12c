"""The sweep's result table (rows from :func:`bybit_mm.sweep.table.aggregate`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def sweep_table(rows: list[dict[str, Any]], keys: list[str], *, total: int, metric: str) -> Table:
    """One line per combination, best first by ``metric``; a failed one shows its error."""
    t = Table(title=f"sweep: {len(rows)} of {total} combinations, by {metric.replace('_', ' ')}",
              title_justify="left")
    short = [k.split(".")[-1] for k in keys]
    for k, name in zip(keys, short):
        t.add_column(name if short.count(name) == 1 else k, justify="right", no_wrap=True)
    for label in ("net PnL", "Sharpe", "PnL bps of notional", "max DD %", "fills", "notional"):
        t.add_column(label, justify="right")
    t.add_column("error", min_width=20, ratio=1)

    def num(v: Any, fmt: str) -> str:
        return "—" if v is None else format(v, fmt)

    for r in rows:
        params = [str(r.get(k)) for k in keys]
        if "error" in r:
            t.add_row(*params, *["—"] * 6, r["error"], style="red")
            continue
        t.add_row(*params, num(r["net_pnl"], ",.2f"), num(r["sharpe"], ".2f"), num(r["pnl_per_notional_bps"], ".2f"),
                  num(r["max_drawdown_pct"], ".2f"), f"{r['fills']:,}", num(r["notional"], ",.0f"), "")
    return t
