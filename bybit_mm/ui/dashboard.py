"""The live table of ``paper`` and ``live``: pure builders from an engine snapshot to rich renderables.

Everything here is a function of one :class:`~bybit_mm.engine.snapshot.EngineSnapshot` (or a
summary), so it can be tested by rendering to a fixed-width console. The layout is one panel of
label/value pairs in four columns, about 70 characters wide, so it reads in an 80-column terminal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from bybit_mm.engine.snapshot import EngineSnapshot, RunSummary

DASH = "–"
_LEVEL_STYLE = {"flat": "dim", "ok": "green", "warn": "yellow", "danger": "bold red"}
_STATUS_STYLE = {"quoting": "green", "warming up": "cyan", "stale data": "yellow", "reducing": "bold red",
                 "exchange unavailable": "bold yellow", "stopping": "yellow", "stopped": "bold"}


def _places(tick: Decimal | None) -> int:
    if tick is None:
        return 2
    exp = tick.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 2


def fmt_price(value: Decimal | float | None, tick: Decimal | None = None) -> str:
    """A price with the tick's decimals, thousands separated; an en dash when unknown."""
    if value is None:
        return DASH
    return f"{Decimal(str(value)):,.{_places(tick)}f}"


def fmt_money(value: Decimal | float | None, *, sign: bool = False) -> str:
    """USDT with 2 decimals (4 below 1 USDT in size), optionally signed."""
    if value is None:
        return DASH
    v = Decimal(str(value))
    places = 4 if 0 < abs(v) < 1 else 2
    return f"{v:+,.{places}f}" if sign else f"{v:,.{places}f}"


def fmt_num(value: float | Decimal | None, digits: int = 4) -> str:
    """A model number with ``digits`` significant digits."""
    if value is None:
        return DASH
    return f"{float(value):.{digits}g}"


def fmt_pct(value: Decimal | float | None, places: int = 2) -> str:
    """A percentage."""
    if value is None:
        return DASH
    return f"{float(value):.{places}f}%"


def fmt_qty(value: Decimal | None) -> str:
    """A quantity as the exchange spells it (no exponent)."""
    if value is None:
        return DASH
    return f"{value.normalize():f}" if value != 0 else "0"


def _pnl(value: Decimal) -> Text:
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(fmt_money(value, sign=True), style=style)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _grid() -> Table:
    t = Table.grid(padding=(0, 1))
    t.add_column(style="dim", no_wrap=True, width=10)
    t.add_column(no_wrap=True, width=24, overflow="ellipsis")
    t.add_column(style="dim", no_wrap=True, width=10)
    t.add_column(no_wrap=True, width=24, overflow="ellipsis")
    return t


def _title(text: str) -> Text:
    return Text(text, style="bold cyan")


def _quote_cell(price: Decimal | None, qty: Decimal | None, ticks: int | None, tick: Decimal | None) -> Text:
    if price is None:
        return Text("not quoting", style="dim")
    text = Text(f"{fmt_price(price, tick)} × {fmt_qty(qty)}")
    if ticks is not None:
        text.append(f"  {ticks}t", style="dim")
    return text


def dashboard(s: EngineSnapshot) -> RenderableType:
    """The whole live table for one snapshot."""
    tick = s.tick
    sections: list[RenderableType] = []

    t = _grid()
    t.add_row("bid", fmt_price(s.best_bid, tick), "ask", fmt_price(s.best_ask, tick))
    t.add_row("mid", fmt_price(s.mid, tick), "mark", fmt_price(s.mark, tick))
    t.add_row("feed", Text(s.feed, style="yellow" if "fallback" in s.feed else ""), "", "")
    sections += [_title("Market"), t]

    t = _grid()
    t.add_row("reserv.", fmt_price(s.reservation_price, tick), "half-spr", fmt_num(s.model_half_spread))
    t.add_row("sigma/√s", fmt_num(s.sigma), "k", fmt_num(s.k))
    t.add_row("A /s", fmt_num(s.A), "skew", fmt_num(s.skew))
    t.add_row("inventory", f"{s.inventory_q:+.2f} q", "", "")
    sections += [_title(f"Model {s.model}"), t]

    t = _grid()
    t.add_row("bid", _quote_cell(s.bid_price, s.bid_qty, s.bid_from_touch_ticks, tick),
              "ask", _quote_cell(s.ask_price, s.ask_qty, s.ask_from_touch_ticks, tick))
    sections += [_title("Quotes (price × qty, ticks behind the touch)"), t]

    t = _grid()
    side = "long" if s.position_qty > 0 else "short" if s.position_qty < 0 else "flat"
    t.add_row("size", f"{fmt_qty(s.position_qty)} ({side})", "entry", fmt_price(s.entry_price, tick))
    t.add_row("leverage", f"{fmt_qty(s.leverage)}x", "margin", fmt_money(s.position_margin))
    level_style = _LEVEL_STYLE.get(s.liq_level, "")
    dist = Text(fmt_pct(s.liq_distance_pct, 3), style=level_style)
    if s.liq_trigger_pct is not None:
        dist.append(f" guard {fmt_pct(s.liq_trigger_pct, 3)}", style="dim")
    t.add_row("liq price", Text(fmt_price(s.liq_price, tick), style=level_style), "liq dist", dist)
    t.add_row("max pos", fmt_qty(s.max_position), "min dist", fmt_pct(s.min_liq_distance_pct, 3))
    sections += [_title("Position"), t]

    t = _grid()
    t.add_row("realised", _pnl(s.realized_pnl), "unrealised", _pnl(s.unrealized_pnl))
    t.add_row("fees", _pnl(-s.fees), "funding", _pnl(-s.funding))
    t.add_row("spread", _pnl(s.spread_pnl), "inventory", _pnl(s.inventory_pnl))
    t.add_row("total", _pnl(s.total_pnl), "equity", fmt_money(s.equity))
    sections += [_title("PnL (USDT)"), t]

    t = _grid()
    t.add_row("fills", f"{s.fills} ({s.buy_fills} buy / {s.sell_fills} sell)", "volume", fmt_qty(s.volume))
    t.add_row("orders", f"{s.orders_placed} new / {s.orders_amended} amend",
              "cancelled", f"{s.orders_cancelled} ({s.orders_rejected} rejected)")
    lat = (f"{s.latency_p50_ms:.2f} / {s.latency_p99_ms:.2f} ms" if s.latency_p50_ms is not None
           and s.latency_p99_ms is not None else DASH)
    t.add_row("latency", f"{lat} p50/p99" if lat != DASH else lat, "errors", str(s.errors))
    sections += [_title("Activity"), t]

    status = Text(s.status, style=_STATUS_STYLE.get(s.status, ""))
    title = Text.assemble((s.symbol, "bold"), f" · {s.network} · ", status, f" · {_clock(s.elapsed_s)}")
    parts: list[RenderableType] = sections
    if s.notes:
        parts.append(Text("; ".join(s.notes[:3]), style="dim", overflow="ellipsis", no_wrap=True))
    if s.stop_reason:
        parts.append(Text(f"stopped: {s.stop_reason}", style="bold yellow"))
    return Panel(Group(*parts), title=title, title_align="left", expand=False)


def summary_table(m: RunSummary) -> RenderableType:
    """The end-of-run summary as a two-column table."""
    t = Table(title=f"{m.symbol} · {m.network} · stopped: {m.stop_reason}", show_header=False,
              title_justify="left", expand=False)
    t.add_column(style="dim", no_wrap=True)
    t.add_column(justify="right", no_wrap=True)
    rows: list[tuple[str, str | Text]] = [
        ("fills (buy / sell)", f"{m.fills} ({m.buy_fills} / {m.sell_fills})"),
        ("volume", fmt_qty(m.volume)),
        ("starting balance", fmt_money(m.starting_balance)),
        ("equity", fmt_money(m.equity)),
        ("realised PnL", _pnl(m.realized_pnl)),
        ("unrealised PnL", _pnl(m.unrealized_pnl)),
        ("fees (− = rebates)", fmt_money(m.fees)),
        ("funding paid", fmt_money(m.funding)),
        ("spread capture", _pnl(m.spread_pnl)),
        ("inventory PnL", _pnl(m.inventory_pnl)),
        ("total PnL", _pnl(m.total_pnl)),
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
