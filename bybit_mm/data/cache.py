"""The columnar cache: each data file converted once into a ``.npy`` of event rows.

numpy's ``.npy`` rather than Parquet: the rows are one fixed-width record dtype, so the file is
a 256-byte header and the raw rows, written chunk by chunk as the reader streams (memory bounded
by the chunk) and memory-mapped on load (a cached day loads in milliseconds, and a time window
touches only its pages). No new dependency, and nothing to decode. A JSON sidecar keeps what the
read found (gaps, symbol, time span).

Entries live in ``<cache dir>/events/`` (``$BYBIT_MM_HOME/cache/events`` when that is set) and
are keyed by the source's resolved path, size, modification time and :data:`FORMAT_VERSION`:
a changed or replaced file is converted again, and the entry it replaces is deleted. Both files
are written to a temporary name, fsynced and renamed (sidecar first, rows last), so an entry
is trusted only once complete; a half-written one left by a crash is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bybit_mm.data.events import EVENT_DTYPE
from bybit_mm.data.readers import (
    FileProgress,
    FileReport,
    file_format,
    read_file,
    symbol_from_name,
)

#: Bump when the rows a reader produces change: every cached entry is then rebuilt.
FORMAT_VERSION = 1
_HEADER_BYTES = 256
_MAGIC = b"\x93NUMPY\x01\x00"


def cache_root() -> Path:
    """``<platformdirs cache dir>/events`` (``$BYBIT_MM_HOME/cache/events`` when set)."""
    from bybit_mm.config.paths import cache_dir

    return cache_dir() / "events"


def entry_paths(source: Path, root: Path) -> tuple[Path, Path]:
    """The (rows, sidecar) paths of ``source``'s cache entry as the file is now."""
    resolved = source.resolve()
    st = resolved.stat()
    stem = hashlib.sha256(str(resolved).encode()).hexdigest()[:20]
    version = hashlib.sha256(f"{FORMAT_VERSION}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return root / f"{stem}-{version}.npy", root / f"{stem}-{version}.json"


def load_cached(source: Path, root: Path) -> tuple[np.ndarray, FileReport] | None:
    """The cached rows (memory-mapped, read-only) and report of ``source``, or None if there is
    no complete entry for the file as it is now."""
    rows_path, meta_path = entry_paths(source, root)
    if not rows_path.exists():
        return None
    try:
        report = FileReport.from_dict(json.loads(meta_path.read_text(encoding="utf-8")))
        rows = np.load(rows_path, mmap_mode="r", allow_pickle=False)
        if rows.dtype != EVENT_DTYPE or rows.shape != (report.events,):
            raise ValueError("entry does not match its sidecar")
    except (OSError, ValueError, TypeError, KeyError):
        for p in (rows_path, meta_path):  # unreadable: convert again
            p.unlink(missing_ok=True)
        return None
    report.from_cache = True
    return rows, report


def convert(source: Path, root: Path, progress: FileProgress | None = None) -> tuple[np.ndarray, FileReport]:
    """Read ``source`` (streaming) into a new cache entry; return its rows (memory-mapped) and report."""
    source = Path(source)
    report = FileReport(path=str(source), format=file_format(source), symbol=symbol_from_name(source))
    rows_path, meta_path = entry_paths(source, root)
    root.mkdir(parents=True, exist_ok=True)
    tmp_rows = rows_path.with_name(f".{rows_path.name}.{os.getpid()}.tmp")
    tmp_meta = meta_path.with_name(f".{meta_path.name}.{os.getpid()}.tmp")
    try:
        n = _write_rows(tmp_rows, read_file(source, report, progress))
        if not report.ordered:
            _sort_in_place(tmp_rows, n)
        _atomic_text(tmp_meta, meta_path, json.dumps(report.to_dict()))
        _fsync(tmp_rows)
        os.replace(tmp_rows, rows_path)
    finally:
        tmp_rows.unlink(missing_ok=True)
        tmp_meta.unlink(missing_ok=True)
    _drop_older_entries(rows_path)
    rows = np.load(rows_path, mmap_mode="r", allow_pickle=False) if n else np.empty(0, EVENT_DTYPE)
    return rows, report


def _header(n: int) -> bytes:
    d = {"descr": np.lib.format.dtype_to_descr(EVENT_DTYPE), "fortran_order": False, "shape": (n,)}
    text = repr(d).encode("latin1")
    room = _HEADER_BYTES - len(_MAGIC) - 2
    if len(text) + 1 > room:
        raise AssertionError("npy header does not fit")
    body = text + b" " * (room - len(text) - 1) + b"\n"
    return _MAGIC + len(body).to_bytes(2, "little") + body


def _write_rows(path: Path, chunks: Iterator[np.ndarray]) -> int:
    n = 0
    with open(path, "wb") as fp:
        fp.write(_header(0))
        for rows in chunks:
            fp.write(np.ascontiguousarray(rows, EVENT_DTYPE).tobytes())
            n += rows.size
        fp.seek(0)
        fp.write(_header(n))
    return n


def _sort_in_place(path: Path, n: int) -> None:
    if n == 0:
        return
    rows = np.lib.format.open_memmap(path, mode="r+")
    order = np.lexsort((rows["exch_ts"], rows["local_ts"]))  # stable: a message's rows stay together
    rows[:] = rows[order]
    rows.flush()
    del rows


def _atomic_text(tmp: Path, final: Path, text: str) -> None:
    with open(tmp, "w", encoding="utf-8") as fp:
        fp.write(text)
        fp.flush()
        os.fsync(fp.fileno())
    os.replace(tmp, final)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _drop_older_entries(current: Path) -> None:
    stem = current.name.split("-", 1)[0]
    for old in current.parent.glob(f"{stem}-*"):
        if old.name not in (current.name, current.with_suffix(".json").name):
            old.unlink(missing_ok=True)

