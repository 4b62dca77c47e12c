"""The sweep's heatmap: a metric over two swept keys (``--heatmap KEY1,KEY2``).

:func:`heat_grid` is the data (stdlib only): the distinct values of each key and the metric in
each cell, averaged over the other keys' values when more than two keys were swept (a failed
combination leaves no value; a cell with none is empty). :func:`write_heatmap` draws it as an
HTML page (plotly, inlined: opens offline) or a PNG (matplotlib), the ``report`` extra (through
:func:`bybit_mm.report.require`, as ``bybit-mm report``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bybit_mm.errors import UsageError
from bybit_mm.report import require
from bybit_mm.sweep.table import METRICS


def heat_grid(rows: list[dict[str, Any]], x_key: str, y_key: str, metric: str
              ) -> tuple[list[Any], list[Any], list[list[float | None]]]:
    """(x values, y values, z[y][x]) of ``metric`` (a :data:`METRICS` name) over the two keys."""
    field = METRICS[metric][0]
    xs = sorted({r[x_key] for r in rows})
    ys = sorted({r[y_key] for r in rows})
    cells: dict[tuple[Any, Any], list[float]] = {}
    for r in rows:
        v = r.get(field)
        if v is not None and math.isfinite(v):
            cells.setdefault((r[x_key], r[y_key]), []).append(v)
    z = [[(math.fsum(cells[(x, y)]) / len(cells[(x, y)])) if (x, y) in cells else None for x in xs] for y in ys]
    return xs, ys, z


def parse_keys(spec: str, keys: list[str]) -> tuple[str, str]:
    """``KEY1,KEY2`` -> two distinct swept keys (a UsageError otherwise)."""
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 2 or parts[0] == parts[1]:
        raise UsageError(f"--heatmap {spec!r} must name two different swept keys: KEY1,KEY2")
    for p in parts:
        if p not in keys:
            raise UsageError(f"--heatmap: {p} is not a swept key (swept: {', '.join(keys)})")
    return parts[0], parts[1]


def check_path(path: Path) -> str:
    """``html`` or ``png`` from the file's suffix (a UsageError otherwise)."""
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("html", "png"):
        raise UsageError(f"--heatmap-out {path}: must end in .html or .png")
    return kind


def write_heatmap(path: Path, rows: list[dict[str, Any]], x_key: str, y_key: str, metric: str) -> None:
    """Draw the heatmap of ``metric`` over ``x_key`` × ``y_key`` into ``path`` (.html or .png)."""
    xs, ys, z = heat_grid(rows, x_key, y_key, metric)
    title = f"{metric.replace('_', ' ')} over {x_key} × {y_key}"
    if check_path(path) == "html":
        require("plotly")
        import plotly.graph_objects as go

        fig = go.Figure(go.Heatmap(x=[str(x) for x in xs], y=[str(y) for y in ys], z=z, colorscale="RdYlGn",
                                   reversescale=not METRICS[metric][1], hoverongaps=False,
                                   colorbar={"title": metric}))
        fig.update_layout(title=title, xaxis_title=x_key, yaxis_title=y_key)
        fig.write_html(str(path), include_plotlyjs=True, full_html=True)
        return
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.2 * len(xs) + 3, 0.8 * len(ys) + 2), dpi=100)
    ax = fig.add_subplot()
    data = [[math.nan if v is None else v for v in row] for row in z]
    image = ax.imshow(data, cmap="RdYlGn" if METRICS[metric][1] else "RdYlGn_r", aspect="auto", origin="lower")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    for i, row in enumerate(z):
        for j, v in enumerate(row):
            ax.text(j, i, "—" if v is None else f"{v:.3g}", ha="center", va="center", fontsize=8)
    ax.set_xlabel(x_key)
    ax.set_ylabel(y_key)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=metric)
    fig.tight_layout()
    fig.savefig(path, format="png")
