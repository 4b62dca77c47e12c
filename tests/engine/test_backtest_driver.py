"""The backtest driver: the same strategy core as paper, over replayed event rows."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from replay_feed import MS, make_feed

from bybit_mm.data.events import ASK, BID, BOOK_CLEAR, EVENT_DTYPE, FLAG_LAST, FUNDING, MARK, TRADE_SELL
from bybit_mm.domain.instruments import get_instrument
from bybit_mm.engine.backtest import BacktestSettings, run_backtest
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.journal import Journal
from bybit_mm.sim.latency import ConstantLatency
from bybit_mm.ui.console import to_json

START = 1_767_225_600_000
BTC = get_instrument("BTCUSDT")
#: Short estimator windows so a 10-minute feed is quoted after about a minute; SVIP pays no maker
#: fee, so the fee floor does not push the quotes out of the feed's reach.
CONFIG = EngineConfig(vol_window_s=60.0, intensity_window_s=120.0, interval_s=1.0, bootstrap_trades=0,
                      duration_s=600.0, snapshot_every_s=30.0)
SETTINGS = BacktestSettings(fee_tier="SVIP", latency=ConstantLatency())


def _paper_run(events: np.ndarray, config: EngineConfig, journal: Journal) -> Any:
    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.exchange.paper_client import DryRunFuturesClient
    from bybit_mm.exchange.replay_feed import ReplayFeed
    from bybit_mm.sim.clock import SimClock
    from bybit_mm.sim.exchange import SimExchange

    clock = SimClock(START)
    sim = SimExchange(symbols=("BTCUSDT",), clock=clock, balance=Decimal(10000), fee_tier="SVIP",
                      queue_model="trade_through", latency_ms=0.0, market_source="external")
    feed = ReplayFeed(events, "BTCUSDT", clock)
    client = DryRunFuturesClient(sim, feed=feed)
    return asyncio.run(LiveTrader(client, feed.clock, config, journal=journal).run())


def _seq(client_order_id: str) -> str:
    # mm-<run start>-<sequence><kind>; a journaled backtest puts its run id after "mm"
    return client_order_id.rsplit("-", 1)[-1]


def _orders(j: Journal) -> list[tuple[Any, ...]]:
    return [(_seq(o["client_order_id"]), o["side"], o["price"], o["qty"], o["status"], o["created_ms"])
            for o in j.orders()]


def _fills(j: Journal) -> list[tuple[Any, ...]]:
    return [(_seq(ex.client_order_id) if ex.client_order_id else "", ex.side, ex.price, ex.qty, ex.fee,
             ex.is_maker, ex.ts_ms, ex.exec_type, mid) for ex, mid in j.fills()]


def test_paper_driver_and_backtest_give_the_same_orders_and_fills(tmp_path: Path) -> None:
    events = make_feed(600, marks=True, funding=(0.0001, START + 300_000))
    paper_journal, bt_journal = Journal(tmp_path / "paper.sqlite"), Journal(tmp_path / "bt.sqlite")
    paper = _paper_run(events, CONFIG, paper_journal)
    bt = run_backtest(events, CONFIG, BTC, SETTINGS, journal=bt_journal).summary
    assert paper.fills > 20 and paper.orders_amended > 100 and paper.funding != 0  # the scenario trades and funds
    assert _orders(bt_journal) == _orders(paper_journal)
    assert _fills(bt_journal) == _fills(paper_journal)
    for key in ("fills", "orders_placed", "orders_amended", "orders_cancelled", "orders_rejected", "realized_pnl",
                "fees", "funding", "spread_capture", "adverse_selection", "inventory_pnl", "markout_1s_fills",
                "markout_60s_bps", "position_qty", "equity", "wallet_balance", "total_pnl"):
        assert getattr(bt, key) == getattr(paper, key), key


def test_backtest_fills_are_attributed_and_journaled_with_their_markouts(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "bt.sqlite")
    s = run_backtest(make_feed(600), CONFIG, BTC, SETTINGS, journal=journal).summary
    fills = [ex for ex, mid in journal.fills("BTCUSDT") if ex.exec_type == "trade" and mid is not None]
    assert s.fills > 20 and s.attributed_fills == s.fills == len(fills)
    last_minute = sum(ex.ts_ms > s.ended_ms - 60_000 for ex in fills)
    assert s.markout_60s_fills == s.fills - last_minute  # the rest reach past the end: unresolved
    assert s.markout_1s_fills >= s.markout_10s_fills >= s.markout_60s_fills
    marks = journal.fill_markouts("BTCUSDT")
    assert sum(m[1] is not None for m in marks.values()) == s.markout_1s_fills
    assert s.spread_capture - s.adverse_selection + s.inventory_pnl - s.fees - s.funding == s.total_pnl
    journal.close()


def test_the_same_data_and_settings_give_byte_identical_json(tmp_path: Path) -> None:
    events = make_feed(300, seed=5)
    settings = BacktestSettings(fee_tier="SVIP", queue_model="queue", latency=ConstantLatency(30, 40, 10))
    journal = Journal(tmp_path / "j.sqlite")
    a = to_json(run_backtest(events, CONFIG, BTC, settings).to_dict())
    b = to_json(run_backtest(events.copy(), CONFIG, BTC, settings, journal=journal).to_dict())
    c = to_json(run_backtest(events.copy(), CONFIG, BTC, settings, journal=journal).to_dict())
    assert a == b == c
    # two journaled runs of the same data keep their own orders and fills
    runs = journal.db.execute("SELECT run_id FROM runs").fetchall()
    assert len(runs) == 2
    per_run = journal.db.execute("SELECT run_id, COUNT(*) FROM fills GROUP BY run_id").fetchall()
    assert len(per_run) == 2 and per_run[0][1] == per_run[1][1] > 0
    assert '"mark_source": "mid"' in a and '"funding_source": "none"' in a


def test_latency_changes_the_run() -> None:
    events = make_feed(300, seed=5)
    fast = run_backtest(events, CONFIG, BTC, SETTINGS).summary
    slow = run_backtest(events, CONFIG, BTC, BacktestSettings(fee_tier="SVIP",
                                                              latency=ConstantLatency(250, 250, 100))).summary
    assert (fast.fills, fast.orders_rejected, fast.total_pnl) != (slow.fills, slow.orders_rejected, slow.total_pnl)


def test_requote_0_decides_after_each_complete_update_and_100ms_at_most_ten_times_a_second() -> None:
    events = make_feed(120, seed=2)
    result = run_backtest(events, CONFIG, BTC, BacktestSettings(fee_tier="SVIP", requote_s=0.0))
    complete = int(np.count_nonzero(events["flags"] & FLAG_LAST))
    assert result.events == len(events)
    assert 0.9 * complete <= result.decisions <= complete
    tenth = run_backtest(events, CONFIG, BTC, BacktestSettings(fee_tier="SVIP", requote_s=0.1))
    assert 0.8 * 1200 <= tenth.decisions <= 1200 + 1  # 120 s at most every 100 ms


def _rows(*rows: tuple[int, int, int, float, float]) -> np.ndarray:
    return np.array([(k, f, ts * MS, ts * MS, px, q) for k, f, ts, px, q in rows], dtype=EVENT_DTYPE)


def _book(ts: int, bid: float, ask: float) -> list[tuple[int, int, int, float, float]]:
    return [(BOOK_CLEAR, 0, ts, 0.0, 0.0), (BID, 0, ts, bid, 5.0), (ASK, FLAG_LAST, ts, ask, 5.0)]


def test_funding_settles_at_the_announced_time_with_the_mark() -> None:
    from bybit_mm.sim.matching import TradeThroughModel
    from bybit_mm.sim.replay import ReplayExchange

    ex = ReplayExchange(BTC, balance=Decimal(10000), maker_fee=Decimal(0), taker_fee=Decimal("0.00055"),
                        leverage=Decimal(10), margin_mode="isolated", queue=TradeThroughModel())
    rows = _rows(*_book(START, 100000.0, 100000.1),
                 (FUNDING, FLAG_LAST, START, 0.0001, (START + 5_000) * MS),
                 (MARK, FLAG_LAST, START + 1000, 100010.0, 0.0),
                 (MARK, FLAG_LAST, START + 10_000, 100020.0, 0.0))
    got: list[Any] = []
    strategy = _Recorder(got)
    ex.now_ms = START
    ex.ledger.fill("BTCUSDT", __import__("bybit_mm.domain.orders", fromlist=["Side"]).Side.BUY,
                   Decimal("0.5"), Decimal(100000), Decimal(0), START)
    ex.run(rows, strategy, interval_ms=1000)
    funding = [e for e in got if e.exec_type == "Funding"]
    assert len(funding) == 1
    assert funding[0].ts_ms == START + 5_000
    assert funding[0].price == Decimal("100010.0")  # the mark known before the settlement
    assert funding[0].fee == Decimal("0.5") * Decimal("100010.0") * Decimal("0.0001")


def test_an_isolated_position_is_liquidated_by_the_mark_at_the_domain_price() -> None:
    from bybit_mm.domain.margin import isolated_liquidation
    from bybit_mm.domain.orders import Side
    from bybit_mm.sim.matching import TradeThroughModel
    from bybit_mm.sim.replay import ReplayExchange

    ex = ReplayExchange(BTC, balance=Decimal(10000), maker_fee=Decimal(0), taker_fee=Decimal("0.00055"),
                        leverage=Decimal(50), margin_mode="isolated", queue=TradeThroughModel())
    ex.ledger.fill("BTCUSDT", Side.BUY, Decimal(1), Decimal(100000), Decimal(0), START)
    ex._position_changed()
    info = isolated_liquidation(BTC, "long", Decimal(100000), Decimal(1), Decimal(50), taker_rate=Decimal("0.00055"))
    liq = info.liquidation_price
    above = float(liq) + 0.1
    rows = _rows(*_book(START, 100000.0, 100000.1), (MARK, FLAG_LAST, START + 1000, above, 0.0),
                 (TRADE_SELL, FLAG_LAST, START + 1500, above, 0.1), (MARK, FLAG_LAST, START + 2000, float(liq), 0.0))
    got: list[Any] = []
    ex.run(rows, _Recorder(got), interval_ms=1000)
    busts = [e for e in got if e.exec_type == "BustTrade"]
    assert len(busts) == 1 and busts[0].ts_ms == START + 2000
    assert ex.ledger.positions["BTCUSDT"].qty == 0
    assert ex.ledger.balance == Decimal(10000) - info.position_margin  # the position margin is lost (IM + fee to close)


class _Recorder:
    """A strategy that never trades and keeps the executions."""

    def __init__(self, got: list[Any]) -> None:
        self.got = got

    def on_book(self, ts_ms: int, bid_tick: int, ask_tick: int) -> None:
        pass

    def on_trade(self, ts_ms: int, price: float, buy: bool) -> None:
        pass

    def decide(self, now_ms: int) -> list[Any]:
        return []

    def on_execution(self, ex: Any) -> None:
        self.got.append(ex)


@pytest.mark.parametrize("queue_model", ["trade_through", "queue"])
def test_a_print_at_our_price_fills_only_under_the_queue_model_once_the_queue_ahead_is_gone(queue_model: str) -> None:
    from bybit_mm.domain.orders import Side
    from bybit_mm.sim.matching import make_queue_model
    from bybit_mm.sim.replay import ReplayExchange

    import random

    ex = ReplayExchange(BTC, balance=Decimal(10000), maker_fee=Decimal(0), taker_fee=Decimal("0.00055"),
                        leverage=Decimal(10), margin_mode="isolated",
                        queue=make_queue_model(queue_model, random.Random(1)))
    placed: list[Any] = []

    class Quoter(_Recorder):
        def decide(self, now_ms: int) -> list[Any]:
            if placed:
                return []
            return [lambda t: placed.append(ex.place_post_only(Side.BUY, Decimal("100000.0"), Decimal("0.300"), "b"))]

    got: list[Any] = []
    rows = _rows(*_book(START, 100000.0, 100000.1),
                 # we join behind the 5 displayed at START; the level shrinks to 2, then 0.5: 0.5 ahead
                 (BID, FLAG_LAST, START + 1000, 100000.0, 2.0),
                 (BID, FLAG_LAST, START + 2000, 100000.0, 0.5),
                 (TRADE_SELL, FLAG_LAST, START + 3000, 100000.0, 0.6),  # at our price: 0.5 ahead, 0.1 for us
                 (TRADE_SELL, FLAG_LAST, START + 4000, 99999.9, 0.2))   # through our price: 0.2 for us
    ex.run(rows, Quoter(got), interval_ms=1000)
    fills = [(e.ts_ms, e.qty) for e in got]
    if queue_model == "queue":
        assert fills == [(START + 3000, Decimal("0.100")), (START + 4000, Decimal("0.200"))]
    else:
        assert fills == [(START + 4000, Decimal("0.200"))]
