"""The engine books executions by their type: funding from the exchange's funding executions,
liquidations from its liquidation executions (nothing inferred from the wallet or missing ids)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from bybit_mm.domain.orders import Side
from bybit_mm.engine.config import EngineConfig
from bybit_mm.engine.journal import Journal
from bybit_mm.engine.ledger import Ledger
from bybit_mm.engine.snapshot import EngineSnapshot
from bybit_mm.engine.trader import LiveTrader
from bybit_mm.exchange.port import Execution

#: 2026-01-01T08:00:00Z, a BTCUSDT funding time.
FUNDING_MS = 1_767_254_400_000


def _client_before_funding(seed: int) -> Any:
    from bybit_mm.exchange.paper_client import DryRunFuturesClient
    from bybit_mm.sim.clock import SimClock
    from bybit_mm.sim.exchange import SimExchange

    sim = SimExchange(symbols=("BTCUSDT",), seed=seed, clock=SimClock(FUNDING_MS - 600_000), latency_ms=50.0)
    return DryRunFuturesClient(sim)


def _sim_funding(client: Any, since_ms: int) -> list[Any]:
    return [e for e in client.exchange.executions("BTCUSDT", limit=100_000, start_ms=since_ms)
            if e.exec_type == "Funding"]


def test_the_engines_funding_is_the_exchanges_and_survives_a_resume(config: EngineConfig, tmp_path: Path) -> None:
    client = _client_before_funding(seed=5)  # a seed whose engine holds a position at the funding time

    async def open_long() -> None:
        await client.set_leverage("BTCUSDT", Decimal(50))
        await client.place_order("BTCUSDT", Side.BUY, Decimal("0.02"), order_type="Market",
                                 time_in_force="IOC", client_order_id="test-open")

    asyncio.run(open_long())
    client.clock.advance(1000)
    started = client.clock.now_ms()
    journal = Journal(tmp_path / "journal.sqlite")
    snaps: list[EngineSnapshot] = []
    trader = LiveTrader(client, client.clock, config.with_(duration_s=900), journal=journal,
                        on_snapshot=snaps.append)
    summary = asyncio.run(trader.run())

    funding = _sim_funding(client, started)
    assert len(funding) == 1 and funding[0].ts_ms == FUNDING_MS and funding[0].fee != 0
    assert summary.funding == funding[0].fee
    # Before the funding time nothing is booked, after it exactly the exchange's amount, and the
    # engine's books agree with the exchange's wallet at every snapshot.
    assert all(s.funding == 0 for s in snaps if s.ts_ms < FUNDING_MS)
    assert all(s.funding == funding[0].fee for s in snaps if s.ts_ms > FUNDING_MS + 1000)
    for s in snaps:
        assert s.equity == s.ledger_equity, s.ts_ms
    rows = journal.db.execute("SELECT exec_id, amount, ts_ms FROM funding").fetchall()
    assert rows == [(funding[0].exec_id, str(funding[0].fee), FUNDING_MS)]
    assert all(e.exec_type == "trade" for e, _ in journal.fills("BTCUSDT"))

    # A resumed session re-reads executions from the last booked one: the funding is not booked twice.
    resumed = LiveTrader(client, client.clock, config.with_(duration_s=60), journal=journal, resume=True)
    again = asyncio.run(resumed.run())
    journal.close()
    assert again.funding == funding[0].fee


class _Executions:
    """A client stand-in that only answers ``executions``."""

    def __init__(self, execs: list[Execution]) -> None:
        self.execs = execs

    async def executions(self, symbol: str | None = None, *, since_ms: int | None = None,
                         limit: int = 100) -> list[Execution]:
        return self.execs


def _ex(n: int, kind: str, *, side: Side = Side.BUY, qty: str = "1", price: str = "100", fee: str = "0",
        cid: str = "") -> Execution:
    return Execution(f"e{n}", f"o{n}" if kind != "funding" else "", cid, "BTCUSDT", side, Decimal(price),
                     Decimal(qty), Decimal(fee), False, 1000 + n, kind)  # type: ignore[arg-type]


def test_exec_types_decide_what_is_booked(config: EngineConfig) -> None:
    execs = [
        _ex(1, "trade", qty="2", fee="0.04", cid="mm-1"),
        _ex(2, "trade", side=Side.SELL, qty="1", price="101"),  # no client id and no fee: still a trade
        _ex(3, "funding", qty="1", fee="0.25"),
        _ex(4, "funding", qty="1", fee="-0.1"),
        _ex(5, "liquidation", side=Side.SELL, qty="1", price="90"),
    ]
    trader = LiveTrader(_Executions(execs), None, config)  # type: ignore[arg-type]
    trader.ledger = Ledger("BTCUSDT", Decimal(1000))
    trader.ledger.attribution.on_mid(0, 100.5)
    asyncio.run(trader._book_fills())
    asyncio.run(trader._book_fills())  # the same executions again: nothing new
    L = trader.ledger
    assert trader.counters["liquidations"] == 1
    assert L.funding == Decimal("0.15")
    assert L.fills == 3 and L.position.qty == 0
    assert L.realized_pnl == Decimal(1) - Decimal(10)  # +1 on the sale at 101, -10 on the bust at 90
    # Spread capture counts our quotes' fills only, not the forced close.
    assert L.attribution.capture == 0.5 * 2 + 0.5 * 1 and L.attribution.fills == 2


def test_a_journal_from_before_exec_types_is_upgraded(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(str(path))
    db.executescript("""
        CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT NOT NULL, network TEXT NOT NULL,
            started_ms INTEGER NOT NULL, starting_balance TEXT NOT NULL, resumed INTEGER NOT NULL,
            ended_ms INTEGER, stop_reason TEXT, summary TEXT);
        CREATE TABLE fills (fill_key TEXT PRIMARY KEY, exec_id TEXT NOT NULL, run_id INTEGER NOT NULL,
            order_id TEXT, client_order_id TEXT, symbol TEXT NOT NULL, side TEXT NOT NULL, price TEXT NOT NULL,
            qty TEXT NOT NULL, fee TEXT NOT NULL, is_maker INTEGER NOT NULL, ts_ms INTEGER NOT NULL, mid TEXT);
        CREATE TABLE funding (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, symbol TEXT NOT NULL,
            ts_ms INTEGER NOT NULL, amount TEXT NOT NULL);
        INSERT INTO runs VALUES (1, 'BTCUSDT', 'paper', 1000, '10000', 0, NULL, NULL, NULL);
        INSERT INTO fills VALUES ('e1|o1|1500', 'e1', 1, 'o1', 'mm-1', 'BTCUSDT', 'Buy', '100', '1', '0.02', 1,
            1500, '100.5');
        INSERT INTO funding VALUES (1, 1, 'BTCUSDT', 2000, '0.3');
    """)
    db.commit()
    db.close()
    j = Journal(path)
    j.start_run("BTCUSDT", "paper", 3000, Decimal(10000), resumed=True)
    j.record_funding("BTCUSDT", 4000, Decimal("0.1"), "f2")
    state = j.resume_state("BTCUSDT")
    j.close()
    assert state is not None
    assert [(e.exec_id, e.exec_type) for e, _ in state.fills] == [("e1", "trade")]
    assert state.funding == Decimal("0.4") and state.funding_ids == {"f2"} and state.last_funding_ms == 4000
