"""The paper account store: only what changed is written, history stays bounded, old files migrate."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

from bybit_mm.domain.orders import Side
from bybit_mm.exchange import paper_store
from bybit_mm.exchange.paper_client import DryRunFuturesClient
from bybit_mm.exchange.paper_store import PaperStore
from bybit_mm.sim.clock import SimClock
from bybit_mm.sim.exchange import SimExchange


def _client(path: Path) -> DryRunFuturesClient:
    store = PaperStore(path).open()
    sim = SimExchange(symbols=("BTCUSDT",), seed=3, clock=SimClock(1_767_225_600_000))
    return DryRunFuturesClient(sim, store=store, saved_state=store.load())


def _rows(path: Path, table: str) -> int:
    db = sqlite3.connect(str(path))
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        db.close()


def test_only_changes_are_written_and_the_history_stays_bounded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(paper_store, "KEPT_EXECUTIONS", 10)
    path = tmp_path / "account.sqlite"
    client = _client(path)
    writes: list[bool] = []
    real = client.store.write  # type: ignore[union-attr]
    monkeypatch.setattr(client.store, "write", lambda *a: writes.append(real(*a)) or writes[-1])

    async def trade() -> None:
        for i in range(30):
            side = Side.BUY if i % 2 else Side.SELL
            await client.place_order("BTCUSDT", side, Decimal("0.001"), order_type="Market",
                                     client_order_id=f"t-{i}")
            client.exchange.run_until(client.clock.now_ms() + 1000)
        writes.clear()
        for _ in range(20):  # the market moves, the account does not: nothing to write
            client.exchange.run_until(client.clock.now_ms() + 1000)
            await client.open_orders("BTCUSDT")
            client.save()

    asyncio.run(trade())
    assert writes and not any(writes)
    asyncio.run(client.close())
    assert _rows(path, "executions") <= 2 * 10  # pruned as it goes
    with PaperStore(path) as store:
        state = store.load()
    assert state is not None and len(state["executions"]) == 10
    assert [e["order_link_id"] for e in state["executions"]] == [f"t-{i}" for i in range(20, 30)]
    assert state["market"]["BTCUSDT"]["mid"]  # the last prices were written on close


def test_an_amend_is_written_with_the_next_change_or_on_close(tmp_path: Path) -> None:
    path = tmp_path / "account.sqlite"
    client = _client(path)

    def stored_prices() -> list[str]:
        db = sqlite3.connect(str(path))
        try:
            return sorted(json.loads(r[0])["price"] for r in db.execute("SELECT data FROM orders"))
        finally:
            db.close()

    async def run() -> None:
        t = await client.ticker("BTCUSDT")
        far = t.bid - 1000
        bid = await client.place_order("BTCUSDT", Side.BUY, Decimal("0.001"), far, client_order_id="b-1")
        assert stored_prices() == [str(far)]  # a new order is written at once
        for k in range(1, 4):
            await client.amend_order("BTCUSDT", order_id=bid.order_id, price=far - k)
        assert stored_prices() == [str(far)]  # a killed run would resume it at the placed price
        await client.place_order("BTCUSDT", Side.SELL, Decimal("0.001"), t.ask + 1000, client_order_id="a-1")
        assert stored_prices() == sorted([str(far - 3), str(t.ask + 1000)])  # went with the next change
        await client.amend_order("BTCUSDT", order_id=bid.order_id, price=far - 4)
        await client.close()
        assert stored_prices() == sorted([str(far - 4), str(t.ask + 1000)])  # the last save writes it

    asyncio.run(run())


def test_a_legacy_account_json_is_migrated_once(tmp_path: Path) -> None:
    old = SimExchange(symbols=("BTCUSDT",), seed=3, clock=SimClock(1_767_225_600_000))
    old.place_order(symbol="BTCUSDT", side=Side.BUY, order_type="Market", qty=Decimal("0.01"), order_link_id="old-1")
    old.run_until(old.clock.now_ms() + 1000)
    state = old.account_state()
    state["market"] = old.market_state()
    (tmp_path / "account.json").write_text(json.dumps(state), encoding="utf-8")
    client = _client(tmp_path / "account.sqlite")

    async def read() -> tuple:
        try:
            return await client.positions(), await client.executions()
        finally:
            await client.close()

    positions, fills = asyncio.run(read())
    assert [(p.side, p.size) for p in positions] == [("long", Decimal("0.01"))]
    assert [f.client_order_id for f in fills] == ["old-1"]
    assert not (tmp_path / "account.json").exists() and (tmp_path / "account.json.migrated").exists()
    with PaperStore(tmp_path / "account.sqlite") as store:
        again = store.load()
    assert again is not None and again["ledger"] == state["ledger"]


def test_a_corrupt_database_is_a_config_error(cli, home: Path) -> None:
    path = home / "data" / "paper" / "paper" / "account.sqlite"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database at all" * 100)
    r = cli("--profile", "paper", "balance")
    assert r.exit_code == 3 and "corrupt" in r.stderr and "Traceback" not in r.stderr
