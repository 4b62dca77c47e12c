"""`bybit-mm record` against the in-process emulator (real sockets): the recording reads back
and rebuilds the book, survives a dropped connection, and Ctrl-C or a kill leave readable files."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from data_helpers import books_from_events, books_from_messages, normalise

from bybit_mm.data.events import BOOK_CLEAR, FUNDING, MARK, TRADE_BUY, TRADE_SELL
from bybit_mm.data.loader import load_events
from bybit_mm.data.sources import LineSource
from bybit_mm.emulator.runner import EmulatorHandle, running_emulator
from bybit_mm.sim.clock import WallClock


def _profile(home: Path, url: str) -> None:
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / "emu.toml").write_text(
        f'[exchange]\nnetwork = "emulator"\naccount = "live"\nurl = "{url}"\n[market]\nsymbol = "BTCUSDT"\n',
        encoding="utf-8")


@pytest.fixture
def emu(home: Path) -> Iterator[EmulatorHandle]:
    """An emulator whose market moves on its own (a wall clock at 5x), with a profile `emu`."""
    with running_emulator(clock=WallClock(speed=5), symbols=("BTCUSDT", "ETHUSDT"), seed=3,
                          ws_interval_ms=50) as handle:
        _profile(home, handle.url)
        yield handle


def _messages(path: Path) -> list[dict]:
    return [json.loads(x)["msg"] for x in gzip.decompress(path.read_bytes()).decode().splitlines()]


def test_record_survives_a_drop_and_its_recording_rebuilds_the_book(cli, emu: EmulatorHandle, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    done = threading.Event()

    def drop_once_subscribed() -> None:  # not on a timer: start-up may be slow on a loaded machine
        while not done.is_set() and emu.ws.subscribers("orderbook.50.BTCUSDT") == 0:
            time.sleep(0.05)
        if not done.wait(0.5):
            emu.drop_ws_connections()

    dropper = threading.Thread(target=drop_once_subscribed, daemon=True)
    dropper.start()
    try:
        result = cli("--profile", "emu", "record", "BTCUSDT", "ethusdt", "--out", str(out), "--duration", "6s")
    finally:
        done.set()
        dropper.join()
    assert result.exit_code == 0, result.stderr
    files = [Path(x) for x in result.stdout.split()]
    assert sorted(p.name for p in files) == sorted(p.name for p in out.iterdir())
    assert {p.name.split("_")[1] for p in files} == {"BTCUSDT", "ETHUSDT"}
    assert "recorded BTCUSDT, ETHUSDT from emulator" in result.stderr and "reconnect" in result.stderr
    btc = next(p for p in files if "_BTCUSDT_" in p.name)
    raw = _messages(btc)
    book_msgs = [m for m in raw if m.get("topic") == "orderbook.50.BTCUSDT"]
    snapshots = [m for m in book_msgs if m["type"] == "snapshot"]
    assert len(snapshots) >= 2  # the first subscription's, and the one after the drop
    events, report = load_events([btc], cache_root=tmp_path / "cache")
    assert report.files[0].gaps == [] and report.symbol == "BTCUSDT"
    assert (events["kind"] == BOOK_CLEAR).sum() == len(snapshots)
    assert normalise(books_from_events(events)) == normalise(books_from_messages(book_msgs))
    kinds = set(np.unique(events["kind"]).tolist())
    assert {MARK, FUNDING} <= kinds and kinds & {TRADE_BUY, TRADE_SELL}
    assert (np.diff(events["local_ts"]) >= 0).all()


def test_record_refuses_bad_arguments(cli, emu: EmulatorHandle, tmp_path: Path) -> None:
    r = cli("--profile", "emu", "record", "BTCUSDT", "--out", str(tmp_path), "--depth", "500")
    assert r.exit_code == 2 and "--depth must be one of 1, 50, 200, 1000" in r.stderr
    r = cli("--profile", "emu", "record", "BTC/USDT", "--out", str(tmp_path))
    assert r.exit_code == 2 and "not a symbol: BTC/USDT" in r.stderr
    r = cli("--profile", "emu", "record", "BTCUSDT", "--out", str(tmp_path), "--duration", "soon")
    assert r.exit_code == 2 and "not a duration" in r.stderr
    r = cli("--profile", "emu", "record", "DOGEUSDT", "--out", str(tmp_path / "x"), "--duration", "5s")
    assert r.exit_code == 2 and "refused the subscription" in r.stderr and "Traceback" not in r.stderr


def test_record_when_the_exchange_is_unreachable_exits_5(cli, home: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _profile(home, f"http://127.0.0.1:{port}")
    r = cli("--profile", "emu", "record", "BTCUSDT", "--out", str(tmp_path / "x"), "--duration", "5s")
    assert r.exit_code == 5 and "cannot connect" in r.stderr


def _recording_until(home: Path, out: Path, lines: int) -> tuple[subprocess.Popen[str], Path]:
    """A `record BTCUSDT` subprocess, once its file holds ``lines`` complete lines."""
    env = {**os.environ, "BYBIT_MM_HOME": str(home), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bybit_mm", "--profile", "emu", "record", "BTCUSDT",
                             "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = out / f"{time.strftime('%Y-%m-%d', time.gmtime())}_BTCUSDT_ws.jsonl.gz"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and sum(len(c.lines) for c in LineSource(path, allow_truncated_tail=True)) >= lines:
            return proc, path
        if proc.poll() is not None:
            raise AssertionError(proc.communicate())
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no {lines} lines in {path}")


def test_ctrl_c_exits_130_with_a_complete_file(emu: EmulatorHandle, home: Path, tmp_path: Path) -> None:
    proc, path = _recording_until(home, tmp_path / "rec", 20)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert out.split() == [str(path)]  # the files written, even when interrupted
    assert "interrupted" in err and "Traceback" not in err
    lines = gzip.decompress(path.read_bytes()).splitlines()  # a complete gzip file: no EOFError
    assert len(lines) >= 20 and all(json.loads(x)["recv_ts"] > 0 for x in lines)


def test_sigterm_stops_cleanly_with_exit_0(emu: EmulatorHandle, home: Path, tmp_path: Path) -> None:
    proc, path = _recording_until(home, tmp_path / "rec", 5)
    try:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.split() == [str(path)]
    assert gzip.decompress(path.read_bytes()).count(b"\n") >= 5


def test_kill_9_leaves_a_file_readable_to_its_last_complete_line(emu: EmulatorHandle, home: Path,
                                                                 tmp_path: Path) -> None:
    proc, path = _recording_until(home, tmp_path / "rec", 20)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    events, report = load_events([path], cache_root=tmp_path / "cache")
    assert report.files[0].truncated_tail  # no gzip trailer: the member was never closed
    assert report.files[0].lines >= 20 and BOOK_CLEAR in events["kind"]
