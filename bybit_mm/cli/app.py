"""The root ``bybit-mm`` Typer app, and the one place that maps errors to exit codes."""

from __future__ import annotations

import importlib
import sys
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from bybit_mm import __version__
from bybit_mm.cli import coercion
from bybit_mm.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_UNEXPECTED, BybitMMError
from bybit_mm.runtime import tune_process

#: Command modules; each exposes ``register(app)``. Imported at start-up, so they must keep
#: heavy imports (ccxt, numpy, aiohttp) inside their functions.
COMMAND_MODULES = (
    "bybit_mm.cli.fees",
    "bybit_mm.cli.profile",
    "bybit_mm.cli.liq",
    "bybit_mm.cli.simulate",
    "bybit_mm.cli.quote",
    "bybit_mm.cli.emulator",
    "bybit_mm.cli.account",
    "bybit_mm.cli.paper",
    "bybit_mm.cli.live",
    "bybit_mm.cli.record",
    "bybit_mm.cli.backtest",
    "bybit_mm.cli.runs",
    "bybit_mm.cli.report",
    "bybit_mm.cli.sweep",
)


class ErrorMappingGroup(TyperGroup):
    """Runs a command and turns what it raises into one line on stderr and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BybitMMError as e:
            _message(f"error: {e.one_line()}")
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            _message("interrupted")
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader of our output went away (`... --json | head`): stop as a Unix tool does.
            _stdout_gone()
            _message("stopped: the output was closed (broken pipe)")
            ctx.exit(EXIT_BROKEN_PIPE)
        except Exception as e:
            if _is_framework_signal(e):
                raise
            _unexpected(ctx)
            ctx.exit(EXIT_UNEXPECTED)


def _is_framework_signal(e: Exception) -> bool:
    # Exit, Abort and usage errors of Typer/Click (Typer >= 0.2x vendors Click as typer._click).
    return type(e).__module__.split(".")[0] in ("click", "typer")


def _stdout_gone() -> None:
    import os

    # Python flushes stdout at exit; on a closed pipe that flush would raise once more.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _message(text: str) -> None:
    typer.echo(text, err=True)


def _unexpected(ctx: Any) -> None:
    from rich.console import Console

    from bybit_mm.cli.context import AppContext
    from bybit_mm.config.secrets import scrub
    from bybit_mm.ui.traceback import print_traceback

    obj = ctx.find_root().obj
    debug = isinstance(obj, AppContext) and obj.debug
    secrets = _known_secrets(obj) if isinstance(obj, AppContext) else []
    # Registered secrets (which --debug locals could show) are masked in the traceback's data,
    # before rich lays it out.
    print_traceback(Console(stderr=True, no_color=True), sys.exc_info(), lambda text: scrub(text, secrets),
                    show_locals=debug, suppress=[typer])
    _message("error: unexpected failure (a bug in bybit-mm); the traceback above says where"
             + ("" if debug else "; rerun with --debug to see local variables"))


def _known_secrets(obj: Any) -> list[str]:
    """The registered secrets, and the profile's credentials even if the failure came before
    they were registered (in the middle of reading them, say)."""
    from bybit_mm.config.secrets import resolve_credentials

    secrets = list(obj.secret_filter.secrets)
    try:
        creds = resolve_credentials(obj.profile)
        secrets += [creds.api_key, creds.api_secret]
    except Exception:  # no profile, no credentials: nothing more to mask
        pass
    return secrets


coercion.install()

app = typer.Typer(
    name="bybit-mm",
    cls=ErrorMappingGroup,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Market making on Bybit USDT perpetual futures: paper trading, live trading and "
         "account commands. Exit codes: 0 ok, 1 unexpected, 2 bad input, 3 config, 4 auth, "
         "5 exchange unavailable, 6 rejected, 130 interrupted.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bybit-mm {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    profile: Optional[str] = typer.Option(
        None, "--profile", "-p", metavar="NAME|PATH", envvar="BYBIT_MM_PROFILE",
        help="Profile name (see `bybit-mm profile list`) or path to a profile TOML file. "
             "Default: the shipped `paper` profile.",
    ),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output on stderr (-vv for debug)."),
    debug: bool = typer.Option(False, "--debug", help="Debug logging, and local variables in tracebacks of unexpected errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Market making on Bybit USDT perpetual futures."""
    from bybit_mm.cli.context import AppContext

    obj = AppContext(profile_selector=profile, verbose=verbose, debug=debug)
    obj.setup_logging()
    ctx.obj = obj


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    tune_process()
    try:
        app(args=argv, prog_name="bybit-mm")
    except KeyboardInterrupt:
        _message("interrupted")
        sys.exit(EXIT_INTERRUPTED)
