"""The report's figures from hand-made journals: markouts, the PnL split, kinds, ids, old journals."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from pathlib import Path

import pytest

from bybit_mm.domain.orders import Side
from bybit_mm.engine.attribution import FillMarkouts
from bybit_mm.engine.journal import Journal, kind_of
from bybit_mm.engine.ledger import Ledger
from bybit_mm.errors import UsageError
from bybit_mm.exchange.port import Execution
from bybit_mm.report.data import load_report, mid_at
from bybit_mm.report.runs import find_run, list_runs

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
# The worked example: mids 100, 101, 99, 100 every 10 s; a buy of 2 @ 99.5 at 5 s (mid 100) and a
# sell of 1 @ 101.5 at 10 s (mid 101), fee 0.01 each; 0.1 funding paid at 25 s; the mark ends at 100.
MIDS = [(0, "100"), (10_000, "101"), (20_000, "99"), (30_000, "100")]
FILLS = [(1, Side.BUY, "99.5", "2", 5_000, "100"), (2, Side.SELL, "101.5", "1", 10_000, "101")]


def _fill(i: int, side: Side, price: str, qty: str, ts: int) -> Execution:
    return Execution(f"e{i}", f"o{i}", f"mm-{i}", "BTCUSDT", side, D(price), D(qty), D("0.01"), True, T0 + ts)


def write_journal(root: Path, kind: str, *, snapshots: bool, end: bool = True, profile: str = "default",
                  network: str | None = None) -> Path:
    """A journal under ``root`` holding the worked example as one run."""
    path = root / kind / profile / "journal-BTCUSDT.sqlite"
    j = Journal(path)
    j.start_run("BTCUSDT", network or kind, T0, D(10000), resumed=False)
    ledger = Ledger("BTCUSDT", D(10000))
    spread = D(0)
    for i, side, price, qty, ts, mid in FILLS:
        ex = _fill(i, side, price, qty, ts)
        j.record_fill(ex, D(mid))
        ledger.apply(ex)
        spread += (D(mid) - D(price)) * D(qty) * side.sign
    j.record_funding("BTCUSDT", T0 + 25_000, D("0.1"), "f1")
    ledger.funding = D("0.1")
    if snapshots:
        for ts, mid in MIDS:
            j.record_snapshot(T0 + ts, {"symbol": "BTCUSDT", "mid": D(mid), "equity": D(10000), "total_pnl": 0,
                                        "position_qty": 0, "emergency_reduces": 0})
    if end:  # a summary as the engine wrote it before its own attribution
        mark = D(100)
        j.end_run(T0 + 30_000, "duration reached", {
            "fills": ledger.fills, "spread_pnl": spread,
            "inventory_pnl": ledger.realized_pnl + ledger.unrealized(mark) - spread,
            "fees": ledger.fees, "funding": ledger.funding, "total_pnl": ledger.equity(mark) - D(10000)})
    j.close()
    return path


def test_mid_at_interpolates_only_between_close_observations() -> None:
    times, mids = [0, 10_000, 20_000], [100.0, 101.0, 99.0]
    assert mid_at(times, mids, 10_000, 1) == 101.0  # an observation at the time itself
    assert mid_at(times, mids, 15_000, 15_000) == 100.0
    assert mid_at(times, mids, 2_500, 10_000) == 100.25
    assert mid_at(times, mids, 15_000, 9_999) is None  # the observations around are 10 s apart
    assert mid_at(times, mids, 25_000, 60_000) is None and mid_at(times, mids, -1, 60_000) is None


def test_markouts_and_split_of_the_worked_example(tmp_path: Path) -> None:
    write_journal(tmp_path, "paper", snapshots=True)
    runs, problems = list_runs(tmp_path)
    assert problems == [] and [r.id for r in runs] == ["paper/default/BTCUSDT/1"]
    report = load_report(runs[0])
    m = {x.horizon_s: x for x in report.markouts}
    # 0 s: the spread captured: 0.5 x 2 on the buy, 0.5 x 1 on the sell.
    assert m[0].pnl == pytest.approx(1.5) and m[0].bps == pytest.approx(1.5 / 300.5 * 1e4)
    assert m[0].buy_bps == pytest.approx(0.5 / 99.5 * 1e4)
    # 10 s: the buy at 15 s -> mid 100 (between 101 and 99); the sell at 20 s -> 99.
    assert (m[10].fills, m[10].of) == (2, 2) and m[10].pnl == pytest.approx(1.0 + 2.5)
    assert m[10].sell_bps == pytest.approx(2.5 / 101.5 * 1e4)
    assert m[1].fills == 0 and m[1].bps is None  # snapshots 10 s apart: no 1 s markout
    assert m[60].fills == 0  # nothing after the run
    s = report.split
    assert s.source == "summary"
    assert (s.spread_capture, s.adverse_selection) == pytest.approx((1.5, 2.0))  # the sell's mid fell 2
    assert s.inventory == pytest.approx(1.0 - 2.0)  # realised 2 + unrealised 0.5 - spread 1.5, less adverse
    assert (s.fees, s.funding, s.net) == pytest.approx((0.02, 0.1, 2.38))
    assert s.spread_capture + s.adverse_selection + s.inventory - s.fees - s.funding == pytest.approx(s.net)
    assert report.curve_source == "snapshots" and len(report.curve.ts_ms) == 4
    assert any("1 s markouts not available" in n for n in report.notes)
    assert report.to_dict()["pnl_split"]["net"] == pytest.approx(2.38)


def test_the_engines_markouts_and_split_are_preferred_when_journaled(tmp_path: Path) -> None:
    path = write_journal(tmp_path, "paper", snapshots=True, end=False)
    j = Journal(path)
    j.run_id = 1
    for key, m1, m10, m60 in (("e1", 12.5, -3.0, None), ("e2", 4.0, None, None)):
        j.record_markouts(FillMarkouts(key, 0, 100.0, 0.0, {1: m1, 10: m10, 60: m60}))
    j.end_run(T0 + 30_000, "duration reached", {  # as the engine's summary has it now
        "fills": 2, "spread_capture": 1.5, "adverse_selection": 0.7, "inventory_pnl": 1.7, "fees": 0.02,
        "funding": 0.1, "total_pnl": 2.38})
    j.close()
    (run,) = list_runs(tmp_path)[0]
    report = load_report(run)
    m = {x.horizon_s: x for x in report.markouts}
    assert (m[1].fills, m[10].fills, m[60].fills) == (2, 1, 0)  # the engine's, not interpolated
    assert m[1].pnl == pytest.approx(12.5 * 99.5 * 2 / 1e4 + 4.0 * 101.5 / 1e4)
    s = report.split
    assert (s.spread_capture, s.adverse_selection, s.inventory, s.net) == pytest.approx((1.5, -0.7, 1.7, 2.38))
    assert s.adverse_horizon_s == 60 and report.to_dict()["adverse_horizon_s"] == 60
    assert s.spread_capture + s.adverse_selection + s.inventory - s.fees - s.funding == pytest.approx(s.net)


def test_a_run_without_snapshots_or_end_is_replayed_from_its_fills(tmp_path: Path) -> None:
    write_journal(tmp_path, "backtest", snapshots=False, end=False)
    (run,) = list_runs(tmp_path)[0]
    assert run.kind == "backtest" and run.stop_reason is None and run.net_pnl is None and run.fills == 2
    report = load_report(run)
    assert report.curve_source == "fills" and report.split.source == "fills"
    # Marked at the last fill's mid (101): realised 2 + unrealised 1.5 - fees 0.02 - funding 0.1.
    assert report.split.net == pytest.approx(3.38)
    assert report.split.adverse_selection is None and report.split.inventory == pytest.approx(2.0)
    assert report.curve.position == [2.0, 1.0]
    assert report.curve.net_pnl == pytest.approx([(100 - 99.5) * 2 - 0.01, 2.0 + 1.5 - 0.02])
    assert any("no snapshots journaled" in n for n in report.notes)
    assert any("no end in the journal" in n for n in report.notes)


def test_a_forced_close_has_no_markout_and_no_spread_capture(tmp_path: Path) -> None:
    path = write_journal(tmp_path, "paper", snapshots=True, end=False)
    j = Journal(path)
    j.run_id = 1
    liq = Execution("l1", "o9", "", "BTCUSDT", Side.SELL, D("98"), D("1"), D("0.05"), False, T0 + 12_000,
                    "liquidation")
    j.record_fill(liq, D("100"))  # the engine journals the mid it saw; its ledger ignores it
    j.close()
    (run,) = list_runs(tmp_path)[0]
    report = load_report(run)
    forced = next(p for p in report.fills if p.exec_type == "liquidation")
    assert forced.mid is None and all(v is None for v in forced.markouts_bps.values())
    assert report.markouts[0].of == 3 and report.markouts[0].pnl == pytest.approx(1.5)


def test_ids_are_unique_across_journals_and_tails_name_a_run(tmp_path: Path) -> None:
    write_journal(tmp_path, "paper", snapshots=False)
    write_journal(tmp_path, "backtest", snapshots=False)
    write_journal(tmp_path, "live", snapshots=False, profile="testnet", network="testnet")
    runs, _ = list_runs(tmp_path)
    assert sorted(r.id for r in runs) == ["backtest/default/BTCUSDT/1", "live/testnet/BTCUSDT/1",
                                          "paper/default/BTCUSDT/1"]
    assert {r.id: r.kind for r in runs}["live/testnet/BTCUSDT/1"] == "live"
    assert find_run(runs, "testnet/BTCUSDT/1").kind == "live"
    assert find_run(runs, "backtest/default/BTCUSDT/1/").kind == "backtest"
    with pytest.raises(UsageError, match="ambiguous"):
        find_run(runs, "BTCUSDT/1")
    with pytest.raises(UsageError) as missing:
        find_run(runs, "paper/default/BTCUSDT/9")
    assert "bybit-mm runs" in missing.value.one_line()


def test_a_truncated_journal_is_skipped_with_one_line(tmp_path: Path) -> None:
    good = write_journal(tmp_path, "paper", snapshots=False)
    bad = tmp_path / "live" / "x" / "journal-BTCUSDT.sqlite"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(good.read_bytes()[:100])
    runs, problems = list_runs(tmp_path)
    assert [r.kind for r in runs] == ["paper"]
    assert len(problems) == 1 and str(bad) in problems[0] and "not a readable journal" in problems[0]


OLD_SCHEMA = """
CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT NOT NULL, network TEXT NOT NULL,
    started_ms INTEGER NOT NULL, starting_balance TEXT NOT NULL, resumed INTEGER NOT NULL,
    ended_ms INTEGER, stop_reason TEXT, summary TEXT);
CREATE TABLE fills (fill_key TEXT PRIMARY KEY, exec_id TEXT NOT NULL, run_id INTEGER NOT NULL,
    order_id TEXT, client_order_id TEXT, symbol TEXT NOT NULL, side TEXT NOT NULL, price TEXT NOT NULL,
    qty TEXT NOT NULL, fee TEXT NOT NULL, is_maker INTEGER NOT NULL, ts_ms INTEGER NOT NULL, mid TEXT);
CREATE TABLE funding (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, symbol TEXT NOT NULL,
    ts_ms INTEGER NOT NULL, amount TEXT NOT NULL);
CREATE TABLE snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
    data TEXT NOT NULL);
INSERT INTO runs VALUES (1, 'BTCUSDT', 'paper', 1000, '10000', 0, 2000, 'duration reached', '{"fills": 1}');
INSERT INTO runs VALUES (2, 'BTCUSDT', 'mainnet', 3000, '10000', 0, NULL, NULL, NULL);
INSERT INTO fills VALUES ('e1', 'e1', 1, 'o1', 'mm-1', 'BTCUSDT', 'Buy', '100', '1', '0.02', 1, 1500, '100.5');
"""


def test_a_journal_from_before_kinds_is_read_as_it_is_and_migrated_when_written(tmp_path: Path) -> None:
    path = tmp_path / "paper" / "old" / "journal-BTCUSDT.sqlite"
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.close()
    runs, problems = list_runs(tmp_path)
    assert problems == [] and [(r.kind, r.fills) for r in runs] == [("paper", 1), ("live", 0)]
    assert load_report(runs[0]).fills[0].exec_type == "trade"
    assert "kind" not in {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(runs)")}  # untouched
    j = Journal(path)
    j.start_run("BTCUSDT", "backtest", 4000, D(10000), resumed=False)
    j.close()
    assert [r.kind for r in list_runs(tmp_path)[0]] == ["paper", "live", "backtest"]


@pytest.mark.parametrize("network, kind", [("paper", "paper"), ("backtest", "backtest"), ("mainnet", "live"),
                                           ("testnet", "live"), ("demo", "live"), ("emulator", "live")])
def test_kind_of_network(network: str, kind: str) -> None:
    assert kind_of(network) == kind
