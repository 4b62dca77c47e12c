"""The recorder's files: WebSocket messages as received, as gzip JSON lines, one file per symbol
per UTC day (``YYYY-MM-DD_SYMBOL_ws.jsonl.gz``).

Each line is ``{"recv_ts": <ns since the epoch when we received it>, "msg": <the message>}``
with the message's own text copied in verbatim (it is a JSON object), or, for a message that is
not one JSON line, its text as a JSON string. Lines are flushed (a gzip sync point) at least
every ``flush_interval_s``, so a killed recorder loses at most that much and the file stays
readable up to its last complete line; :meth:`RecordingWriter.close` ends the gzip member
properly. Restarting on the same day appends a new gzip member to the day's file (after
cutting a truncated tail left by a kill back to its last complete line).
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from bybit_mm.data.sources import LineSource

_DAY_NS = 86_400 * 10**9


def recording_name(symbol: str, day: str) -> str:
    """``YYYY-MM-DD_SYMBOL_ws.jsonl.gz``."""
    return f"{day}_{symbol}_ws.jsonl.gz"


def record_line(recv_ns: int, raw: str | bytes) -> bytes:
    """The line written for one message (with its newline)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    stripped = text.strip()
    try:
        verbatim = stripped.startswith("{") and "\n" not in stripped and "\r" not in stripped \
            and isinstance(json.loads(stripped), dict)
    except ValueError:
        verbatim = False
    msg = stripped if verbatim else json.dumps(text)
    return f'{{"recv_ts":{recv_ns},"msg":{msg}}}\n'.encode()


class RecordingWriter:
    """One symbol's recording in ``out_dir``; :meth:`write` every message, :meth:`close` at the end."""

    def __init__(self, out_dir: Path, symbol: str, *, flush_interval_s: float = 0.2, compresslevel: int = 6) -> None:
        self.out_dir = Path(out_dir)
        self.symbol = symbol
        self.flush_interval_ns = int(flush_interval_s * 1e9)
        self.compresslevel = compresslevel
        #: Files written to, in order (one per UTC day).
        self.files: list[Path] = []
        self.lines = 0
        self._day = -1
        self._fp: BinaryIO | None = None
        self._gz: gzip.GzipFile | None = None
        self._last_flush = 0
        self._dirty = False

    def write(self, recv_ns: int, raw: str | bytes) -> None:
        """Append one message received at ``recv_ns``; flush if the last flush is old enough."""
        day = recv_ns // _DAY_NS  # integer: a float would round the last nanoseconds of a day into the next
        if day != self._day:
            self._open(day)
        assert self._gz is not None
        self._gz.write(record_line(recv_ns, raw))
        self.lines += 1
        self._dirty = True
        if recv_ns - self._last_flush >= self.flush_interval_ns:
            self.flush(recv_ns)

    def flush(self, now_ns: int | None = None) -> None:
        """Make every line written so far readable from the file (a gzip sync flush)."""
        if self._gz is not None and self._dirty:
            self._gz.flush(zlib.Z_SYNC_FLUSH)
            self._dirty = False
        if now_ns is not None:
            self._last_flush = now_ns

    def close(self) -> None:
        """End the gzip member and close the file (the file is then a complete gzip file)."""
        if self._gz is not None:
            self._gz.close()
            self._gz = None
        if self._fp is not None:
            self._fp.flush()
            os.fsync(self._fp.fileno())
            self._fp.close()
            self._fp = None

    def _open(self, day: int) -> None:
        self.close()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        date = datetime.fromtimestamp(day * 86_400, tz=timezone.utc).strftime("%Y-%m-%d")
        path = self.out_dir / recording_name(self.symbol, date)
        if path.exists() and path.stat().st_size:
            cut_truncated_tail(path)
        self._fp = open(path, "ab")
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._fp, compresslevel=self.compresslevel)
        self._day = day
        if path not in self.files:
            self.files.append(path)


def cut_truncated_tail(path: Path) -> bool:
    """If ``path`` (a recording) ends inside a gzip member, rewrite it with its complete lines
    (atomically); True if it had to. A later append then starts a clean member."""
    check = LineSource(path, allow_truncated_tail=True)
    for _ in check:
        pass
    if not check.truncated_tail:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fp:
            with gzip.GzipFile(filename="", mode="wb", fileobj=fp) as gz:
                for chunk in LineSource(path, allow_truncated_tail=True):
                    gz.write(b"".join(line + b"\n" for line in chunk.lines))
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True
