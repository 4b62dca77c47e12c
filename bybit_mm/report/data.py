"""A run's figures and series, read from its journal (no charting library needed).

What the journal holds: each fill with the mid at the fill (journals from before the engine's
attribution: the mid the engine saw when it quoted) and the engine's markouts of it at 1, 10 and
60 s; a snapshot every ``snapshot_every_s`` (10 s) of paper and live runs with equity, position,
quotes and the distance to liquidation; funding settlements; the run's summary. From these:

- **PnL split**: ``net = spread capture + adverse selection + inventory - fees - funding``.
  Spread capture is each fill against the mid at the fill (``(mid - price) x qty`` for a buy);
  adverse selection is what the mid did against the fill within a horizon (``(mid_t+h - mid_t) x
  qty`` for a buy: negative when the fills were picked off): the engine's, at 60 s, when the run's
  summary has it (see :mod:`bybit_mm.engine.snapshot`), else measured here at
  :data:`ADVERSE_HORIZON_S`; inventory is the rest of the trading PnL (realised + unrealised).
- **Markouts**: each fill marked to the mid ``h`` seconds later, ``(mid_t+h - price) / price``
  signed for the side, in basis points, weighted by notional: the engine's own per fill when
  journaled (it saw every mid); otherwise the mid at ``t + h`` is
  interpolated between the two mids observed around it (the snapshots', and the fills' own), and
  only when they are at most ``1.5 h`` apart: with snapshots every 10 s a 1 s markout is mostly
  not available, and the report says so.
- A run without snapshots (a backtest journals fills and its summary) gets its equity and PnL
  curve by replaying the fills through the engine's ledger at the mid of each fill.

A resumed run continues its session's books (see :mod:`bybit_mm.report.runs`): its report covers
the session, every run of the symbol in the journal up to it, with the runs' starts marked.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from bybit_mm.domain.orders import Side
from bybit_mm.engine.journal import Journal
from bybit_mm.engine.ledger import Ledger
from bybit_mm.report.runs import RunInfo

#: Markout horizons in seconds (0 is the fill against the mid at the fill: the spread captured).
HORIZONS_S = (0, 1, 10, 60)
#: The horizon whose markout is counted as adverse selection in the PnL split.
ADVERSE_HORIZON_S = 10
#: The mid at ``t + h`` is interpolated only between snapshots at most this many ``h`` apart.
MAX_GAP_HORIZONS = 1.5
#: The keys of the engine's PnL split in a run's summary or snapshot (newer runs).
ENGINE_SPLIT_KEYS = ("spread_capture", "adverse_selection", "inventory_pnl", "fees", "funding", "total_pnl")


@dataclass(frozen=True)
class FillPoint:
    """One fill as charted."""

    ts_ms: int
    side: str
    price: float
    qty: float
    fee: float
    mid: float | None
    maker: bool
    exec_type: str
    #: Markout in bps by horizon (None: no mid to mark it to).
    markouts_bps: dict[int, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Curve:
    """The run's series over time (one point per snapshot, or per fill without snapshots)."""

    ts_ms: list[int] = field(default_factory=list)
    equity: list[float | None] = field(default_factory=list)
    net_pnl: list[float | None] = field(default_factory=list)
    spread_capture: list[float | None] = field(default_factory=list)
    inventory: list[float | None] = field(default_factory=list)
    fees: list[float | None] = field(default_factory=list)
    funding: list[float | None] = field(default_factory=list)
    position: list[float | None] = field(default_factory=list)
    max_position: list[float | None] = field(default_factory=list)
    mid: list[float | None] = field(default_factory=list)
    bid: list[float | None] = field(default_factory=list)
    ask: list[float | None] = field(default_factory=list)
    liq_distance_pct: list[float | None] = field(default_factory=list)
    liq_trigger_pct: list[float | None] = field(default_factory=list)
    #: The liquidation guard's reduce-only orders so far.
    reduces: list[int] = field(default_factory=list)

    @property
    def times(self) -> list[datetime]:
        """The points' times (UTC, naive) for a chart's x axis."""
        return [utc(t) for t in self.ts_ms]


@dataclass(frozen=True)
class Markout:
    """The fills' notional-weighted markout at one horizon."""

    horizon_s: int
    fills: int
    of: int
    bps: float | None
    buy_bps: float | None
    sell_bps: float | None
    pnl: float | None


@dataclass(frozen=True)
class PnlSplit:
    """``net = spread_capture + adverse_selection + inventory - fees - funding`` (quote currency)."""

    spread_capture: float
    adverse_selection: float | None
    inventory: float
    fees: float
    funding: float
    net: float
    #: Where the totals come from: the run's summary, its last snapshot, or a replay of its fills.
    source: str
    #: The horizon (s) of ``adverse_selection``: the engine's 60 s, or the report's own.
    adverse_horizon_s: int = ADVERSE_HORIZON_S


@dataclass(frozen=True)
class RunReport:
    """Everything a report shows about one run."""

    run: RunInfo
    session: list[int]
    run_starts_ms: list[int]
    curve: Curve
    #: ``snapshots`` or ``fills`` (no snapshots journaled: the curve is replayed from the fills).
    curve_source: str
    fills: list[FillPoint]
    split: PnlSplit
    markouts: list[Markout]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The report's figures (not the series) for ``report --json``."""
        return {"run": self.run.to_dict(), "session_runs": self.session, "curve_source": self.curve_source,
                "points": len(self.curve.ts_ms), "fills": len(self.fills), "pnl_split": asdict(self.split),
                "adverse_horizon_s": self.split.adverse_horizon_s, "markouts": [asdict(m) for m in self.markouts],
                "notes": self.notes}


def utc(ts_ms: int) -> datetime:
    """``ts_ms`` as a naive UTC datetime."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).replace(tzinfo=None)


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def session_of(run: RunInfo, runs: list[dict[str, Any]]) -> list[int]:
    """The runs whose books ``run``'s figures include: itself, and when it resumed, every earlier
    run of its symbol in the journal (what :meth:`Journal.resume_state` replays)."""
    if not run.resumed:
        return [run.run]
    return [r["run_id"] for r in runs if r["symbol"] == run.symbol and r["run_id"] <= run.run]


def load_report(run: RunInfo) -> RunReport:
    """Read ``run``'s journal and compute its report."""
    journal = Journal(run.journal, readonly=True)
    try:
        rows = journal.runs()
        session = session_of(run, rows)
        starts = [r["started_ms"] for r in rows if r["run_id"] in session]
        snaps = [(ts, d) for _, ts, d in journal.snapshots(session) if d.get("symbol", run.symbol) == run.symbol]
        fills = journal.fills(run.symbol, run_ids=session)
        funding = journal.funding_payments(run.symbol, session)
        engine_markouts = journal.fill_markouts(run.symbol, run_ids=session)
    finally:
        journal.close()
    return build_report(run, session, starts, snaps, fills, funding, engine_markouts)


def build_report(run: RunInfo, session: list[int], starts: list[int], snaps: list[tuple[int, dict[str, Any]]],
                 fills: list[Any], funding: list[tuple[int, Decimal]],
                 engine_markouts: dict[str, dict[int, float | None]] | None = None) -> RunReport:
    """The report from the journal's rows: snapshots ``(ts_ms, data)``, fills ``(Execution, mid)``,
    funding ``(ts_ms, paid)`` of the session ``session``, and the engine's markouts (bps by horizon)
    of the fills that have them, by exec id."""
    notes: list[str] = []
    trades = [(ex, mid) for ex, mid in fills if not ex.is_funding]
    # As the engine's ledger does: the mid counts for our quotes' fills only; a forced close
    # (liquidation, ADL, settlement) is inventory.
    trades = [(ex, mid if ex.exec_type == "trade" else None) for ex, mid in trades]
    observed = sorted([(ts, float(d["mid"])) for ts, d in snaps if d.get("mid") is not None]
                      + [(ex.ts_ms, float(mid)) for ex, mid in trades if mid is not None])
    times, mids = [t for t, _ in observed], [m for _, m in observed]
    engine = engine_markouts or {}
    points = [_fill_point(ex, mid, times, mids, engine.get(ex.exec_id)) for ex, mid in trades]
    if snaps:
        curve, source = _curve_from_snapshots(snaps), "snapshots"
    else:
        curve, source = _curve_from_fills(run, trades, funding), "fills"
        notes.append("no snapshots journaled for this run: equity and PnL over time are replayed from its "
                     "fills at the mid of each fill; quotes, the mid between fills and the distance to "
                     "liquidation are not available")
    if len(session) > 1:
        notes.append(f"run {run.run} resumed its session: the report covers runs {session[0]}–{session[-1]} "
                     "(dotted lines mark the runs' starts)")
    if run.ended_ms is None:
        notes.append("the run has no end in the journal (still running, or killed): figures are as of its "
                     "last snapshot, or its last fill")
    markouts = [_markout(h, points) for h in HORIZONS_S]
    for m in markouts:
        if m.horizon_s and m.fills < m.of and not engine:
            what = "not available" if m.fills == 0 else f"available for {m.fills} of {m.of} fills"
            why = "no mids journaled" if not mids else (
                f"they need observed mids (snapshots, fills) at most {MAX_GAP_HORIZONS:g} × {m.horizon_s} s apart "
                f"around t + {m.horizon_s} s; this run's are {_spacing_s(times):g} s apart (median), and fills "
                "near the end have none after")
            notes.append(f"{m.horizon_s} s markouts {what}: {why}")
    if engine and any(m.horizon_s and m.fills < m.of for m in markouts):
        notes.append("markouts are the engine's, resolved as the run went; fills too close to the run's end "
                     "for a horizon have none at it")
    split = _split(run, snaps, trades, funding, points)
    if split.adverse_selection is None and trades:
        notes.append(f"adverse selection ({ADVERSE_HORIZON_S} s markout) not available: it stays in inventory")
    return RunReport(run=run, session=session, run_starts_ms=starts, curve=curve, curve_source=source,
                     fills=points, split=split, markouts=markouts, notes=notes)


def _spacing_s(times: list[int]) -> float:
    """The median spacing of ``times`` in seconds."""
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    return round(gaps[len(gaps) // 2] / 1000, 1) if gaps else 0.0


def mid_at(times: list[int], mids: list[float], ts_ms: int, max_gap_ms: float) -> float | None:
    """The mid at ``ts_ms`` from observations ``(times, mids)`` (times ascending): one at ``ts_ms``
    as it is, else interpolated between the two around it when they are at most ``max_gap_ms``
    apart; None otherwise."""
    i = bisect_left(times, ts_ms)
    if i < len(times) and times[i] == ts_ms:
        return mids[i]
    if i == 0 or i == len(times) or times[i] - times[i - 1] > max_gap_ms:  # not bracketed closely enough
        return None
    t0, t1 = times[i - 1], times[i]
    return mids[i - 1] + (mids[i] - mids[i - 1]) * (ts_ms - t0) / (t1 - t0)


def _fill_point(ex: Any, mid: Decimal | None, times: list[int], mids: list[float],
                engine: dict[int, float | None] | None = None) -> FillPoint:
    """A fill and its markouts: the engine's (``engine``: bps by horizon, journaled) when it has
    them, else from the observed mids."""
    price, sign = float(ex.price), ex.side.sign
    marks: dict[int, float | None] = {}
    for h in HORIZONS_S:
        if h and engine is not None and mid is not None:
            marks[h] = engine.get(h)
            continue
        later = _f(mid) if h == 0 else mid_at(times, mids, ex.ts_ms + h * 1000, MAX_GAP_HORIZONS * h * 1000)
        marks[h] = None if later is None or mid is None else (later - price) / price * sign * 1e4
    return FillPoint(ts_ms=ex.ts_ms, side=ex.side.value, price=price, qty=float(ex.qty), fee=float(ex.fee),
                     mid=_f(mid), maker=ex.is_maker, exec_type=ex.exec_type, markouts_bps=marks)


def _markout(h: int, points: list[FillPoint]) -> Markout:
    def weighted(side: str | None) -> tuple[int, float | None, float]:
        used = [p for p in points if p.markouts_bps.get(h) is not None and (side is None or p.side == side)]
        notional = sum(p.price * p.qty for p in used)
        pnl = sum(p.markouts_bps[h] * p.price * p.qty / 1e4 for p in used)  # type: ignore[operator]
        return len(used), (pnl / notional * 1e4 if notional else None), pnl

    n, bps, pnl = weighted(None)
    return Markout(horizon_s=h, fills=n, of=len(points), bps=bps, buy_bps=weighted(Side.BUY.value)[1],
                   sell_bps=weighted(Side.SELL.value)[1], pnl=pnl if n else None)


def _adverse(points: list[FillPoint]) -> float | None:
    """Sum over fills of ``(mid_t+h - mid_t) x qty``, signed for the side (None: no fill has it)."""
    h = ADVERSE_HORIZON_S
    total, n = 0.0, 0
    for p in points:
        later, at_fill = p.markouts_bps.get(h), p.markouts_bps.get(0)
        if later is not None and at_fill is not None:
            total += (later - at_fill) * p.price * p.qty / 1e4
            n += 1
    return total if n else None


def _split(run: RunInfo, snaps: list[tuple[int, dict[str, Any]]], trades: list[Any],
           funding: list[tuple[int, Decimal]], points: list[FillPoint]) -> PnlSplit:
    candidates = ((run.summary, "summary"), (snaps[-1][1] if snaps else None, "last snapshot"))
    for totals, source in candidates:
        if totals and all(totals.get(k) is not None for k in ENGINE_SPLIT_KEYS):
            # The engine's split: adverse selection (a cost there) at its 60 s, inventory the rest.
            return PnlSplit(spread_capture=_r(float(totals["spread_capture"])),
                            adverse_selection=_r(-float(totals["adverse_selection"])),
                            inventory=_r(float(totals["inventory_pnl"])), fees=_r(float(totals["fees"])),
                            funding=_r(float(totals["funding"])), net=_r(float(totals["total_pnl"])),
                            source=source, adverse_horizon_s=max(HORIZONS_S))
    keys = ("spread_pnl", "inventory_pnl", "fees", "funding", "total_pnl")  # a summary from before the engine's split
    found = next(((t, src) for t, src in candidates if t and all(t.get(k) is not None for k in keys)), None)
    if found is not None:
        totals, source = found
    else:
        ledger = _replay(run, trades, funding)
        mark = next((m for _, m in reversed(trades) if m is not None), trades[-1][0].price if trades else Decimal(0))
        capture = ledger.attribution.capture
        totals = {"spread_pnl": capture,
                  "inventory_pnl": float(ledger.realized_pnl + ledger.unrealized(mark)) - capture,
                  "fees": ledger.fees, "funding": ledger.funding,
                  "total_pnl": ledger.equity(mark) - ledger.starting_balance}
        source = "fills"
    spread, inventory = float(totals["spread_pnl"]), float(totals["inventory_pnl"])
    adverse = _adverse(points)
    return PnlSplit(spread_capture=_r(spread), adverse_selection=None if adverse is None else _r(adverse),
                    inventory=_r(inventory - (adverse or 0.0)), fees=_r(float(totals["fees"])),
                    funding=_r(float(totals["funding"])), net=_r(float(totals["total_pnl"])), source=source)


def _r(x: float) -> float:
    return round(x, 10)


def _book(ledger: Ledger, ex: Any, mid: Decimal | None) -> None:
    """One journaled fill into ``ledger``, its spread capture against its journaled mid."""
    ledger.apply(ex)
    if mid is not None:
        ledger.attribution.on_fill(ex.ts_ms, ex.side.sign, float(ex.price), float(ex.qty), mid=float(mid))


def _replay(run: RunInfo, trades: list[Any], funding: list[tuple[int, Decimal]]) -> Ledger:
    ledger = Ledger(run.symbol, run.starting_balance)
    for ex, mid in trades:
        _book(ledger, ex, mid)
    ledger.funding = sum((paid for _, paid in funding), Decimal(0))
    return ledger


def _curve_from_snapshots(snaps: list[tuple[int, dict[str, Any]]]) -> Curve:
    c = Curve()
    for ts, d in snaps:
        c.ts_ms.append(ts)
        c.equity.append(_f(d.get("equity")))
        c.net_pnl.append(_f(d.get("total_pnl")))
        c.spread_capture.append(_f(d.get("spread_capture", d.get("spread_pnl"))))
        inventory, adverse = _f(d.get("inventory_pnl")), _f(d.get("adverse_selection"))
        # the chart's "inventory + adverse": the engine's inventory excludes its adverse selection (a cost)
        c.inventory.append(None if inventory is None else inventory - (adverse or 0.0))
        c.fees.append(_f(d.get("fees")))
        c.funding.append(_f(d.get("funding")))
        c.position.append(_f(d.get("position_qty")))
        c.max_position.append(_f(d.get("max_position")))
        c.mid.append(_f(d.get("mid")))
        c.bid.append(_f(d.get("bid_price")))
        c.ask.append(_f(d.get("ask_price")))
        c.liq_distance_pct.append(_f(d.get("liq_distance_pct")))
        c.liq_trigger_pct.append(_f(d.get("liq_trigger_pct")))
        c.reduces.append(int(d.get("emergency_reduces") or 0))
    return c


def _curve_from_fills(run: RunInfo, trades: list[Any], funding: list[tuple[int, Decimal]]) -> Curve:
    """Equity, PnL and position after each fill, marked at the fill's mid (its price without one)."""
    c = Curve()
    ledger = Ledger(run.symbol, run.starting_balance)
    pending = sorted(funding)
    for ex, mid in trades:
        while pending and pending[0][0] <= ex.ts_ms:
            ledger.funding += pending.pop(0)[1]
        _book(ledger, ex, mid)
        mark = mid if mid is not None else ex.price
        equity = ledger.equity(mark)  # marked at the fill's mid, or its price for a forced close
        c.ts_ms.append(ex.ts_ms)
        c.equity.append(float(equity))
        c.net_pnl.append(float(equity - ledger.starting_balance))
        capture = ledger.attribution.capture
        c.spread_capture.append(capture)
        c.inventory.append(float(ledger.realized_pnl + ledger.unrealized(mark)) - capture)
        c.fees.append(float(ledger.fees))
        c.funding.append(float(ledger.funding))
        c.position.append(float(ledger.position.qty))
        c.max_position.append(None)
        c.mid.append(_f(mid))
        c.bid.append(None)
        c.ask.append(None)
        c.liq_distance_pct.append(None)
        c.liq_trigger_pct.append(None)
        c.reduces.append(0)
    return c
