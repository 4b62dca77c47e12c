"""``bybit-mm live``: the market-making engine on a real account (mainnet, testnet, demo, emulator)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.errors import UsageError

if TYPE_CHECKING:
    from bybit_mm.cli.context import AppContext
    from bybit_mm.engine.snapshot import RunSummary


def confirm_symbol(symbol: str, *, yes: bool) -> None:
    """On mainnet: the operator types the symbol (or passes --yes); no TTY and no --yes: refuse."""
    from bybit_mm.cli.clients import stdin_is_interactive

    if yes:
        return
    if not stdin_is_interactive():
        raise UsageError("refusing to start market making on MAINNET without confirmation",
                         hint="rerun with --yes to confirm non-interactively")
    typed = typer.prompt(f"MAINNET, real money: type {symbol} to start market making", err=True)
    if typed.strip().upper() != symbol:
        raise UsageError(f"you typed {typed!r}, not {symbol}; nothing was done")


def register(app: typer.Typer) -> None:
    """Add the ``live`` command."""

    @app.command("live")
    def live(
        ctx: typer.Context,
        symbol: Optional[str] = typer.Option(None, "--symbol", "-s", help="Symbol to quote (default: the profile's market.symbol)."),
        leverage: Optional[float] = typer.Option(None, "--leverage", "-l", help="Leverage to set and use (default: the profile's market.leverage)."),
        duration: Optional[str] = typer.Option(None, "--duration", "-d", help="Stop after 20m, 90s, 1h30m, 1200 seconds (default: until Ctrl-C)."),
        risk_aversion: Optional[float] = typer.Option(None, "--risk-aversion", help="Inventory risk aversion: skew in bps per 1,000 USDT of position = risk_aversion x sigma^2 x horizon_s, the same in as and glft (default: the profile's quoting.risk_aversion)."),
        gamma: Optional[float] = typer.Option(None, "--gamma", hidden=True, help="Deprecated: --risk-aversion = gamma x 1000 / order_notional."),
        model: Optional[str] = typer.Option(None, "--model", help="as (Avellaneda-Stoikov, rolling horizon) or glft."),
        interval: float = typer.Option(1.0, "--interval", help="Seconds between decisions."),
        resume: bool = typer.Option(False, "--resume", help="Continue the journaled session of this profile and symbol (PnL, limits, counters)."),
        flatten_on_exit: bool = typer.Option(False, "--flatten-on-exit", help="Close the position with a reduce-only market order when stopping."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation on mainnet."),
        as_json: bool = typer.Option(False, "--json", help="JSON lines on stdout (a snapshot every 10 s, the summary last) instead of the table."),
    ) -> None:
        """Market-make on the profile's exchange account with its credentials (Ctrl-C stops and cancels).

        Mainnet asks you to type the symbol (or --yes); testnet, demo and the emulator start
        at once. Every way of stopping cancels the working orders.
        """
        from bybit_mm.cli.paper import MAX_INTERVAL_S, exit_code_for, parse_duration
        from bybit_mm.config.schema import check_option, with_overrides

        app = app_context(ctx)
        profile = app.profile
        if profile.is_paper:
            raise UsageError(f"profile {profile.name or '(default)'} is a paper account",
                             hint="use `bybit-mm paper`, or a profile with exchange.account = \"live\"")
        # Every override passes the profile's own validation (the same ranges as in a profile file).
        profile = with_overrides(profile, {
            "market.symbol": ("--symbol", symbol.upper() if symbol else None),
            "market.leverage": ("--leverage", leverage),
            "quoting.risk_aversion": ("--risk-aversion", risk_aversion),
            "quoting.gamma": ("--gamma", gamma),
            "quoting.model": ("--model", model),
        })
        check_option("--interval", interval, lo=0.2, hi=MAX_INTERVAL_S)
        sym = profile.market.symbol
        app.use_profile(profile)
        seconds = parse_duration(duration)
        from bybit_mm.cli.clients import is_mainnet

        if is_mainnet(app):
            confirm_symbol(sym, yes=yes)
        summary = _live(app, profile, symbol=sym, seconds=seconds, interval=interval, resume=resume,
                        flatten_on_exit=flatten_on_exit, as_json=as_json)
        code = exit_code_for(summary.stop_reason)
        if code:
            raise typer.Exit(code)


def _live(app: AppContext, profile: Any, *, symbol: str, seconds: float | None, interval: float, resume: bool,
          flatten_on_exit: bool, as_json: bool) -> RunSummary:
    from contextlib import asynccontextmanager

    from bybit_mm.cli.clients import open_client
    from bybit_mm.cli.paper import journal_path, run_trader
    from bybit_mm.engine.config import EngineConfig
    from bybit_mm.engine.journal import Journal
    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.sim.clock import WallClock

    config = EngineConfig.from_profile(profile, duration_s=seconds, interval_s=interval,
                                       flatten_on_exit=flatten_on_exit)
    journal = Journal(journal_path("live", profile.name, symbol))
    if resume and not journal.has_session(symbol):
        app.terminal.warn(f"no journaled session of {symbol} to resume: starting a new one")
        resume = False
    clock = WallClock(1.0)

    @asynccontextmanager
    async def make_trader(on_snapshot: Any) -> Any:
        try:
            async with open_client(app) as client:
                from bybit_mm.config.secrets import resolve_credentials
                from bybit_mm.exchange.ccxt_stream import CcxtMarketStream
                from bybit_mm.exchange.logged import LoggedClient

                await _set_dcp(app, client, profile.exchange.dcp_window_s)

                # Market data, orders and fills over WebSocket; REST when the stream fails.
                stream = CcxtMarketStream.from_profile(profile, symbol, resolve_credentials(profile), private=True)
                try:
                    yield LiveTrader(LoggedClient(client), clock, config, journal=journal, resume=resume,
                                     on_snapshot=on_snapshot, stream=stream)
                finally:
                    await stream.close()
        finally:
            journal.close()

    return run_trader(app, make_trader, as_json=as_json)


async def _set_dcp(app: AppContext, client: Any, window_s: int) -> None:
    """Ask Bybit to cancel our orders if the run's private stream is gone ``window_s`` seconds
    (a killed process); a refusal (DCP not enabled for the account) is a warning, not a failure."""
    from bybit_mm.errors import AuthError, BybitMMError, ExchangeUnavailable

    if not window_s:
        return
    try:
        await client.set_disconnect_cancel(window_s)
    except (AuthError, ExchangeUnavailable):
        raise
    except BybitMMError as e:
        app.terminal.warn(f"disconnect-cancel-all (DCP) not set: {e.one_line()}; a killed run leaves its "
                          "orders working until the next run or `bybit-mm cancel-all`")
