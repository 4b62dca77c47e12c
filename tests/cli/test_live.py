"""`bybit-mm live` end to end against the local emulator (real HTTP, real signatures, ccxt)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

EMU_ENV = {"EMU_KEY": "", "EMU_SECRET": ""}


def _fast_sim(speed: float) -> Any:
    """A sim on a fast wall clock (``speed`` market seconds a second), so quotes fill within seconds."""
    from bybit_mm.sim.clock import WallClock
    from bybit_mm.sim.exchange import SimExchange
    from bybit_mm.sim.market import DEFAULT_SYMBOL_PARAMS, MarketParams

    btc = replace(DEFAULT_SYMBOL_PARAMS["BTCUSDT"], jumps_per_day=0.0)
    return SimExchange(symbols=("BTCUSDT",), seed=11, clock=WallClock(speed), latency_ms=0.0,
                       market_params=MarketParams(symbols={"BTCUSDT": btc}))


def _profile(home: Path, url: str, network: str = "emulator", max_retries: int = 8) -> None:
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / "emu.toml").write_text(f"""
[exchange]
network = "{network}"
url = "{url}"
api_key_env = "EMU_KEY"
api_secret_env = "EMU_SECRET"
timeout_s = 0.5
max_retries = {max_retries}
dcp_window_s = 10

[quoting]
gamma = 0.001
vol_window_s = 60.0
intensity_window_s = 120.0
""")


@pytest.fixture
def emulator(home: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Any]:
    from bybit_mm.emulator.runner import running_emulator

    monkeypatch.setattr("bybit_mm.cli.clients.RETRY_BASE_S", 0.01)
    fail_rate = getattr(request, "param", 0.0)
    with running_emulator(exchange=_fast_sim(6.0), fail_rate=fail_rate, fault_hold_ms=800.0,
                          fault_kinds=("http_5xx", "system_error", "rate_limit", "timeout")) as emu:
        _profile(home, emu.url)
        EMU_ENV.update(EMU_KEY=emu.api_key, EMU_SECRET=emu.api_secret)
        yield emu


def _run_live(cli: Callable[..., Any], *args: str) -> Any:
    # Each iteration takes about a second of real time (7 requests through ccxt's throttle), i.e.
    # 6 s of market time: a 60 s volatility window then fills after ~6 iterations.
    return cli("--profile", "emu", "live", "--interval", "1", "--json", *args, env=EMU_ENV)


def _check_run(emu: Any, r: Any, *, require_fill: bool = True) -> dict[str, Any]:
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.strip().splitlines()]
    summary = rows[-1]
    assert summary["type"] == "summary" and summary["stop_reason"] == "duration reached"
    ex = emu.exchange
    with emu.lock:
        history = ex.order_history("BTCUSDT", limit=100_000)
        still_open = ex.open_orders("BTCUSDT")
        fills = [e for e in ex.executions("BTCUSDT", limit=100_000) if e.exec_type == "Trade"]
    ours = [o for o in history if o.order_link_id.startswith("mm-")]
    # Orders really rested on the exchange, some filled, and none is left working after exit.
    assert summary["orders_placed"] >= 2 and len(ours) >= 2
    if require_fill:
        assert any(o.filled_qty > 0 for o in ours)
        assert len(fills) > 0
    assert still_open == []
    assert summary["fills"] == len(fills)
    # One exchange order per client order id: no retry ever duplicated a create.
    links = [o.order_link_id for o in ours]
    assert len(links) == len(set(links))
    return summary


def test_live_against_the_emulator_rests_fills_and_cancels_on_exit(cli: Callable[..., Any], emulator: Any) -> None:
    summary = _check_run(emulator, _run_live(cli, "--duration", "12s"))
    assert summary["network"] == "emulator"
    # exchange.dcp_window_s: the run set Bybit's disconnect-cancel-all window and kept a dcp subscriber
    assert emulator.state.ctx.dcp.windows == {"DERIVATIVES": 10} and emulator.state.ctx.dcp.triggered == 0
    assert Decimal(str(summary["fees"])) > 0


@pytest.mark.parametrize("emulator", [0.1], indirect=True)
def test_live_survives_ten_percent_injected_faults_without_duplicate_orders(cli: Callable[..., Any],
                                                                           emulator: Any) -> None:
    # Faults (5xx, retCode 10016, rate limits, timeouts that hold the answer past the client's
    # timeout) are retried inside the client with the same orderLinkId; the run completes.
    injector = emulator.state.faults
    seen: list[Any] = []
    decide = injector.decide

    def counting(**kw: Any) -> Any:
        fault = decide(**kw)
        if fault is not None:
            seen.append(fault)
        return fault

    injector.decide = counting
    _check_run(emulator, _run_live(cli, "--duration", "15s"), require_fill=False)
    assert len(seen) >= 3  # faults really were injected during the run


def test_mainnet_without_a_terminal_or_yes_is_refused(cli: Callable[..., Any], home: Path) -> None:
    _profile(home, "", network="mainnet")
    r = cli("--profile", "emu", "live", "--duration", "1m", env={"EMU_KEY": "k", "EMU_SECRET": "s"})
    assert r.exit_code == 2
    assert "MAINNET" in r.stderr and "--yes" in r.stderr


def test_live_on_a_paper_profile_points_to_paper(cli: Callable[..., Any]) -> None:
    r = cli("live", "--duration", "1m")
    assert r.exit_code == 2 and "bybit-mm paper" in r.stderr


def test_when_the_exchange_dies_live_gives_up_after_the_bound_with_its_summary(
        cli: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal
    import subprocess
    import sys
    import threading

    monkeypatch.setattr("bybit_mm.cli.clients.RETRY_BASE_S", 0.01)
    monkeypatch.setattr("bybit_mm.engine.trader.EXCHANGE_DOWN_S", 3.0)
    env = {**os.environ, "BYBIT_MM_HOME": str(home), "NO_COLOR": "1"}
    emu = subprocess.Popen([sys.executable, "-m", "bybit_mm", "emulator", "--port", "0", "--json", "--speed", "6"],
                           stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert emu.stdout is not None
        doc = json.loads(emu.stdout.readline())
        _profile(home, doc["url"], max_retries=1)
        threading.Timer(4.0, lambda: emu.send_signal(signal.SIGKILL)).start()  # the exchange dies
        r = cli("--profile", "emu", "live", "--interval", "0.5", "--json", "--duration", "10m",
                env={"EMU_KEY": doc["api_key"], "EMU_SECRET": "emulator-secret"})
    finally:
        emu.kill()
        emu.wait()
    assert r.exit_code == 5, r.stderr
    rows = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert rows[-1]["type"] == "summary"
    assert rows[-1]["stop_reason"].startswith("exchange unavailable")
    assert "error: " in r.stderr and "Traceback" not in r.stderr


def test_a_stream_that_failed_to_start_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from bybit_mm.emulator.runner import running_emulator
    from bybit_mm.engine.config import EngineConfig
    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.errors import ExchangeUnavailable
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient
    from bybit_mm.exchange.ccxt_stream import CcxtMarketStream
    from bybit_mm.sim.clock import WallClock

    monkeypatch.setattr("bybit_mm.engine.trader.STREAM_RETRY_S", 0.5)

    class FlakyStart(CcxtMarketStream):
        starts = 0

        async def start(self) -> None:
            FlakyStart.starts += 1
            if FlakyStart.starts == 1:
                raise ExchangeUnavailable("the stream is not there yet")
            await super().start()

    with running_emulator(exchange=_fast_sim(6.0), rate_limits=False) as emu:
        async def main() -> Any:
            client = BybitFuturesClient(network="emulator", url=emu.url, api_key=emu.api_key,
                                        api_secret=emu.api_secret)
            stream = FlakyStart(network="emulator", symbol="BTCUSDT", url=emu.url, api_key=emu.api_key,
                                api_secret=emu.api_secret, private=True)
            config = replace(EngineConfig(symbol="BTCUSDT", leverage=Decimal(10)), duration_s=4.0, interval_s=0.5,
                             snapshot_every_s=0.1)
            trader = LiveTrader(client, WallClock(1.0), config, stream=stream)
            feeds: list[str] = []
            trader.on_snapshot = lambda snap: feeds.append(snap.feed)
            try:
                await trader.run()
            finally:
                await stream.close()
                await client.close()
            return trader, feeds

        trader, feeds = asyncio.run(main())
    assert FlakyStart.starts == 2
    assert feeds[0] == "rest (fallback)"
    assert trader.latest is not None and trader.latest.feed == "stream"
