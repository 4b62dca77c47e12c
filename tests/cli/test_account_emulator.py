"""End-to-end: the account commands through the CLI against a live emulator, with a profile pointing at it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bybit_mm.domain.orders import Side
from bybit_mm.emulator.runner import EmulatorHandle, running_emulator

ENV_KEY, ENV_SECRET = "BYBIT_EMU_TEST_KEY", "BYBIT_EMU_TEST_SECRET"


def _profile(home: Path, name: str, url: str) -> None:
    (home / "profiles").mkdir(parents=True, exist_ok=True)
    (home / "profiles" / f"{name}.toml").write_text(
        f'[exchange]\nnetwork = "emulator"\naccount = "live"\nurl = "{url}"\n'
        f'api_key_env = "{ENV_KEY}"\napi_secret_env = "{ENV_SECRET}"\nmax_retries = 6\n'
        '[market]\nsymbol = "BTCUSDT"\nleverage = 50\n', encoding="utf-8")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bybit_mm.cli.clients.RETRY_BASE_S", 0.001)


@pytest.fixture
def emu(home: Path) -> Iterator[EmulatorHandle]:
    with running_emulator(symbols=("BTCUSDT", "ETHUSDT"), seed=3, rate_limits=False) as handle:
        handle.run_until(handle.clock.now_ms() + 300_000)
        _profile(home, "emu", handle.url)
        yield handle


@pytest.fixture
def run(cli, emu):
    def go(*args: str, secret: str | None = None, input: str | None = None):
        env = {ENV_KEY: emu.api_key, ENV_SECRET: secret or emu.api_secret}
        return cli("--profile", "emu", *args, env=env, input=input)

    return go


def _json(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_set_leverage_then_already_set(run, emu) -> None:
    first = _json(run("set-leverage", "25", "--json"))
    assert first == {"symbol": "BTCUSDT", "leverage": 25.0, "changed": True, "max_leverage": 100.0,
                     "network": "emulator"}
    assert _json(run("set-leverage", "BTCUSDT", "25x", "--json"))["changed"] is False
    text = run("set-leverage", "25")
    assert text.exit_code == 0 and "already 25x" in text.stdout
    assert emu.call(emu.exchange.leverage, "BTCUSDT") == 25


def test_leverage_above_max_is_exit_2_before_any_change(run, emu) -> None:
    result = run("set-leverage", "ETHUSDT", "150")
    assert result.exit_code == 2 and "above its maximum, 100x" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_margin_mode_show_set_and_already(run) -> None:
    assert _json(run("margin-mode", "--json"))["margin_mode"] == "cross"
    assert _json(run("margin-mode", "isolated", "--json"))["changed"] is True
    again = _json(run("margin-mode", "BTCUSDT", "isolated", "--json"))
    assert again == {"symbol": "BTCUSDT", "margin_mode": "isolated", "changed": False, "network": "emulator"}
    assert "isolated" in run("margin-mode").stdout


def test_positions_balance_orders_cancel_all_flatten(run, emu) -> None:
    assert _json(run("positions", "--json")) == []
    flat = run("positions")
    assert flat.exit_code == 0 and "no open positions" in flat.stderr
    bal = _json(run("balance", "--json"))
    assert bal["wallet_balance"] == bal["equity"] == bal["available"] == 10000
    with emu.lock:
        ex = emu.exchange
        ex.set_margin_mode("isolated", None)
        ex.set_leverage("BTCUSDT", Decimal(50))
        ex.place_order(symbol="BTCUSDT", side=Side.BUY, order_type="Market", qty=Decimal("0.01"),
                       order_link_id="e2e-m")
        bid = ex.orderbook("BTCUSDT", 1).bids[0][0]
        ex.place_order(symbol="BTCUSDT", side=Side.BUY, order_type="Limit", qty=Decimal("0.01"),
                       price=bid - 100, time_in_force="PostOnly", order_link_id="e2e-l")
    (pos,) = _json(run("positions", "--json"))
    for key in ("symbol", "side", "size", "entry_price", "mark_price", "liquidation_price", "liq_distance_pct",
                "unrealized_pnl", "leverage", "margin_mode"):
        assert key in pos
    assert (pos["side"], pos["size"], pos["leverage"], pos["margin_mode"]) == ("long", 0.01, 50, "isolated")
    assert 0 < pos["liq_distance_pct"] < 2 and pos["liquidation_price"] < pos["entry_price"]
    table = run("positions")
    assert "BTCUSDT" in table.stdout and "long" in table.stdout
    (order,) = _json(run("orders", "--json"))
    assert {k: order[k] for k in ("client_order_id", "side", "price", "qty", "status")} == {
        "client_order_id": "e2e-l", "side": "Buy", "price": float(bid - 100), "qty": 0.01, "status": "new"}
    assert order["order_id"]
    assert "e2e-l" in run("orders", "BTCUSDT").stdout
    done = _json(run("flatten", "--json"))
    assert done["was_flat"] is False and done["cancelled_orders"] == 1
    assert done["order"]["reduce_only"] is True and done["order"]["side"] == "Sell"
    assert _json(run("positions", "--json")) == [] and _json(run("orders", "--json")) == []
    assert _json(run("flatten", "--json"))["was_flat"] is True
    assert _json(run("cancel-all", "--json")) == {"symbol": None, "cancelled": 0, "network": "emulator"}


def test_fees_live_and_live_quote(run) -> None:
    fees = _json(run("fees", "--live", "--json"))
    assert (fees["maker"], fees["taker"]) == (0.0002, 0.00055)
    q = _json(run("quote", "BTCUSDT", "--json"))
    for key in ("bid", "ask", "reservation_price", "best_bid", "best_ask", "sigma", "k", "model"):
        assert key in q
    assert q["ready"] is True and q["model"] == "as"
    assert q["bid"] < q["reservation_price"] < q["ask"] and q["best_bid"] < q["best_ask"]
    assert q["models"]["glft"]["bid_on_tick"] < q["best_ask"]
    # The break-even verdict: the chosen model's half-spread against the maker fee (2 bps at VIP0).
    assert q["break_even_half_spread_bps"] == pytest.approx(2.0)
    half = q["models"]["as"]["half_spread_bps"]
    assert half == pytest.approx((q["ask"] - q["bid"]) / 2 / q["mid"] * 1e4)
    assert q["below_break_even"] is (half < 2.0)
    assert q["verdict"] == ("at these fees the model's edge is below break-even" if half < 2.0 else None)
    table = run("quote", "BTCUSDT").stdout
    assert "GLFT" in table
    assert ("edge is below break-even" in table) is q["below_break_even"]


def test_wrong_secret_is_exit_4_without_the_secret(run) -> None:
    result = run("balance", secret="not-the-secret-123")
    assert result.exit_code == 4 and "not-the-secret-123" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_unreachable_url_is_exit_5_with_the_offline_hint(cli, home) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _profile(home, "dead", f"http://127.0.0.1:{port}")
    result = cli("--profile", "dead", "positions", env={ENV_KEY: "k", ENV_SECRET: "s"})
    assert result.exit_code == 5
    assert "cannot reach Bybit" in result.stderr and "--profile paper" in result.stderr
    assert result.stderr.count("\n") == 1


def test_mainnet_confirmation(run, emu, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bybit_mm.cli.clients.is_mainnet", lambda app: True)
    refused = run("set-leverage", "30")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert emu.call(emu.exchange.leverage, "BTCUSDT") != 30
    monkeypatch.setattr("bybit_mm.cli.clients.stdin_is_interactive", lambda: True)
    declined = run("set-leverage", "30", input="n\n")
    assert declined.exit_code == 2 and emu.call(emu.exchange.leverage, "BTCUSDT") != 30
    accepted = run("set-leverage", "30", input="y\n")
    assert accepted.exit_code == 0 and "MAINNET" in accepted.stderr
    assert emu.call(emu.exchange.leverage, "BTCUSDT") == 30
    monkeypatch.setattr("bybit_mm.cli.clients.stdin_is_interactive", lambda: False)
    assert run("set-leverage", "31", "--yes").exit_code == 0
    assert run("cancel-all").exit_code == 2
    assert run("margin-mode", "isolated").exit_code == 2


@pytest.mark.parametrize("fail_rate,max_ok", [(0.4, True), (1.0, False)])
def test_faults_are_retried_or_exit_5(cli, home, fail_rate: float, max_ok: bool) -> None:
    with running_emulator(fail_rate=fail_rate, seed=7, fault_kinds=("http_5xx", "system_error", "rate_limit"),
                          rate_limits=False) as emu:
        _profile(home, "flaky", emu.url)
        env = {ENV_KEY: emu.api_key, ENV_SECRET: emu.api_secret}
        results = [cli("--profile", "flaky", *args, env=env)
                   for args in (("balance", "--json"), ("positions", "--json"), ("set-leverage", "20", "--json"),
                                ("orders", "--json"))]
    for r in results:
        assert "Traceback" not in r.stderr
        if max_ok:
            assert r.exit_code == 0, r.stderr
        else:
            assert r.exit_code == 5 and r.stderr.count("\n") == 1


def _resting_bid(emu: EmulatorHandle, link: str) -> None:
    with emu.lock:
        ex = emu.exchange
        bid = ex.orderbook("BTCUSDT", 1).bids[0][0]
        ex.place_order(symbol="BTCUSDT", side=Side.BUY, order_type="Limit", qty=Decimal("0.01"),
                       price=bid - 100, time_in_force="PostOnly", order_link_id=link)


def test_mainnet_flatten_asks_even_when_flat(run, emu, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 11.1: flat on mainnet, `flatten` cancelled every order without asking and exited 0.
    monkeypatch.setattr("bybit_mm.cli.clients.is_mainnet", lambda app: True)
    _resting_bid(emu, "keep-me")
    refused = run("flatten")
    assert refused.exit_code == 2 and "MAINNET" in refused.stderr and "--yes" in refused.stderr
    assert [o.order_link_id for o in emu.call(emu.exchange.open_orders, "BTCUSDT")] == ["keep-me"]
    monkeypatch.setattr("bybit_mm.cli.clients.stdin_is_interactive", lambda: True)
    assert run("flatten", input="n\n").exit_code == 2
    assert len(emu.call(emu.exchange.open_orders, "BTCUSDT")) == 1
    done = _json(run("flatten", "--yes", "--json"))
    assert done["was_flat"] is True and done["cancelled_orders"] == 1


@pytest.mark.parametrize("args, fragment", [
    (("margin-mode", "crossed"), "neither a margin mode"),
    (("margin-mode", "BTCUSDT", "crossed"), "expected [SYMBOL] [isolated|cross]"),
    (("margin-mode", "FOOUSDT", "cross"), "unknown symbol 'FOOUSDT'"),
    (("margin-mode", "FOOUSDT"), "unknown symbol 'FOOUSDT'"),
    (("set-leverage", "FOO/USDT", "10"), "SYMBOL must be a linear USDT perpetual"),
])
def test_margin_mode_typos_and_unknown_symbols_are_errors(run, emu, args: tuple[str, ...], fragment: str) -> None:
    # Issue 11.9: `margin-mode crossed` was read as a symbol (exit 0) and `margin-mode FOOUSDT
    # cross` switched the account-wide mode.
    before = emu.call(emu.exchange.margin_mode, "BTCUSDT")
    result = run(*args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert fragment in result.stderr and result.stderr.count("\n") == 1
    assert emu.call(emu.exchange.margin_mode, "BTCUSDT") == before
