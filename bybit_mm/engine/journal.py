"""The run journal: SQLite (WAL) in the data dir; orders, fills, funding, snapshots, engine state.

One file per (kind, profile, symbol) session: ``<data dir>/<paper|live|backtest>/<profile>/
journal-<SYMBOL>.sqlite``; each run of the engine is a row of ``runs`` with its ``kind``.

One process writes a journal at a time: opening it for writing takes an exclusive lock
(``<file>.lock``; a second process gets :class:`~bybit_mm.errors.StateInUse`, exit 2, naming the
holder), so two ``live --resume`` of one account and symbol cannot run side by side; readers
(``readonly``) take no lock. Every write is committed at once, so a process killed with SIGKILL
loses nothing already
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
from typing import TYPE_CHECKING, Any

from bybit_mm.domain.orders import Side
from bybit_mm.engine.ledger import fill_key
from bybit_mm.exchange.port import Execution, OrderInfo

if TYPE_CHECKING:
    from collections.abc import Collection

    from bybit_mm.engine.attribution import FillMarkouts

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
_ADDED_COLUMNS = (("fills", "exec_type", "TEXT NOT NULL DEFAULT 'trade'"), ("funding", "exec_id", "TEXT"),
                  ("runs", "kind", "TEXT"), ("fills", "markout_1s_bps", "REAL"), ("fills", "markout_10s_bps", "REAL"),
                  ("fills", "markout_60s_bps", "REAL"))
#: The horizons (s) of the fills' journaled markouts (the engine's attribution resolves them).
MARKOUT_HORIZONS_S = (1, 10, 60)
#: What a run traded against: the paper account, a replayed market, or an exchange.
KINDS = ("paper", "live", "backtest")


def kind_of(network: str) -> str:
    """A run's kind from its network (``paper``: the paper client; ``backtest``: the backtest
    driver; any exchange network is ``live``). Runs journaled before ``kind`` existed get theirs so."""
    return network if network in ("paper", "backtest") else "live"


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


def _where(symbol: str | None, run_ids: Collection[int] | None) -> tuple[str, tuple[Any, ...]]:
    """A WHERE clause on ``symbol`` and ``run_id IN run_ids`` (either may be None: no condition)."""
    terms: list[str] = []
    args: list[Any] = []
    if symbol:
        terms.append("symbol=?")
        args.append(symbol)
    if run_ids is not None:
        ids = sorted(set(run_ids))
        terms.append(f"run_id IN ({','.join('?' * len(ids))})" if ids else "0")
        args.extend(ids)
    return (" WHERE " + " AND ".join(terms) if terms else ""), tuple(args)


class Journal:
    """One SQLite file per (account, symbol) session, owned by one process until :meth:`close`."""

    def __init__(self, path: Path, *, readonly: bool = False, exclusive: bool = True) -> None:
        """Open (creating and migrating) the journal at ``path``, owning it until :meth:`close`
        (StateInUse, exit 2, while another process does; without ``exclusive`` no lock is taken:
        backtests only append runs of their own); with ``readonly`` open an existing one for
        reading only, as it is (a running engine may be writing it)."""
        from bybit_mm.locks import StateLock, acquire

        self.path = path
        self.run_id: int | None = None
        self._lock: StateLock | None = None
        if readonly:
            self.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if exclusive:
            self._lock = acquire(Path(f"{path}.lock"), f"the run journal {path}",
                                 hint="one run per account and symbol: stop the other run first")
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        for table, column, decl in _ADDED_COLUMNS:
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    def close(self) -> None:
        """Close the database and let the journal go."""
        self.db.close()
        if self._lock is not None:
            self._lock.release()

    # -- session ----------------------------------------------------------------------------
    def has_session(self, symbol: str) -> bool:
        """True when a previous run of ``symbol`` is journaled here."""
        row = self.db.execute("SELECT 1 FROM runs WHERE symbol=? LIMIT 1", (symbol,)).fetchone()
        return row is not None

    def start_run(self, symbol: str, network: str, started_ms: int, starting_balance: Decimal,
                  resumed: bool, kind: str | None = None) -> int:
        """Open a run row (``kind`` defaults to :func:`kind_of` the network); returns its id."""
        cur = self.db.execute(
            "INSERT INTO runs (symbol, network, started_ms, starting_balance, resumed, kind) VALUES (?,?,?,?,?,?)",
            (symbol, network, started_ms, str(starting_balance), int(resumed), kind or kind_of(network)))
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
        """Insert a fill with the mid at its time (idempotent on :func:`~bybit_mm.engine.ledger.fill_key`)."""
        self.db.execute(
            "INSERT OR IGNORE INTO fills (fill_key, exec_id, run_id, order_id, client_order_id, symbol, side,"
            " price, qty, fee, is_maker, ts_ms, mid, exec_type) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (fill_key(ex), ex.exec_id, self.run_id, ex.order_id, ex.client_order_id, ex.symbol, ex.side.value,
             str(ex.price), str(ex.qty), str(ex.fee), int(ex.is_maker), ex.ts_ms,
             None if mid is None else str(mid), ex.exec_type))

    def record_markouts(self, fill: FillMarkouts) -> None:
        """A journaled fill's markouts (bps; NULL: unresolved), once the engine has resolved them."""
        if fill.key is None:
            return
        m = fill.markouts_bps
        self.db.execute("UPDATE fills SET markout_1s_bps=?, markout_10s_bps=?, markout_60s_bps=? WHERE fill_key=?",
                        (*(m.get(h) for h in MARKOUT_HORIZONS_S), fill.key))

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
    def fills(self, symbol: str | None = None, *, run_ids: Collection[int] | None = None,
              ) -> list[tuple[Execution, Decimal | None]]:
        """Every journaled fill (oldest first) with the mid at the fill (journals from before the
        engine's attribution: the mid of its last decision; None for a forced close); of ``symbol`` and of the
        runs ``run_ids`` when given."""
        where, args = _where(symbol, run_ids)
        sql = ("SELECT exec_id, order_id, client_order_id, symbol, side, price, qty, fee, is_maker, ts_ms,"
               f" mid, {self._column('fills', 'exec_type')} FROM fills{where} ORDER BY ts_ms, rowid")
        rows = self.db.execute(sql, args).fetchall()
        return [(Execution(r[0], r[1] or "", r[2] or "", r[3], Side(r[4]), Decimal(r[5]), Decimal(r[6]),
                           Decimal(r[7]), bool(r[8]), int(r[9]), r[11] or "trade"), _dec(r[10]))
                for r in rows]

    def fill_markouts(self, symbol: str | None = None, *, run_ids: Collection[int] | None = None,
                      ) -> dict[str, dict[int, float | None]]:
        """The engine's markouts (bps by horizon, None: unresolved) of the journaled fills that have
        them, by exec id (journals from before them have none)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(fills)")}
        if "markout_60s_bps" not in have:
            return {}
        where, args = _where(symbol, run_ids)
        cols = ", ".join(f"markout_{h}s_bps" for h in MARKOUT_HORIZONS_S)
        cond = " OR ".join(f"markout_{h}s_bps IS NOT NULL" for h in MARKOUT_HORIZONS_S)
        where = f"{where} AND ({cond})" if where else f" WHERE {cond}"
        rows = self.db.execute(f"SELECT exec_id, {cols} FROM fills{where}", args).fetchall()
        return {r[0]: dict(zip(MARKOUT_HORIZONS_S, r[1:])) for r in rows}

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

    # -- reading runs back (``bybit-mm runs`` and ``report``) ---------------------------------
    def _column(self, table: str, column: str) -> str:
        """``column``, or ``NULL`` in a journal opened read-only from before the column existed."""
        have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
        return column if column in have else "NULL"

    def runs(self) -> list[dict[str, Any]]:
        """Every run (oldest first): the ``runs`` columns with ``kind`` filled in for runs journaled
        before it existed, ``summary`` parsed (None when the run never ended: running, or killed),
        ``fills`` (trades journaled by that run) and ``last_ts_ms`` (its last fill or snapshot)."""
        fills = {r[0]: (r[1], r[2]) for r in self.db.execute(
            "SELECT run_id, COUNT(*), MAX(ts_ms) FROM fills GROUP BY run_id")}
        snaps = dict(self.db.execute("SELECT run_id, MAX(ts_ms) FROM snapshots GROUP BY run_id").fetchall())
        cur = self.db.execute(
            "SELECT run_id, symbol, network, started_ms, starting_balance, resumed, ended_ms, stop_reason,"
            f" summary, {self._column('runs', 'kind')} FROM runs ORDER BY run_id")
        out = []
        for r in cur.fetchall():
            count, last_fill = fills.get(r[0], (0, None))
            last = max((t for t in (last_fill, snaps.get(r[0])) if t is not None), default=None)
            out.append({"run_id": int(r[0]), "symbol": r[1], "network": r[2], "started_ms": int(r[3]),
                        "starting_balance": Decimal(r[4]), "resumed": bool(r[5]),
                        "ended_ms": None if r[6] is None else int(r[6]), "stop_reason": r[7],
                        "summary": None if r[8] is None else json.loads(r[8]), "kind": r[9] or kind_of(r[2]),
                        "fills": int(count), "last_ts_ms": None if last is None else int(last)})
        return out

    def snapshots(self, run_ids: Collection[int]) -> list[tuple[int, int, dict[str, Any]]]:
        """The snapshots of the runs ``run_ids`` as ``(run_id, ts_ms, data)``, oldest first."""
        where, args = _where(None, run_ids)
        rows = self.db.execute(f"SELECT run_id, ts_ms, data FROM snapshots{where} ORDER BY ts_ms, id", args)
        return [(int(r[0]), int(r[1]), json.loads(r[2])) for r in rows.fetchall()]

    def last_snapshot(self, run_id: int) -> dict[str, Any] | None:
        """The last snapshot of run ``run_id``, or None."""
        row = self.db.execute("SELECT data FROM snapshots WHERE run_id=? ORDER BY ts_ms DESC, id DESC LIMIT 1",
                              (run_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def funding_payments(self, symbol: str, run_ids: Collection[int]) -> list[tuple[int, Decimal]]:
        """The funding settlements of ``symbol`` in the runs ``run_ids`` as ``(ts_ms, paid)``."""
        where, args = _where(symbol, run_ids)
        rows = self.db.execute(f"SELECT ts_ms, amount FROM funding{where} ORDER BY ts_ms, id", args)
        return [(int(r[0]), Decimal(r[1])) for r in rows.fetchall()]
