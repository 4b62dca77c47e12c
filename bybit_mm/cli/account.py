"""Account commands on the one client port: set-leverage, margin-mode, positions, balance, orders,
cancel-all, flatten. Each works with any profile (live networks, the emulator, ``--profile paper``).

JSON numbers are JSON numbers (Decimals rendered as numbers); missing values are ``null``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.cli.parsing import parse_decimal
from bybit_mm.errors import UsageError

if TYPE_CHECKING:
    from bybit_mm.cli.context import AppContext
    from bybit_mm.exchange.port import Balance, FuturesClient, OrderInfo, PositionInfo

MODES = ("isolated", "cross")

_JSON_HELP = "Print JSON instead of a table."
_YES_HELP = "Do not ask for confirmation on mainnet."


# --- shapes (the JSON contract; see README "JSON output") ------------------------------------

def position_dict(p: PositionInfo) -> dict[str, Any]:
    """``positions --json`` entry."""
    return {"symbol": p.symbol, "side": p.side, "size": p.size, "entry_price": p.entry_price,
            "mark_price": p.mark_price, "liquidation_price": p.liquidation_price,
            "bankruptcy_price": p.bankruptcy_price, "liq_distance_pct": _round(p.liq_distance_pct, 4),
            "position_margin": p.position_margin, "unrealized_pnl": p.unrealized_pnl,
            "roi_pct": _round(p.roi_pct, 4), "realized_pnl": p.realized_pnl, "leverage": p.leverage,
            "margin_mode": p.margin_mode}


def balance_dict(b: Balance) -> dict[str, Any]:
    """``balance --json``."""
    return {"currency": b.currency, "wallet_balance": b.wallet_balance, "equity": b.equity,
            "available": b.available, "unrealized_pnl": b.unrealized_pnl,
            "position_margin": b.position_margin, "order_margin": b.order_margin}


def order_dict(o: OrderInfo) -> dict[str, Any]:
    """``orders --json`` entry."""
    return {"order_id": o.order_id, "client_order_id": o.client_order_id, "symbol": o.symbol,
            "side": o.side.value, "type": o.order_type, "price": o.price, "qty": o.qty,
            "filled_qty": o.filled_qty, "avg_fill_price": o.avg_fill_price, "status": o.status,
            "time_in_force": o.time_in_force, "reduce_only": o.reduce_only,
            "reject_reason": o.reject_reason or None, "created_ms": o.created_ms}


def _round(value: Decimal | None, places: int) -> Decimal | None:
    return None if value is None else value.quantize(Decimal(1).scaleb(-places))


def fmt(value: Decimal | None, places: int | None = None) -> str:
    """A Decimal for a table: fixed places, or trailing zeros stripped (never ``-0``); "-" for None."""
    from bybit_mm.ui.format import number

    return number(value, places, group=places is not None, missing="-")


def print_table(app: AppContext, title: str, columns: list[tuple[str, str, int]], rows: list[tuple[str, ...]]) -> None:
    """Print a table that fits the terminal and never cuts a number.

    ``columns``: (header, kind, rank). Numbers (kind ``num``) never wrap nor shrink; text wraps
    between words; ids (``id``) fold onto further lines. When even that is too wide, the columns of
    the highest rank go first (rank 0 stays), and the caption says how many are hidden.
    """
    from rich import box
    from rich.table import Table

    console = app.terminal.out
    minimum: list[int] = []
    for i, (header, kind, _) in enumerate(columns):
        cells = [r[i] for r in rows] + [header]
        longest_word = max(len(w) for c in cells for w in c.split() or [""])
        minimum.append(max(len(c) for c in cells) if kind == "num" else
                       min(longest_word, 8) if kind == "id" else longest_word)
    keep = list(range(len(columns)))
    # Each column costs its width, a space of padding each side and a (blank) rule between two;
    # the edges cost one (blank) rule each side.
    while sum(minimum[i] for i in keep) + 3 * (len(keep) - 1) + 2 > console.width:
        droppable = [i for i in keep if columns[i][2] > 0]
        if not droppable:
            break
        keep.remove(max(droppable, key=lambda i: (columns[i][2], i)))
    table = Table(title=title, title_justify="left", caption_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for i in keep:
        header, kind, _ = columns[i]
        if kind == "num":
            table.add_column(header, justify="right", no_wrap=True, min_width=minimum[i])
        else:
            table.add_column(header, overflow="fold", min_width=minimum[i])
    for r in rows:
        table.add_row(*(r[i] for i in keep))
    if len(keep) < len(columns):
        hidden = ", ".join(columns[i][0] for i in range(len(columns)) if i not in keep)
        table.caption = f"hidden to fit {console.width} columns: {hidden} (see --json)"
    console.print(table)


def _places_of(*prices: Decimal | None) -> int | None:
    """Decimals of the most precise of these exchange prices (they sit on the tick)."""
    exps = [p.normalize().as_tuple().exponent for p in prices if p is not None and p != 0]
    return max((-e for e in exps if isinstance(e, int)), default=None) if exps else None


# --- argument parsing ------------------------------------------------------------------------

#: The highest leverage any symbol allows (the profile's ``market.leverage`` range ends there too).
MAX_LEVERAGE = 200


def parse_leverage(raw: str) -> Decimal:
    """``50``, ``50x`` or ``12.5`` → Decimal; UsageError otherwise."""
    value = parse_decimal("leverage", raw.strip().lower().removesuffix("x"), unit="times, like 50 or 50x")
    assert value is not None
    if value < 1:
        raise UsageError(f"leverage must be at least 1, got {raw!r}")
    if value > MAX_LEVERAGE:  # (and a cents check of 1E26 would overflow Decimal's 28 digits)
        raise UsageError(f"leverage must be at most {MAX_LEVERAGE} (no symbol allows more), got {raw!r}")
    if value != value.quantize(Decimal("0.01")):
        raise UsageError(f"leverage has at most two decimals, got {raw!r}")
    return value


def _symbol(app: AppContext, symbol: str | None) -> str:
    """SYMBOL as typed (upper-cased and checked like market.symbol), or the profile's."""
    return _checked_symbol(symbol) if symbol is not None else app.profile.market.symbol


def _checked_symbol(raw: str) -> str:
    from bybit_mm.config.schema import SYMBOL, check_option

    return check_option("SYMBOL", raw.strip().upper(), str, pattern=SYMBOL)


def _confirm(app: AppContext, action: str, *, yes: bool) -> None:
    from bybit_mm.cli.clients import confirm_mainnet

    confirm_mainnet(app, action, yes=yes)


def _run(app: AppContext, fn: Any) -> Any:
    from bybit_mm.cli.clients import run_with_client

    return run_with_client(app, fn)


def _fmt_lev(value: Decimal) -> str:
    return f"{fmt(value)}x"


# --- commands ----------------------------------------------------------------------------------

def set_leverage(
    ctx: typer.Context,
    args: list[str] = typer.Argument(..., metavar="[SYMBOL] LEVERAGE",
                                     help="Optional symbol (default: the profile's), then the leverage, e.g. 50 or 50x."),
    yes: bool = typer.Option(False, "--yes", "-y", help=_YES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Set a symbol's leverage, checked against its maximum and the position's risk tier.

    Already at that leverage is success (nothing changes). Asks for confirmation on mainnet.
    """
    app = app_context(ctx)
    if len(args) not in (1, 2):
        raise UsageError("expected [SYMBOL] LEVERAGE, e.g. `set-leverage 50` or `set-leverage BTCUSDT 50`")
    symbol = _symbol(app, args[0] if len(args) == 2 else None)
    leverage = parse_leverage(args[-1])
    _confirm(app, f"set {symbol} leverage to {_fmt_lev(leverage)}", yes=yes)

    async def go(client: FuturesClient) -> dict[str, Any]:
        inst = await client.instrument(symbol)
        positions = await client.positions(symbol)
        value = sum((p.size * p.entry_price for p in positions), Decimal(0))
        allowed = inst.max_leverage_for(value) if value else inst.max_leverage
        if leverage > allowed:
            why = "its maximum" if allowed == inst.max_leverage else "the maximum of the open position's risk tier"
            raise UsageError(f"{symbol}: leverage {_fmt_lev(leverage)} is above {why}, {_fmt_lev(allowed)}")
        changed = await client.set_leverage(symbol, leverage)
        return {"symbol": symbol, "leverage": leverage, "changed": changed, "max_leverage": allowed,
                "network": client.network}

    result = _run(app, go)
    if as_json:
        app.terminal.json(result)
    elif result["changed"]:
        app.terminal.out.print(f"{symbol} leverage set to {_fmt_lev(leverage)}", highlight=False)
    else:
        app.terminal.out.print(f"{symbol} leverage already {_fmt_lev(leverage)} (nothing changed)", highlight=False)


def margin_mode(
    ctx: typer.Context,
    args: Optional[list[str]] = typer.Argument(None, metavar="[SYMBOL] [isolated|cross]",
                                               help="Optional symbol (default: the profile's) and the mode to set; "
                                                    "without a mode, show the current one."),
    yes: bool = typer.Option(False, "--yes", "-y", help=_YES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show or set the margin mode (isolated or cross).

    On Bybit's unified account the margin mode is account-wide: setting it applies to every
    symbol. Already in that mode is success. Asks for confirmation on mainnet.
    """
    app = app_context(ctx)
    args = list(args or [])
    mode: str | None = None
    if args and args[-1].lower() in MODES:
        mode = args.pop().lower()
    if len(args) > 1 or (args and args[0].lower() in MODES):
        raise UsageError("expected [SYMBOL] [isolated|cross]")
    try:
        symbol = _symbol(app, args[0] if args else None)
    except UsageError:
        raise UsageError(f"{args[0]!r} is neither a margin mode ({' or '.join(MODES)}) nor a symbol like BTCUSDT",
                         hint="expected [SYMBOL] [isolated|cross]") from None
    if mode is not None:
        _confirm(app, f"switch the account to {mode} margin", yes=yes)

    async def go(client: FuturesClient) -> dict[str, Any]:
        await client.instrument(symbol)  # an unknown symbol is an error, never an account-wide switch
        if mode is None:
            return {"symbol": symbol, "margin_mode": await client.margin_mode(symbol), "network": client.network}
        changed = await client.set_margin_mode(symbol, mode)  # type: ignore[arg-type]
        return {"symbol": symbol, "margin_mode": mode, "changed": changed, "network": client.network}

    result = _run(app, go)
    if as_json:
        app.terminal.json(result)
    elif mode is None:
        app.terminal.out.print(f"{symbol} margin mode: {result['margin_mode']}", highlight=False)
    elif result["changed"]:
        app.terminal.out.print(f"margin mode set to {mode} ({symbol})", highlight=False)
    else:
        app.terminal.out.print(f"margin mode already {mode} ({symbol}; nothing changed)", highlight=False)


def positions(
    ctx: typer.Context,
    symbol: Optional[str] = typer.Argument(None, help="Only this symbol (default: every open position)."),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Open positions with liquidation price and distance, margin, unrealised PnL and ROI.

    Flat is not an error: an empty table (or `[]`) and exit 0.
    """
    app = app_context(ctx)
    sym = _checked_symbol(symbol) if symbol is not None else None
    rows: list[PositionInfo] = _run(app, lambda c: c.positions(sym))
    if as_json:
        app.terminal.json([position_dict(p) for p in rows])
        return
    cells = []
    for p in rows:
        tick_places = _places_of(p.entry_price, p.mark_price)  # a computed liq price has more digits
        cells.append((f"{p.symbol} {p.side} {_fmt_lev(p.leverage)} {p.margin_mode}", fmt(p.size),
                      fmt(p.entry_price), fmt(p.mark_price), fmt(p.liquidation_price, tick_places),
                      fmt(p.liq_distance_pct, 2), fmt(p.position_margin, 2), fmt(p.unrealized_pnl, 2),
                      fmt(p.roi_pct, 2)))
    print_table(app, "positions", [("symbol / side", "text", 0), ("size", "num", 0), ("entry", "num", 0),
                                   ("mark", "num", 3), ("liq price", "num", 0), ("liq %", "num", 1),
                                   ("margin", "num", 4), ("uPnL", "num", 2), ("ROI %", "num", 5)], cells)
    if not rows:
        app.terminal.message("no open positions")


def balance(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """The USDT wallet: balance, equity, available, unrealised PnL and margin in use."""
    app = app_context(ctx)
    b: Balance = _run(app, lambda c: c.balance())
    if as_json:
        app.terminal.json(balance_dict(b))
        return
    from rich.table import Table

    table = Table(title=f"balance ({b.currency})", title_justify="left", show_header=False)
    table.add_column("item")
    table.add_column("value", justify="right")
    for label, value in (("wallet balance", b.wallet_balance), ("equity", b.equity), ("available", b.available),
                         ("unrealised PnL", b.unrealized_pnl), ("position margin", b.position_margin),
                         ("order margin", b.order_margin)):
        table.add_row(label, fmt(value, 4))
    app.terminal.out.print(table)


def orders(
    ctx: typer.Context,
    symbol: Optional[str] = typer.Argument(None, help="Only this symbol (default: all USDT perpetuals)."),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Working (open) orders."""
    app = app_context(ctx)
    sym = _checked_symbol(symbol) if symbol is not None else None
    rows: list[OrderInfo] = _run(app, lambda c: c.open_orders(sym))
    if as_json:
        app.terminal.json([order_dict(o) for o in rows])
        return
    cells = [(o.symbol, o.side.value, fmt(o.price), fmt(o.qty), fmt(o.filled_qty), o.status,
              f"{o.order_type} {o.time_in_force}" + (" RO" if o.reduce_only else ""), o.client_order_id or "-",
              o.order_id) for o in rows]
    print_table(app, "open orders", [("symbol", "text", 0), ("side", "text", 0), ("price", "num", 0),
                                     ("qty", "num", 0), ("filled", "num", 2), ("status", "text", 1),
                                     ("type", "text", 3), ("client id", "id", 0), ("order id", "id", 4)], cells)
    if not rows:
        app.terminal.message("no open orders")


def cancel_all(
    ctx: typer.Context,
    symbol: Optional[str] = typer.Argument(None, help="Only this symbol (default: every USDT perpetual)."),
    yes: bool = typer.Option(False, "--yes", "-y", help=_YES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Cancel every working order (of SYMBOL, or of all USDT perpetuals). Asks on mainnet."""
    app = app_context(ctx)
    sym = _checked_symbol(symbol) if symbol is not None else None
    _confirm(app, f"cancel all orders{' of ' + sym if sym else ''}", yes=yes)

    async def go(client: FuturesClient) -> dict[str, Any]:
        return {"symbol": sym, "cancelled": await client.cancel_all(sym), "network": client.network}

    result = _run(app, go)
    if as_json:
        app.terminal.json(result)
    else:
        app.terminal.out.print(f"cancelled {result['cancelled']} order(s){' of ' + sym if sym else ''}",
                               highlight=False)


def flatten(
    ctx: typer.Context,
    symbol: Optional[str] = typer.Argument(None, help="Symbol to close (default: the profile's)."),
    keep_orders: bool = typer.Option(False, "--keep-orders", help="Do not cancel the symbol's working orders first."),
    yes: bool = typer.Option(False, "--yes", "-y", help=_YES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Close the position with a reduce-only market order (after cancelling the symbol's orders).

    Already flat is success. Asks for confirmation on mainnet.
    """
    app = app_context(ctx)
    sym = _symbol(app, symbol)
    # Asked whatever the account holds: cancelling the orders alone is an action on real money.
    _confirm(app, f"{'' if keep_orders else f'cancel the {sym} orders and '}close any {sym} position at market",
             yes=yes)

    async def go(client: FuturesClient) -> dict[str, Any]:
        current = await client.positions(sym)
        cancelled = 0
        if not keep_orders:
            cancelled = await client.cancel_all(sym)
        order = await client.close_position(sym) if current else None
        return {"symbol": sym, "was_flat": not current, "cancelled_orders": cancelled,
                "order": order_dict(order) if order is not None else None, "network": client.network}

    result = _run(app, go)
    if as_json:
        app.terminal.json(result)
        return
    out = app.terminal.out
    if result["was_flat"]:
        out.print(f"{sym}: already flat (cancelled {result['cancelled_orders']} order(s))", highlight=False)
        return
    o = result["order"]
    filled = f", filled {fmt(o['filled_qty'])} @ {fmt(o['avg_fill_price'])}" if o["filled_qty"] else ""
    out.print(f"{sym}: {o['side']} {fmt(o['qty'])} reduce-only market order {o['status']}{filled} "
              f"(order {o['order_id']}; cancelled {result['cancelled_orders']} order(s))", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the account commands to the root app."""
    app.command("set-leverage")(set_leverage)
    app.command("margin-mode")(margin_mode)
    app.command("positions")(positions)
    app.command("balance")(balance)
    app.command("orders")(orders)
    app.command("cancel-all")(cancel_all)
    app.command("flatten")(flatten)
