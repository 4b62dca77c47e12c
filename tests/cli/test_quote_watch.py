"""`quote SYMBOL --watch --json` on the public stream against the emulator (no internet): refreshes
come from streamed book updates and say ``feed: stream``; with the stream unreachable the watch
polls REST and says ``rest (fallback)``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bybit_mm.emulator.runner import EmulatorHandle, running_emulator

BTC = "BTCUSDT"


@pytest.fixture
def emu(home: Path) -> Iterator[EmulatorHandle]:
    from bybit_mm.sim.clock import WallClock
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.market import DEFAULT_SYMBOL_PARAMS, MarketParams

    btc = replace(DEFAULT_SYMBOL_PARAMS[BTC], jumps_per_day=0.0)
    sim = SimExchange(symbols=(BTC,), seed=5, clock=WallClock(20.0), latency_ms=0.0,
                      market_params=MarketParams(symbols={BTC: btc}))
    with running_emulator(exchange=sim, rate_limits=False) as handle:
        (home / "profiles").mkdir(parents=True, exist_ok=True)
        # A paper account on the emulator's live market: the public data needs no keys.
        (home / "profiles" / "feed.toml").write_text(
            f'[exchange]\nnetwork = "emulator"\naccount = "paper"\nurl = "{handle.url}"\nmax_retries = 1\n'
            f'[paper]\nmarket = "live"\nlatency_ms = 0\n', encoding="utf-8")
        yield handle


def _watch(capsys: pytest.CaptureFixture[str], refreshes: int, **kw: Any) -> list[dict[str, Any]]:
    from bybit_mm.cli.context import AppContext
    from bybit_mm.cli.live_quote import run_live_quote

    run_live_quote(AppContext(profile_selector="feed"), BTC, True, True, max_refreshes=refreshes, **kw)
    return [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]


def test_watch_refreshes_from_the_stream(emu: EmulatorHandle, capsys: pytest.CaptureFixture[str]) -> None:
    docs = _watch(capsys, 8, interval_s=30.0)
    assert len(docs) == 9  # the first quote, then one line per refresh
    assert all(d["feed"] == "stream" for d in docs[1:])
    # with a 30 s heartbeat, 8 refreshes within the test come from book/trade events: the book moves
    stamps = [d["ts_ms"] for d in docs[1:]]
    assert stamps == sorted(stamps) and len(set(stamps)) >= 4
    assert all(d["symbol"] == BTC and d["best_bid"] < d["best_ask"] for d in docs)


def test_watch_polls_rest_when_the_stream_is_unreachable(emu: EmulatorHandle, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from bybit_mm.exchange.ccxt_stream import CcxtMarketStream

    def unreachable(profile: Any, symbol: str, **kw: Any) -> CcxtMarketStream:
        # Nothing listens on port 9; the emulator's REST still answers.
        return CcxtMarketStream(network="emulator", symbol=symbol, url="http://127.0.0.1:9", ready_timeout_s=0.5)

    monkeypatch.setattr(CcxtMarketStream, "from_profile", staticmethod(unreachable))
    docs = _watch(capsys, 2, interval_s=0.2)
    assert [d["feed"] for d in docs] == ["rest (fallback)"] * 3


def test_ctrl_c_ends_a_watch_with_exit_130(emu: EmulatorHandle, home: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "BYBIT_MM_HOME": str(home), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bybit_mm", "--profile", "feed", "quote", BTC, "--watch",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # the watch is running
        assert first["symbol"] == BTC
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
