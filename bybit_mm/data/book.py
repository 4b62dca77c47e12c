"""Bybit ``orderbook.N.SYMBOL`` messages (WebSocket pushes, and the lines of Bybit's ``ob500``
history files, which are those pushes recorded) turned into event rows, a chunk at a time.

A snapshot becomes ``BOOK_CLEAR`` then one row per level; a delta one row per level (size 0
removes it). The update id ``u`` grows by one per delta; a delta that breaks the sequence is a
gap: it and every delta after it are dropped until the next snapshot, whose ``BOOK_CLEAR`` row
carries ``FLAG_RESYNC``, and the gap is reported. A snapshot always resets, including Bybit's
``u = 1`` snapshot after a restart of its service.

Speed: a full JSON parse costs more than everything else here, so a message in Bybit's own
layout is taken apart by one regular expression, and the prices and sizes of a whole chunk are
converted by numpy in one call. Anything else falls back to ``json`` (same result, slower).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bybit_mm.data.events import (
    ASK,
    BID,
    BOOK_CLEAR,
    EVENT_DTYPE,
    FLAG_LAST,
    FLAG_RESYNC,
)

_NUM = rb'"-?[0-9][0-9.eE+-]*"'
_LEVELS = rb"(?:\[" + _NUM + rb"," + _NUM + rb"\](?:,(?=\[))?)*"
#: Bybit's layout (``ts`` before ``type`` in Bybit's files and streams, after it in our emulator's).
_FAST = re.compile(
    rb'\{"topic":"orderbook\.[^"]*",(?:"ts":(\d+),"type":"(snapshot|delta)"|"type":"(snapshot|delta)","ts":(\d+)),'
    rb'"data":\{"s":"([^"]*)","b":\[(' + _LEVELS + rb')\],"a":\[(' + _LEVELS + rb')\],"u":(\d+),"seq":(\d+)\}'
    rb'(?:,"cts":\d+)?\}')
#: The same, for every line of a chunk at once (one C loop instead of one call a line).
_FAST_LINES = re.compile(rb"^" + _FAST.pattern + rb"$", re.MULTILINE)
#: bytes.translate table turning level text into whitespace-separated numbers.
_TO_SPACES = bytes.maketrans(b'[]",', b"    ")


@dataclass
class BookMessage:
    """One book message reduced to what the rows need; levels as text numbers ``p q p q ...``."""

    line: int
    local_ns: int
    exch_ns: int
    snapshot: bool
    u: int
    bids: bytes
    asks: bytes
    symbol: str


@dataclass
class BookBatch:
    """A chunk's book messages as columns (what :func:`book_rows` converts)."""

    line: np.ndarray
    local_ns: np.ndarray
    exch_ns: np.ndarray
    snapshot: np.ndarray
    u: np.ndarray
    #: Level text of each message, bids and asks.
    bids: list[bytes]
    asks: list[bytes]
    symbol: str = ""

    def __len__(self) -> int:
        return len(self.bids)

    @classmethod
    def of(cls, messages: list[BookMessage]) -> BookBatch:
        """The batch of parsed messages."""
        n = len(messages)
        return cls(np.fromiter((m.line for m in messages), np.int64, n),
                   np.fromiter((m.local_ns for m in messages), np.int64, n),
                   np.fromiter((m.exch_ns for m in messages), np.int64, n),
                   np.fromiter((m.snapshot for m in messages), bool, n),
                   np.fromiter((m.u for m in messages), np.int64, n),
                   [m.bids for m in messages], [m.asks for m in messages],
                   messages[0].symbol if messages else "")


def batch_of_lines(lines: list[bytes], first_line: int) -> BookBatch | None:
    """The batch of a chunk of Bybit ob-file lines when every line is in Bybit's layout (the
    fast path, no per-line Python work), else None (then parse line by line)."""
    found = _FAST_LINES.findall(b"\n".join(lines))
    if len(found) != len(lines) or not found:
        return None
    cols = list(zip(*found))
    ts = np.array([a or b for a, b in zip(cols[0], cols[3])]).astype(np.int64) * 1_000_000
    kinds = np.array([a or b for a, b in zip(cols[1], cols[2])])
    return BookBatch(np.arange(first_line, first_line + len(found), dtype=np.int64), ts, ts,
                     kinds == b"snapshot", np.array(cols[7]).astype(np.int64), list(cols[5]), list(cols[6]),
                     found[0][4].decode())


@dataclass
class Gap:
    """A break in the update ids: deltas were dropped from ``exch_ts`` until ``resumed_ts``."""

    line: int
    exch_ts: int
    expected_u: int
    got_u: int
    #: The resyncing snapshot's time (ns), None if the file ended first.
    resumed_ts: int | None = None
    #: Deltas dropped (this one included).
    dropped: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the cache's sidecar, ``--json`` reports)."""
        return dict(self.__dict__)


@dataclass
class BookSequencer:
    """The update-id state of one book across chunks (and files read in order)."""

    last_u: int | None = None
    gaps: list[Gap] = field(default_factory=list)
    #: Deltas dropped before the first snapshot (nothing to apply them to).
    orphan_deltas: int = 0
    _open_gap: Gap | None = None

    def accept_batch(self, batch: BookBatch) -> tuple[np.ndarray, np.ndarray]:
        """Which messages of ``batch`` are kept, and the flags of each one's first row."""
        n = len(batch)
        u, snap = batch.u, batch.snapshot
        if n and self._open_gap is None and (self.last_u is not None or snap[0]):
            prev = np.empty(n, np.int64)
            prev[0] = self.last_u if self.last_u is not None else 0
            prev[1:] = u[:-1]
            if (snap | (u == prev + 1)).all():  # the usual case: no gap
                self.last_u = int(u[-1])
                return np.ones(n, bool), np.zeros(n, np.uint8)
        keep = np.zeros(n, bool)
        flags = np.zeros(n, np.uint8)
        for i in range(n):
            f = self.accept(int(batch.line[i]), int(batch.exch_ns[i]), bool(snap[i]), int(u[i]))
            if f is not None:
                keep[i], flags[i] = True, f
        return keep, flags

    def accept(self, line: int, exch_ns: int, snapshot: bool, u: int) -> int | None:
        """The flags for a message's first row if it is kept, None if it is dropped."""
        if snapshot:
            flags = 0
            if self._open_gap is not None:
                self._open_gap.resumed_ts = exch_ns
                self._open_gap = None
                flags = FLAG_RESYNC
            self.last_u = u
            return flags
        if self._open_gap is not None:
            self._open_gap.dropped += 1
            return None
        if self.last_u is None:
            self.orphan_deltas += 1
            return None
        if u != self.last_u + 1:
            gap = Gap(line=line, exch_ts=exch_ns, expected_u=self.last_u + 1, got_u=u, dropped=1)
            self.gaps.append(gap)
            self._open_gap = gap
            return None
        self.last_u = u
        return 0


def parse_book_line(line: bytes, line_no: int, local_ns: int | None = None) -> BookMessage | None:
    """A book message from one line of text (Bybit's layout, fast), or None when the line is not
    in that layout (the caller then parses it as JSON and calls :func:`book_message_from_obj`).
    ``local_ns`` None means "no receive time": the exchange time is used."""
    m = _FAST.fullmatch(line)
    if m is None:
        return None
    ts = int(m[1] or m[4])
    kind = m[2] or m[3]
    exch = ts * 1_000_000
    return BookMessage(line_no, exch if local_ns is None else local_ns, exch, kind == b"snapshot",
                       int(m[8]), m[6], m[7], m[5].decode())


def book_message_from_obj(obj: Any, line_no: int, local_ns: int | None = None) -> BookMessage:
    """A book message from a parsed JSON object; ValueError (with what is wrong) if it is not one."""
    try:
        kind = obj["type"]
        if kind not in ("snapshot", "delta"):
            raise ValueError(f"unknown book message type {kind!r}")
        data = obj["data"]
        exch = int(obj["ts"]) * 1_000_000
        u = int(data["u"])
        bids = _levels_text(data["b"])
        asks = _levels_text(data["a"])
        symbol = str(data.get("s", ""))
    except (KeyError, TypeError) as e:
        raise ValueError(f"not a Bybit order book message (missing or bad {e})") from None
    return BookMessage(line_no, exch if local_ns is None else local_ns, exch, kind == "snapshot", u, bids, asks, symbol)


def _levels_text(levels: Any) -> bytes:
    if not isinstance(levels, list):
        raise TypeError("levels")
    parts = []
    for level in levels:
        p, q = level
        parts.append(f"{_finite(p)!r} {_finite(q)!r}")
    return " ".join(parts).encode()


def _finite(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"a price or size ({value!r}) is not a finite number")
    return x


def parse_json(line: bytes) -> Any:
    """``json.loads`` of a line; ValueError with a short reason."""
    try:
        return json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"not valid JSON ({e.msg if isinstance(e, json.JSONDecodeError) else e})") from None


def book_rows(batch: BookBatch, seq: BookSequencer, *, error: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows for the messages of ``batch`` (in order, gaps handled by ``seq``) and the index in
    the batch of each row's message. ``error(line, what)`` builds the exception for a message
    whose numbers do not parse."""
    keep, first_flags = seq.accept_batch(batch)
    kept = np.flatnonzero(keep)
    m = kept.size
    if m == 0:
        return np.empty(0, EVENT_DTYPE), np.empty(0, np.int64)
    if m == len(batch):
        bids, asks = batch.bids, batch.asks
    else:
        bids, asks = [batch.bids[i] for i in kept], [batch.asks[i] for i in kept]
    nb = np.fromiter(map(_count, bids), np.int64, m)
    na = np.fromiter(map(_count, asks), np.int64, m)
    nc = batch.snapshot[kept].astype(np.int64)
    text = b" ".join(itertools.chain.from_iterable(zip(bids, asks))).translate(_TO_SPACES)
    values = np.fromstring(text, sep=" ") if text.strip() else np.empty(0)  # text mode: not deprecated
    if values.size != 2 * int(nb.sum() + na.sum()) or not np.isfinite(values).all():
        _raise_first_bad(batch, kept, error)
    counts = nc + nb + na
    n = int(counts.sum())
    out = np.zeros(n, EVENT_DTYPE)
    segments = np.stack([nc, nb, na], axis=1).ravel()
    kinds = np.tile(np.array([BOOK_CLEAR, BID, ASK], np.uint8), m)
    out["kind"] = np.repeat(kinds, segments)
    is_level = out["kind"] != BOOK_CLEAR
    out["px"][is_level] = values[0::2]
    out["qty"][is_level] = values[1::2]
    out["exch_ts"] = np.repeat(batch.exch_ns[kept], counts)
    out["local_ts"] = np.repeat(batch.local_ns[kept], counts)
    ends = np.cumsum(counts)
    nonempty = counts > 0
    out["flags"][ends[nonempty] - 1] |= FLAG_LAST
    starts = ends - counts
    resync = first_flags[kept]
    has_flag = nonempty & (resync != 0)
    out["flags"][starts[has_flag]] |= resync[has_flag]
    return out, np.repeat(kept, counts)


def _count(levels: bytes) -> int:
    # Fast-path text has one "[" per level; fallback text is "p q p q ...".
    if not levels:
        return 0
    n = levels.count(b"[")
    return n if n else (levels.count(b" ") + 1) // 2


def _raise_first_bad(batch: BookBatch, kept: np.ndarray, error: Any) -> None:
    for i in kept:
        for text in (batch.bids[i], batch.asks[i]):
            t = text.translate(_TO_SPACES).split()
            try:
                finite = all(np.isfinite(float(v)) for v in t)
            except ValueError:
                finite = False
            if not finite:
                raise error(int(batch.line[i]), "a price or size is not a finite number")
            if len(t) % 2:
                raise error(int(batch.line[i]), "a level is not a [price, size] pair")
    raise error(int(batch.line[kept[0]]), "prices and sizes do not parse")
