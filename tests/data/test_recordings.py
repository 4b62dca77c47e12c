"""Our recordings: the writer's line format, reading them back into rows (book, trades, mark,
funding), a tail cut by a kill, restarts on the same day, and UTC day files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from data_helpers import books_from_events, books_from_messages, normalise

from bybit_mm.data.events import (
    ASK,
    BID,
    BOOK_CLEAR,
    FLAG_LAST,
    FUNDING,
    MARK,
    TRADE_BUY,
    TRADE_SELL,
)
from bybit_mm.data.loader import load_events
from bybit_mm.data.recorder import RecordingWriter, cut_truncated_tail, record_line
from bybit_mm.data.sources import LineSource
from bybit_mm.errors import DataError

NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MS = NS // 1_000_000

# Messages in Bybit's documented shapes (V5 public linear), as the text a socket delivers.
ACK = '{"success":true,"ret_msg":"","conn_id":"c1","req_id":"rec-1","op":"subscribe"}'
SNAP = json.dumps({"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": MS + 10,
                   "data": {"s": "BTCUSDT", "b": [["60000.0", "1.5"], ["59999.5", "2"]],
                            "a": [["60000.5", "0.7"], ["60001.0", "3"]], "u": 100, "seq": 5000}, "cts": MS + 8},
                  separators=(",", ":"))
DELTA = ('{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":%d,"data":{"s":"BTCUSDT","b":[["60000.0","0"]],'
         '"a":[["60000.5","0.9"]],"u":101,"seq":5001},"cts":%d}') % (MS + 30, MS + 29)
TRADES = json.dumps({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": MS + 41, "data": [
    {"T": MS + 39, "s": "BTCUSDT", "S": "Buy", "v": "0.010", "p": "60000.50", "L": "PlusTick", "i": "a", "BT": False},
    {"T": MS + 40, "s": "BTCUSDT", "S": "Sell", "v": "0.5", "p": "59999.5", "L": "MinusTick", "i": "b", "BT": False}]},
    separators=(",", ":"))
TICKER = json.dumps({"topic": "tickers.BTCUSDT", "type": "snapshot", "data": {
    "symbol": "BTCUSDT", "lastPrice": "60000.5", "markPrice": "60000.2", "indexPrice": "60001",
    "fundingRate": "0.0001", "nextFundingTime": str(MS + 8 * 3_600_000)}, "cs": 1, "ts": MS + 50})
TICKER_DELTA = json.dumps({"topic": "tickers.BTCUSDT", "type": "delta",
                           "data": {"symbol": "BTCUSDT", "fundingRate": "-0.0002"}, "cs": 2, "ts": MS + 60})
PONG = '{"success":true,"ret_msg":"pong","conn_id":"c1","req_id":"rec-2","op":"ping"}'


def _write(out: Path, messages: list[tuple[int, str]], **kw: object) -> RecordingWriter:
    w = RecordingWriter(out, "BTCUSDT", **kw)  # type: ignore[arg-type]
    for recv_ns, text in messages:
        w.write(recv_ns, text)
    return w


def _session() -> list[tuple[int, str]]:
    return [(NS + 1_000, ACK), (NS + 11_000_000, SNAP), (NS + 31_000_000, DELTA), (NS + 42_000_000, TRADES),
            (NS + 51_000_000, TICKER), (NS + 61_000_000, TICKER_DELTA), (NS + 70_000_000, PONG)]


def test_lines_keep_the_message_text_verbatim(tmp_path: Path) -> None:
    w = _write(tmp_path, _session())
    w.close()
    (path,) = w.files
    assert path.name == "2026-01-01_BTCUSDT_ws.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert lines[1] == '{"recv_ts":%d,"msg":%s}' % (NS + 11_000_000, SNAP)
    assert [json.loads(x)["msg"] for x in lines] == [json.loads(m) for _, m in _session()]
    assert record_line(5, "not json\n") == b'{"recv_ts":5,"msg":"not json\\n"}\n'


def test_recording_reads_into_book_trade_mark_and_funding_rows(tmp_path: Path) -> None:
    w = _write(tmp_path, _session())
    w.close()
    w = _write(tmp_path, [(NS + 80_000_000, "a text frame that is not JSON")])  # kept as a string, skipped
    w.close()
    events, report = load_events(w.files, cache_root=tmp_path / "c")
    f = report.files[0]
    assert f.format == "recording" and f.symbol == "BTCUSDT" and f.control_lines == 3 and f.gaps == []
    assert events["kind"].tolist() == [BOOK_CLEAR, BID, BID, ASK, ASK, BID, ASK, TRADE_BUY, TRADE_SELL, MARK,
                                       FUNDING, FUNDING]
    assert events["local_ts"].tolist() == [NS + 11_000_000] * 5 + [NS + 31_000_000] * 2 + [NS + 42_000_000] * 2 \
        + [NS + 51_000_000] * 2 + [NS + 61_000_000]
    assert events["exch_ts"][7:9].tolist() == [(MS + 39) * 1_000_000, (MS + 40) * 1_000_000]
    assert events["flags"].tolist() == [0, 0, 0, 0, FLAG_LAST, 0, FLAG_LAST, 0, FLAG_LAST, 0, FLAG_LAST, FLAG_LAST]
    assert events[7:9][["px", "qty"]].tolist() == [(60000.5, 0.01), (59999.5, 0.5)]
    assert events[9][["px"]].tolist() == (60000.2,)
    next_ns = float((MS + 8 * 3_600_000) * 1_000_000)
    assert events[10:12][["px", "qty"]].tolist() == [(0.0001, next_ns), (-0.0002, next_ns)]
    assert normalise(books_from_events(events)) == normalise(books_from_messages([json.loads(SNAP), json.loads(DELTA)]))


def test_a_killed_recorder_leaves_a_file_readable_to_its_last_complete_line(tmp_path: Path) -> None:
    w = _write(tmp_path / "live", _session(), flush_interval_s=0)
    (path,) = w.files
    # What a kill -9 leaves: the flushed bytes, no gzip trailer (the writer is still open).
    killed = tmp_path / "2026-01-01_BTCUSDT_ws.jsonl.gz"
    killed.write_bytes(path.read_bytes())
    events, report = load_events([killed], cache_root=tmp_path / "c")
    assert report.files[0].truncated_tail and report.files[0].lines == 7 and events.size == 12
    # Cut inside the last flushed block: the partial line is dropped, the rest is read.
    cut = tmp_path / "cut" / "2026-01-01_BTCUSDT_ws.jsonl.gz"
    cut.parent.mkdir()
    cut.write_bytes(path.read_bytes()[:-20])
    source = LineSource(cut, allow_truncated_tail=True)
    lines = [x for c in source for x in c.lines]
    assert source.truncated_tail and 0 < len(lines) < 7
    assert all(json.loads(x)["recv_ts"] for x in lines)
    w.close()


def test_restart_on_the_same_day_repairs_a_cut_tail_and_appends(tmp_path: Path) -> None:
    first = _write(tmp_path / "src", _session()[:4], flush_interval_s=0)
    path = tmp_path / "2026-01-01_BTCUSDT_ws.jsonl.gz"
    path.write_bytes(first.files[0].read_bytes()[:-3])  # killed mid-member, a few bytes short
    first.close()
    again = _write(tmp_path, [(NS + 100_000_000, SNAP)])
    again.close()
    assert again.files == [path]
    text = gzip.decompress(path.read_bytes()).decode()  # a complete, multi-member gzip file
    lines = text.splitlines()
    assert json.loads(lines[-1])["recv_ts"] == NS + 100_000_000 and 1 < len(lines) <= 5
    assert not cut_truncated_tail(path)


def test_one_file_per_utc_day(tmp_path: Path) -> None:
    day = 86_400 * 10**9
    w = _write(tmp_path, [(NS - 1, SNAP), (NS, SNAP), (NS + day + 5, SNAP)])
    w.close()
    assert [p.name for p in w.files] == ["2025-12-31_BTCUSDT_ws.jsonl.gz", "2026-01-01_BTCUSDT_ws.jsonl.gz",
                                         "2026-01-02_BTCUSDT_ws.jsonl.gz"]
    events, report = load_events(w.files, cache_root=tmp_path / "c")
    assert (np.diff(events["local_ts"]) >= 0).all() and len(report.files) == 3


def test_delta_before_any_snapshot_and_gap_after_reconnect(tmp_path: Path) -> None:
    gap = DELTA.replace('"u":101', '"u":150')
    w = _write(tmp_path, [(NS + 1, DELTA), (NS + 2, SNAP), (NS + 3, gap), (NS + 4, DELTA), (NS + 5, SNAP)])
    w.close()
    events, report = load_events(w.files, cache_root=tmp_path / "c")
    f = report.files[0]
    assert f.orphan_deltas == 1 and len(f.gaps) == 1 and f.gaps[0].dropped == 2 and f.gaps[0].line == 3
    assert events[events["kind"] == BOOK_CLEAR]["flags"].tolist() == [0, 2]


def test_bad_recording_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "2026-01-01_BTCUSDT_ws.jsonl.gz"
    body = record_line(NS, SNAP) + b'{"recv_ts":1,"msg":{"topic":"publicTrade.BTCUSDT","data":[{"S":"Buy"}]}}\n'
    path.write_bytes(gzip.compress(body))
    with pytest.raises(DataError, match=r"jsonl.gz: line 2: malformed publicTrade.BTCUSDT message"):
        load_events([path], cache_root=tmp_path / "c")
    path.write_bytes(gzip.compress(record_line(NS, SNAP) + b"hello\n"))
    with pytest.raises(DataError, match=r"line 2: not a recording line"):
        load_events([path], cache_root=tmp_path / "c")
