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


def test_json_line_for_scripts_and_a_prompt_stop_at_a_runaway_speed(tmp_path) -> None:
    # At a speed the sim cannot keep up with, its catch-up holds the event loop for seconds at a
    # time; SIGTERM must still end the process promptly (exit 0).
    env = {**os.environ, "BYBIT_MM_HOME": str(tmp_path), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bybit_mm", "emulator", "--port", "0", "--speed", "300000",
                             "--symbols", "BTCUSDT,ETHUSDT,SOLUSDT", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        doc = json.loads(_readline(proc.stdout, timeout=30))
        assert doc["url"] == f"http://127.0.0.1:{doc['port']}" and doc["port"] > 0
        assert doc["ws_public"] == f"ws://127.0.0.1:{doc['port']}/v5/public/linear"
        assert doc["ws_private"] == f"ws://127.0.0.1:{doc['port']}/v5/private"
        assert doc["symbols"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"] and doc["speed"] == 300000
        assert doc["pid"] == proc.pid and doc["api_key"] == "emulator-key"
        assert "api_secret" not in doc
        threading.Event().wait(3.0)  # let the sim fall behind (it then hardly answers requests)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == ""
