"""The root ``bybit-mm`` Typer app, and the one place that maps errors to exit codes."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping, MutableMapping
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


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands by name, each converted from its Typer registration on first lookup.

    Typer converts every registered command (its signature, each option) when it builds a group:
    ~0.02 s of every start for the CLI's ~25 commands, when a run needs one of them. Listing the
    names converts nothing; the help, which shows every command, converts them all.
    """

    def __init__(self, typer_app: typer.Typer, registered: list[Any], built: Mapping[str, Any]) -> None:
        from typer.main import get_command_name

        self._app = typer_app
        self._registered = {info.name or get_command_name(info.callback.__name__): info for info in registered}
        self._built = dict(built)
        self._order = [*self._registered, *(n for n in self._built if n not in self._registered)]

    def __getitem__(self, name: str) -> Any:
        cmd = self._built.get(name)
        if cmd is None:
            info = self._registered[name]  # KeyError: no such command
            from typer.main import get_command_from_info

            cmd = self._built[name] = get_command_from_info(
                command_info=info, pretty_exceptions_short=self._app.pretty_exceptions_short,
                rich_markup_mode=self._app.rich_markup_mode)
        return cmd

    def __setitem__(self, name: str, cmd: Any) -> None:
        if name not in self._built and name not in self._registered:
            self._order.append(name)
        self._built[name] = cmd

    def __delitem__(self, name: str) -> None:
        if name not in self._built and name not in self._registered:
            raise KeyError(name)
        self._built.pop(name, None)
        self._registered.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


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
# Typer converts the groups (``profile``) as it builds the root; the commands wait for their turn.
_COMMANDS = list(app.registered_commands)
app.registered_commands.clear()


class _RootGroup(ErrorMappingGroup):
    """The root group: :class:`LazyCommands`, in the order Typer lists them (commands, then groups)."""

    def __init__(self, *args: Any, commands: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, commands=LazyCommands(app, _COMMANDS, commands or {}), **kwargs)


app.info.cls = _RootGroup


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    tune_process()
    try:
        app(args=argv, prog_name="bybit-mm")
    except KeyboardInterrupt:
        _message("interrupted")
        sys.exit(EXIT_INTERRUPTED)
