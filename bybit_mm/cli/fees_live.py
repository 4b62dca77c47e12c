"""`bybit-mm fees --live`: the account's actual maker/taker rates (``/v5/account/fee-rate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bybit_mm.cli.context import AppContext


def live_fee_dict(symbol: str, maker: Any, taker: Any, network: str) -> dict[str, Any]:
    """The `fees --live --json` document (rates as fractions and in percent)."""
    from decimal import Decimal

    hundred = Decimal(100)
    return {"symbol": symbol, "network": network, "maker": maker, "taker": taker,
            "maker_pct": maker * hundred, "taker_pct": taker * hundred,
            "breakeven_maker_maker_bps": (maker + maker) / 2 * Decimal(10000),
            "breakeven_maker_taker_bps": (maker + taker) / 2 * Decimal(10000)}


def run_fees_live(app: AppContext, symbol: str | None, as_json: bool) -> None:
    """Fetch and show the profile account's fee rates for ``symbol`` (default: the profile's)."""
    from bybit_mm.cli.clients import run_with_client

    sym = (symbol or app.profile.market.symbol).strip().upper()

    async def go(client: Any) -> dict[str, Any]:
        rates = await client.fee_rates(sym)
        return live_fee_dict(sym, rates.maker, rates.taker, client.network)

    doc = run_with_client(app, go)
    if as_json:
        app.terminal.json(doc)
        return
    from rich.table import Table

    table = Table(title=f"account fee rates for {sym} ({doc['network']})", title_justify="left")
    for col in ("maker %", "taker %", "b/e m-m bps", "b/e m-t bps"):
        table.add_column(col, justify="right")
    from bybit_mm.ui.format import number

    table.add_row(number(doc["maker_pct"], 4), number(doc["taker_pct"], 4),
                  number(doc["breakeven_maker_maker_bps"], 2), number(doc["breakeven_maker_taker_bps"], 2))
    app.terminal.out.print(table)
