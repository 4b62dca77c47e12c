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

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bybit_mm.data.events import ASK, BID, BOOK_CLEAR, EVENT_DTYPE, FLAG_LAST, FLAG_RESYNC

_NUM = rb'"-?[0-9][0-9.eE+-]*"'
_LEVELS = rb"(?:\[" + _NUM + rb"," + _NUM + rb"\](?:,(?=\[))?)*"
#: Bybit's layout (``ts`` before ``type`` in Bybit's files and streams, after it in our emulator's).
_FAST = re.compile(
    rb'\{"topic":"orderbook\.[^"]*",(?:"ts":(\d+),"type":"(snapshot|delta)"|"type":"(snapshot|delta)","ts":(\d+)),'
    rb'"data":\{"s":"([^"]*)","b":\[(' + _LEVELS + rb')\],"a":\[(' + _LEVELS + rb')\],"u":(\d+),"seq":(\d+)\}'
    rb'(?:,"cts":\d+)?\}')
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

    def accept(self, msg: BookMessage) -> int | None:
        """The flags for ``msg``'s first row if it is kept, None if it is dropped."""
        if msg.snapshot:
            flags = 0
            if self._open_gap is not None:
                self._open_gap.resumed_ts = msg.exch_ns
                self._open_gap = None
                flags = FLAG_RESYNC
            self.last_u = msg.u
            return flags
        if self._open_gap is not None:
            self._open_gap.dropped += 1
            return None
        if self.last_u is None:
            self.orphan_deltas += 1
            return None
        if msg.u != self.last_u + 1:
            gap = Gap(line=msg.line, exch_ts=msg.exch_ns, expected_u=self.last_u + 1, got_u=msg.u, dropped=1)
            self.gaps.append(gap)
            self._open_gap = gap
            return None
        self.last_u = msg.u
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


def book_rows(messages: list[BookMessage], seq: BookSequencer, *, error: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows for ``messages`` (in order, gaps handled by ``seq``) and each row's message index.

    ``error(line, what)`` builds the exception for a message whose numbers do not parse.
    """
    kept: list[int] = []
    first_flags: list[int] = []
    for i, msg in enumerate(messages):
        flags = seq.accept(msg)
        if flags is not None:
            kept.append(i)
            first_flags.append(flags)
    m = len(kept)
    if m == 0:
        return np.empty(0, EVENT_DTYPE), np.empty(0, np.int64)
    msgs = [messages[i] for i in kept]
    nb = np.fromiter((_count(x.bids) for x in msgs), np.int64, m)
    na = np.fromiter((_count(x.asks) for x in msgs), np.int64, m)
    nc = np.fromiter((x.snapshot for x in msgs), np.int64, m)
    text = b" ".join(part for x in msgs for part in (x.bids, x.asks)).translate(_TO_SPACES)
    values = np.fromstring(text, sep=" ") if text.strip() else np.empty(0)  # noqa: NPY201 (text mode is not deprecated)
    if values.size != 2 * int(nb.sum() + na.sum()) or not np.isfinite(values).all():
        _raise_first_bad(msgs, error)
    counts = nc + nb + na
    n = int(counts.sum())
    out = np.zeros(n, EVENT_DTYPE)
    segments = np.stack([nc, nb, na], axis=1).ravel()
    kinds = np.tile(np.array([BOOK_CLEAR, BID, ASK], np.uint8), m)
    out["kind"] = np.repeat(kinds, segments)
    is_level = out["kind"] != BOOK_CLEAR
    out["px"][is_level] = values[0::2]
    out["qty"][is_level] = values[1::2]
    out["exch_ts"] = np.repeat(np.fromiter((x.exch_ns for x in msgs), np.int64, m), counts)
    out["local_ts"] = np.repeat(np.fromiter((x.local_ns for x in msgs), np.int64, m), counts)
    ends = np.cumsum(counts)
    nonempty = counts > 0
    out["flags"][ends[nonempty] - 1] |= FLAG_LAST
    starts = ends - counts
    resync = np.asarray(first_flags, np.uint8)
    has_flag = nonempty & (resync != 0)
    out["flags"][starts[has_flag]] |= resync[has_flag]
    owner = np.repeat(np.asarray(kept, np.int64), counts)
    return out, owner


def _count(levels: bytes) -> int:
    # Fast-path text has one "[" per level; fallback text is "p q p q ...".
    if not levels:
        return 0
    n = levels.count(b"[")
    return n if n else (levels.count(b" ") + 1) // 2


def _raise_first_bad(msgs: list[BookMessage], error: Any) -> None:
    for x in msgs:
        for text in (x.bids, x.asks):
            t = text.translate(_TO_SPACES).split()
            try:
                finite = all(np.isfinite(float(v)) for v in t)
            except ValueError:
                finite = False
            if not finite:
                raise error(x.line, "a price or size is not a finite number")
            if len(t) % 2:
                raise error(x.line, "a level is not a [price, size] pair")
    raise error(msgs[0].line, "prices and sizes do not parse")
