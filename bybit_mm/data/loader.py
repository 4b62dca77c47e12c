"""``load_events``: several data files (a day's book and trades, several days, recordings) into
one time-ordered array of event rows, through the columnar cache."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bybit_mm.data import cache
from bybit_mm.data.book import Gap
from bybit_mm.data.events import (
    ASK,
    BID,
    BOOK_CLEAR,
    EVENT_DTYPE,
    FLAG_LAST,
    FUNDING,
    MARK,
)
from bybit_mm.data.readers import FileReport, file_format
from bybit_mm.errors import DataError

#: ``progress(done, total)``: source bytes converted or loaded so far, of all files' bytes.
Progress = Callable[[int, int], None]


@dataclass
class LoadReport:
    """What :func:`load_events` read: one report per file, and the merged stream's span."""

    files: list[FileReport] = field(default_factory=list)
    events: int = 0
    symbol: str = ""
    #: local_ts of the first and last row returned (None when nothing was).
    first_ts: int | None = None
    last_ts: int | None = None
    #: Rows that rebuild the book (and mark/funding) as it stood at ``start_ns``.
    synthetic_rows: int = 0

    @property
    def gaps(self) -> list[tuple[str, Gap]]:
        """Every update-id gap, with its file."""
        return [(f.path, g) for f in self.files for g in f.gaps]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"events": self.events, "symbol": self.symbol, "first_ts": self.first_ts, "last_ts": self.last_ts,
                "synthetic_rows": self.synthetic_rows, "files": [f.to_dict() for f in self.files]}


def data_files(paths: Iterable[str | Path]) -> list[Path]:
    """``paths`` with directories expanded to the data files in them (sorted by name)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(x for x in p.iterdir() if x.is_file() and _is_data_file(x))
            if not found:
                raise DataError(f"{p}: no data files in this directory")
            out.extend(found)
        else:
            out.append(p)
    return out


def _is_data_file(path: Path) -> bool:
    try:
        file_format(path)
    except DataError:
        return False
    return True


def load_events(paths: Iterable[str | Path], *, start_ns: int | None = None, end_ns: int | None = None,
                use_cache: bool = True, cache_root: Path | None = None,
                progress: Progress | None = None) -> tuple[np.ndarray, LoadReport]:
    """The rows of every file in ``paths`` (files or directories) merged into one stream ordered
    by ``local_ts`` then ``exch_ts`` (stable: a message's rows stay together, and equal times
    keep the order of ``paths``), kept to ``start_ns <= local_ts < end_ns``.

    A file is parsed once into the cache (:mod:`bybit_mm.data.cache`); later calls load it
    memory-mapped. With ``start_ns``, the book as it stood then (the last snapshot before it
    with the deltas that followed) and the last mark price and funding rate are put first, as
    one snapshot stamped ``start_ns``, so a window opens on a whole book.
    ``use_cache=False`` converts into a temporary directory that is deleted afterwards.
    DataError (exit 2) for a missing, unknown, truncated or malformed file, or for files of
    different symbols.
    """
    files = data_files(paths)
    if not files:
        raise DataError("no data files given")
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise DataError("the end of the time window must be after its start")
    for f in files:
        file_format(f)
        if not f.is_file():
            raise DataError(f"{f}: no such file")
    sizes = [f.stat().st_size for f in files]
    total = sum(sizes)
    done = 0
    report = LoadReport()
    parts: list[np.ndarray] = []
    state_parts: list[np.ndarray] = []
    if use_cache:
        root = cache_root or cache.cache_root()
        tmp = None
    else:
        import tempfile

        tmp = tempfile.TemporaryDirectory(prefix="bybit-mm-events-")
        root = Path(tmp.name)
    try:
        for f, size in zip(files, sizes):
            def on_file(fraction: float, base: int = done, size: int = size) -> None:
                if progress is not None:
                    progress(base + int(fraction * size), total)

            hit = cache.load_cached(f, root)
            rows, file_report = hit if hit is not None else cache.convert(f, root, on_file)
            done += size
            if progress is not None:
                progress(done, total)
            report.files.append(file_report)
            lo = 0 if start_ns is None else int(np.searchsorted(rows["local_ts"], start_ns, "left"))
            hi = rows.size if end_ns is None else int(np.searchsorted(rows["local_ts"], end_ns, "left"))
            if lo > 0:
                state_parts.append(_state_before(rows[:lo]))
            parts.append(np.array(rows[lo:max(lo, hi)]))  # a copy: the cache file may be replaced later
    finally:
        if tmp is not None:
            tmp.cleanup()
    symbols = sorted({f.symbol for f in report.files if f.symbol})
    if len(symbols) > 1:
        raise DataError(f"the data files hold different symbols ({', '.join(symbols)}); load one symbol at a time")
    report.symbol = symbols[0] if symbols else ""
    events = _merge(parts)
    if start_ns is not None and state_parts:
        head = _opening_snapshot(state_parts, start_ns)
        report.synthetic_rows = head.size
        events = np.concatenate([head, events]) if head.size else events
    report.events = events.size
    if events.size:
        report.first_ts, report.last_ts = int(events["local_ts"][0]), int(events["local_ts"][-1])
    return events, report


def _merge(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if p.size]
    if not parts:
        return np.empty(0, EVENT_DTYPE)
    if len(parts) == 1:
        return parts[0]
    merged = np.concatenate(parts)
    # Each part is in order already: a stable sort on local_ts merges the runs in linear time;
    # only if equal local_ts then leave exch_ts out of order is the two-key sort needed.
    merged = merged[np.argsort(merged["local_ts"], kind="stable")]
    same = np.diff(merged["local_ts"]) == 0
    if (same & (np.diff(merged["exch_ts"]) < 0)).any():
        merged = merged[np.lexsort((merged["exch_ts"], merged["local_ts"]))]
    return merged


def _state_before(rows: np.ndarray) -> np.ndarray:
    """The rows that still matter at the end of ``rows``: the book from its last BOOK_CLEAR on,
    and the last MARK and FUNDING row (in that order)."""
    kind = rows["kind"]
    clears = np.flatnonzero(kind == BOOK_CLEAR)
    keep: list[np.ndarray] = []
    if clears.size:
        tail = rows[int(clears[-1]):]
        keep.append(tail[np.isin(tail["kind"], (BOOK_CLEAR, BID, ASK))])
    for k in (MARK, FUNDING):
        idx = np.flatnonzero(kind == k)
        if idx.size:
            keep.append(rows[int(idx[-1]):int(idx[-1]) + 1])
    return np.concatenate(keep) if keep else np.empty(0, EVENT_DTYPE)


def _opening_snapshot(state_parts: list[np.ndarray], start_ns: int) -> np.ndarray:
    """One consistent opening at ``start_ns``: the book of the latest BOOK_CLEAR among the files
    (its levels with their last sizes, empty ones left out), then the latest mark and funding."""
    books = [p[np.isin(p["kind"], (BOOK_CLEAR, BID, ASK))] for p in state_parts]
    books = [b for b in books if b.size]
    out: list[np.ndarray] = []
    if books:
        book = max(books, key=lambda b: (int(b["local_ts"][0]), int(b["exch_ts"][0])))
        levels = book[1:]
        # The last row of each (side, price) wins: its size is the level's size now.
        rev = levels[::-1]
        _, first = np.unique(np.stack([rev["kind"].astype(np.float64), rev["px"]], axis=1), axis=0, return_index=True)
        final = rev[first]
        final = final[final["qty"] > 0]
        bids = final[final["kind"] == BID]
        asks = final[final["kind"] == ASK]
        bids = bids[np.argsort(-bids["px"], kind="stable")]
        asks = asks[np.argsort(asks["px"], kind="stable")]
        snap = np.concatenate([book[:1], bids, asks])
        snap["flags"] = 0
        snap["flags"][-1] = FLAG_LAST
        out.append(snap)
    for k in (MARK, FUNDING):
        rows = np.concatenate([p[p["kind"] == k] for p in state_parts])
        if rows.size:
            last = rows[np.lexsort((rows["exch_ts"], rows["local_ts"]))][-1:].copy()
            last["flags"] = FLAG_LAST
            out.append(last)
    if not out:
        return np.empty(0, EVENT_DTYPE)
    head = np.concatenate(out)
    head["exch_ts"] = start_ns
    head["local_ts"] = start_ns
    return head
