"""`bybit-mm fees`: the schedule, fees on a notional and break-even spreads."""

from __future__ import annotations

import json

import pytest

from bybit_mm.domain import fees


def test_standard_rates_are_todays_not_the_seeds() -> None:
    vip0 = fees.tier("VIP0")
    assert vip0.maker == fees.Decimal("0.0002")
    assert vip0.taker == fees.Decimal("0.00055")
    # The seed's 0.01% / 0.06% are outdated.
    assert (vip0.maker, vip0.taker) != (fees.Decimal("0.0001"), fees.Decimal("0.0006"))


def test_bybit_fee_example_10_btc_at_8000() -> None:
    notional = fees.Decimal(10) * fees.Decimal(8000)
    vip0 = fees.tier("vip0")
    assert vip0.fee(notional, maker=True) == 16
    assert vip0.fee(notional, maker=False) == 44


@pytest.mark.parametrize("name", ["VIP0", "vip1", "Supreme VIP", "svip", "PRO6", "non-vip"])
def test_tier_lookup_is_forgiving(name: str) -> None:
    assert fees.tier(name).name in fees.FEE_TIERS


def test_every_tier_is_cheaper_or_equal_than_the_one_below() -> None:
    tiers = list(fees.FEE_TIERS.values())
    vip = [t for t in tiers if t.name.startswith("VIP")] + [fees.tier("SVIP")]
    for lower, higher in zip(vip, vip[1:]):
        assert higher.maker <= lower.maker and higher.taker <= lower.taker


def test_fees_json_all_tiers(cli) -> None:
    result = cli("fees", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    names = [t["tier"] for t in data["tiers"]]
    assert names[:7] == ["VIP0", "VIP1", "VIP2", "VIP3", "VIP4", "VIP5", "SVIP"]
    assert {"PRO1", "PRO6"} <= set(names)
    assert data["source"].startswith("https://")
    vip0 = data["tiers"][0]
    assert vip0["maker_rate"] == 0.0002 and vip0["taker_rate"] == 0.00055
    # maker-maker round trip: (2 + 2) / 2 bps; maker-taker: (2 + 5.5) / 2 bps
    assert vip0["breakeven_maker_maker_bps"] == pytest.approx(2.0)
    assert vip0["breakeven_maker_taker_bps"] == pytest.approx(3.75)


def test_fees_notional(cli) -> None:
    result = cli("fees", "--tier", "VIP0", "--notional", "80000", "--json")
    assert result.exit_code == 0
    (row,) = json.loads(result.stdout)["tiers"]
    assert row["maker_fee"] == pytest.approx(16.0)
    assert row["taker_fee"] == pytest.approx(44.0)


def test_fees_table_goes_to_stdout_and_source_to_stderr(cli) -> None:
    result = cli("fees", "--tier", "VIP1")
    assert result.exit_code == 0
    assert "VIP 1" in result.stdout and "0.0400" in result.stdout
    assert "source:" in result.stderr and "source:" not in result.stdout


@pytest.mark.parametrize("args", [["--tier", "NOPE"], ["--notional", "abc"], ["--notional", "-5"]])
def test_fees_bad_input_exits_2_with_one_line(cli, args: list[str]) -> None:
    result = cli("fees", *args)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in result.output
