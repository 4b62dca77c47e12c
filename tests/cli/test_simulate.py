"""`bybit-mm simulate`: table, JSON shape, determinism and bad input."""

from __future__ import annotations

import json
import math

import pytest


def test_default_table_shows_both_strategies(cli) -> None:
    result = cli("simulate", "--paths", "200", "--gamma", "0.1", "--gamma", "0.5")
    assert result.exit_code == 0, result.stderr
    assert "inventory" in result.stdout and "symmetric" in result.stdout
    assert "1.29" in result.stdout and "1.15" in result.stdout
    assert "GLFT" not in result.stdout


def test_json_shape_and_determinism(cli) -> None:
    args = ("simulate", "--paths", "100", "--gamma", "0.1", "--gamma", "0.01", "--strategy", "inventory",
            "--strategy", "symmetric", "--strategy", "glft", "--seed", "9", "--json")
    first = cli(*args)
    assert first.exit_code == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["params"]["paths"] == 100 and data["params"]["A"] == 140 and data["params"]["steps"] == 200
    assert [r["gamma"] for r in data["results"]] == [0.1, 0.01]
    for row in data["results"]:
        for name in ("inventory", "symmetric", "glft"):
            assert set(row[name]) == {"spread", "profit_mean", "profit_std", "final_q_mean", "final_q_std"}
    assert cli(*args).stdout == first.stdout


def test_flags_change_the_setup(cli) -> None:
    data = json.loads(cli("simulate", "--paths", "50", "--sigma", "1", "--k", "3", "--A", "50", "--dt", "0.01",
                          "--json").stdout)
    assert data["params"]["sigma"] == 1 and data["params"]["steps"] == 100
    assert data["results"][0]["inventory"]["spread"] == pytest.approx(20 * math.log(1 + 0.1 / 3))


def test_bad_input_is_a_usage_error(cli) -> None:
    for args in (("--strategy", "martingale"), ("--gamma", "0"), ("--paths", "0"), ("--dt", "2")):
        result = cli("simulate", *args)
        assert result.exit_code == 2, args
        assert result.stderr.count("\n") == 1 and "error:" in result.stderr
