"""One process per paper account and per run journal (issue 11 item 5).

Before the lock, two `paper` runs on one profile both ran and overwrote each other's account
(the account ended with fewer fills than the journal), and two `live --resume` of one journal ran
side by side. Now the second process exits 2 at once with a message naming the holder; a holder
killed with SIGKILL leaves no stale lock behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

PAPER = ["--profile", "paper", "paper", "--market", "sim", "--speed", "0", "--risk-aversion", "0.01", "--json"]


def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, BYBIT_MM_HOME=str(home), NO_COLOR="1", COLUMNS="100")
    env.pop("BYBIT_MM_PROFILE", None)
    env.update(extra or {})
    return env


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60  # a safety net only; normally well under a second
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture
def running_paper(home: Path) -> Iterator[subprocess.Popen[str]]:
    """A long `paper` run of the `paper` profile in another process, holding its account."""
    proc = subprocess.Popen([sys.executable, "-m", "bybit_mm", *PAPER, "--duration", "100h"], env=_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["type"] == "snapshot"  # it is trading
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_second_paper_run_on_one_account_exits_2_naming_the_holder(
        cli: Callable[..., Any], home: Path, running_paper: subprocess.Popen[str]) -> None:
    for args in (PAPER, [*PAPER[:-1], "--symbol", "ETHUSDT"], [*PAPER, "--fresh"]):
        r = cli(*args, "--duration", "1m")
        assert r.exit_code == 2, r.stdout + r.stderr
        assert f"is in use by pid {running_paper.pid}" in r.stderr and "paper" in r.stderr
        assert "Traceback" not in r.stderr
    # An account command would write the account too: refused as well, not merged over.
    r = cli("--profile", "paper", "cancel-all", "--json")
    assert r.exit_code == 2 and f"pid {running_paper.pid}" in r.stderr
    # --fresh did not move the running account's files away.
    assert not list((home / "data" / "paper" / "paper").glob("*.bak"))


def test_a_killed_holder_leaves_no_stale_lock(cli: Callable[..., Any], home: Path,
                                              running_paper: subprocess.Popen[str]) -> None:
    os.kill(running_paper.pid, signal.SIGKILL)
    running_paper.wait()
    r = cli(*PAPER, "--duration", "2m")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["stop_reason"] == "duration reached"


def test_two_live_resume_on_one_journal_the_second_exits_2(cli: Callable[..., Any], home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from bybit_mm.emulator.runner import running_emulator
    from tests.cli.test_live import EMU_ENV, _fast_sim, _profile

    with running_emulator(exchange=_fast_sim(6.0)) as emu:
        _profile(home, emu.url)
        env = {"EMU_KEY": emu.api_key, "EMU_SECRET": emu.api_secret}
        EMU_ENV.update(env)
        args = ["--profile", "emu", "live", "--interval", "1", "--json"]
        first = subprocess.Popen([sys.executable, "-m", "bybit_mm", *args, "--duration", "10m"],
                                 env=_env(home, env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(home / "data" / "live" / "emu" / "journal-BTCUSDT.sqlite", first)
            r = cli(*args, "--resume", "--duration", "1m", env=env)
            assert r.exit_code == 2, r.stdout + r.stderr
            assert f"is in use by pid {first.pid}" in r.stderr and "journal-BTCUSDT" in r.stderr
            assert "Traceback" not in r.stderr
        finally:
            first.send_signal(signal.SIGINT)
            try:
                first.wait(timeout=60)
            finally:
                first.kill()
        with emu.lock:
            assert emu.exchange.open_orders("BTCUSDT") == []  # the first run still cleaned up after itself


def test_multi_symbol_updates_on_one_paper_account_are_not_lost(home: Path) -> None:
    """Runs on BTCUSDT then ETHUSDT of one account: each run's fills, fees and positions survive the
    other's saves (the ETHUSDT run carries the BTCUSDT position it did not trade)."""
    from bybit_mm.config.profiles import resolve
    from bybit_mm.domain.orders import Side
    from bybit_mm.exchange.paper_client import DryRunFuturesClient

    profile = resolve("paper")

    async def trade(symbol: str, qty: str, link: str) -> Decimal:
        client = DryRunFuturesClient.from_profile(profile, symbols=[symbol])
        try:
            await client.place_order(symbol, Side.BUY, Decimal(qty), order_type="Market", client_order_id=link)
            return (await client.balance()).wallet_balance
        finally:
            await client.close()

    wallet_btc = asyncio.run(trade("BTCUSDT", "0.01", "btc-1"))
    wallet_eth = asyncio.run(trade("ETHUSDT", "0.5", "eth-1"))
    assert wallet_eth < wallet_btc < 10000  # both taker fees are in the one wallet

    async def read() -> tuple[Any, ...]:
        client = DryRunFuturesClient.from_profile(profile, symbols=["SOLUSDT"])
        try:
            return await client.positions(), await client.executions(), await client.balance()
        finally:
            await client.close()

    positions, fills, balance = asyncio.run(read())
    assert {(p.symbol, p.size) for p in positions} == {("BTCUSDT", Decimal("0.01")), ("ETHUSDT", Decimal("0.5"))}
    assert sorted(f.client_order_id for f in fills) == ["btc-1", "eth-1"]
    assert balance.wallet_balance == wallet_eth
