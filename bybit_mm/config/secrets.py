"""API credentials: resolved from the environment or a private credentials file, never printed."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bybit_mm.config.schema import Profile
from bybit_mm.errors import ConfigError


@dataclass(frozen=True)
class Credentials:
    """An API key pair. ``repr`` and ``str`` never show the secret or the key."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    source: str = ""

    def __repr__(self) -> str:
        return f"Credentials(source={self.source!r}, api_key=***, api_secret=***)"

    __str__ = __repr__


def check_private(path: Path) -> None:
    """Refuse a credentials file that group or others can read or write."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: credentials file is accessible by group/others (mode {stat.S_IMODE(mode):04o})",
            hint=f"run `chmod 600 {path}` so only you can read it",
        )


def _from_file(path: Path) -> Credentials:
    from bybit_mm.config.profiles import read_toml

    if not path.is_file():
        raise ConfigError(f"{path}: credentials file not found")
    check_private(path)
    data = read_toml(path)
    unknown = set(data) - {"api_key", "api_secret"}
    if unknown:
        raise ConfigError(f"{path}: unknown key {sorted(unknown)[0]} (expected api_key and api_secret)")
    key, secret = data.get("api_key"), data.get("api_secret")
    if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
        raise ConfigError(f"{path}: api_key and api_secret must both be non-empty strings")
    return Credentials(key, secret, source=f"file {path}")


def resolve_credentials(profile: Profile, environ: dict[str, str] | None = None) -> Credentials:
    """The profile's credentials: its environment variables first, then its credentials file."""
    env = os.environ if environ is None else environ
    ex = profile.exchange
    key, secret = env.get(ex.api_key_env, ""), env.get(ex.api_secret_env, "")
    if key and secret:
        return Credentials(key, secret, source=f"env {ex.api_key_env}/{ex.api_secret_env}")
    if ex.credentials_file:
        return _from_file(Path(ex.credentials_file).expanduser())
    missing = ex.api_key_env if not key else ex.api_secret_env
    raise ConfigError(
        f"no API credentials for profile {profile.name!r}: ${missing} is not set",
        hint=f"export {ex.api_key_env} and {ex.api_secret_env}, or set exchange.credentials_file",
    )


def describe_credentials(profile: Profile, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Where credentials would come from and whether they are present, without any secret."""
    env = os.environ if environ is None else environ
    ex = profile.exchange
    out: dict[str, Any] = {
        "api_key": "set" if env.get(ex.api_key_env) else "unset",
        "api_secret": "set" if env.get(ex.api_secret_env) else "unset",
    }
    if ex.credentials_file:
        path = Path(ex.credentials_file).expanduser()
        out["credentials_file"] = "present" if path.is_file() else "missing"
    return out


def secret_forms(secrets: list[str]) -> list[str]:
    """Every way a secret can be written in output: as is, and escaped as in a Python ``repr``
    or a JSON string (a ``\\`` or ``'`` in a secret is doubled or escaped there). Longest first."""
    forms: set[str] = set()
    for s in secrets:
        if s:
            forms.update((s, repr(s)[1:-1], json.dumps(s)[1:-1], s.encode("unicode_escape").decode("ascii"),
                          s.replace("\\", "\\\\").replace("'", "\\'")))
    return sorted(forms, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """Replace each secret occurring in ``text`` (in any of its :func:`secret_forms`) by ``***``.

    Every non-empty secret is masked, however short: a short secret garbles some text, which is
    better than showing it.
    """
    for form in secret_forms(secrets):
        text = text.replace(form, "***")
    return text
