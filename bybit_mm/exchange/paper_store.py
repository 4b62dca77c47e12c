"""The paper account on disk: ``<data dir>/paper/<profile>/account.sqlite`` (SQLite, WAL).

One process at a time owns a paper account (:meth:`PaperStore.open` takes an exclusive lock;
a second process gets :class:`~bybit_mm.errors.StateInUse`, exit 2, naming the holder). Each
change of the account is one transaction that writes only what changed: the account's settings
and books (one row each), the working orders that changed or went, and the new executions
(appended; the last ``KEPT_EXECUTIONS`` are kept). A process killed at any point leaves the
account as of its last committed change (WAL survives a process crash; ``synchronous=NORMAL``
only risks the last transactions on a power loss, as the engine's journal), and a write costs
the same on the first hour of a run and the tenth day.

What the paper client saves is its choice: it does not save after an amend alone (see
:mod:`~bybit_mm.exchange.paper_client`).

An ``account.json`` left by an earlier version is read once, written into the database and
renamed ``account.json.migrated``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bybit_mm.errors import ConfigError

if TYPE_CHECKING:
    from bybit_mm.config.schema import Profile
    from bybit_mm.locks import StateLock

#: Executions kept in the store: enough for a resumed engine to book what it had not journaled.
KEPT_EXECUTIONS = 1000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (seq INTEGER PRIMARY KEY AUTOINCREMENT, exec_id TEXT NOT NULL,
                                       data TEXT NOT NULL);
"""
#: The state's keys kept in ``meta`` (``orders`` and ``executions`` have their own tables).
_META = ("paper_version", "version", "fee_tier", "id_salt", "id_seq", "ledger", "market", "ts_ms")
#: Keys that change on every save without the account changing: written along with a real change.
_PASSIVE = {"market", "ts_ms"}


_dumps = json.JSONEncoder(separators=(",", ":")).encode


class PaperStore:
    """One paper account's database (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock: StateLock | None = None
        self._meta: dict[str, Any] = {}  # what the database holds, to write only what changed
        self._orders: dict[str, Any] = {}
        self._appended = 0

    @classmethod
    def for_profile(cls, profile: Profile) -> PaperStore:
        """``<data dir>/paper/<profile name>/account.sqlite``."""
        from bybit_mm.config.paths import data_dir

        return cls(data_dir() / "paper" / (profile.name or "default") / "account.sqlite")

    @property
    def files(self) -> list[Path]:
        """The account's files (the database, its WAL and shared-memory files, a legacy JSON)."""
        return [self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"), self._legacy]

    @property
    def _legacy(self) -> Path:
        return self.path.with_name("account.json")

    # --- ownership ----------------------------------------------------------------------------

    def open(self) -> PaperStore:
        """Take the account for this process (re-entrant); StateInUse (exit 2) if another has it."""
        from bybit_mm.locks import acquire

        if self._lock is None:
            self._lock = acquire(self.path.with_name("account.lock"), f"paper account {self.path.parent}",
                                 hint="one process per paper account: stop the other run first, "
                                      "or use another profile")
        return self

    def close(self) -> None:
        """Close the database and let the account go."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> PaperStore:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.open()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                db = sqlite3.connect(str(self.path), isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
            except sqlite3.DatabaseError as e:
                raise self._corrupt(e) from e
            self._db = db
        return self._db

    def _corrupt(self, e: Exception) -> ConfigError:
        return ConfigError(f"{self.path}: the paper account file is corrupt ({e})",
                           hint="move it away to start a fresh paper account")

    # --- reading ------------------------------------------------------------------------------

    def load(self) -> dict[str, Any] | None:
        """The saved state (as :meth:`SimExchange.account_state` gives it, plus ``market``), or None
        when there is none yet."""
        self.open()
        if not self.path.exists():
            legacy = self._load_legacy()
            if legacy is not None:
                self.write(legacy, legacy.get("executions", []))
                self._legacy.rename(self._legacy.with_name("account.json.migrated"))
            return legacy
        db = self._connect()
        try:
            meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
            orders = {k: json.loads(v) for k, v in db.execute("SELECT order_id, data FROM orders")}
            executions = [json.loads(r[0]) for r in db.execute(
                "SELECT data FROM (SELECT seq, data FROM executions ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                (KEPT_EXECUTIONS,))]
        except (sqlite3.DatabaseError, ValueError) as e:
            raise self._corrupt(e) from e
        if "ledger" not in meta:
            return None
        self._meta, self._orders = dict(meta), dict(orders)
        return {**meta, "orders": list(orders.values()), "executions": executions}

    def _load_legacy(self) -> dict[str, Any] | None:
        try:
            text = self._legacy.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigError(f"{self._legacy}: cannot read the paper account ({e.strerror})") from e
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{self._legacy}: the paper account file is corrupt",
                              hint="move it away to start a fresh paper account") from e
        if not isinstance(data, dict) or "ledger" not in data:
            raise ConfigError(f"{self._legacy}: not a paper account file",
                              hint="move it away to start a fresh paper account")
        return data

    # --- writing ------------------------------------------------------------------------------

    def write(self, state: dict[str, Any], executions: list[dict[str, Any]]) -> bool:
        """Write what changed in ``state`` (its ``orders`` are every working order) and append
        ``executions``, in one transaction; returns whether anything was written.

        Only the market's last prices (and the time) changing is not worth a write: they go with
        the next real change, or the last save on close.
        """
        changed = {k: state[k] for k in _META if k in state and self._meta.get(k) != state[k]}
        orders = {o["order_id"]: o for o in state.get("orders", [])}
        upserts = [(oid, _dumps(o)) for oid, o in orders.items() if self._orders.get(oid) != o]
        gone = [(oid,) for oid in self._orders if oid not in orders]
        if not executions and not upserts and not gone and set(changed) <= _PASSIVE:
            return False
        db = self._connect()
        try:
            with db:
                db.execute("BEGIN")
                if changed:
                    db.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key)"
                                   " DO UPDATE SET value=excluded.value",
                                   [(k, _dumps(v)) for k, v in changed.items()])
                if upserts:
                    db.executemany("INSERT INTO orders (order_id, data) VALUES (?, ?) ON CONFLICT(order_id)"
                                   " DO UPDATE SET data=excluded.data", upserts)
                if gone:
                    db.executemany("DELETE FROM orders WHERE order_id=?", gone)
                if executions:
                    db.executemany("INSERT INTO executions (exec_id, data) VALUES (?, ?)",
                                   [(e["exec_id"], _dumps(e)) for e in executions])
                self._appended += len(executions)
                if self._appended >= KEPT_EXECUTIONS:
                    db.execute("DELETE FROM executions WHERE seq <= (SELECT MAX(seq) FROM executions) - ?",
                               (KEPT_EXECUTIONS,))
                    self._appended = 0
        except sqlite3.DatabaseError as e:
            raise self._corrupt(e) from e
        self._meta.update(changed)
        self._orders = orders
        return True

    def move_aside(self, suffix: str) -> None:
        """Rename the account's files ``<name>.<suffix>.bak`` (``paper --fresh``); the WAL is
        checkpointed into the database first so the kept copy is whole."""
        if self.path.exists():
            db = sqlite3.connect(str(self.path))
            try:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                db.close()
        for path in self.files:
            if path.exists():
                if path.name.endswith(("-wal", "-shm")):
                    path.unlink()
                else:
                    os.replace(path, path.with_name(f"{path.name}.{suffix}.bak"))
