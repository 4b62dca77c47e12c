"""Readers of Bybit's history files: both formats (header or not), the book rebuilt exactly,
gaps resynchronised and reported, damaged files refused with the file and the line."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest
from data_helpers import books_from_events, books_from_messages, lines_of, normalise

from bybit_mm.data import cache
from bybit_mm.data.events import (
    ASK,
    BID,
    BOOK_CLEAR,
    EVENT_DTYPE,
    FLAG_LAST,
    FLAG_RESYNC,
    TRADE_BUY,
    TRADE_SELL,
)
from bybit_mm.data.loader import load_events
from bybit_mm.data.synthetic import (
    book_line,
    write_book_zip,
    write_bybit_day,
    write_trades_gz,
)
from bybit_mm.errors import EXIT_USAGE, DataError

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def _load(tmp_path: Path, *paths: Path, **kw):  # noqa: ANN202
    return load_events(list(paths), cache_root=tmp_path / "cache", **kw)


def _zip_text(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(z.namelist()[0]).decode()


def test_synthetic_day_book_rebuilds_exactly_like_an_independent_rebuild(tmp_path: Path) -> None:
    book, _ = write_bybit_day(tmp_path, "BTCUSDT", "2026-01-01", n_events=6000, seed=3)
    events, report = _load(tmp_path, book)
    assert events.dtype == EVENT_DTYPE
    messages = lines_of(_zip_text(book))
    assert messages[0]["type"] == "snapshot" and messages[0]["topic"] == "orderbook.500.BTCUSDT"
    assert normalise(books_from_events(events)) == normalise(books_from_messages(messages))
    assert report.files[0].gaps == [] and report.symbol == "BTCUSDT"
    assert report.files[0].lines == len(messages)
    # Every level row of a message carries the message's time; the first row is the snapshot's clear.
    assert events["kind"][0] == BOOK_CLEAR
    assert events["exch_ts"][0] == messages[0]["ts"] * 1_000_000 == events["local_ts"][0]
    assert set(np.unique(events["kind"])) == {BOOK_CLEAR, BID, ASK}
    depth = [len(m["data"]["b"]) for m in messages[:1]]
    assert 5 <= depth[0] <= 25


@pytest.mark.parametrize("header", [True, False])
def test_trades_with_or_without_header(tmp_path: Path, header: bool) -> None:
    rows = [("1767225600.1234", "Buy", "0.010", "60000.5"), ("1767225600.5", "Sell", "1.5", "59999.9"),
            ("1767225601.000001", "Buy", "0.001", "60001")]
    path = write_trades_gz(tmp_path / "BTCUSDT2026-01-01.csv.gz", "BTCUSDT", rows, header=header)
    events, report = _load(tmp_path, path)
    assert events["kind"].tolist() == [TRADE_BUY, TRADE_SELL, TRADE_BUY]
    assert events["exch_ts"].tolist() == [1_767_225_600_123_400_000, 1_767_225_600_500_000_000,
                                          1_767_225_601_000_001_000]
    assert (events["local_ts"] == events["exch_ts"]).all()
    assert events["px"].tolist() == [60000.5, 59999.9, 60001.0]
    assert events["qty"].tolist() == [0.010, 1.5, 0.001]
    assert (events["flags"] == FLAG_LAST).all()
    assert report.symbol == "BTCUSDT" and report.files[0].lines == 3 + header


def test_trades_in_bybit_exact_text_with_header_and_crlf(tmp_path: Path) -> None:
    text = ("timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional\r\n"
            "1585180700.0647,BTCUSDT,Sell,0.5,6698.5,ZeroMinusTick,8aa6d6a1-6ad1-5d1e-a4d8-3ad9dfa5a5e1,"
            "334925000000,0.5,3349.25\r\n")
    path = tmp_path / "BTCUSDT2020-03-26.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    events, _ = _load(tmp_path, path)
    assert events.tolist() == [(TRADE_SELL, FLAG_LAST, 1_585_180_700_064_700_000, 1_585_180_700_064_700_000,
                                6698.5, 0.5)]


def test_trade_timestamps_in_milliseconds_are_understood(tmp_path: Path) -> None:
    path = write_trades_gz(tmp_path / "BTCUSDT2026-01-01.csv.gz", "BTCUSDT", [("1767225600123", "Buy", "1", "2")])
    events, _ = _load(tmp_path, path)
    assert events["exch_ts"].tolist() == [1_767_225_600_123_000_000]


def test_book_and_trades_merge_into_one_time_ordered_stream(tmp_path: Path) -> None:
    book, trades = write_bybit_day(tmp_path, "BTCUSDT", "2026-01-01", n_events=5000, seed=4, header=False)
    events, report = _load(tmp_path, trades, book)
    assert report.events == events.size == sum(f.events for f in report.files)
    ts = events["local_ts"]
    assert (np.diff(ts) >= 0).all()
    assert {TRADE_BUY, TRADE_SELL} <= set(np.unique(events["kind"]))
    # The book's rows stay together per message, so the rebuild is still exact after the merge.
    assert normalise(books_from_events(events)) == normalise(books_from_messages(lines_of(_zip_text(book))))


def _gap_lines() -> list[str]:
    lv = [["100.0", "1"], ["99.5", "2"]]
    la = [["100.5", "1"], ["101.0", "3"]]
    return [
        book_line("BTCUSDT", "snapshot", T0 + 100, lv, la, 1, 10),
        book_line("BTCUSDT", "delta", T0 + 200, [["100.0", "0"]], [], 2, 11),
        book_line("BTCUSDT", "delta", T0 + 300, [["99.0", "4"]], [], 4, 13),   # u 3 is missing
        book_line("BTCUSDT", "delta", T0 + 400, [], [["100.5", "0"]], 5, 14),
        book_line("BTCUSDT", "snapshot", T0 + 500, [["99.5", "7"]], [["101.0", "3"]], 9, 20),
        book_line("BTCUSDT", "delta", T0 + 600, [["99.0", "1"]], [], 10, 21),
    ]


def test_gap_in_update_ids_drops_deltas_until_the_next_snapshot_and_is_reported(tmp_path: Path) -> None:
    lines = _gap_lines()
    path = write_book_zip(tmp_path / "2026-01-01_BTCUSDT_ob500.data.zip", lines)
    events, report = _load(tmp_path, path)
    (gap,) = report.files[0].gaps
    assert (gap.line, gap.expected_u, gap.got_u, gap.dropped) == (3, 3, 4, 2)
    assert gap.exch_ts == (T0 + 300) * 1_000_000 and gap.resumed_ts == (T0 + 500) * 1_000_000
    assert [g for _, g in report.gaps] == [gap]
    clears = events[events["kind"] == BOOK_CLEAR]
    assert clears["flags"].tolist() == [0, FLAG_RESYNC]
    assert not ((events["exch_ts"] > (T0 + 200) * 1_000_000) & (events["exch_ts"] < (T0 + 500) * 1_000_000)).any()
    kept = [m for i, m in enumerate(lines_of("\n".join(lines))) if i not in (2, 3)]
    assert normalise(books_from_events(events)) == normalise(books_from_messages(kept))


def test_restart_snapshot_with_u_1_resets_without_a_gap(tmp_path: Path) -> None:
    lines = [
        book_line("BTCUSDT", "snapshot", T0, [["100", "1"]], [["101", "1"]], 500, 1),
        book_line("BTCUSDT", "delta", T0 + 100, [["99", "1"]], [], 501, 2),
        book_line("BTCUSDT", "snapshot", T0 + 200, [["98", "1"]], [["102", "1"]], 1, 3),  # Bybit restarted
        book_line("BTCUSDT", "delta", T0 + 300, [["97", "1"]], [], 2, 4),
    ]
    path = write_book_zip(tmp_path / "2026-01-01_BTCUSDT_ob500.data.zip", lines)
    events, report = _load(tmp_path, path)
    assert report.files[0].gaps == []
    assert normalise(books_from_events(events))[-1] == normalise(books_from_messages(lines_of("\n".join(lines))))[-1]


def _assert_data_error(excinfo: pytest.ExceptionInfo[DataError], path: Path, *words: str) -> None:
    err = excinfo.value
    assert err.exit_code == EXIT_USAGE == 2
    text = err.one_line()
    assert str(path) in text and "\n" not in text
    for w in words:
        assert w in text, text


def test_corrupt_json_line_names_the_file_and_line(tmp_path: Path) -> None:
    lines = _gap_lines()[:2] + ['{"topic":"orderbook.500.BTCUSDT","ts":1767225600300,"type":"delta","data":{"s"'] \
        + _gap_lines()[2:]
    path = write_book_zip(tmp_path / "2026-01-01_BTCUSDT_ob500.data.zip", lines)
    with pytest.raises(DataError) as e:
        _load(tmp_path, path)
    _assert_data_error(e, path, "line 3:", "not valid JSON")


@pytest.mark.parametrize(("line", "what"), [
    ('{"topic":"orderbook.500.BTCUSDT","ts":1,"type":"delta","data":{"s":"BTCUSDT","b":[["abc","1"]],"a":[],"u":2,"seq":1}}',
     "not a finite number"),
    ('{"topic":"orderbook.500.BTCUSDT","ts":1,"type":"delta","data":{"s":"BTCUSDT","b":[["1","NaN"]],"a":[],"u":2,"seq":1}}',
     "not a finite number"),
    ('{"topic":"orderbook.500.BTCUSDT","ts":1,"type":"delta","data":{"s":"BTCUSDT","a":[],"u":2}}', "missing or bad"),
    ('{"topic":"orderbook.500.BTCUSDT","ts":1,"type":"weird","data":{}}', "unknown book message type"),
    ("[1, 2]", "missing or bad"),
])
def test_malformed_book_message_names_the_line(tmp_path: Path, line: str, what: str) -> None:
    path = write_book_zip(tmp_path / "2026-01-01_BTCUSDT_ob500.data.zip", _gap_lines()[:1] + [line])
    with pytest.raises(DataError) as e:
        _load(tmp_path, path)
    _assert_data_error(e, path, "line 2:", what)


def test_truncated_zip_names_the_file_and_the_line_it_ends_in(tmp_path: Path) -> None:
    book, _ = write_bybit_day(tmp_path, "BTCUSDT", "2026-01-01", n_events=20000, seed=5)
    data = book.read_bytes()
    book.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as e:
        _load(tmp_path, book)
    _assert_data_error(e, book, "truncated zip archive", "ends inside line")
    line = int(e.value.message.rsplit("line ", 1)[1].split()[0])
    assert 1 < line < len(lines_of(_zip_text(write_bybit_day(tmp_path / "whole", n_events=20000, seed=5)[0])))


def test_truncated_trades_gzip_is_refused(tmp_path: Path) -> None:
    _, trades = write_bybit_day(tmp_path, "BTCUSDT", "2026-01-01", n_events=20000, seed=5)
    data = trades.read_bytes()
    trades.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError) as e:
        _load(tmp_path, trades)
    _assert_data_error(e, trades, "truncated gzip file", "ends inside line")


@pytest.mark.parametrize(("body", "line", "what"), [
    ("1767225600.1,BTCUSDT,Buy,0.1,60000,PlusTick,x,1,0.1,6000\n1767225600.2,BTCUSDT,Buy,0.1,60000\n", 2,
     "expected 10 comma-separated columns, found 5"),
    ("1767225600.1,BTCUSDT,Hold,0.1,60000,PlusTick,x,1,0.1,6000\n", 1, "side must be Buy or Sell"),
    ("1767225600.1,BTCUSDT,Buy,0.1,6e,PlusTick,x,1,0.1,6000\n", 1, "price '6e' is not a finite number"),
    ("soon,BTCUSDT,Buy,0.1,60000,PlusTick,x,1,0.1,6000\n", 1, "timestamp 'soon'"),
    ("timestamp,symbol,side,volume\n1,BTCUSDT,Buy,1\n", 1, "the header lacks size, price"),
])
def test_bad_trade_rows_name_the_line(tmp_path: Path, body: str, line: int, what: str) -> None:
    path = tmp_path / "BTCUSDT2026-01-01.csv.gz"
    path.write_bytes(gzip.compress(body.encode()))
    with pytest.raises(DataError) as e:
        _load(tmp_path, path)
    _assert_data_error(e, path, f"line {line}:", what)


@pytest.mark.parametrize("name", ["notes.txt", "2026-01-01_BTCUSDT_ob500.zip"])
def test_unknown_file_names_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x")
    with pytest.raises(DataError) as e:
        _load(tmp_path, path)
    _assert_data_error(e, path, "unknown data file")


def test_missing_file_and_mixed_symbols_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        _load(tmp_path, tmp_path / "BTCUSDT2026-01-01.csv.gz")
    a = write_trades_gz(tmp_path / "BTCUSDT2026-01-01.csv.gz", "BTCUSDT", [("1767225600.1", "Buy", "1", "1")])
    b = write_trades_gz(tmp_path / "ETHUSDT2026-01-01.csv.gz", "ETHUSDT", [("1767225600.1", "Buy", "1", "1")])
    with pytest.raises(DataError, match="different symbols"):
        _load(tmp_path, a, b)


def test_unordered_trade_file_is_sorted_in_the_cache(tmp_path: Path) -> None:
    rows = [("1767225602", "Buy", "1", "3"), ("1767225600", "Sell", "1", "1"), ("1767225601", "Buy", "1", "2")]
    path = write_trades_gz(tmp_path / "BTCUSDT2026-01-01.csv.gz", "BTCUSDT", rows)
    events, report = _load(tmp_path, path)
    assert events["px"].tolist() == [1.0, 2.0, 3.0] and report.files[0].ordered is False
    again, report2 = _load(tmp_path, path)
    assert report2.files[0].from_cache and again["px"].tolist() == [1.0, 2.0, 3.0]


def test_window_opens_on_the_whole_book_as_it_stood(tmp_path: Path) -> None:
    book, trades = write_bybit_day(tmp_path, "BTCUSDT", "2026-01-01", n_events=8000, seed=6)
    full, _ = _load(tmp_path, book, trades)
    start = int(full["local_ts"][full.size // 2])
    end = int(full["local_ts"][full.size * 3 // 4])
    window, report = _load(tmp_path, book, trades, start_ns=start, end_ns=end)
    head = window[: report.synthetic_rows]
    assert head["kind"][0] == BOOK_CLEAR and (head["local_ts"] == start).all()
    assert (window["local_ts"][report.synthetic_rows:] >= start).all() and (window["local_ts"] < end).all()
    # The book rebuilt from the window equals the full replay's book at the same point.
    before = full[full["local_ts"] < start]
    expected = books_from_events(before)[-1]
    assert books_from_events(head)[0] == expected
    full_in = full[(full["local_ts"] >= start) & (full["local_ts"] < end)]
    assert np.array_equal(window[report.synthetic_rows:], full_in)
    assert books_from_events(window)[-1] == books_from_events(full[full["local_ts"] < end])[-1]


def test_directory_expands_to_its_data_files(tmp_path: Path) -> None:
    write_bybit_day(tmp_path / "day", "BTCUSDT", "2026-01-01", n_events=2000, seed=8)
    (tmp_path / "day" / "README.txt").write_text("not data")
    events, report = _load(tmp_path, tmp_path / "day")
    assert len(report.files) == 2 and events.size == report.events


def test_cache_format_version_is_part_of_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, trades = write_bybit_day(tmp_path, "BTCUSDT", "2026-01-01", n_events=2000, seed=8)
    first = cache.entry_paths(trades, tmp_path)
    monkeypatch.setattr(cache, "FORMAT_VERSION", cache.FORMAT_VERSION + 1)
    assert cache.entry_paths(trades, tmp_path) != first


def test_through_the_cli_a_damaged_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from bybit_mm.cli.app import ErrorMappingGroup

    app = typer.Typer(cls=ErrorMappingGroup)

    @app.command()
    def load(paths: list[Path]) -> None:
        load_events(paths, cache_root=tmp_path / "cache")

    @app.command()
    def other() -> None:  # two commands, so `load` is addressed by name as in bybit-mm
        pass

    lines = _gap_lines()[:2] + ["{not json"]
    path = write_book_zip(tmp_path / "2026-01-01_BTCUSDT_ob500.data.zip", lines)
    result = CliRunner().invoke(app, ["load", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {path}: line 3: not valid JSON "
                                                  "(Expecting property name enclosed in double quotes)"]
    book, _ = write_bybit_day(tmp_path / "cut", n_events=20000, seed=5)
    book.write_bytes(book.read_bytes()[:5000])
    result = CliRunner().invoke(app, ["load", str(book)])
    assert result.exit_code == 2 and "truncated zip archive: it ends inside line" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
