"""``bybit-mm paper``: the market-making engine on the paper account (the sim in-process).

Also holds what ``live`` shares with it: duration parsing, the journal location, and
:func:`run_trader`, which runs the engine with the live table (or JSON lines), signal handling and
the summary.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from bybit_mm.cli.context import app_context
from bybit_mm.errors import EXIT_INTERRUPTED, EXIT_REJECTED, UsageError

if TYPE_CHECKING:
    from bybit_mm.cli.context import AppContext
    from bybit_mm.engine.snapshot import RunSummary
    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.exchange.paper_store import PaperStore

#: Bounds of the run options that are not profile keys. The synthetic market simulates a few
#: thousand market seconds per real second: a faster wall clock would outrun it and never stop
#: (``--speed 0`` is "as fast as the CPU allows").
MAX_SPEED = 1000.0
MAX_INTERVAL_S = 3600.0
MAX_DURATION_S = 10 * 365 * 86400.0

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str | None) -> float | None:
    """``20m``, ``90s``, ``1h30m``, ``1200`` (seconds) -> seconds; None (run until stopped) for None.

    A given but blank ``--duration`` is an error, not "no limit": a run would never end by itself.
    """
    if text is None:
        return None
    m = _DURATION.match(text.strip().lower())
    if not m or not any(m.groups()):
        raise UsageError(f"--duration {text!r} is not a duration", hint="use e.g. 20m, 90s, 1h30m or 1200")
    h, mnt, s = (float(g) if g else 0.0 for g in m.groups())
    from bybit_mm.config.schema import check_option

    return check_option("--duration", h * 3600 + mnt * 60 + s, lo=0, lo_open=True, hi=MAX_DURATION_S)


def journal_path(kind: str, profile_name: str, symbol: str) -> Path:
    """``<data dir>/<paper|live>/<profile>/journal-<SYMBOL>.sqlite``."""
    from bybit_mm.config.paths import data_dir

    return data_dir() / kind / (profile_name or "default") / f"journal-{symbol}.sqlite"


def exit_code_for(reason: str) -> int:
    """0 for a planned stop, 130 for Ctrl-C, 6 when the kill switch stopped the run."""
    if reason == "interrupted":
        return EXIT_INTERRUPTED
    if reason.startswith("kill switch"):
        return EXIT_REJECTED
    return 0


async def _run_with_signals(trader: LiveTrader) -> RunSummary:
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    installed: list[int] = []

    def stop(reason: str, sig: int) -> None:
        trader.request_stop(reason)
        try:  # a second Ctrl-C interrupts the shutdown itself
            loop.remove_signal_handler(sig)
        except (RuntimeError, ValueError):
            pass

    for sig, reason in ((signal.SIGINT, "interrupted"), (signal.SIGTERM, "SIGTERM")):
        try:
            loop.add_signal_handler(sig, stop, reason, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        return await trader.run()
    finally:
        for sig in installed:
            try:
                loop.remove_signal_handler(sig)
            except (RuntimeError, ValueError):
                pass


def run_trader(app: AppContext, make_trader: Any, *, as_json: bool, total_s: float | None = None) -> RunSummary:
    """Run the engine built by ``make_trader(on_snapshot)`` (an async context manager factory).

    ``make_trader(on_snapshot)`` yields a ready :class:`LiveTrader` and closes its client on
    exit. With ``as_json`` every periodic snapshot is a JSON line on stdout and the summary is
    the last line; otherwise a rich live table, laid out for the terminal's size, refreshes a few
    times a second from the latest snapshot (its last frame shows the final state, as the
    summary table printed under it does). ``total_s``: the run's length in engine time; on a
    terminal the table's bottom border then shows the progress and an ETA.
    """
    import asyncio

    term = app.terminal
    running: list[LiveTrader] = []

    def emit(snap: Any) -> None:
        if as_json:
            term.json(snap.to_dict(), lines=True)

    async def main() -> RunSummary:
        async with make_trader(emit) as trader:
            running.append(trader)
            if as_json:
                return await _run_with_signals(trader)
            from rich.live import Live

            view = _LiveView(trader, total_s if term.out.is_terminal else None)
            with Live(view, console=term.out, refresh_per_second=4, transient=False) as live:
                try:
                    return await _run_with_signals(trader)
                finally:
                    view.settle()
                    live.refresh()

    try:
        summary = asyncio.run(main())
    except BaseException:
        # A fatal error (exchange gone, authentication) stops the run after its shutdown: the
        # summary of what it did is printed all the same, then the error sets the exit code.
        if running and running[0].summary is not None:
            _print_summary(term, running[0].summary, as_json=as_json)
        raise
    _print_summary(term, summary, as_json=as_json)
    return summary


class _LiveView:
    """The live table of a running trader, laid out for the console it is drawn on."""

    def __init__(self, trader: LiveTrader, total_s: float | None) -> None:
        import time

        self.trader = trader
        self.total_s = total_s
        self.final: Any = None
        self._monotonic = time.monotonic
        self._t0 = time.monotonic()

    def settle(self) -> None:
        """Show the run's final state (the summary's numbers) from now on."""
        from bybit_mm.ui.dashboard import final_snapshot

        if self.trader.summary is not None and self.trader.latest is not None:
            self.final = final_snapshot(self.trader.latest, self.trader.summary)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        from bybit_mm.ui.dashboard import dashboard, progress_line

        snap = self.final if self.final is not None else self.trader.latest
        if snap is None:
            yield Text("starting…")
            return
        progress = None
        if self.total_s and self.final is None:
            wall = self._monotonic() - self._t0
            done = min(snap.elapsed_s, self.total_s)
            eta = (self.total_s - done) * wall / done if done > 0 else None
            progress = progress_line(done, self.total_s, eta)
        yield dashboard(snap, width=options.max_width, height=options.height or console.height,
                        progress=progress)


def _print_summary(term: Any, summary: RunSummary, *, as_json: bool) -> None:
    if as_json:
        term.json(summary.to_dict(), lines=True)
    else:
        from bybit_mm.ui.dashboard import summary_table

        if not term.out.is_terminal:
            term.out.print()  # a non-terminal Live leaves its last frame without a newline
        term.out.print(summary_table(summary))
    if summary.cancelled_on_exit < 0:
        term.warn("some orders may still be working: check with `bybit-mm orders`")


def register(app: typer.Typer) -> None:
    """Add the ``paper`` command."""

    @app.command("paper")
    def paper(
        ctx: typer.Context,
        symbol: Optional[str] = typer.Option(None, "--symbol", "-s", help="Symbol to quote (default: the profile's market.symbol)."),
        leverage: Optional[float] = typer.Option(None, "--leverage", "-l", help="Leverage (default: the profile's market.leverage)."),
        market: Optional[str] = typer.Option(None, "--market", help="sim: the built-in synthetic market (offline); live: Bybit's public feed."),
        duration: Optional[str] = typer.Option(None, "--duration", "-d", help="Stop after this much market time: 20m, 90s, 1h30m, 1200 (default: until Ctrl-C)."),
        speed: float = typer.Option(1.0, "--speed", help="Market time per real second (60: a minute a second; at most 1000); 0: as fast as the CPU allows."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the synthetic market (default: the profile's paper.seed)."),
        preset: Optional[str] = typer.Option(None, "--preset", help="Synthetic market preset: deep-major (BTCUSDT-like), thin-alt (a thinner alt on ARBUSDT) or auto; a preset also picks its symbol unless --symbol (default: the profile's sim.preset)."),
        balance: Optional[float] = typer.Option(None, "--balance", help="Starting balance in USDT of a NEW paper account (see --fresh)."),
        risk_aversion: Optional[float] = typer.Option(None, "--risk-aversion", help="Inventory risk aversion: skew in bps per 1,000 USDT of position = risk_aversion x sigma^2 x horizon_s, the same in as and glft (default: the profile's quoting.risk_aversion)."),
        gamma: Optional[float] = typer.Option(None, "--gamma", hidden=True, help="Deprecated: --risk-aversion = gamma x 1000 / order_notional."),
        model: Optional[str] = typer.Option(None, "--model", help="as (Avellaneda-Stoikov, rolling horizon) or glft."),
        interval: float = typer.Option(1.0, "--interval", help="Seconds of market time between decisions."),
        stream: bool = typer.Option(True, "--stream/--no-stream", help="With --market live: the public WebSocket streams (REST polling as the fallback), or REST polling only."),
        fresh: bool = typer.Option(False, "--fresh", help="Start a new paper account and journal (the old ones are kept as .bak files)."),
        flatten_on_exit: bool = typer.Option(False, "--flatten-on-exit", help="Close the position with a reduce-only market order when stopping."),
        as_json: bool = typer.Option(False, "--json", help="JSON lines on stdout (a snapshot every 10 s of market time, the summary last) instead of the table."),
    ) -> None:
        """Paper-trade the market-making engine on the simulated account (offline with --market sim).

        The account and a journal live in the data dir; a later run resumes them (fills,
        PnL, limits) unless --fresh.
        """
        from dataclasses import replace

        from bybit_mm.config.schema import check_option, with_overrides

        app = app_context(ctx)
        profile = app.profile
        if not profile.is_paper:
            profile = replace(profile, exchange=replace(profile.exchange, account="paper"))
        # Every override passes the profile's own validation (the same ranges as in a profile file).
        profile = with_overrides(profile, {
            "market.symbol": ("--symbol", symbol.upper() if symbol else None),
            "market.leverage": ("--leverage", leverage),
            "quoting.risk_aversion": ("--risk-aversion", risk_aversion),
            "quoting.gamma": ("--gamma", gamma),
            "quoting.model": ("--model", model),
            "paper.market": ("--market", market),
            "paper.seed": ("--seed", seed),
            "paper.starting_balance": ("--balance", balance),
            "sim.preset": ("--preset", preset),
        })
        if preset not in (None, "auto") and symbol is None:
            from bybit_mm.sim.market import PRESETS

            # A preset trades its own symbol unless --symbol says otherwise.
            profile = with_overrides(profile, {"market.symbol": ("--preset", PRESETS[preset].symbol)})
        check_option("--speed", speed, lo=0, hi=MAX_SPEED)
        check_option("--interval", interval, lo=0.05, hi=MAX_INTERVAL_S)
        sym = profile.market.symbol
        app.use_profile(profile)
        seconds = parse_duration(duration)
        summary = _paper(app, profile, symbol=sym, seconds=seconds, speed=speed, interval=interval,
                         fresh=fresh, flatten_on_exit=flatten_on_exit, as_json=as_json, stream=stream)
        code = exit_code_for(summary.stop_reason)
        if code:
            raise typer.Exit(code)


def _paper(app: AppContext, profile: Any, *, symbol: str, seconds: float | None,
           speed: float, interval: float, fresh: bool,
           flatten_on_exit: bool, as_json: bool, stream: bool = True) -> RunSummary:
    from bybit_mm.exchange.paper_store import PaperStore

    # One process per paper account: held from before --fresh moves its files to the end of the run.
    with PaperStore.for_profile(profile) as store:
        return _paper_locked(app, profile, store, symbol=symbol, seconds=seconds, speed=speed,
                             interval=interval, fresh=fresh, flatten_on_exit=flatten_on_exit,
                             as_json=as_json, stream=stream)


def _paper_locked(app: AppContext, profile: Any, store: PaperStore, *, symbol: str,
                  seconds: float | None, speed: float, interval: float, fresh: bool, flatten_on_exit: bool,
                  as_json: bool, stream: bool) -> RunSummary:
    import time
    from contextlib import asynccontextmanager

    from bybit_mm.cli.clients import open_client
    from bybit_mm.engine.config import EngineConfig
    from bybit_mm.engine.journal import Journal
    from bybit_mm.engine.trader import LiveTrader
    from bybit_mm.sim.clock import SimClock, WallClock

    jpath = journal_path("paper", profile.name, symbol)
    if fresh:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        store.move_aside(stamp)
        if jpath.exists():
            jpath.rename(jpath.with_name(f"{jpath.name}.{stamp}.bak"))
        for extra in (Path(f"{jpath}-wal"), Path(f"{jpath}-shm")):
            extra.unlink(missing_ok=True)
    journal = Journal(jpath)
    resume = journal.has_session(symbol)
    if speed == 0:
        state = journal.resume_state(symbol) if resume else None
        clock: Any = SimClock(state.last_ts_ms + 1000) if state and state.last_ts_ms else SimClock()
    else:
        clock = WallClock(speed)
    config = EngineConfig.from_profile(profile, duration_s=seconds, interval_s=interval,
                                       flatten_on_exit=flatten_on_exit)
    if resume and not as_json:
        app.terminal.message(f"resuming the paper session in {jpath}")

    @asynccontextmanager
    async def make_trader(on_snapshot: Any) -> Any:
        try:
            from bybit_mm.exchange.logged import LoggedClient

            live_market = stream and profile.paper.market == "live"
            async with open_client(app, clock=clock, streaming=live_market) as client:
                # On a streamed live market the engine is woken by the stream's events, as `live` is.
                market_stream = client.market_stream(symbol) if live_market else None
                yield LiveTrader(LoggedClient(client), clock, config, journal=journal, resume=resume,
                                 on_snapshot=on_snapshot, stream=market_stream)
        finally:
            journal.close()

    return run_trader(app, make_trader, as_json=as_json, total_s=seconds)
