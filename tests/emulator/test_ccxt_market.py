"""Public market data through ccxt: markets, time, ticker, book, trades, klines, risk tiers."""

from __future__ import annotations

import time
from decimal import Decimal

from emu_client import run_with_client

from bybit_mm.domain.instruments import get_instrument

BTC = "BTC/USDT:USDT"


def test_load_markets_lists_the_emulated_linear_perpetuals(emu) -> None:
    async def scenario(ex):
        return await ex.load_markets()

    markets = run_with_client(emu, scenario)
    assert sorted(markets) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    m = markets[BTC]
    inst = get_instrument("BTCUSDT")
    assert m["swap"] and m["linear"] and m["active"] and m["settle"] == "USDT" and m["contractSize"] == 1
    assert Decimal(str(m["precision"]["price"])) == inst.tick_size
    assert Decimal(str(m["precision"]["amount"])) == inst.qty_step
    assert Decimal(str(m["limits"]["amount"]["min"])) == inst.min_qty
    assert Decimal(str(m["limits"]["cost"]["min"])) == inst.min_notional
    assert Decimal(str(m["limits"]["leverage"]["max"])) == inst.max_leverage


def test_time_ticker_book_trades_and_klines_come_from_the_sim(emu) -> None:
    async def scenario(ex):
        await ex.load_markets()
        return (await ex.fetch_time(), await ex.fetch_ticker(BTC), await ex.fetch_order_book(BTC, 10),
                await ex.fetch_trades(BTC, limit=20), await ex.fetch_ohlcv(BTC, "1m", limit=5),
                await ex.fetch_funding_rate(BTC))

    before = int(time.time() * 1000)
    now, ticker, book, trades, candles, funding = run_with_client(emu, scenario)
    after = int(time.time() * 1000)
    with emu.lock:
        sim_ticker = emu.exchange.ticker("BTCUSDT")
        sim_book = emu.exchange.orderbook("BTCUSDT", 10)
        sim_trades = emu.exchange.recent_trades("BTCUSDT", 20)
    assert before <= now <= after  # server time is the clock signatures are checked against
    assert Decimal(str(ticker["last"])) == sim_ticker.last
    assert Decimal(str(ticker["markPrice"])) == sim_ticker.mark
    assert Decimal(str(ticker["bid"])) == sim_ticker.bid < sim_ticker.ask == Decimal(str(ticker["ask"]))
    assert [[Decimal(str(p)), Decimal(str(q))] for p, q in book["bids"]] == [list(x) for x in sim_book.bids]
    assert [Decimal(str(p)) for p, _ in book["asks"]] == [p for p, _ in sim_book.asks]
    assert len(book["bids"]) == len(book["asks"]) == 10
    assert book["bids"][0][0] < book["asks"][0][0]
    assert [t["id"] for t in trades] == [t.trade_id for t in reversed(sim_trades)]  # ccxt sorts oldest first
    assert {t["side"] for t in trades} <= {"buy", "sell"}
    assert len(candles) == 5 and all(c[0] % 60_000 == 0 for c in candles)
    assert [c[0] for c in candles] == sorted(c[0] for c in candles)
    assert all(c[3] <= min(c[1], c[4]) and c[2] >= max(c[1], c[4]) for c in candles)
    assert Decimal(str(funding["fundingRate"])) == sim_ticker.funding_rate
    assert funding["fundingTimestamp"] == sim_ticker.next_funding_ms and funding["interval"] == "8h"


def test_risk_limit_tiers_are_the_domain_tiers(emu) -> None:
    async def scenario(ex):
        await ex.load_markets()
        return await ex.fetch_market_leverage_tiers(BTC)

    tiers = run_with_client(emu, scenario)
    inst = get_instrument("BTCUSDT")
    assert len(tiers) == len(inst.risk_tiers)
    for got, want in zip(tiers, inst.risk_tiers):
        assert Decimal(got["info"]["riskLimitValue"]) == want.limit_value
        assert Decimal(got["info"]["maintenanceMargin"]) == want.mmr
        assert Decimal(got["info"]["maxLeverage"]) == want.max_leverage
