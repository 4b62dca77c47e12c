"""`paper --preset` and the profile's [sim] section: which market runs, and bad values refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bybit_mm.config.schema import SIM_PRESETS, SimSettings, profile_from_dict, profile_to_dict
from bybit_mm.sim.market import PRESETS, SyntheticMarketParams

FAST = ["paper", "--market", "sim", "--speed", "0", "--json", "--fresh"]


def _summary(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def _snapshots(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.strip().splitlines()[:-1]]


def _profile(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.toml"
    path.write_text('[exchange]\naccount = "paper"\n' + text, encoding="utf-8")
    return str(path)


def test_the_schema_knows_the_presets_and_parameters_of_the_sim() -> None:
    assert set(SIM_PRESETS) == {"auto", *PRESETS}
    sim_keys = {f for f in SimSettings.__dataclass_fields__} - {"preset"}
    assert sim_keys <= set(SyntheticMarketParams.__dataclass_fields__)
    # Unset keys stay out of the written profile; set ones are written back.
    p = profile_from_dict({"sim": {"preset": "thin-alt", "spread_ticks": 6}}, where="t")
    assert profile_to_dict(p)["sim"] == {"preset": "thin-alt", "spread_ticks": 6}
    assert p.sim.overrides() == {"spread_ticks": 6}


def test_preset_thin_alt_trades_its_symbol_on_its_market(cli: Callable[..., Any]) -> None:
    r = cli(*FAST, "--preset", "thin-alt", "--duration", "5m")
    assert r.exit_code == 0, r.stderr
    s = _summary(r.stdout)
    assert s["symbol"] == "ARBUSDT" and s["stop_reason"] == "duration reached"
    mids = [snap["mid"] for snap in _snapshots(r.stdout) if snap.get("mid")]
    assert mids and all(0.3 < m < 0.7 for m in mids)  # the preset's market starts at 0.50


def test_symbol_wins_over_the_presets_own(cli: Callable[..., Any]) -> None:
    r = cli(*FAST, "--preset", "thin-alt", "--symbol", "BTCUSDT", "--duration", "1m")
    assert r.exit_code == 0, r.stderr
    assert _summary(r.stdout)["symbol"] == "BTCUSDT"


def test_profile_sim_section_overrides_the_preset(cli: Callable[..., Any], tmp_path: Path) -> None:
    wide = _profile(tmp_path, '[market]\nsymbol = "ARBUSDT"\n[sim]\npreset = "thin-alt"\nspread_ticks = 12\n')
    r = cli("--profile", wide, *FAST, "--duration", "1m")
    assert r.exit_code == 0, r.stderr
    books = [snap for snap in _snapshots(r.stdout) if snap.get("best_bid") and snap.get("best_ask")]
    assert books
    tick = 0.0001
    assert all(round((b["best_ask"] - b["best_bid"]) / tick) >= 12 for b in books)


@pytest.mark.parametrize("text, needle", [
    ('[sim]\npreset = "deepest"\n', "sim.preset"),
    ('[sim]\nspred_ticks = 3\n', "sim.spred_ticks"),
    ('[sim]\ninformed_share = 1.5\n', "sim.informed_share"),
    ('[sim]\nspread_ticks = 0\n', "sim.spread_ticks"),
    ('[sim]\nannual_vol = nan\n', "sim.annual_vol"),
])
def test_a_bad_sim_section_exits_3_naming_the_key(cli: Callable[..., Any], tmp_path: Path, text: str,
                                                  needle: str) -> None:
    r = cli("--profile", _profile(tmp_path, text), *FAST, "--duration", "1m")
    assert r.exit_code == 3, r.stdout
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_a_bad_preset_option_exits_2_naming_it(cli: Callable[..., Any]) -> None:
    r = cli(*FAST, "--preset", "deepest", "--duration", "1m")
    assert r.exit_code == 2
    assert "--preset" in r.stderr and "deep-major" in r.stderr and "Traceback" not in r.stderr
