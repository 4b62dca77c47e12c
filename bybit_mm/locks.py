"""One process per paper account or run journal: an exclusive lock beside the state it guards.

``filelock`` takes an OS lock (``flock`` on POSIX, ``msvcrt`` on Windows) on ``<path>.lock``: the
kernel drops it when the holder dies, even on ``kill -9``, so a crashed run never leaves a stale
lock behind. Who holds it (pid, command, since when) is written beside it in ``<path>.lock.owner``
so the refused process can name the holder. Within one process the lock is re-entrant (the CLI
locks a paper account before ``--fresh`` renames its files; the client it opens locks it again).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from bybit_mm.errors import StateInUse

_HELD: dict[Path, tuple[object, int]] = {}


class StateLock:
    """A hold on the lock at ``path`` (release it with :meth:`release`, or use it as a context manager)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._held = True

    def release(self) -> None:
        """Drop this hold (once; again is a no-op); the OS lock goes with the process's last one."""
        lock, count = _HELD.get(self.path, (None, 0))
        if lock is None or not self._held:
            return
        self._held = False
        if count > 1:
            _HELD[self.path] = (lock, count - 1)
            return
        del _HELD[self.path]
        try:
            Path(f"{self.path}.owner").unlink(missing_ok=True)
        except OSError:
            pass
        lock.release()  # type: ignore[attr-defined]

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(path: Path) -> str:
    """Who holds the lock at ``path``, as the owner file says (``another process`` if unknown)."""
    try:
        info = json.loads(Path(f"{path}.owner").read_text(encoding="utf-8"))
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info["since"])))
        return f"pid {int(info['pid'])} ({info.get('command') or '?'}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def acquire(path: Path, what: str, hint: str) -> StateLock:
    """Lock ``path`` for this process (re-entrant), or raise :class:`StateInUse` (exit 2) naming the
    holder: ``{what} is in use by pid …``."""
    from filelock import FileLock, Timeout

    path = path.resolve()
    held = _HELD.get(path)
    if held is not None:
        _HELD[path] = (held[0], held[1] + 1)
        return StateLock(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise StateInUse(f"{what} is in use by {holder(path)}", hint=hint) from None
    _HELD[path] = (lock, 1)
    command = " ".join(["bybit-mm", *sys.argv[1:]]) if sys.argv and sys.argv[0] else "?"
    try:
        Path(f"{path}.owner").write_text(json.dumps({"pid": os.getpid(), "command": command[:200],
                                                     "since": time.time()}), encoding="utf-8")
    except OSError:
        pass  # the lock holds without it; a refused process then says "another process"
    return StateLock(path)
