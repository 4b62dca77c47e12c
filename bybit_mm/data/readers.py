"""Readers: a data file in, chunks of :data:`~bybit_mm.data.events.EVENT_DTYPE` rows out.

Three formats, told apart by the file name:

- ``*.data.zip`` (e.g. ``2025-05-01_BTCUSDT_ob500.data.zip``): Bybit's order book history, one
  ``orderbook.500.SYMBOL`` message a line (see :mod:`bybit_mm.data.book`); no receive time, so
  ``local_ts = exch_ts = ts``.
- ``*.csv.gz`` / ``*.csv`` (e.g. ``BTCUSDT2025-05-01.csv.gz``): Bybit's trades,
  ``timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional``
  with or without that header; ``timestamp`` in seconds with a fraction (kept to the
  microsecond); ``side`` is the aggressor's.
- ``*.jsonl.gz``: our recordings (:mod:`bybit_mm.data.recorder`), one
  ``{"recv_ts": ns, "msg": <message as received>}`` a line: order book, ``publicTrade`` and
  ``tickers`` (mark price, funding rate and next funding time) with ``local_ts = recv_ts``.

Every reader streams: memory is bounded by the chunk size, not the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bybit_mm.data.book import (
    BookBatch,
    BookMessage,
    BookSequencer,
    Gap,
    batch_of_lines,
    book_message_from_obj,
    book_rows,
    parse_book_line,
    parse_json,
)
from bybit_mm.data.events import (
    EVENT_DTYPE,
    FLAG_LAST,
    FUNDING,
    MARK,
    TRADE_BUY,
    TRADE_SELL,
)
from bybit_mm.data.sources import LineChunk, LineSource
from bybit_mm.errors import DataError

BOOK, TRADES, RECORDING = "bybit-book", "bybit-trades", "recording"
TRADE_COLUMNS = ("timestamp", "symbol", "side", "size", "price", "tickDirection", "trdMatchID",
                 "grossValue", "homeNotional", "foreignNotional")
_RECORD = re.compile(rb'\{"recv_ts":(\d+),"msg":(.*)\}\s*')
_TRADE_NAME = re.compile(r"^([A-Z0-9]+?)(\d{4}-\d{2}-\d{2})\.csv(\.gz)?$")
_BOOK_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}_([A-Z0-9]+)_ob\d+\.data\.zip$")

#: Called with the fraction (0..1) of the current file read.
FileProgress = Callable[[float], None]


@dataclass
class FileReport:
    """What reading one file found."""

    path: str
    format: str
    symbol: str = ""
    events: int = 0
    lines: int = 0
    #: Breaks in the book's update ids (each dropped deltas until the next snapshot).
    gaps: list[Gap] = field(default_factory=list)
    #: Book deltas before the file's first snapshot (dropped: nothing to apply them to).
    orphan_deltas: int = 0
    #: Lines that were not market data (subscription acks, pongs: recordings only).
    control_lines: int = 0
    #: A recording cut short by a kill: read up to its last complete line.
    truncated_tail: bool = False
    #: Rows already in time order (local_ts, then exch_ts) as read.
    ordered: bool = True
    first_ts: int | None = None
    last_ts: int | None = None
    from_cache: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = dict(self.__dict__)
        d["gaps"] = [g.to_dict() for g in self.gaps]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileReport:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["gaps"] = [Gap(**g) for g in d.get("gaps", [])]
        return cls(**d)


def file_format(path: Path) -> str:
    """``bybit-book``, ``bybit-trades`` or ``recording`` from the file name; DataError otherwise."""
    name = path.name
    if name.endswith(".data.zip"):
        return BOOK
    if name.endswith((".csv.gz", ".csv")):
        return TRADES
    if name.endswith(".jsonl.gz"):
        return RECORDING
    raise DataError(f"{path}: unknown data file (expected Bybit's *_ob500.data.zip or SYMBOLYYYY-MM-DD.csv.gz, "
                    "or a recording *.jsonl.gz)")


def symbol_from_name(path: Path) -> str:
    """The symbol a Bybit file name or recording name carries, or ''."""
    for rx in (_BOOK_NAME, _TRADE_NAME):
        m = rx.match(path.name)
        if m:
            return m[1]
    m = re.match(r"^\d{4}-\d{2}-\d{2}_([A-Z0-9]+)_ws\.jsonl\.gz$", path.name)
    return m[1] if m else ""


def read_file(path: Path, report: FileReport, progress: FileProgress | None = None) -> Iterator[np.ndarray]:
    """The rows of ``path`` in chunks (file order), filling ``report`` as it goes."""
    fmt = report.format
    source = LineSource(path, allow_truncated_tail=(fmt == RECORDING))
    if fmt == BOOK:
        chunks = _book_file(source, report)
    elif fmt == TRADES:
        chunks = _trades_file(source, report)
    else:
        chunks = _recording_file(source, report)
    last = (-(1 << 62), -(1 << 62))
    for rows, fraction in chunks:
        if rows.size:
            loc, exch = rows["local_ts"], rows["exch_ts"]
            if report.ordered:
                report.ordered = _ordered(loc, exch, last)
            last = (int(loc[-1]), int(exch[-1]))
            first = int(loc.min())
            report.first_ts = first if report.first_ts is None else min(report.first_ts, first)
            final = int(loc.max())
            report.last_ts = final if report.last_ts is None else max(report.last_ts, final)
            report.events += rows.size
            yield rows
        if progress is not None:
            progress(fraction)
    report.lines = source.lines_read
    report.truncated_tail = source.truncated_tail


def _ordered(loc: np.ndarray, exch: np.ndarray, last: tuple[int, int]) -> bool:
    if (int(loc[0]), int(exch[0])) < last:
        return False
    dl = np.diff(loc)
    if (dl < 0).any():
        return False
    same = dl == 0
    return not (same & (np.diff(exch) < 0)).any()


# --- Bybit order book files -----------------------------------------------------------------------

def _book_file(source: LineSource, report: FileReport) -> Iterator[tuple[np.ndarray, float]]:
    seq = BookSequencer()
    for chunk in source:
        batch = batch_of_lines(chunk.lines, chunk.first_line)
        if batch is None:
            batch = BookBatch.of(_book_messages(chunk, source))
        if len(batch) and not report.symbol:
            report.symbol = batch.symbol
        rows, _ = book_rows(batch, seq, error=source.error)
        yield rows, chunk.progress
    report.gaps.extend(seq.gaps)
    report.orphan_deltas += seq.orphan_deltas


def _book_messages(chunk: LineChunk, source: LineSource) -> list[BookMessage]:
    """A chunk's book messages one line at a time (the fast layout or, failing that, JSON)."""
    msgs: list[BookMessage] = []
    for i, line in enumerate(chunk.lines):
        n = chunk.first_line + i
        msg = parse_book_line(line, n)
        if msg is None:
            if not line.strip():
                continue
            try:
                msg = book_message_from_obj(parse_json(line), n)
            except ValueError as e:
                raise source.error(n, str(e)) from None
        msgs.append(msg)
    return msgs


# --- Bybit trade files ------------------------------------------------------------------------------

def _trades_file(source: LineSource, report: FileReport) -> Iterator[tuple[np.ndarray, float]]:
    columns: dict[str, int] | None = None
    width = len(TRADE_COLUMNS)
    for chunk in source:
        lines = chunk.lines
        numbers = list(range(chunk.first_line, chunk.first_line + len(lines)))
        if lines and lines[0].endswith(b"\r"):
            lines = [x.rstrip(b"\r") for x in lines]
        if any(not x for x in lines):
            keep = [i for i, x in enumerate(lines) if x]
            lines, numbers = [lines[i] for i in keep], [numbers[i] for i in keep]
        if columns is None and lines:
            first = lines[0].decode("utf-8", "replace").split(",")
            if first[0] == "timestamp":
                missing = [c for c in ("timestamp", "side", "size", "price") if c not in first]
                if missing:
                    raise source.error(numbers[0], f"the header lacks {', '.join(missing)}")
                columns = {name: first.index(name) for name in first}
                width = len(first)
                lines, numbers = lines[1:], numbers[1:]
            else:
                columns = {name: i for i, name in enumerate(TRADE_COLUMNS)}
        if not lines:
            yield np.empty(0, EVENT_DTYPE), chunk.progress
            continue
        assert columns is not None
        commas = np.fromiter((x.count(b",") for x in lines), np.int64, len(lines))
        bad = np.flatnonzero(commas != width - 1)
        if bad.size:
            i = int(bad[0])
            raise source.error(numbers[i], f"expected {width} comma-separated columns, found {commas[i] + 1}")
        if not report.symbol and "symbol" in columns:
            report.symbol = lines[0].split(b",")[columns["symbol"]].decode("utf-8", "replace")
        fields = b",".join(lines).split(b",")
        ts = _floats(fields[columns["timestamp"]::width], numbers, source, "timestamp")
        qty = _floats(fields[columns["size"]::width], numbers, source, "size")
        px = _floats(fields[columns["price"]::width], numbers, source, "price")
        side = np.array(fields[columns["side"]::width])
        buy, sell = side == b"Buy", side == b"Sell"
        odd = np.flatnonzero(~(buy | sell))
        if odd.size:
            raise source.error(numbers[int(odd[0])], f"side must be Buy or Sell, got {side[odd[0]].decode('utf-8', 'replace')!r}")
        rows = np.zeros(len(lines), EVENT_DTYPE)
        rows["kind"] = np.where(buy, TRADE_BUY, TRADE_SELL)
        rows["flags"] = FLAG_LAST
        # Seconds with a fraction, kept to the microsecond (float64 resolves 0.25 us at today's
        # epoch); Bybit's spot trade files count milliseconds instead (> 1e11 cannot be seconds).
        rows["exch_ts"] = np.rint(np.where(ts > 1e11, ts * 1e3, ts * 1e6)).astype(np.int64) * 1000
        rows["local_ts"] = rows["exch_ts"]
        rows["px"] = px
        rows["qty"] = qty
        yield rows, chunk.progress


def _floats(values: list[bytes], numbers: list[int], source: LineSource, what: str) -> np.ndarray:
    try:
        out = np.array(values, dtype="S").astype(np.float64)
    except ValueError:
        out = None
    if out is None or not np.isfinite(out).all():
        for i, v in enumerate(values):
            try:
                ok = np.isfinite(float(v))
            except ValueError:
                ok = False
            if not ok:
                raise source.error(numbers[i], f"{what} {v.decode('utf-8', 'replace')!r} is not a finite number")
    assert out is not None
    return out


# --- our recordings ---------------------------------------------------------------------------------

@dataclass
class _TickerState:
    rate: float | None = None
    next_ns: int = 0


def _recording_file(source: LineSource, report: FileReport) -> Iterator[tuple[np.ndarray, float]]:
    seq = BookSequencer()
    ticker = _TickerState()
    for chunk in source:
        book: list[BookMessage] = []
        book_idx: list[int] = []
        other: list[tuple[int, int, int, int, float, float]] = []  # (msg index, kind, exch, local, px, qty)
        for i, line in enumerate(chunk.lines):
            n = chunk.first_line + i
            if not line.strip():
                continue
            m = _RECORD.fullmatch(line)
            if m is None:
                raise source.error(n, 'not a recording line ({"recv_ts": ns, "msg": ...})')
            local = int(m[1])
            raw = m[2]
            msg = parse_book_line(raw, n, local) if raw.startswith(b'{"topic":"orderbook.') else None
            if msg is None:
                try:
                    obj = parse_json(raw)
                    if isinstance(obj, str):  # a message that was not one JSON line, kept as text
                        try:
                            obj = parse_json(obj.encode())
                        except ValueError:
                            report.control_lines += 1
                            continue
                    msg = _other_rows(obj, n, local, i, other, ticker, report)
                except ValueError as e:
                    raise source.error(n, str(e)) from None
            if msg is not None:
                book.append(msg)
                book_idx.append(i)
        if book and not report.symbol:
            report.symbol = book[0].symbol
        rows, owner = book_rows(BookBatch.of(book), seq, error=source.error)
        owner = np.asarray(book_idx, np.int64)[owner] if owner.size else owner
        if other:
            extra = np.zeros(len(other), EVENT_DTYPE)
            cols = list(zip(*other))
            extra["kind"], extra["exch_ts"], extra["local_ts"] = cols[1], cols[2], cols[3]
            extra["px"], extra["qty"] = cols[4], cols[5]
            idx = np.asarray(cols[0], np.int64)
            # FLAG_LAST on the last row of each message.
            last = np.ones(len(other), bool)
            last[:-1] = idx[1:] != idx[:-1]
            extra["flags"] = np.where(last, FLAG_LAST, 0)
            rows = np.concatenate([rows, extra])
            owner = np.concatenate([owner, idx])
            rows = rows[np.argsort(owner, kind="stable")]
        yield rows, chunk.progress
    report.gaps.extend(seq.gaps)
    report.orphan_deltas += seq.orphan_deltas


def _other_rows(obj: Any, n: int, local: int, i: int, out: list[tuple[int, int, int, int, float, float]],
                ticker: _TickerState, report: FileReport) -> BookMessage | None:
    """Rows of a non-fast-path message appended to ``out``; a book message is returned instead."""
    topic = obj.get("topic") if isinstance(obj, dict) else None
    if not isinstance(topic, str):
        report.control_lines += 1
        return None
    try:
        if topic.startswith("orderbook."):
            return book_message_from_obj(obj, n, local)
        if topic.startswith("publicTrade."):
            for t in obj["data"]:
                side = t["S"]
                if side not in ("Buy", "Sell"):
                    raise ValueError(f"trade side must be Buy or Sell, got {side!r}")
                out.append((i, TRADE_BUY if side == "Buy" else TRADE_SELL, int(t["T"]) * 1_000_000, local,
                            _finite(t["p"]), _finite(t["v"])))
            if not report.symbol and obj["data"]:
                report.symbol = str(obj["data"][0].get("s", ""))
            return None
        if topic.startswith("tickers."):
            data = obj["data"]
            exch = int(obj["ts"]) * 1_000_000
            if data.get("markPrice") not in (None, ""):
                out.append((i, MARK, exch, local, _finite(data["markPrice"]), 0.0))
            if data.get("nextFundingTime") not in (None, ""):
                ticker.next_ns = int(data["nextFundingTime"]) * 1_000_000
            if data.get("fundingRate") not in (None, ""):
                ticker.rate = _finite(data["fundingRate"])
            if ("fundingRate" in data or "nextFundingTime" in data) and ticker.rate is not None:
                out.append((i, FUNDING, exch, local, ticker.rate, float(ticker.next_ns)))
            return None
    except (KeyError, TypeError) as e:
        raise ValueError(f"malformed {topic} message (missing or bad {e})") from None
    report.control_lines += 1  # a topic we do not replay
    return None


def _finite(value: Any) -> float:
    x = float(value)
    if not np.isfinite(x):
        raise ValueError(f"{value!r} is not a finite number")
    return x
