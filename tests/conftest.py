"""Shared fixtures: an isolated BYBIT_MM_HOME and a CLI runner with a fixed, colourless terminal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private BYBIT_MM_HOME for the test; no BYBIT_* credentials leak in from the machine."""
    monkeypatch.setenv("BYBIT_MM_HOME", str(tmp_path))
    monkeypatch.delenv("BYBIT_MM_PROFILE", raising=False)
    for var in ("BYBIT_API_KEY", "BYBIT_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def cli(home: Path) -> Callable[..., Any]:
    """Run `bybit-mm ARGS...` in-process; returns the click Result (stdout, stderr, exit_code)."""
    from bybit_mm.cli.app import app

    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Any:
        full_env = {"NO_COLOR": "1", "COLUMNS": "100", "BYBIT_MM_HOME": str(home)}
        full_env.update(env or {})
        return runner.invoke(app, list(args), env=full_env, input=input)

    return run
