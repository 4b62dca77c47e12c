"""`bybit-mm quote` (offline form): hand-computed outputs, rounding, profile defaults, usage errors."""

from __future__ import annotations

import json

import pytest


def test_as_quote_json(cli) -> None:
    result = cli("quote", "--mid", "100", "--sigma", "2", "--gamma", "0.1", "--k", "1.5", "--q", "3",
                 "--tau", "1", "--tick", "0.1", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "as-rolling" and "rolling" in data["horizon"]
    assert data["reservation_price"] == pytest.approx(98.8)
    assert data["spread"] == pytest.approx(1.6907704227514234)
    assert data["skew"] == pytest.approx(-1.2)
    assert data["bid_on_tick"] == 97.9 and data["ask_on_tick"] == 99.7


def test_glft_quote_and_defaults(cli) -> None:
    result = cli("quote", "--mid", "100", "--sigma", "2", "--gamma", "0.1", "--k", "1.5", "--A", "140",
                 "--model", "glft", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "glft"
    assert data["half_spread"] == pytest.approx(0.6712438194366947)
    # Offline the calculator does not read the profile: tau defaults to the paper's T = 1.
    data = json.loads(cli("quote", "--mid", "100", "--sigma", "0.1", "--gamma", "0.1", "--k", "1.5",
                          "--json").stdout)
    assert data["inputs"]["tau"] == 1.0 and data["model"] == "as-rolling"


def test_table(cli) -> None:
    result = cli("quote", "--mid", "100", "--sigma", "2", "--gamma", "0.1", "--k", "1.5", "--tau", "1")
    assert result.exit_code == 0, result.stderr
    assert "reservation price" in result.stdout and "skew" in result.stdout


@pytest.mark.parametrize(("args", "needle"), [
    ((), "--mid, --sigma, --gamma, --k"),
    (("--mid", "100", "--sigma", "2", "--gamma", "0.1"), "--k"),
    (("--mid", "100", "--sigma", "2", "--k", "1.5"), "--gamma"),
    (("--mid", "100", "--sigma", "2", "--gamma", "0.1", "--k", "1.5", "--model", "glft"), "--A"),
    (("--mid", "100", "--sigma", "2", "--gamma", "0.1", "--k", "1.5", "--model", "xyz"), "unknown model"),
    (("--mid", "-1", "--sigma", "2", "--gamma", "0.1", "--k", "1.5"), "--mid"),
    (("--mid", "100", "--sigma", "2", "--gamma", "0.1", "--k", "1.5", "--tick", "abc"), "--tick"),
])
def test_usage_errors(cli, args: tuple[str, ...], needle: str) -> None:
    result = cli("quote", *args)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert result.stderr.count("\n") == 1
