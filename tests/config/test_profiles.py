"""Profiles: round trip, validation naming file and key, scrubbing, credentials-file permissions."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from bybit_mm.config import paths, profiles
from bybit_mm.config.schema import Profile, profile_from_dict
from bybit_mm.config.secrets import Credentials, resolve_credentials
from bybit_mm.errors import ConfigError, UsageError


def test_home_overrides_locations(home: Path) -> None:
    assert paths.profiles_dir() == home / "profiles"
    assert paths.data_dir() == home / "data"


def test_every_template_is_valid_and_required_ones_ship() -> None:
    shipped = profiles.templates()
    assert {"paper", "testnet", "mainnet", "emulator"} <= set(shipped)
    for name, path in shipped.items():
        assert isinstance(profiles.load_file(path, name), Profile)


def test_seed_protection_defaults() -> None:
    p = profiles.load_file(profiles.templates()["paper"])
    assert p.risk.liquidation_threshold == 0.8
    assert p.risk.emergency_reduce_ratio == 0.5
    assert p.is_paper


def test_init_set_show_round_trip(cli, home: Path) -> None:
    assert cli("profile", "init", "demo", "--from", "paper").exit_code == 0
    path = home / "profiles" / "demo.toml"
    assert path.is_file()
    result = cli("profile", "set", "demo", "market.leverage", "25")
    assert result.exit_code == 0, result.stderr
    cli("profile", "set", "demo", "market.symbol", "ETHUSDT")
    cli("profile", "set", "demo", "paper.seed", "7")
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    assert data["market"] == {"symbol": "ETHUSDT", "leverage": 25.0, "margin_mode": "isolated"}
    assert data["paper"]["seed"] == 7
    shown = json.loads(cli("profile", "show", "demo", "--json").stdout)
    assert shown["market"]["leverage"] == 25.0 and shown["name"] == "demo"
    listed = json.loads(cli("profile", "list", "--json").stdout)
    assert any(r["name"] == "demo" and r["kind"] == "profile" and r["symbol"] == "ETHUSDT" for r in listed)


def test_init_refuses_to_overwrite(cli) -> None:
    assert cli("profile", "init", "a").exit_code == 0
    result = cli("profile", "init", "a")
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert cli("profile", "init", "a", "--force").exit_code == 0


def test_init_unknown_template(cli) -> None:
    result = cli("profile", "init", "x", "--from", "nope")
    assert result.exit_code == 2 and "unknown template" in result.stderr


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("market.leverage", "abc", "must be a number"),
        ("market.leverage", "0", "at least 1"),
        ("market.margin_mode", "portfolio", "must be one of isolated, cross"),
        ("market.symbol", "BTC/USDT", "must be a linear USDT perpetual symbol"),
        ("market.nope", "1", "unknown key"),
        ("nosection.key", "1", "unknown key"),
        ("risk.liquidation_threshold", "1.5", "at most 1"),
        ("paper.seed", "1.5", "must be an integer"),
    ],
)
def test_set_rejects_bad_values_without_writing(cli, home: Path, key: str, value: str, fragment: str) -> None:
    cli("profile", "init", "demo")
    path = home / "profiles" / "demo.toml"
    before = path.read_bytes()
    result = cli("profile", "set", "demo", key, value)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_set_on_missing_profile_is_config_error(cli) -> None:
    result = cli("profile", "set", "ghost", "market.leverage", "5")
    assert result.exit_code == 3


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[market]\nleverage = 'ten'\n", "market.leverage must be a number"),
        ("[market]\nfoo = 1\n", "unknown key market.foo"),
        ("[wallet]\nx = 1\n", "unknown section [wallet]"),
        ("[market\n", "broken TOML"),
        ("[risk]\nemergency_reduce_ratio = 0\n", "risk.emergency_reduce_ratio must be greater than 0"),
        ("[exchange]\nnetwork = 'emulator'\n", "exchange.url is required"),
        ("[paper]\nfee_tier = 'VIP9'\n", "paper.fee_tier must be one of"),
        ("[market]\nleverage = true\n", "must be a number"),
    ],
)
def test_bad_profile_file_exits_3_naming_file_and_key(cli, tmp_path: Path, text: str, fragment: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    result = cli("--profile", str(bad), "profile", "show")
    assert result.exit_code == 3
    assert str(bad) in result.stderr and fragment in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_profile_name(cli) -> None:
    result = cli("--profile", "ghost", "profile", "show")
    assert result.exit_code == 3 and "ghost" in result.stderr


def test_bare_name_falls_back_to_template(home: Path) -> None:
    assert profiles.resolve("paper").is_paper
    assert profiles.resolve(None).name == "paper"


def test_invalid_profile_names_are_refused() -> None:
    for bad in ("../x", "a b", "", "x.toml"):
        with pytest.raises(UsageError):
            profiles.check_name(bad)


def test_show_never_prints_secrets(cli, home: Path) -> None:
    cli("profile", "init", "t", "--from", "testnet")
    secret = "S3cr3t-value-that-must-not-leak"
    env = {"BYBIT_TESTNET_API_KEY": "key-visible-nowhere", "BYBIT_TESTNET_API_SECRET": secret}
    for args in (("profile", "show", "t", "--json"), ("profile", "show", "t"), ("profile", "list", "--json")):
        result = cli(*args, env=env)
        assert result.exit_code == 0
        assert secret not in result.output and "key-visible-nowhere" not in result.output
    shown = json.loads(cli("profile", "show", "t", "--json", env=env).stdout)
    assert shown["credentials"] == {"api_key": "set", "api_secret": "set"}


def _profile(**exchange: str) -> Profile:
    return profile_from_dict({"exchange": exchange}, where="test.toml", name="t")


def test_credentials_from_environment() -> None:
    p = _profile(api_key_env="K", api_secret_env="S")
    creds = resolve_credentials(p, {"K": "the-key", "S": "the-secret"})
    assert (creds.api_key, creds.api_secret) == ("the-key", "the-secret")
    assert "the-secret" not in repr(creds) and "the-key" not in str(creds)


def test_missing_credentials_is_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"\$K is not set"):
        resolve_credentials(_profile(api_key_env="K", api_secret_env="S"), {})


def test_credentials_file_must_be_private(tmp_path: Path) -> None:
    cred = tmp_path / "creds.toml"
    cred.write_text('api_key = "k"\napi_secret = "very-secret"\n')
    os.chmod(cred, 0o644)
    p = _profile(credentials_file=str(cred))
    with pytest.raises(ConfigError) as info:
        resolve_credentials(p, {})
    assert "chmod 600" in info.value.one_line() and "very-secret" not in info.value.one_line()
    os.chmod(cred, 0o600)
    creds = resolve_credentials(p, {})
    assert isinstance(creds, Credentials) and creds.api_secret == "very-secret"


def test_credentials_file_unknown_key(tmp_path: Path) -> None:
    cred = tmp_path / "creds.toml"
    cred.write_text('api_key = "k"\napi_secret = "s"\npassphrase = "x"\n')
    os.chmod(cred, 0o600)
    with pytest.raises(ConfigError, match="unknown key passphrase"):
        resolve_credentials(_profile(credentials_file=str(cred)), {})
