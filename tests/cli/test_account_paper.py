"""The account commands with the paper profile: offline, and the account survives restarts."""

from __future__ import annotations

import json
from pathlib import Path


def _json(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_paper_commands_work_offline_and_persist(cli, home: Path) -> None:
    assert _json(cli("--profile", "paper", "balance", "--json"))["wallet_balance"] == 10000
    assert _json(cli("--profile", "paper", "set-leverage", "40", "--json"))["changed"] is True
    # a new process (invocation) reads the saved account: the leverage is already 40x
    assert _json(cli("--profile", "paper", "set-leverage", "40", "--json"))["changed"] is False
    assert _json(cli("--profile", "paper", "margin-mode", "isolated", "--json"))["changed"] is True
    assert _json(cli("--profile", "paper", "margin-mode", "--json"))["margin_mode"] == "isolated"
    assert (home / "data" / "paper" / "paper" / "account.sqlite").is_file()
    assert _json(cli("--profile", "paper", "positions", "--json")) == []
    assert _json(cli("--profile", "paper", "orders", "--json")) == []
    assert _json(cli("--profile", "paper", "cancel-all", "--json"))["cancelled"] == 0
    assert _json(cli("--profile", "paper", "flatten", "--json"))["was_flat"] is True
    assert _json(cli("--profile", "paper", "fees", "--live", "--json"))["taker"] == 0.00055
    assert cli("--profile", "paper", "set-leverage", "101").exit_code == 2
    huge = cli("--profile", "paper", "set-leverage", "1E26")  # one line, not Decimal's overflow traceback
    assert huge.exit_code == 2 and "at most 200" in huge.stderr and "Traceback" not in huge.stderr


def test_paper_position_survives_a_restart(home: Path) -> None:
    import asyncio
    from decimal import Decimal

    from bybit_mm.config.profiles import resolve
    from bybit_mm.domain.orders import Side
    from bybit_mm.exchange.paper_client import DryRunFuturesClient

    profile = resolve("paper")

    async def open_long() -> None:
        client = DryRunFuturesClient.from_profile(profile)
        await client.place_order("BTCUSDT", Side.BUY, Decimal("0.01"), order_type="Market",
                                 client_order_id="persist-1")
        await client.close()

    asyncio.run(open_long())

    async def read() -> tuple:
        client = DryRunFuturesClient.from_profile(profile)
        try:
            return await client.positions(), await client.balance(), await client.executions()
        finally:
            await client.close()

    positions, balance, fills = asyncio.run(read())
    assert [(p.side, p.size) for p in positions] == [("long", Decimal("0.01"))]
    assert balance.wallet_balance < 10000  # the taker fee was paid and remembered
    assert [f.client_order_id for f in fills] == ["persist-1"]


def test_corrupt_paper_account_is_a_config_error(cli, home: Path) -> None:
    path = home / "data" / "paper" / "paper" / "account.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    result = cli("--profile", "paper", "balance")
    assert result.exit_code == 3 and "corrupt" in result.stderr


def test_positions_and_orders_fit_80_columns_without_cutting_a_price(cli, home: Path) -> None:
    import asyncio
    import re
    from decimal import Decimal

    from bybit_mm.config.profiles import resolve
    from bybit_mm.domain.orders import Side
    from bybit_mm.exchange.paper_client import DryRunFuturesClient

    async def trade() -> None:
        client = DryRunFuturesClient.from_profile(resolve("paper"))
        try:
            await client.set_leverage("BTCUSDT", Decimal("12.5"))
            await client.place_order("BTCUSDT", Side.SELL, Decimal("0.012"), order_type="Market",
                                     client_order_id="fit-0")
            book = await client.order_book("BTCUSDT")
            for i, (side, px) in enumerate([(Side.BUY, book.best_bid - 1000), (Side.SELL, book.best_ask + 1000)]):
                await client.place_order("BTCUSDT", side, Decimal("0.001"), px, client_order_id=f"fit-{i + 1}")
        finally:
            await client.close()

    asyncio.run(trade())
    for width in ("80", "60"):
        env = {"COLUMNS": width}
        pos = json.loads(cli("--profile", "paper", "positions", "--json").stdout)
        table = cli("--profile", "paper", "positions", env=env).stdout
        assert max(len(line) for line in table.splitlines()) <= int(width)
        assert "…" not in table
        flat = re.sub(r"\s+", " ", table)
        entry = Decimal(str(pos[0]["entry_price"]))
        places = -entry.normalize().as_tuple().exponent
        liq = f"{Decimal(str(pos[0]['liquidation_price'])):,.{places}f}"  # on the price's tick
        assert f" {entry.normalize():f} " in flat and f" {liq} " in flat, table
        assert "liq price" in table and "uPnL" in table and "BTCUSDT" in table
        orders = json.loads(cli("--profile", "paper", "orders", "--json").stdout)
        table = cli("--profile", "paper", "orders", env=env).stdout
        assert max(len(line) for line in table.splitlines()) <= int(width) and "…" not in table
        for o in orders:
            assert re.search(rf"\s{re.escape(format(Decimal(str(o['price'])).normalize(), 'f'))}\s", table), table
