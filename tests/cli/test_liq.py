"""`bybit-mm liq`: the operator's liquidation calculator."""

from __future__ import annotations

import json

import pytest


def test_bybit_example_json(cli) -> None:
    result = cli("liq", "--side", "long", "--entry", "10000", "--qty", "1", "--leverage", "50", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["liquidation_price"] == 9850
    assert data["bankruptcy_price"] == 9800
    assert data["initial_margin"] == 200
    assert data["maintenance_margin"] == 50
    # Bybit's position margin holds the fee to close: 1 x 9,800 x 0.055% (issue 13: we showed 200).
    assert data["fee_to_close"] == pytest.approx(5.39, rel=1e-9)
    assert data["position_margin"] == pytest.approx(205.39, rel=1e-9)
    assert data["taker_rate"] == 0.00055
    assert "distance_pct" not in data and "roi_pct" not in data
    assert "0.5%" in result.stderr  # says which default MMR it used


def test_loss_at_liquidation_of_1_btc_at_95000_50x_is_bybits_1951_205(cli) -> None:
    result = cli("liq", "--side", "long", "--entry", "95000", "--qty", "1", "--leverage", "50", "--json")
    data = json.loads(result.stdout)
    assert data["bankruptcy_price"] == 93100
    assert data["position_margin"] == pytest.approx(1951.205, rel=1e-9)


def test_roi_at_a_mark_is_bybits_71_0767_pct(cli) -> None:
    """Bybit: 0.2 long @ 7,000, 10x, price 7,500 -> 100 / (140 + 0.693) = 71.07% (we said 71.4286%)."""
    result = cli("liq", "--side", "long", "--entry", "7000", "--qty", "0.2", "--leverage", "10",
                 "--mark", "7500", "--json")
    data = json.loads(result.stdout)
    assert data["unrealized_pnl"] == 100 and data["position_margin"] == pytest.approx(140.693, rel=1e-9)
    assert data["roi_pct"] == pytest.approx(71.0767, rel=1e-6)


def test_taker_rate_option(cli) -> None:
    result = cli("liq", "--side", "short", "--entry", "10000", "--qty", "1", "--leverage", "50",
                 "--taker-rate", "0.0002", "--json")
    data = json.loads(result.stdout)
    assert data["fee_to_close"] == pytest.approx(10200 * 0.0002, rel=1e-9)  # at the short's bankruptcy
    free = json.loads(cli("liq", "--side", "short", "--entry", "10000", "--qty", "1", "--leverage", "50",
                          "--taker-rate", "0", "--json").stdout)
    assert free["position_margin"] == free["initial_margin"] == 200


def test_distance_with_mark(cli) -> None:
    result = cli("liq", "--side", "short", "--entry", "10000", "--qty", "1", "--leverage", "50",
                 "--mark", "10000", "--json")
    data = json.loads(result.stdout)
    assert data["liquidation_price"] == 10150
    assert data["distance_pct"] == pytest.approx(1.5)


def test_symbol_tiers_are_used_without_mmr(cli) -> None:
    # 23 BTC @ 100,000 = 2.3M USDT: BTCUSDT's second tier (0.56%, deduction 1,200).
    result = cli("liq", "--side", "long", "--entry", "100000", "--qty", "23", "--leverage", "50",
                 "--symbol", "BTCUSDT", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mmr"] == pytest.approx(0.0056) and data["mm_deduction"] == 1200
    assert data["maintenance_margin"] == pytest.approx(2_300_000 * 0.0056 - 1200)


def test_explicit_mmr_and_extra_margin(cli) -> None:
    result = cli("liq", "--side", "long", "--entry", "10000", "--qty", "1", "--leverage", "50",
                 "--mmr", "0.01", "--mm-deduction", "10", "--extra-margin", "100", "--json")
    data = json.loads(result.stdout)
    # IM 200, MM 10000 x 1% - 10 = 90: LP = 10000 - (200 - 90) - 100.
    assert data["liquidation_price"] == 9790
    assert data["bankruptcy_price"] == 9700


def test_table_output(cli) -> None:
    result = cli("liq", "--side", "long", "--entry", "10000", "--qty", "1", "--leverage", "50",
                 "--mark", "9900")
    assert result.exit_code == 0, result.stderr
    assert "liquidation price" in result.stdout and "9,850" in result.stdout
    assert "9,800" in result.stdout and "0.51%" in result.stdout
    assert "position margin" in result.stdout and "205.39" in result.stdout and "-48.69%" in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--side", "up"], "--side must be long or short"),
    (["--qty", "-1"], "--qty must be greater than 0"),
    (["--leverage", "0"], "--leverage must be greater than 0"),
    (["--leverage", "101", "--symbol", "BTCUSDT"], "maximum of 100x"),
    (["--leverage", "95", "--symbol", "BTCUSDT", "--entry", "100000", "--qty", "23"], "risk-limit tiers"),
    (["--symbol", "NOPEUSDT"], "unknown symbol"),
    (["--entry", "abc"], "--entry must be a number"),
    (["--mmr", "0.03"], "liquidated at once"),
    # 50 BTC @ 100,000 = 5 M USDT, beyond BTCUSDT's shipped tiers: this used to print LP 98,536
    (["--symbol", "BTCUSDT", "--entry", "100000", "--qty", "50"], "beyond BTCUSDT's known risk-limit tiers"),
    (["--taker-rate", "1"], "--taker-rate is a fraction"),
    (["--taker-rate", "-0.1"], "--taker-rate"),
])
def test_bad_input_exits_2_with_one_line(cli, args: list[str], fragment: str) -> None:
    base = {"--side": "long", "--entry": "10000", "--qty": "1", "--leverage": "50"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    result = cli("liq", *[x for pair in base.items() for x in pair])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
