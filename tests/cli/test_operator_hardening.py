"""Issue 11 (operator hardening): mainnet refusals before any request, every way out of the
trading loop cancels, tracebacks never show a secret, and bad input is one line and exit 2 or 3."""

from __future__ import annotations

import asyncio
import json
import re
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import typer

from bybit_mm.config.schema import SECTIONS, section_fields
from bybit_mm.config.secrets import secret_forms
from bybit_mm.errors import ExchangeUnavailable

MAINNET_ENV = {"BYBIT_API_KEY": "mainnet-key-for-tests", "BYBIT_API_SECRET": "mainnet-secret-for-tests"}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every client the CLI opens is recorded and behaves as an unreachable Bybit (exit 5)."""
    opened: list[str] = []

    @asynccontextmanager
    async def unreachable(app: Any, **_: Any) -> AsyncIterator[Any]:
        opened.append(app.profile.exchange.network)
        raise ExchangeUnavailable("cannot reach Bybit (test)")
        yield  # pragma: no cover

    monkeypatch.setattr("bybit_mm.cli.clients.open_client", unreachable)
    return opened


# --- 1, 2: every mainnet action asks, and refuses before any request ---------------------------

@pytest.mark.parametrize("args", [
    ("set-leverage", "10"),
    ("set-leverage", "ETHUSDT", "10"),
    ("flatten",),
    ("flatten", "--keep-orders"),
    ("cancel-all",),
    ("cancel-all", "BTCUSDT"),
    ("margin-mode", "cross"),
    ("live", "--duration", "1m"),
])
def test_mainnet_refusal_comes_before_any_request(cli: Callable[..., Any], no_network: list[str],
                                                  args: tuple[str, ...]) -> None:
    # Bybit is unreachable: a refusal must still be exit 2, because nothing was sent.
    r = cli("--profile", "mainnet", *args, env=MAINNET_ENV)
    assert r.exit_code == 2, r.stderr
    assert "MAINNET" in r.stderr and "--yes" in r.stderr and r.stderr.count("\n") == 1
    assert no_network == []


def test_mainnet_reads_need_no_confirmation(cli: Callable[..., Any], no_network: list[str]) -> None:
    for args in (("positions",), ("balance",), ("orders",), ("margin-mode",)):
        assert cli("--profile", "mainnet", *args, env=MAINNET_ENV).exit_code == 5
    assert no_network == ["mainnet"] * 4


def test_mainnet_with_yes_goes_ahead(cli: Callable[..., Any], no_network: list[str]) -> None:
    assert cli("--profile", "mainnet", "flatten", "--yes", env=MAINNET_ENV).exit_code == 5
    assert no_network == ["mainnet"]


# --- 3: any exception in the trading loop still cancels and summarises -------------------------

class _BrokenBalance:
    """Makes ``balance()`` of the paper client raise a non-project error after ``after`` calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, after: int) -> None:
        from bybit_mm.exchange.paper_client import DryRunFuturesClient

        self.calls = 0
        self.open_at_failure = -1
        real = DryRunFuturesClient.balance
        outer = self

        async def balance(client: Any) -> Any:
            outer.calls += 1
            if outer.calls > after:
                if outer.open_at_failure < 0:
                    outer.open_at_failure = len(await client.open_orders("BTCUSDT"))
                raise ValueError("malformed walletBalance in the answer")
            return await real(client)

        monkeypatch.setattr(DryRunFuturesClient, "balance", balance)


def test_an_unexpected_error_in_the_loop_cancels_and_reraises(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.engine.conftest import BTC, make_client

    from bybit_mm.engine.config import EngineConfig
    from bybit_mm.engine.trader import LiveTrader

    broken = _BrokenBalance(monkeypatch, after=150)
    client = make_client(seed=3)
    trader = LiveTrader(client, client.clock, EngineConfig(symbol="BTCUSDT", **BTC))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="malformed walletBalance"):
        asyncio.run(trader.run())
    assert broken.open_at_failure > 0  # quotes were working when it broke ...
    assert asyncio.run(client.open_orders("BTCUSDT")) == []  # ... and none is left
    assert trader.summary is not None and trader.summary.cancelled_on_exit > 0
    assert trader.summary.stop_reason == "error: unexpected ValueError"


def test_paper_run_with_an_unexpected_error_prints_the_summary_and_exits_1(
        cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    broken = _BrokenBalance(monkeypatch, after=150)
    r = cli("paper", "--market", "sim", "--speed", "0", "--risk-aversion", "0.01", "--duration", "1h", "--json")
    assert r.exit_code == 1
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["type"] == "summary" and summary["stop_reason"] == "error: unexpected ValueError"
    assert broken.open_at_failure > 0 and summary["cancelled_on_exit"] > 0
    assert "unexpected failure" in r.stderr
    monkeypatch.undo()
    assert json.loads(cli("orders", "--json").stdout) == []  # the saved paper account has no order left


# --- 4: secrets masked in --debug tracebacks, however rich wraps them -----------------------------

SECRET_ENV = "HARDEN_TEST_SECRET"


def _secret_app() -> typer.Typer:
    from bybit_mm.cli.app import ErrorMappingGroup
    from bybit_mm.cli.context import AppContext, app_context

    app = typer.Typer(cls=ErrorMappingGroup)

    @app.callback()
    def root(ctx: typer.Context) -> None:
        """root"""
        ctx.obj = AppContext(debug=True)

    @app.command()
    def boom(ctx: typer.Context) -> None:
        """raise with the secret in locals, in a container and in the message"""
        import os

        api_secret = os.environ[SECRET_ENV]
        request = {"headers": {"X-BAPI-SIGN": "abc"}, "body": f"secret={api_secret}&x=1" * 3, "s": api_secret}
        app_context(ctx).register_secret(api_secret)
        raise RuntimeError(f"the answer to {request['body']} was malformed")

    return app


def leaked(output: str, secret: str) -> bool:
    """The secret, or a recognisable piece of it, is in ``output`` (line breaks and box-drawing
    characters of a wrapped rich traceback removed)."""
    flat = re.sub(r"[\s│╭╮╰╯─]", "", output)
    if any(form in text for form in secret_forms([secret]) for text in (output, flat)):
        return True
    piece = 8
    return len(secret) > piece and any(secret[i:i + piece] in flat for i in range(len(secret) - piece + 1))


SECRETS = [
    "Kx7mP2qR9sT4vW8yZ1aB3cD5eF6gH0jLnQ",  # 34 characters
    "ab\\cd'ef\"gh-backslash-and-quotes",
    "Zq'",  # shorter than 4 characters
    "q\\",
]


@pytest.mark.parametrize("width", [40, 60, 120])
@pytest.mark.parametrize("secret", SECRETS)
def test_debug_traceback_never_shows_the_secret(width: int, secret: str) -> None:
    from typer.testing import CliRunner

    r = CliRunner().invoke(_secret_app(), ["boom"], env={"NO_COLOR": "1", "COLUMNS": str(width), SECRET_ENV: secret})
    assert r.exit_code == 1
    assert "request" in r.stderr and "RuntimeError" in r.stderr  # locals and the error are shown ...
    assert not leaked(r.stdout + r.stderr, secret)  # ... the secret in none of them


def test_unexpected_error_masks_the_profile_credentials_even_unregistered(
        cli: Callable[..., Any], home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bybit_mm.exchange.ccxt_client import BybitFuturesClient

    async def broken(self: Any) -> Any:
        key, secret = self._ex.apiKey, self._ex.secret  # noqa: F841 (locals shown with --debug)
        raise KeyError(f"walletBalance missing for {secret}")

    monkeypatch.setattr(BybitFuturesClient, "balance", broken)
    (home / "profiles").mkdir()
    (home / "profiles" / "emu.toml").write_text(
        '[exchange]\nnetwork = "emulator"\nurl = "http://127.0.0.1:9"\napi_key_env = "K"\napi_secret_env = "S"\n')
    secret = "s3\\cr'Xq9-Tz7Lw4Vb8Np2Hd5"
    for width in ("40", "60", "120"):
        r = cli("--debug", "--profile", "emu", "balance", env={"K": "kk", "S": secret, "COLUMNS": width})
        assert r.exit_code == 1 and "KeyError" in r.stderr
        assert not leaked(r.stdout + r.stderr, secret)


# --- 7, 8: command-line overrides and profile values pass one validation, finite numbers only -----

FAST_PAPER = ("paper", "--market", "sim", "--speed", "0", "--duration", "1m")


@pytest.mark.parametrize("args, fragment", [
    (("--risk-aversion", "0"), "--risk-aversion must be greater than 0"),
    (("--risk-aversion", "nan"), "--risk-aversion must be a finite number"),
    (("--gamma", "0"), "--gamma must be greater than 0"),
    (("--gamma", "-1"), "--gamma must be greater than 0"),
    (("--gamma", "nan"), "--gamma must be a finite number"),
    (("--speed", "inf"), "--speed must be a finite number"),
    (("--speed", "nan"), "--speed must be a finite number"),
    (("--speed", "-1"), "--speed must be at least 0"),
    (("--speed", "100000"), "--speed must be at most 1000"),  # the sim could never catch up: no end
    (("--interval", "inf"), "--interval must be a finite number"),
    (("--interval", "0.01"), "--interval must be at least 0.05"),
    (("--leverage", "nan"), "--leverage must be a finite number"),
    (("--leverage", "0"), "--leverage must be at least 1"),
    (("--leverage", "inf"), "--leverage must be a finite number"),
    (("--balance", "-100", "--fresh"), "--balance must be greater than 0"),
    (("--balance", "inf", "--fresh"), "--balance must be a finite number"),
    (("--seed", "-1"), "--seed must be at least 0"),
    (("--symbol", "BTC/USDT"), "--symbol must be a linear USDT perpetual symbol"),
    (("--duration", "9" * 400), "--duration must be a finite number"),
])
def test_bad_paper_overrides_are_exit_2_naming_the_option(cli: Callable[..., Any], home: Path,
                                                          args: tuple[str, ...], fragment: str) -> None:
    r = cli(*FAST_PAPER, *args)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert fragment in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (home / "data").exists()  # nothing was created (no -100 USDT account)


@pytest.mark.parametrize("args, fragment", [
    (("--gamma", "0"), "--gamma must be greater than 0"),
    (("--risk-aversion", "-1"), "--risk-aversion must be greater than 0"),
    (("--interval", "inf"), "--interval must be a finite number"),
    (("--interval", "0.1"), "--interval must be at least 0.2"),
    (("--leverage", "nan"), "--leverage must be a finite number"),
    (("--model", "xyz"), "--model must be one of as, glft"),
])
def test_bad_live_overrides_are_exit_2_before_any_request(cli: Callable[..., Any], no_network: list[str],
                                                          args: tuple[str, ...], fragment: str) -> None:
    r = cli("--profile", "testnet", "live", "--duration", "1m", *args,
            env={"BYBIT_TESTNET_API_KEY": "k", "BYBIT_TESTNET_API_SECRET": "s"})
    assert r.exit_code == 2 and fragment in r.stderr and r.stderr.count("\n") == 1
    assert no_network == []


FLOAT_KEYS = [f"{section}.{key}" for section, cls in SECTIONS.items()
              for key, (typ, _, _) in section_fields(cls).items() if typ is float]


def test_every_float_key_is_covered() -> None:
    assert len(FLOAT_KEYS) >= 14 and "risk.stale_after_s" in FLOAT_KEYS


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_profile_values_are_config_errors(cli: Callable[..., Any], tmp_path: Path, key: str,
                                                     value: str) -> None:
    section, name = key.split(".")
    path = tmp_path / "p.toml"
    path.write_text(f"[{section}]\n{name} = {value}\n")
    r = cli("--profile", str(path), "paper", "--speed", "0", "--duration", "1m")
    assert r.exit_code == 3 and str(path) in r.stderr and f"{key} must be a finite number" in r.stderr
    assert r.stderr.count("\n") == 1


def test_profile_set_refuses_non_finite_values(cli: Callable[..., Any], home: Path) -> None:
    assert cli("profile", "init", "p").exit_code == 0
    r = cli("profile", "set", "p", "risk.stale_after_s", "nan")
    assert r.exit_code == 2 and "risk.stale_after_s must be a finite number" in r.stderr
    assert "stale_after_s" not in (home / "profiles" / "p.toml").read_text().split("[risk]")[-1].split("[")[0] \
        or "nan" not in (home / "profiles" / "p.toml").read_text()


# --- 10: `profile init NAME` of a shipped name copies that template -------------------------------

@pytest.mark.parametrize("name, network", [("emulator", "emulator"), ("testnet", "testnet"),
                                           ("mainnet", "mainnet"), ("mybot", "mainnet")])
def test_profile_init_uses_the_template_of_the_same_name(cli: Callable[..., Any], home: Path, name: str,
                                                         network: str) -> None:
    r = cli("profile", "init", name)
    assert r.exit_code == 0, r.stderr
    data = tomllib.loads((home / "profiles" / f"{name}.toml").read_text())
    assert data["exchange"]["network"] == network
    expected_account = "paper" if name == "mybot" else "live"
    assert data["exchange"]["account"] == expected_account


def test_profile_set_hint_leads_to_the_right_template(cli: Callable[..., Any], home: Path) -> None:
    r = cli("profile", "set", "testnet", "market.leverage", "5")
    assert r.exit_code == 3 and "profile init testnet --from testnet" in r.stderr
    assert cli("profile", "init", "testnet").exit_code == 0
    assert cli("profile", "set", "testnet", "market.leverage", "5").exit_code == 0
    data = tomllib.loads((home / "profiles" / "testnet.toml").read_text())
    assert (data["exchange"]["network"], data["market"]["leverage"]) == ("testnet", 5)


def test_closed_output_stops_the_run_quietly_with_141(tmp_path: Path) -> None:
    """`bybit-mm paper --json | head`: the reader goes away; one line on stderr, no traceback."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "BYBIT_MM_HOME": str(tmp_path), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bybit_mm", "paper", "--market", "sim", "--duration", "20m",
                             "--speed", "0", "--fresh", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10).startswith(b"{")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "stopped: the output was closed (broken pipe)"
