"""kill -9 in the middle of a paper run, then resume: nothing lost, nothing counted twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from bybit_mm.engine.journal import Journal
from bybit_mm.exchange.paper_store import PaperStore

ARGS = ["paper", "--market", "sim", "--speed", "0", "--risk-aversion", "0.01", "--json"]


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, BYBIT_MM_HOME=str(home), NO_COLOR="1", COLUMNS="100")
    env.pop("BYBIT_MM_PROFILE", None)
    return env


def _account(home: Path) -> dict:
    with PaperStore(home / "data" / "paper" / "paper" / "account.sqlite") as store:
        data = store.load()
    assert data is not None
    return data


def _account_fills(home: Path) -> set[str]:
    data = _account(home)
    return {f"{e['exec_id']}|{e['order_id']}|{e['ts_ms']}" for e in data["executions"]
            if e["exec_type"] != "Funding"}


def test_resume_after_sigkill_loses_nothing(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "bybit_mm", *ARGS]
    proc = subprocess.Popen([*cmd, "--duration", "10h"], env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    killed_at_fills = 0
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60  # a safety net only; normally a few seconds
        for line in proc.stdout:
            snap = json.loads(line)
            if snap.get("fills", 0) >= 6:
                killed_at_fills = snap["fills"]
                os.kill(proc.pid, signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "the paper run made no fills"
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and killed_at_fills >= 6

    journal = tmp_path / "data" / "paper" / "paper" / "journal-BTCUSDT.sqlite"
    before = Journal(journal)
    journaled_before = len(before.fills("BTCUSDT"))
    before.close()
    assert journaled_before >= killed_at_fills

    done = subprocess.run([*cmd, "--duration", "5m"], env=_env(tmp_path), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["type"] == "summary" and summary["stop_reason"] == "duration reached"

    j = Journal(journal)
    keys = [f"{e.exec_id}|{e.order_id}|{e.ts_ms}" for e, _ in j.fills("BTCUSDT")]
    j.close()
    # Every fill the paper account made (before the kill, between the last journal write and the
    # kill, and after the resume) is journaled exactly once, and the summary counts all of them.
    assert set(keys) == _account_fills(tmp_path)
    assert len(keys) == len(set(keys)) == summary["fills"]
    assert summary["fills"] >= journaled_before
    # The session kept its starting balance and its books still balance.
    assert summary["starting_balance"] == 10000
    total = (Decimal(str(summary["starting_balance"])) + Decimal(str(summary["realized_pnl"]))
             + Decimal(str(summary["unrealized_pnl"])) - Decimal(str(summary["fees"]))
             - Decimal(str(summary["funding"])))
    assert abs(total - Decimal(str(summary["equity"]))) < Decimal("1e-6")
    # Orders the killed process left working were cancelled, and so were the resumed run's.
    data = _account(tmp_path)
    assert [o for o in data["orders"] if o.get("status") in ("New", "PartiallyFilled")] == []
