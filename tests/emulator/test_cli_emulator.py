"""`bybit-mm emulator` as a shell script runs it: start, read the one line, one request, SIGINT, exit 0."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest


def _readline(stream, timeout: float) -> str:
    box: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: box.put(stream.readline()), daemon=True).start()
    try:
        return box.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("the emulator did not print its listening line") from None


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_start_request_and_stop_from_a_script(tmp_path, stop_signal: int) -> None:
    env = {**os.environ, "BYBIT_MM_HOME": str(tmp_path), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bybit_mm", "emulator", "--port", "0", "--speed", "0",
                             "--symbols", "BTCUSDT"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = _readline(proc.stdout, timeout=30)
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        with urllib.request.urlopen(f"{url}/v5/market/tickers?category=linear&symbol=BTCUSDT",
                                    timeout=10) as r:
            body = json.loads(r.read())
        assert body["retCode"] == 0 and body["result"]["list"][0]["symbol"] == "BTCUSDT"
        proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == ""  # exactly one line on stdout
    assert "emulator-secret" not in err


def test_bad_options_are_usage_errors(cli) -> None:
    result = cli("emulator", "--symbols", " , ")
    assert result.exit_code == 2
    result = cli("emulator", "--balance", "lots")
    assert result.exit_code == 2 and "--balance" in result.output
    result = cli("emulator", "--ws-drop-rate", "1.5")
    assert result.exit_code == 2 and "--ws-drop-rate" in result.output
    result = cli("emulator", "--ws-delay-ms", "-1")
    assert result.exit_code == 2 and "--ws-delay-ms" in result.output


def test_help_documents_the_default_credentials(cli) -> None:
    result = cli("emulator", "--help")
    assert result.exit_code == 0
    assert "emulator-key" in result.output and "listening on" in result.output
