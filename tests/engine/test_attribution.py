"""Per-fill attribution: capture at the fill, markouts resolved as time passes, the exact PnL split."""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from decimal import Decimal as D
from pathlib import Path

import pytest

from bybit_mm.domain.orders import Side
from bybit_mm.engine.attribution import Attribution, FillMarkouts
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.journal import Journal
from bybit_mm.engine.ledger import Ledger, book_executions
from bybit_mm.engine.snapshot import pnl_split, summarize
from bybit_mm.engine.trader import LiveTrader
from bybit_mm.exchange.port import Execution
from tests.engine.conftest import make_client

BUY, SELL = 1, -1


def _tracker(**kw: object) -> tuple[Attribution, list[FillMarkouts]]:
    done: list[FillMarkouts] = []
    return Attribution(on_done=done.append, **kw), done  # type: ignore[arg-type]


def test_the_worked_example_a_buy_marked_at_1_10_and_60_s() -> None:
    att, done = _tracker()
    att.on_mid(0, 100.0)
    assert att.on_fill(500, BUY, 99.9, 2.0, key="b1") == 100.0  # the mid at the fill: 100
    assert att.capture == pytest.approx(0.2)  # (100 - 99.9) x 2
    att.on_mid(1_200, 100.2)
    assert att.mk_fills == [0, 0, 0]  # 1 s after the fill (1.5 s) has not come yet
    att.on_mid(10_500, 100.3)  # exactly 10 s after: this is the mid at 10 s; at 1 s it was 100.2
    assert att.mk_fills == [1, 1, 0] and att.mk_usdt[:2] == pytest.approx([0.6, 0.8])
    assert att.markout_bps(0) == pytest.approx(30.03, abs=0.01)  # the brief's +30 bps, of 99.9
    att.on_mid(40_000, 99.7)
    att.on_mid(70_000, 99.6)  # the 60 s horizon (60.5 s) passed: the mid then was 99.7
    assert att.mk_fills == [1, 1, 1] and att.pending == 0
    assert att.mk_usdt[2] == pytest.approx(-0.4)  # (99.7 - 99.9) x 2
    assert att.adverse == pytest.approx(0.6)  # capture 0.2 - markout -0.4: the mid fell 0.3 against us
    (f,) = done
    assert f.key == "b1" and f.mid == 100.0
    assert f.capture_bps == pytest.approx(10.01, abs=0.01)  # 0.1 of 99.9
    assert f.markouts_bps == pytest.approx({1: 30.03, 10: 40.04, 60: -20.02}, abs=0.01)


def test_a_sell_and_a_mid_at_the_fill_given_by_the_driver() -> None:
    att, done = _tracker()
    att.on_mid(0, 100.0)
    att.on_fill(1_000, SELL, 100.1, 1.0, mid=100.05)  # the replayed touch at the execution
    assert att.mid == 100.05 and att.capture == pytest.approx(0.05)
    att.on_mid(2_500, 100.3)  # at 2 s the mid was 100.05 (seen at 1 s): +5 bps for the sell
    assert att.mk_usdt[0] == pytest.approx(0.05)
    att.finish(70_000)  # the run reached 61 s: 10 and 60 s resolved at the last mid, 100.3
    assert att.mk_fills == [1, 1, 1] and att.mk_usdt[2] == pytest.approx(-0.2)
    assert att.adverse == pytest.approx(0.25) and done[0].markouts_bps[60] == pytest.approx(-0.2 / 100.1 * 1e4)


def test_horizons_past_the_end_stay_unresolved() -> None:
    att, done = _tracker()
    att.on_mid(0, 100.0)
    att.on_fill(100_000, BUY, 99.95, 1.0)
    att.on_mid(105_000, 100.1)
    att.finish(130_000)  # 30 s after the fill: 1 s and 10 s reached, 60 s not
    assert att.mk_fills == [1, 1, 0] and att.markout_bps(2) is None and att.adverse == 0
    assert done[0].markouts_bps[60] is None and done[0].markouts_bps[10] == pytest.approx(0.15 / 99.95 * 1e4)
    assert att.pending == 0


def test_a_fill_reported_late_is_priced_from_the_mids_seen() -> None:
    att, done = _tracker(history_s=120)
    for t, m in ((0, 100.0), (1_000, 100.5), (2_000, 101.0), (9_000, 99.0)):
        att.on_mid(t, m)
    # reported at 9 s, it happened at 1.5 s: mid 100.5 then; the 1 s horizon (2.5 s) saw 101
    assert att.on_fill(1_500, BUY, 100.4, 1.0) == 100.5
    assert att.mk_fills == [1, 0, 0] and att.mk_usdt[0] == pytest.approx(0.6)
    att.on_mid(12_000, 98.0)  # 11.5 s passed: the mid then was 99
    assert att.mk_usdt[1] == pytest.approx(-1.4)
    # older than every mid remembered: not priced, not guessed
    assert att.on_fill(-5_000, SELL, 100.0, 1.0) is None and att.unpriced == 1 and att.fills == 1
    assert done == []


def test_memory_stays_bounded() -> None:
    att = Attribution(history_s=1, max_history=50)
    for i in range(20_000):
        att.on_mid(i * 100, 100.0 + (i % 7))
        if i % 10 == 0:
            att.on_fill(i * 100, BUY if i % 20 else SELL, 100.0, 1.0)
    assert att._hist is not None and len(att._hist) <= 50
    assert att.pending <= 3 * 601  # a fill a second, each waiting at most 60 s per horizon
    assert att.mk_fills[2] == 2000 - 60


def _ex(i: int, side: Side, price: str, qty: str, fee: str, ts: int, kind: str = "trade") -> Execution:
    return Execution(f"e{i}", f"o{i}", f"mm-{i}", "BTCUSDT", side, D(price), D(qty), D(fee), kind == "trade", ts, kind)  # type: ignore[arg-type]


def test_the_split_adds_up_exactly() -> None:
    ledger = Ledger("BTCUSDT", D(10000))
    counters = dict.fromkeys(("placed", "amended", "cancelled", "rejected", "errors", "reduces", "liquidations"), 0)
    att = ledger.attribution
    att.on_mid(0, 95001.35)
    book_executions(ledger, [_ex(1, Side.BUY, "95001.3", "0.003", "0.0570007800", 100)], counters=counters)
    att.on_mid(30_000, 95003.15)
    book_executions(ledger, [_ex(2, Side.SELL, "95003.2", "0.001", "0.0190006400", 40_000)], counters=counters)
    att.on_mid(70_000, 94990.05)
    book_executions(ledger, [_ex(3, Side.SELL, "94990.0", "0.002", "0.10449", 75_000, "liquidation")],
                    counters=counters)
    book_executions(ledger, [_ex(4, Side.BUY, "0", "0.002", "0.00412345678901", 80_000, "funding")],
                    counters=counters)
    att.on_mid(130_000, 94980.55)
    s = summarize(ledger, counters, symbol="BTCUSDT", network="paper", stop_reason="end", mark=D("94980.5"),
                  equity=None, wallet_balance=None, position_qty=ledger.position.qty, min_liq_distance_pct=None,
                  cancelled_on_exit=0, flattened=False, started_ms=0, ended_ms=130_000, latency_p50_ms=None,
                  latency_p99_ms=None)
    assert s.spread_capture - s.adverse_selection + s.inventory_pnl - s.fees - s.funding == s.total_pnl
    assert s.total_pnl == s.realized_pnl + s.unrealized_pnl - s.fees - s.funding
    assert s.attributed_fills == 2 and s.fills == 3  # the forced close is inventory, not spread
    assert s.spread_capture == D("0.00015") + D("0.00005")  # 0.05 x 0.003 + 0.05 x 0.001
    # the buy's 60 s (60.1 s: the mid seen at 30 s): 95003.15 - 95001.3 = +1.85 x 0.003; the sell's
    # (100 s: the mid seen at 70 s): 95003.2 - 94990.05 = +13.15 x 0.001
    assert float(s.markout_60s) == pytest.approx(0.00555 + 0.01315) and s.markout_60s_fills == 2
    assert float(s.adverse_selection) == pytest.approx(0.0002 - (0.00555 + 0.01315))  # negative: the mid went our way
    notional = 95001.3 * 0.003 + 95003.2 * 0.001 + 94990.0 * 0.002
    assert s.spread_capture_bps == pytest.approx(0.0002 / notional * 1e4, abs=1e-4)
    assert s.markout_60s_bps == pytest.approx((0.00555 + 0.01315) / (95001.3 * 0.003 + 95003.2 * 0.001) * 1e4,
                                              abs=1e-4)
    split = pnl_split(ledger, D("94980.5"))
    assert split.total_pnl == s.total_pnl and split.bps["fees"] == pytest.approx(float(s.fees) / notional * 1e4,
                                                                                  abs=1e-4)


def test_the_journal_keeps_each_fills_markouts(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.start_run("BTCUSDT", "paper", 0, D(1000), resumed=False)
    ledger = Ledger("BTCUSDT", D(1000), attribution=Attribution(on_done=j.record_markouts))
    ledger.attribution.on_mid(0, 100.0)
    book_executions(ledger, [_ex(1, Side.BUY, "99.9", "1", "0.02", 500)], counters={"liquidations": 0}, journal=j)
    ledger.attribution.on_mid(1_600, 100.2)
    ledger.attribution.finish(30_000)
    ((ex, mid),) = j.fills("BTCUSDT")
    assert mid == D("100")  # the mid at the fill
    assert j.fill_markouts("BTCUSDT") == {"e1": pytest.approx({1: 10.01, 10: 30.03, 60: None}, abs=0.01)}
    j.close()


def test_paper_fills_are_priced_at_the_simulated_touch_of_their_time(config: EngineConfig, tmp_path: Path) -> None:
    # A lively market (300% vol): the quotes sit at least the fees from the mid and a position's
    # unwinding side at its fee floor, so a calm 10 minutes fills too seldom to check much.
    client = make_client(seed=3, vol=3.0)
    touches: list[tuple[int, float]] = []
    client.exchange.add_touch_listener(lambda symbol, ts, bid, ask, tick: touches.append(
        (ts, float(bid * tick + ask * tick) / 2)))
    journal = Journal(tmp_path / "paper.sqlite")
    trader = LiveTrader(client, client.clock, config.with_(duration_s=600), journal=journal)
    summary = asyncio.run(trader.run())
    fills = [(ex, mid) for ex, mid in journal.fills("BTCUSDT") if ex.exec_type == "trade"]
    assert len(fills) > 10 and summary.attributed_fills == summary.fills == len(fills)
    times = [t for t, _ in touches]
    for ex, mid in fills:  # the latest step of the simulated book at or before the execution
        i = bisect_right(times, ex.ts_ms) - 1
        assert mid is not None and float(mid) == pytest.approx(touches[i][1], abs=1e-9), ex.ts_ms
    marks = journal.fill_markouts("BTCUSDT")
    assert sum(m[60] is not None for m in marks.values()) == summary.markout_60s_fills > 0
    assert summary.markout_1s_fills >= summary.markout_10s_fills >= summary.markout_60s_fills
    assert summary.spread_capture - summary.adverse_selection + summary.inventory_pnl - summary.fees \
        - summary.funding == summary.total_pnl
    journal.close()


def test_a_resumed_session_keeps_the_attribution_of_its_earlier_fills(config: EngineConfig, tmp_path: Path) -> None:
    client = make_client(seed=3)
    journal = Journal(tmp_path / "paper.sqlite")
    first = asyncio.run(LiveTrader(client, client.clock, config.with_(duration_s=300), journal=journal).run())
    client.clock.advance(1000)
    again = asyncio.run(LiveTrader(client, client.clock, config.with_(duration_s=120), journal=journal,
                                   resume=True).run())
    journal.close()
    assert first.attributed_fills > 0 and again.fills >= first.fills
    assert again.attributed_fills == again.fills  # the session's fills: journaled ones with their mid, new ones
    # the first run's resolved markouts are counted again, not lost (its unresolved ones stay so)
    assert again.markout_1s_fills >= first.markout_1s_fills
    assert again.spread_capture - again.adverse_selection + again.inventory_pnl - again.fees - again.funding \
        == again.total_pnl
