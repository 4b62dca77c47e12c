"""The live table of ``paper`` and ``live``: pure builders from an engine snapshot to rich renderables.

Everything here is a function of one :class:`~bybit_mm.engine.snapshot.EngineSnapshot` (or a
summary) and the terminal's size, so it can be tested by rendering to a fixed-size console. The
table is one panel of sections of label/value pairs, flowed two pairs a row in 80 columns and
three or four in wider terminals; when the terminal is too short for a title line per section
(80x24), the section names move into a column of their own, so every section and the bottom
border stay on screen.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bybit_mm.ui.format import DASH, number, significant

if TYPE_CHECKING:
    from bybit_mm.engine.snapshot import EngineSnapshot, RunSummary

_LEVEL_STYLE = {"flat": "dim", "ok": "green", "warn": "yellow", "danger": "bold red"}
_STATUS_STYLE = {"quoting": "green", "warming up": "cyan", "stale data": "yellow", "reducing": "bold red",
                 "exchange unavailable": "bold yellow", "stopping": "yellow", "stopped": "bold"}
_LABEL_W = 10
_VALUE_W = 22
_TITLE_W = 8
_PANEL_EDGE = 4  # the panel's border and padding, left and right

Cell = str | Text


def _places(tick: Decimal | None) -> int:
    if tick is None:
        return 2
    exp = tick.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 2


def fmt_price(value: Decimal | float | None, tick: Decimal | None = None) -> str:
    """A price with the tick's decimals, thousands separated; an en dash when unknown."""
    return number(value, _places(tick))


def fmt_money(value: Decimal | float | None, *, sign: bool = False) -> str:
    """USDT with 2 decimals (4 below 1 USDT in size), optionally signed."""
    if value is None:
        return DASH
    v = Decimal(str(value))
    return number(v, 4 if 0 < abs(v) < 1 else 2, sign=sign)


def fmt_num(value: float | Decimal | None, digits: int = 4) -> str:
    """A model number with ``digits`` significant digits."""
    return significant(value, digits)


def fmt_pct(value: Decimal | float | None, places: int = 2) -> str:
    """A percentage."""
    return DASH if value is None else number(value, places, group=False) + "%"


def fmt_qty(value: Decimal | None) -> str:
    """A quantity as the exchange spells it (no exponent)."""
    return number(value, group=False)


def _pnl(value: Decimal) -> Text:
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(fmt_money(value, sign=True), style=style)


def _cost(value: Decimal) -> Text:
    # Fees and funding as paid: + is a cost, - a rebate or funding received.
    style = "red" if value > 0 else "green" if value < 0 else ""
    return Text(fmt_money(value, sign=True), style=style)


def _bps(value: Decimal, notional: Decimal) -> str:
    """``value`` in bps of ``notional``, signed, 1 decimal (empty when nothing traded)."""
    if not notional:
        return ""
    return number(float(value) / float(notional) * 1e4, 1, sign=True, group=False)


def _with_bps(cell: Text, value: Decimal, notional: Decimal) -> Text:
    bps = _bps(value, notional)
    if bps:
        cell.append(f" {bps}bp", style="dim")
    return cell


def _markouts(values: tuple[float | None, ...]) -> str:
    """Markouts in bps as ``+1.2/+0.3/-0.5 bp`` (an en dash for one not resolved yet)."""
    if all(v is None for v in values):
        return DASH
    return "/".join(DASH if v is None else number(v, 1, sign=True, group=False) for v in values) + " bp"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _quote_cell(price: Decimal | None, qty: Decimal | None, ticks: int | None, tick: Decimal | None) -> Text:
    if price is None:
        return Text("not quoting", style="dim")
    text = Text(f"{fmt_price(price, tick)} × {fmt_qty(qty)}")
    if ticks is not None:
        text.append(f" {ticks}t", style="dim")
    return text


def _sections(s: EngineSnapshot) -> list[tuple[str, str, list[tuple[str, Cell]]]]:
    """(title, short title, label/value pairs) of each section."""
    tick = s.tick
    side = "long" if s.position_qty > 0 else "short" if s.position_qty < 0 else "flat"
    level_style = _LEVEL_STYLE.get(s.liq_level, "")
    dist = Text(fmt_pct(s.liq_distance_pct, 3), style=level_style)
    if s.liq_trigger_pct is not None:
        dist.append(f" guard {fmt_pct(s.liq_trigger_pct, 3)}", style="dim")
    n = s.notional
    lat = (f"{s.latency_p50_ms:.1f}/{s.latency_p99_ms:.1f} ms p50/99" if s.latency_p50_ms is not None
           and s.latency_p99_ms is not None else DASH)
    return [
        ("Market", "Market", [
            ("bid", fmt_price(s.best_bid, tick)), ("ask", fmt_price(s.best_ask, tick)),
            ("mid", fmt_price(s.mid, tick)), ("mark", fmt_price(s.mark, tick)),
            ("feed", Text(s.feed, style="yellow" if "fallback" in s.feed else ""))]),
        (f"Model {s.model}", "Model", [
            ("model", s.model or DASH), ("reserv.", fmt_price(s.reservation_price, tick)),
            ("half-spr", fmt_num(s.model_half_spread)), ("sigma/√s", fmt_num(s.sigma)),
            ("k", fmt_num(s.k)), ("A /s", fmt_num(s.A)), ("skew", fmt_num(s.skew)),
            ("inventory", f"{number(s.inventory_q, 2, sign=True)} q")]),
        ("Quotes (price × qty, ticks behind the touch)", "Quotes", [
            ("bid", _quote_cell(s.bid_price, s.bid_qty, s.bid_from_touch_ticks, tick)),
            ("ask", _quote_cell(s.ask_price, s.ask_qty, s.ask_from_touch_ticks, tick))]),
        ("Position", "Position", [
            ("size", f"{fmt_qty(s.position_qty)} ({side})"), ("entry", fmt_price(s.entry_price, tick)),
            ("leverage", f"{fmt_qty(s.leverage)}x"), ("margin", fmt_money(s.position_margin)),
            ("liq price", Text(fmt_price(s.liq_price, tick), style=level_style)), ("liq dist", dist),
            ("max pos", fmt_qty(s.max_position)), ("min dist", fmt_pct(s.min_liq_distance_pct, 3))]),
        ("PnL (USDT, bp of traded notional; adverse, fees, funding: + paid)", "PnL", [
            ("realised", _pnl(s.realized_pnl)), ("unrealised", _pnl(s.unrealized_pnl)),
            ("capture", _with_bps(_pnl(s.spread_capture), s.spread_capture, n)),
            ("adverse", _with_bps(_cost(s.adverse_selection), s.adverse_selection, n)),
            ("inventory", _with_bps(_pnl(s.inventory_pnl), s.inventory_pnl, n)),
            ("fees paid", _with_bps(_cost(s.fees), s.fees, n)), ("fund. paid", _cost(s.funding)),
            ("total", _with_bps(_pnl(s.total_pnl), s.total_pnl, n)),
            ("1/10/60s", _markouts((s.markout_1s_bps, s.markout_10s_bps, s.markout_60s_bps))),
            ("equity", fmt_money(s.equity))]),
        ("Activity", "Activity", [
            ("fills", f"{s.fills} ({s.buy_fills} b / {s.sell_fills} s)"), ("volume", fmt_qty(s.volume)),
            ("orders", f"{s.orders_placed} new / {s.orders_amended} amend"),
            ("cancelled", f"{s.orders_cancelled} ({s.orders_rejected} rejected)"),
            ("latency", lat), ("errors", str(s.errors))]),
    ]


def _grid(pairs_per_row: int, *, title_column: bool) -> Table:
    t = Table.grid(padding=(0, 1))
    if title_column:
        t.add_column(style="bold cyan", no_wrap=True, width=_TITLE_W)
    for _ in range(pairs_per_row):
        t.add_column(style="dim", no_wrap=True, width=_LABEL_W)
        t.add_column(no_wrap=True, width=_VALUE_W, overflow="ellipsis")
    return t


def pairs_per_row(width: int) -> int:
    """Label/value pairs a row: 2 in 80 columns, 3 from about 110, 4 from about 140."""
    return max(2, min(4, (width - _PANEL_EDGE + 1) // (_LABEL_W + _VALUE_W + 2)))


def progress_line(done_s: float, total_s: float, eta_s: float | None, *, bar: int = 20) -> Text:
    """``00:12:00 / 00:20:00 ━━━━━━━──── 60% ETA 00:00:12``: simulated time done of the total."""
    frac = 0.0 if total_s <= 0 else max(0.0, min(1.0, done_s / total_s))
    filled = int(round(frac * bar))
    text = Text(f" {_clock(done_s)} / {_clock(total_s)} ")
    text.append("━" * filled, style="cyan")
    text.append("─" * (bar - filled), style="dim")
    text.append(f" {frac * 100:3.0f}% ETA {_clock(eta_s) if eta_s is not None else '--:--:--'} ")
    return text


def dashboard(s: EngineSnapshot, *, width: int = 80, height: int | None = None,
              progress: Text | None = None) -> RenderableType:
    """The whole live table for one snapshot, laid out for a ``width`` x ``height`` terminal.

    ``progress`` (see :func:`progress_line`) goes into the bottom border."""
    n = pairs_per_row(width)
    sections = _sections(s)
    tail: list[RenderableType] = []
    if s.notes:
        tail.append(Text("; ".join(s.notes[:3]), style="dim", overflow="ellipsis", no_wrap=True))
    if s.stop_reason:
        tail.append(Text(f"stopped: {s.stop_reason}", style="bold yellow"))
    rows = sum(math.ceil(len(pairs) / n) for _, _, pairs in sections)
    titled = height is None or rows + len(sections) + 2 + len(tail) <= height
    parts: list[RenderableType] = []
    if titled:
        for title, _, pairs in sections:
            t = _grid(n, title_column=False)
            for i in range(0, len(pairs), n):
                row = pairs[i:i + n]
                t.add_row(*[c for pair in row for c in pair], *[""] * (2 * (n - len(row))))
            parts += [Text(title, style="bold cyan"), t]
    else:
        t = _grid(n, title_column=True)
        for _, short, pairs in sections:
            for i in range(0, len(pairs), n):
                row = pairs[i:i + n]
                t.add_row(short if i == 0 else "", *[c for pair in row for c in pair],
                          *[""] * (2 * (n - len(row))))
        parts.append(t)
    status = Text(s.status, style=_STATUS_STYLE.get(s.status, ""))
    title = Text.assemble((s.symbol, "bold"), f" · {s.network} · ", status, f" · {_clock(s.elapsed_s)}")
    return Panel(Group(*parts, *tail), title=title, title_align="left", subtitle=progress,
                 subtitle_align="left", expand=False)


def final_snapshot(s: EngineSnapshot, m: RunSummary) -> EngineSnapshot:
    """The last snapshot brought to the run's final state (what the summary reports), so the last
    frame of the live table and the summary printed under it agree."""
    flat = m.position_qty == 0
    return replace(
        s, status="stopped", stop_reason=m.stop_reason, elapsed_s=m.simulated_seconds,
        position_qty=m.position_qty, entry_price=None if flat else s.entry_price,
        liq_price=None if flat else s.liq_price, liq_distance_pct=None if flat else s.liq_distance_pct,
        liq_trigger_pct=None if flat else s.liq_trigger_pct, liq_level="flat" if flat else s.liq_level,
        position_margin=Decimal(0) if flat else s.position_margin,
        bid_price=None, bid_qty=None, ask_price=None, ask_qty=None,
        bid_from_touch_ticks=None, ask_from_touch_ticks=None,
        equity=m.equity, wallet_balance=m.wallet_balance, realized_pnl=m.realized_pnl,
        unrealized_pnl=m.unrealized_pnl, fees=m.fees, funding=m.funding, spread_capture=m.spread_capture,
        adverse_selection=m.adverse_selection, inventory_pnl=m.inventory_pnl, notional=m.notional,
        markout_1s_bps=m.markout_1s_bps, markout_10s_bps=m.markout_10s_bps, markout_60s_bps=m.markout_60s_bps,
        fills=m.fills, buy_fills=m.buy_fills, sell_fills=m.sell_fills,
        volume=m.volume, orders_placed=m.orders_placed, orders_amended=m.orders_amended,
        orders_cancelled=m.orders_cancelled, orders_rejected=m.orders_rejected,
        emergency_reduces=m.emergency_reduces, errors=m.errors, max_abs_position=m.max_abs_position,
        min_liq_distance_pct=m.min_liq_distance_pct, liquidations=m.liquidations,
        latency_p50_ms=m.latency_p50_ms, latency_p99_ms=m.latency_p99_ms)


def summary_table(m: RunSummary) -> RenderableType:
    """The end-of-run summary as a two-column table."""
    t = Table(title=f"{m.symbol} · {m.network} · stopped: {m.stop_reason}", show_header=False,
              title_justify="left", expand=False)
    t.add_column(style="dim", no_wrap=True)
    t.add_column(justify="right", no_wrap=True)
    n = m.notional

    def bps(cell: Text, value: Decimal) -> Text:
        b = _bps(value, n)
        if b:
            cell.append(f" ({b} bps)")
        return cell

    def markout(bps_value: float | None, resolved: int) -> str:
        if bps_value is None:
            return f"{DASH} (0 of {m.attributed_fills} fills)"
        return f"{number(bps_value, 2, sign=True, group=False)} bps ({resolved} of {m.attributed_fills} fills)"

    rows: list[tuple[str, str | Text]] = [
        ("fills (buy / sell)", f"{m.fills} ({m.buy_fills} / {m.sell_fills})"),
        ("volume", fmt_qty(m.volume)),
        ("starting balance", fmt_money(m.starting_balance)),
        ("equity", fmt_money(m.equity)),
        ("realised PnL", _pnl(m.realized_pnl)),
        ("unrealised PnL", _pnl(m.unrealized_pnl)),
        ("spread capture (at the fill)", bps(_pnl(m.spread_capture), m.spread_capture)),
        ("adverse selection (60 s, cost)", bps(_cost(m.adverse_selection), m.adverse_selection)),
        ("inventory PnL (the rest)", bps(_pnl(m.inventory_pnl), m.inventory_pnl)),
        ("fees paid (− = rebates)", bps(_cost(m.fees), m.fees)),
        ("funding paid (− = received)", bps(_cost(m.funding), m.funding)),
        ("total PnL", bps(_pnl(m.total_pnl), m.total_pnl)),
        ("markout 1 s", markout(m.markout_1s_bps, m.markout_1s_fills)),
        ("markout 10 s", markout(m.markout_10s_bps, m.markout_10s_fills)),
        ("markout 60 s", markout(m.markout_60s_bps, m.markout_60s_fills)),
        ("position", fmt_qty(m.position_qty)),
        ("max |position|", fmt_qty(m.max_abs_position)),
        ("min liq distance", fmt_pct(m.min_liq_distance_pct, 3)),
        ("liquidations", str(m.liquidations)),
        ("emergency reduces", str(m.emergency_reduces)),
        ("orders new / amended / cancelled", f"{m.orders_placed} / {m.orders_amended} / {m.orders_cancelled}"),
        ("cancelled on exit", "unknown (check orders)" if m.cancelled_on_exit < 0 else str(m.cancelled_on_exit)),
        ("simulated time" if m.network in ("paper", "backtest") else "run time", _clock(m.simulated_seconds)),
    ]
    for label, value in rows:
        t.add_row(label, value)
    return t


def backtest_table(result: Any, *, events_per_s: float) -> RenderableType:
    """A backtest's summary: the paper summary's rows, then what was replayed and how fast."""
    from datetime import datetime, timezone

    def when(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    t = summary_table(result.summary)
    assert isinstance(t, Table)
    t.add_row("events (decisions)", f"{result.events:,} ({result.decisions:,})")
    t.add_row("events/s", f"{events_per_s:,.0f}")
    t.add_row("data span (UTC)", f"{when(result.data_start_ms)} → {when(result.data_end_ms)}")
    t.add_row("mark price", "from the data's mark prices" if result.mark_source == "mark rows" else "the mid (no mark prices in the data)")
    t.add_row("funding", f"{result.fundings} settlement(s) from the data's funding rates"
              if result.funding_source == "funding rows" else "none (no funding rates in the data)")
    return t
