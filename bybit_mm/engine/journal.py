"""The run journal: SQLite (WAL) in the data dir; orders, fills, funding, snapshots, engine state.

Every write is committed at once, so a process killed with SIGKILL loses nothing already
written (WAL survives a process crash; ``synchronous=NORMAL`` only risks the last transactions
on a power loss). ``resume_state`` rebuilds what the engine needs to continue a session.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bybit_mm.domain.orders import Side
from bybit_mm.engine.ledger import fill_key
from bybit_mm.exchange.port import Execution, OrderInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT NOT NULL, network TEXT NOT NULL,
    started_ms INTEGER NOT NULL, starting_balance TEXT NOT NULL, resumed INTEGER NOT NULL,
    ended_ms INTEGER, stop_reason TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, run_id INTEGER NOT NULL, order_id TEXT, symbol TEXT NOT NULL,
    side TEXT NOT NULL, price TEXT, qty TEXT NOT NULL, reduce_only INTEGER NOT NULL,
    status TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fills (
    fill_key TEXT PRIMARY KEY, exec_id TEXT NOT NULL, run_id INTEGER NOT NULL, order_id TEXT, client_order_id TEXT,
    symbol TEXT NOT NULL, side TEXT NOT NULL, price TEXT NOT NULL, qty TEXT NOT NULL,
    fee TEXT NOT NULL, is_maker INTEGER NOT NULL, ts_ms INTEGER NOT NULL, mid TEXT,
    exec_type TEXT NOT NULL DEFAULT 'trade');
CREATE TABLE IF NOT EXISTS funding (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, symbol TEXT NOT NULL,
    ts_ms INTEGER NOT NULL, amount TEXT NOT NULL, exec_id TEXT);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
    data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
#: Columns added since the first schema: (table, column, declaration).
_ADDED_COLUMNS = (("fills", "exec_type", "TEXT NOT NULL DEFAULT 'trade'"), ("funding", "exec_id", "TEXT"))


@dataclass
class ResumeState:
    """What a resumed session continues from."""

    starting_balance: Decimal
    started_ms: int
    last_ts_ms: int
    fills: list[tuple[Execution, Decimal | None]] = field(default_factory=list)
    funding: Decimal = Decimal(0)
    #: Execution ids of the journaled funding settlements (not to be booked again).
    funding_ids: set[str] = field(default_factory=set)
    last_funding_ms: int = 0
    peak_equity: Decimal | None = None
    order_seq: int = 0
    min_liq_distance_pct: Decimal | None = None
    counters: dict[str, int] = field(default_factory=dict)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


class Journal:
    """One SQLite file per (account, symbol) session."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        for table, column, decl in _ADDED_COLUMNS:
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        self.run_id: int | None = None

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # -- session ----------------------------------------------------------------------------
    def has_session(self, symbol: str) -> bool:
        """True when a previous run of ``symbol`` is journaled here."""
        row = self.db.execute("SELECT 1 FROM runs WHERE symbol=? LIMIT 1", (symbol,)).fetchone()
        return row is not None

    def start_run(self, symbol: str, network: str, started_ms: int, starting_balance: Decimal,
                  resumed: bool) -> int:
        """Open a run row; returns its id."""
        cur = self.db.execute(
            "INSERT INTO runs (symbol, network, started_ms, starting_balance, resumed) VALUES (?,?,?,?,?)",
            (symbol, network, started_ms, str(starting_balance), int(resumed)))
        self.run_id = int(cur.lastrowid or 0)
        return self.run_id

    def end_run(self, ended_ms: int, stop_reason: str, summary: dict[str, Any]) -> None:
        """Close the current run with its summary."""
        from bybit_mm.ui.console import to_json

        self.db.execute("UPDATE runs SET ended_ms=?, stop_reason=?, summary=? WHERE run_id=?",
                        (ended_ms, stop_reason, to_json(summary, indent=None), self.run_id))

    # -- records ----------------------------------------------------------------------------
    def record_order(self, o: OrderInfo, now_ms: int) -> None:
        """Insert or update an order by its client id."""
        self.db.execute(
            "INSERT INTO orders (client_order_id, run_id, order_id, symbol, side, price, qty, reduce_only,"
            " status, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(client_order_id) DO UPDATE SET order_id=excluded.order_id,"
            " price=excluded.price, qty=excluded.qty, status=excluded.status, updated_ms=excluded.updated_ms",
            (o.client_order_id or o.order_id, self.run_id, o.order_id, o.symbol, o.side.value,
             None if o.price is None else str(o.price), str(o.qty), int(o.reduce_only), o.status,
             now_ms, now_ms))

    def record_fill(self, ex: Execution, mid: Decimal | None) -> None:
        """Insert a fill (idempotent on :func:`~bybit_mm.engine.ledger.fill_key`)."""
        self.db.execute(
            "INSERT OR IGNORE INTO fills (fill_key, exec_id, run_id, order_id, client_order_id, symbol, side,"
            " price, qty, fee, is_maker, ts_ms, mid, exec_type) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (fill_key(ex), ex.exec_id, self.run_id, ex.order_id, ex.client_order_id, ex.symbol, ex.side.value,
             str(ex.price), str(ex.qty), str(ex.fee), int(ex.is_maker), ex.ts_ms,
             None if mid is None else str(mid), ex.exec_type))

    def record_funding(self, symbol: str, ts_ms: int, amount_paid: Decimal, exec_id: str = "") -> None:
        """A funding settlement (positive: paid), by its execution id."""
        self.db.execute("INSERT INTO funding (run_id, symbol, ts_ms, amount, exec_id) VALUES (?,?,?,?,?)",
                        (self.run_id, symbol, ts_ms, str(amount_paid), exec_id or None))

    def record_snapshot(self, ts_ms: int, data: dict[str, Any]) -> None:
        """A snapshot as JSON."""
        from bybit_mm.ui.console import to_json

        self.db.execute("INSERT INTO snapshots (run_id, ts_ms, data) VALUES (?,?,?)",
                        (self.run_id, ts_ms, to_json(data, indent=None)))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside as one transaction (a backtest's thousands of rows at once)."""
        with self.db:
            self.db.execute("BEGIN")
            yield

    def set_state(self, **values: Any) -> None:
        """Persist engine state values (JSON) in one transaction."""
        with nullcontext() if self.db.in_transaction else self.transaction():
            for key, value in values.items():
                self.db.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key)"
                                " DO UPDATE SET value=excluded.value",
                                (key, json.dumps(value, default=str)))

    def get_state(self, key: str, default: Any = None) -> Any:
        """A persisted state value, or ``default``."""
        row = self.db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # -- reading back -----------------------------------------------------------------------
    def fills(self, symbol: str | None = None) -> list[tuple[Execution, Decimal | None]]:
        """Every journaled fill (oldest first) with the mid the engine saw."""
        sql = ("SELECT exec_id, order_id, client_order_id, symbol, side, price, qty, fee, is_maker, ts_ms,"
               " mid, exec_type FROM fills" + (" WHERE symbol=?" if symbol else "") + " ORDER BY ts_ms, rowid")
        rows = self.db.execute(sql, (symbol,) if symbol else ()).fetchall()
        return [(Execution(r[0], r[1] or "", r[2] or "", r[3], Side(r[4]), Decimal(r[5]), Decimal(r[6]),
                           Decimal(r[7]), bool(r[8]), int(r[9]), r[11] or "trade"), _dec(r[10]))
                for r in rows]

    def orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every journaled order as a dict."""
        cur = self.db.execute("SELECT * FROM orders" + (" WHERE symbol=?" if symbol else "")
                              + " ORDER BY created_ms, rowid", (symbol,) if symbol else ())
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def resume_state(self, symbol: str) -> ResumeState | None:
        """The session to continue for ``symbol``, or None when there is none."""
        first = self.db.execute("SELECT started_ms, starting_balance FROM runs WHERE symbol=?"
                                " ORDER BY run_id LIMIT 1", (symbol,)).fetchone()
        if first is None:
            return None
        last_ts = max(
            self.db.execute("SELECT COALESCE(MAX(ts_ms), 0) FROM fills WHERE symbol=?", (symbol,)).fetchone()[0],
            self.db.execute("SELECT COALESCE(MAX(ts_ms), 0) FROM snapshots").fetchone()[0],
            self.db.execute("SELECT COALESCE(MAX(updated_ms), 0) FROM orders WHERE symbol=?",
                            (symbol,)).fetchone()[0],
            int(self.get_state(f"{symbol}.last_ts_ms", 0)),
        )
        funding = self.db.execute("SELECT amount, exec_id, ts_ms FROM funding WHERE symbol=?", (symbol,)).fetchall()
        peak = self.get_state(f"{symbol}.peak_equity")
        min_liq = self.get_state(f"{symbol}.min_liq_distance_pct")
        return ResumeState(
            starting_balance=Decimal(first[1]), started_ms=int(first[0]), last_ts_ms=int(last_ts),
            fills=self.fills(symbol), funding=sum((Decimal(r[0]) for r in funding), Decimal(0)),
            funding_ids={r[1] for r in funding if r[1]}, last_funding_ms=max((int(r[2]) for r in funding), default=0),
            peak_equity=None if peak is None else Decimal(peak),
            order_seq=int(self.get_state(f"{symbol}.order_seq", 0)),
            min_liq_distance_pct=None if min_liq is None else Decimal(min_liq),
            counters=dict(self.get_state(f"{symbol}.counters", {})),
        )
