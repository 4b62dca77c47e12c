"""The journaled runs in the data dir: every ``<kind>/<profile>/journal-<SYMBOL>.sqlite``.

A run's id is its journal's place under the data dir and its number in that journal:
``<kind>/<profile>/<SYMBOL>/<n>`` (e.g. ``paper/default/BTCUSDT/3``), unique across journals
because there is one journal per kind, profile and symbol. Any unambiguous tail of an id
(``BTCUSDT/3``, or ``3`` when only one journal has a run 3) names the run as well.

A resumed run continues its session's books (``paper`` without ``--fresh``, ``live --resume``):
its fills and net PnL are the session's up to its end, as the run printed them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from bybit_mm.engine.journal import KINDS, Journal
from bybit_mm.errors import UsageError

JOURNAL_GLOB = "journal-*.sqlite"


@dataclass(frozen=True)
class RunInfo:
    """One journaled run, as ``bybit-mm runs`` lists it."""

    id: str
    kind: str
    profile: str
    symbol: str
    run: int
    network: str
    journal: Path
    started_ms: int
    #: None when the run never ended (still running, or killed).
    ended_ms: int | None
    last_ts_ms: int | None
    stop_reason: str | None
    resumed: bool
    starting_balance: Decimal
    #: Fills and net PnL as the run reported them (its summary, else its last snapshot); a
    #: resumed run's include its session's earlier runs. None: nothing journaled says.
    fills: int
    net_pnl: Decimal | None
    summary: dict[str, Any] | None

    @property
    def duration_s(self) -> float | None:
        """From start to end (or to the last journaled event of a run that never ended)."""
        end = self.ended_ms if self.ended_ms is not None else self.last_ts_ms
        return None if end is None else max(0, end - self.started_ms) / 1000

    def to_dict(self) -> dict[str, Any]:
        """The ``runs --json`` record (times in ms since the epoch and ISO 8601 UTC)."""
        return {
            "id": self.id, "kind": self.kind, "profile": self.profile, "symbol": self.symbol, "run": self.run,
            "network": self.network, "journal": str(self.journal), "started_ms": self.started_ms,
            "started": iso_utc(self.started_ms), "ended_ms": self.ended_ms, "duration_s": self.duration_s,
            "fills": self.fills, "net_pnl": self.net_pnl, "stop_reason": self.stop_reason,
            "resumed": self.resumed, "starting_balance": self.starting_balance,
        }


def iso_utc(ts_ms: int) -> str:
    """``ts_ms`` as ISO 8601 UTC to the second."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_text(seconds: float | None) -> str:
    """``1h05m``, ``20m00s``, ``45s``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def journal_files(root: Path) -> list[Path]:
    """The journals under the data dir ``root`` (``--fresh`` leaves the old ones as ``.bak``: not listed)."""
    return sorted(p for kind in KINDS for p in (root / kind).glob(f"*/{JOURNAL_GLOB}") if p.is_file())


def _runs_of(path: Path) -> list[RunInfo]:
    where, profile = path.parent.parent.name, path.parent.name
    symbol = path.name[len("journal-"):-len(".sqlite")]
    journal = Journal(path, readonly=True)
    try:
        rows = journal.runs()
        last = {r["run_id"]: journal.last_snapshot(r["run_id"]) for r in rows if r["summary"] is None}
    finally:
        journal.close()
    out = []
    for r in rows:
        reported = r["summary"] or last.get(r["run_id"]) or {}
        pnl = reported.get("total_pnl")
        out.append(RunInfo(
            id=f"{where}/{profile}/{symbol}/{r['run_id']}", kind=r["kind"], profile=profile, symbol=r["symbol"],
            run=r["run_id"], network=r["network"], journal=path, started_ms=r["started_ms"],
            ended_ms=r["ended_ms"], last_ts_ms=r["last_ts_ms"], stop_reason=r["stop_reason"],
            resumed=r["resumed"], starting_balance=r["starting_balance"],
            fills=int(reported.get("fills", r["fills"])), net_pnl=None if pnl is None else Decimal(str(pnl)),
            summary=r["summary"]))
    return out


def list_runs(root: Path) -> tuple[list[RunInfo], list[str]]:
    """Every run in the journals under ``root``, oldest start first; and one line per journal that
    could not be read (truncated, not a journal), which is skipped."""
    runs: list[RunInfo] = []
    problems: list[str] = []
    for path in journal_files(root):
        try:
            runs.extend(_runs_of(path))
        except (sqlite3.Error, ValueError, KeyError, ArithmeticError) as e:  # ArithmeticError: a bad Decimal
            problems.append(f"{path}: not a readable journal ({e})")
    runs.sort(key=lambda r: (r.started_ms, r.id))
    return runs, problems


def find_run(runs: list[RunInfo], ref: str) -> RunInfo:
    """The run named by ``ref``: a full id or an unambiguous tail of one (``BTCUSDT/3``)."""
    ref = ref.strip().strip("/")
    exact = [r for r in runs if r.id == ref]
    if exact:
        return exact[0]
    tail = ref.split("/")
    matches = [r for r in runs if r.id.split("/")[-len(tail):] == tail] if ref else []
    if len(matches) == 1:
        return matches[0]
    hint = "`bybit-mm runs` lists the run ids (kind/profile/SYMBOL/n, e.g. paper/default/BTCUSDT/1)"
    if not runs:
        raise UsageError(f"no run {ref!r}: no journaled runs yet", hint=hint)
    if matches:
        shown = ", ".join(r.id for r in matches[:4]) + (", …" if len(matches) > 4 else "")
        raise UsageError(f"run {ref!r} is ambiguous: {shown}", hint="give more of the id")
    raise UsageError(f"no run {ref!r}", hint=hint)
