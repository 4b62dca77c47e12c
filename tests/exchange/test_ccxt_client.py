"""The ccxt adapter's edge: error translation, retries under injected faults, idempotent creates."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal

import pytest
from fast_retry import fast_backoff

from bybit_mm.domain.orders import Side
from bybit_mm.emulator.runner import running_emulator
from bybit_mm.errors import AuthError, ExchangeUnavailable, UsageError
from bybit_mm.exchange.ccxt_client import BybitFuturesClient

BTC = "BTCUSDT"


def _run(client: BybitFuturesClient, coro_fn):
    async def main():
        try:
            return await coro_fn(client)
        finally:
            await client.close()

    return asyncio.run(main())


def _client(url: str, key: str, secret: str, **kw) -> BybitFuturesClient:
    kw.setdefault("backoff", fast_backoff())
    return BybitFuturesClient(network="emulator", url=url, api_key=key, api_secret=secret, **kw)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_wrong_secret_is_an_auth_error_without_the_secret() -> None:
    with running_emulator() as emu:
        client = _client(emu.url, emu.api_key, "wrong-secret-value")
        with pytest.raises(AuthError) as e:
            _run(client, lambda c: c.balance())
    assert e.value.ret_code == 10004 and e.value.exit_code == 4
    assert "wrong-secret-value" not in e.value.one_line()
    assert "wrong-secret-value" not in str(e.value.__cause__)


def test_unreachable_url_says_so_and_points_to_paper() -> None:
    client = _client(f"http://127.0.0.1:{_closed_port()}", "k", "s", backoff=fast_backoff(2))
    with pytest.raises(ExchangeUnavailable) as e:
        _run(client, lambda c: c.ticker(BTC))
    line = e.value.one_line()
    assert "cannot reach Bybit" in line and "--profile paper" in line and e.value.exit_code == 5


def test_unknown_symbol_is_a_usage_error() -> None:
    with running_emulator() as emu:
        with pytest.raises(UsageError):
            _run(_client(emu.url, emu.api_key, emu.api_secret), lambda c: c.instrument("NOPEUSDT"))


def test_reads_succeed_through_injected_faults() -> None:
    with running_emulator(fail_rate=0.5, seed=5, fault_kinds=("http_5xx", "system_error", "rate_limit", "timeout"),
                          fault_hold_ms=600, rate_limits=False) as emu:
        emu.run_until(emu.clock.now_ms() + 60_000)
        client = _client(emu.url, emu.api_key, emu.api_secret, timeout_s=0.3, backoff=fast_backoff(10))

        async def go(c):
            return [await c.balance() for _ in range(6)], await c.ticker(BTC)

        balances, ticker = _run(client, go)
    assert all(b.wallet_balance == Decimal(10000) for b in balances) and ticker.bid > 0


def test_creates_under_faults_are_never_duplicated() -> None:
    with running_emulator(fail_rate=0.5, seed=11, fault_kinds=("http_5xx", "system_error", "timeout"),
                          fault_hold_ms=600, rate_limits=False) as emu:
        emu.run_until(emu.clock.now_ms() + 60_000)
        with emu.lock:
            bid = emu.exchange.orderbook(BTC, 1).bids[0][0]
        client = _client(emu.url, emu.api_key, emu.api_secret, timeout_s=0.3, backoff=fast_backoff(12))

        async def go(c):
            return [await c.place_order(BTC, Side.BUY, Decimal("0.001"), bid - 10 - i, client_order_id=f"nd-{i}")
                    for i in range(12)]

        placed = _run(client, go)
        with emu.lock:
            live = emu.exchange.open_orders(BTC)
    assert sorted(o.order_link_id for o in live) == sorted(f"nd-{i}" for i in range(12))
    assert sorted(o.order_id for o in live) == sorted(p.order_id for p in placed)


def test_retry_budget_exhausted_is_exit_5_not_a_crash() -> None:
    with running_emulator(fail_rate=1.0, fault_kinds=("http_5xx",)) as emu:
        client = _client(emu.url, emu.api_key, emu.api_secret, backoff=fast_backoff(2))
        with pytest.raises(ExchangeUnavailable) as e:
            _run(client, lambda c: c.balance())
    assert "HTTP 50" in e.value.one_line() and e.value.exit_code == 5


def test_network_names_pick_ccxt_hosts() -> None:
    async def public_url(c):
        return c._ex.implode_hostname(c._ex.urls["api"]["public"])

    assert public_url and "api-testnet.bybit" in _run(BybitFuturesClient(network="testnet"), public_url)
    assert "api-demo.bybit" in _run(BybitFuturesClient(network="demo"), public_url)
    assert _run(BybitFuturesClient(network="emulator", url="http://127.0.0.1:1/"), public_url) == "http://127.0.0.1:1"
    assert BybitFuturesClient(network="mainnet").is_mainnet
    assert not BybitFuturesClient(network="testnet").is_mainnet
