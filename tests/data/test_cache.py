"""The columnar cache: a second load skips parsing, a changed file is converted again, a
half-written entry is never trusted, and entries live under BYBIT_MM_HOME when it is set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bybit_mm.data import cache, readers
from bybit_mm.data.loader import load_events
from bybit_mm.data.synthetic import write_bybit_day, write_trades_gz


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the readers parse (each call of read_file)."""
    seen: list[str] = []
    real = readers.read_file

    def counting(path, report, progress=None):  # noqa: ANN001, ANN202
        seen.append(Path(path).name)
        return real(path, report, progress)

    monkeypatch.setattr(cache, "read_file", counting)
    return seen


def test_second_load_comes_from_the_cache_without_parsing(tmp_path: Path, parses: list[str]) -> None:
    book, trades = write_bybit_day(tmp_path, "BTCUSDT", "2026-01-01", n_events=3000, seed=1)
    first, r1 = load_events([book, trades], cache_root=tmp_path / "c")
    assert sorted(parses) == sorted([book.name, trades.name])
    assert [f.from_cache for f in r1.files] == [False, False]
    second, r2 = load_events([book, trades], cache_root=tmp_path / "c")
    assert len(parses) == 2  # nothing parsed again
    assert [f.from_cache for f in r2.files] == [True, True]
    assert np.array_equal(first, second)
    assert [f.to_dict() | {"from_cache": None} for f in r1.files] == [f.to_dict() | {"from_cache": None} for f in r2.files]


def test_changed_source_is_converted_again_and_the_stale_entry_removed(tmp_path: Path, parses: list[str]) -> None:
    path = write_trades_gz(tmp_path / "BTCUSDT2026-01-01.csv.gz", "BTCUSDT", [("1767225600", "Buy", "1", "100")])
    a, _ = load_events([path], cache_root=tmp_path / "c")
    entries = sorted(p.name for p in (tmp_path / "c").iterdir())
    write_trades_gz(path, "BTCUSDT", [("1767225600", "Buy", "1", "100"), ("1767225601", "Sell", "2", "99")])
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    b, report = load_events([path], cache_root=tmp_path / "c")
    assert len(parses) == 2 and not report.files[0].from_cache
    assert a.size == 1 and b.size == 2
    after = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert len(after) == 2 and not set(after) & set(entries)  # rows + sidecar; the old pair is gone


def test_half_written_entry_is_not_trusted(tmp_path: Path, parses: list[str]) -> None:
    path = write_trades_gz(tmp_path / "BTCUSDT2026-01-01.csv.gz", "BTCUSDT",
                           [("1767225600", "Buy", "1", "100"), ("1767225601", "Sell", "2", "99")])
    root = tmp_path / "c"
    load_events([path], cache_root=root)
    rows_path, meta_path = cache.entry_paths(path, root)
    # A crash mid-write would leave only a temporary file; a torn rows file is refused too.
    rows_path.write_bytes(rows_path.read_bytes()[:-10])
    events, report = load_events([path], cache_root=root)
    assert len(parses) == 2 and not report.files[0].from_cache and events.size == 2
    meta_path.unlink()
    events, report = load_events([path], cache_root=root)
    assert len(parses) == 3 and events.size == 2


def test_a_failed_conversion_leaves_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT2026-01-01.csv.gz"
    import gzip

    path.write_bytes(gzip.compress(b"1767225600,BTCUSDT,Buy,1,100,PlusTick,x,1,1,100\nbroken\n"))
    root = tmp_path / "c"
    with pytest.raises(readers.DataError):
        load_events([path], cache_root=root)
    assert list(root.iterdir()) == []


def test_default_cache_lives_under_bybit_mm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_MM_HOME", str(tmp_path / "home"))
    assert cache.cache_root() == tmp_path / "home" / "cache" / "events"
    path = write_trades_gz(tmp_path / "BTCUSDT2026-01-01.csv.gz", "BTCUSDT", [("1767225600", "Buy", "1", "100")])
    load_events([path])
    assert len(list((tmp_path / "home" / "cache" / "events").glob("*.npy"))) == 1


def test_without_the_cache_nothing_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_MM_HOME", str(tmp_path / "home"))
    path = write_trades_gz(tmp_path / "BTCUSDT2026-01-01.csv.gz", "BTCUSDT", [("1767225600", "Buy", "1", "100")])
    events, report = load_events([path], use_cache=False)
    assert events.size == 1 and not (tmp_path / "home" / "cache").exists()


def test_progress_reaches_the_total(tmp_path: Path) -> None:
    book, trades = write_bybit_day(tmp_path, "BTCUSDT", "2026-01-01", n_events=3000, seed=2)
    calls: list[tuple[int, int]] = []
    load_events([book, trades], cache_root=tmp_path / "c", progress=lambda d, t: calls.append((d, t)))
    total = book.stat().st_size + trades.stat().st_size
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls) and [d for d, _ in calls] == sorted(d for d, _ in calls)
