"""Deprecated keys: quoting.gamma (per order) is read as quoting.risk_aversion (per 1,000 USDT)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bybit_mm.config.schema import gamma_as_risk_aversion, profile_from_dict, with_overrides
from bybit_mm.errors import ConfigError, UsageError


def test_gamma_as_risk_aversion_by_hand() -> None:
    # The old default: 0.01 per order of 100 USDT = 0.1 per 1,000 USDT; at 250 USDT orders, 0.04.
    assert gamma_as_risk_aversion(0.01, 100.0) == 0.1
    assert gamma_as_risk_aversion(0.01, 250.0) == 0.04
    assert gamma_as_risk_aversion(0.003, 300.0) == 0.01


def test_a_profile_with_gamma_is_read_as_risk_aversion_with_one_note() -> None:
    p = profile_from_dict({"quoting": {"gamma": 0.02, "order_notional": 200.0}}, where="x.toml")
    assert p.quoting.risk_aversion == 0.1 and p.quoting.order_notional == 200.0
    (note,) = p.deprecations
    assert note.startswith("x.toml: quoting.gamma = 0.02 is deprecated: read as quoting.risk_aversion = 0.1 ")
    assert "\n" not in note and "bybit-mm profile migrate" in note
    # Without order_notional, the default (300 USDT) applies.
    assert profile_from_dict({"quoting": {"gamma": 0.01}}, where="x").quoting.risk_aversion == 0.0333333
    # risk_aversion set too: it wins, gamma is ignored with a note.
    both = profile_from_dict({"quoting": {"gamma": 0.01, "risk_aversion": 0.005}}, where="x")
    assert both.quoting.risk_aversion == 0.005 and "ignored" in both.deprecations[0]
    # A current profile has no notes.
    assert profile_from_dict({"quoting": {"risk_aversion": 0.005}}, where="x").deprecations == ()


def test_a_bad_gamma_is_still_a_config_error() -> None:
    with pytest.raises(ConfigError, match="quoting.gamma must be greater than 0"):
        profile_from_dict({"quoting": {"gamma": -1}}, where="x")


def test_the_gamma_override_sets_risk_aversion_at_the_profile_order_size() -> None:
    base = profile_from_dict({"quoting": {"order_notional": 50.0}}, where="x")
    p = with_overrides(base, {"quoting.gamma": ("--gamma", 0.01)})
    assert p.quoting.risk_aversion == 0.2
    assert p.deprecations == ("--gamma 0.01 is deprecated: read as --risk-aversion 0.2 "
                              "(gamma x 1000 / order_notional 50)",)
    with pytest.raises(UsageError, match="--gamma must be greater than 0"):
        with_overrides(base, {"quoting.gamma": ("--gamma", 0.0)})


def test_paper_gamma_warns_once_on_stderr(cli: Callable[..., Any]) -> None:
    r = cli("paper", "--market", "sim", "--speed", "0", "--duration", "30s", "--gamma", "0.01", "--fresh", "--json")
    assert r.exit_code == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if "deprecated" in line]
    # The default order is 300 USDT: 0.01 x 1000 / 300.
    assert lines == ["warning: --gamma 0.01 is deprecated: read as --risk-aversion 0.0333333 "
                     "(gamma x 1000 / order_notional 300)"]


def test_profile_migrate_rewrites_gamma(cli: Callable[..., Any], home: Path) -> None:
    assert cli("profile", "init", "old").exit_code == 0
    path = home / "profiles" / "old.toml"
    text = re.sub(r"(?m)^risk_aversion = .*$", "gamma = 0.03", path.read_text())
    text = re.sub(r"(?m)^order_notional = .*$", "order_notional = 100.0", text)
    path.write_text(text)
    shown = cli("--profile", "old", "profile", "show", "--json")
    assert '"risk_aversion": 0.3' in shown.stdout
    assert shown.stderr.count("quoting.gamma = 0.03 is deprecated") == 1
    r = cli("profile", "migrate", "old")
    assert r.exit_code == 0
    assert "quoting.gamma = 0.03 -> quoting.risk_aversion = 0.3" in r.stderr + r.stdout
    after = path.read_text()
    assert "gamma" not in after and "risk_aversion = 0.3" in after
    assert "deprecated" not in cli("--profile", "old", "profile", "show").stderr
    assert "nothing to migrate" in (lambda x: x.stderr + x.stdout)(cli("profile", "migrate", "old"))
