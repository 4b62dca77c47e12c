"""Authentication, rate limits and injected faults as ccxt sees them; faults never corrupt state."""

from __future__ import annotations

import ccxt
import pytest
from emu_client import run_with_client

from bybit_mm.emulator.runner import running_emulator

BTC = "BTC/USDT:USDT"


def test_wrong_secret_unknown_key_and_stale_timestamp(emu) -> None:
    async def balance(ex):
        return await ex.fetch_balance()

    with pytest.raises(ccxt.AuthenticationError, match="10004"):
        run_with_client(emu, balance, secret="not-the-secret")
    with pytest.raises(ccxt.AuthenticationError, match="10003"):
        run_with_client(emu, balance, apiKey="unknown-key")
    with pytest.raises(ccxt.InvalidNonce, match="10002"):  # client clock 60 s behind
        run_with_client(emu, balance, options={"timeDifference": 60_000})
    assert run_with_client(emu, balance)["USDT"]["total"] == 10000


def test_per_endpoint_rate_limit_raises_rate_limit_exceeded(emu) -> None:
    async def scenario(ex):
        await ex.load_markets()
        bid = (await ex.fetch_order_book(BTC, 1))["bids"][0][0]
        placed = 0
        with pytest.raises(ccxt.RateLimitExceeded, match="10006"):
            for i in range(11):  # create is limited to 10 per second
                await ex.create_order(BTC, "limit", "buy", 0.001, bid - 100 - i, {"postOnly": True})
                placed += 1
        return placed

    assert run_with_client(emu, scenario) == 10
    with emu.lock:
        assert len(emu.exchange.open_orders("BTCUSDT")) == 10  # the refused one was not applied


@pytest.mark.parametrize("kind,error", [
    ("http_5xx", ccxt.ExchangeNotAvailable),
    ("system_error", ccxt.ExchangeError),
    ("rate_limit", ccxt.RateLimitExceeded),
    ("timeout", ccxt.RequestTimeout),
])
def test_each_injected_fault_surfaces_as_ccxts_exception(kind: str, error: type) -> None:
    with running_emulator(fail_rate=1.0, fault_kinds=(kind,), fault_hold_ms=1_500) as emu:
        async def scenario(ex):
            await ex.fetch_time()

        with pytest.raises(error) as e:
            run_with_client(emu, scenario, timeout=300)
    if kind == "system_error":
        assert "10016" in str(e.value)


def test_faulted_creates_either_happened_or_not_and_a_retry_tells_which() -> None:
    """Bybit semantics: a failed create may have placed the order; resending its orderLinkId says."""
    with running_emulator(fail_rate=0.5, seed=11, fault_kinds=("http_5xx", "system_error", "timeout"),
                          fault_hold_ms=400, rate_limits=False) as emu:
        emu.run_until(emu.clock.now_ms() + 60_000)
        with emu.lock:
            bid = emu.exchange.orderbook("BTCUSDT", 1).bids[0][0]
            balance_before = emu.exchange.wallet().wallet_balance

        async def scenario(ex):
            ex.markets = None
            while ex.markets is None:
                try:
                    await ex.load_markets()
                except (ccxt.NetworkError, ccxt.ExchangeError):
                    pass
            outcomes: dict[str, str] = {}
            for i in range(24):
                link = f"flt-{i}"
                first = True
                while link not in outcomes:
                    try:
                        await ex.create_order(BTC, "limit", "buy", 0.001, float(bid) - 100 - i,
                                              {"postOnly": True, "clientOrderId": link})
                        outcomes[link] = "created" if first else "created-on-retry"
                    except ccxt.InvalidOrder as e:
                        assert "110072" in str(e) and not first
                        outcomes[link] = "had-happened"
                    except (ccxt.NetworkError, ccxt.ExchangeError):
                        first = False
            return outcomes

        outcomes = run_with_client(emu, scenario, timeout=200)
        with emu.lock:
            live = [o.order_link_id for o in emu.exchange.open_orders("BTCUSDT")]
            balance_after = emu.exchange.wallet().wallet_balance
    assert sorted(live) == sorted(outcomes)  # every order exactly once, none lost or doubled
    assert {"had-happened", "created-on-retry"} <= set(outcomes.values())
    assert balance_after == balance_before
