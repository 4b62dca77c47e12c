"""Finished task rows, one JSON line each, appended as they finish (the sweep's resume file).

Each line is written whole, flushed and synced before the next task is counted done, so a
crash loses at most the task that was running; a torn last line (the crash mid-write) is
ignored when the file is read back. Successful rows are kept on a re-run; failed ones run again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class ResultStore:
    """The rows of one sweep output, at ``path`` (or in memory when ``path`` is None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a torn line from a crash
                if isinstance(row, dict) and "key" in row:
                    self.rows[row["key"]] = row

    def done(self, key: str) -> bool:
        """True when the task ``key`` finished without an error in an earlier run."""
        row = self.rows.get(key)
        return row is not None and "error" not in row

    def add(self, row: dict[str, Any]) -> None:
        """Keep ``row`` (and append it to the file, synced)."""
        self.rows[row["key"]] = row
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            if f.tell() > 0 and not _ends_with_newline(self.path):
                f.write("\n")  # after a torn line, start a fresh one
            f.write(json.dumps(row, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
