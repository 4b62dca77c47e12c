"""Root app: help, version, exit-code mapping, and the lazy-import guarantee."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer

from bybit_mm import __version__, errors
from bybit_mm.cli.app import ErrorMappingGroup


def test_no_args_shows_help(cli) -> None:
    result = cli()
    assert "Usage" in result.output
    assert "fees" in result.output and "profile" in result.output


def test_version(cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"bybit-mm {__version__}"


def test_unknown_command_is_a_usage_error(cli) -> None:
    result = cli("no-such-command")
    assert result.exit_code == 2


def _app_raising(exc: BaseException) -> typer.Typer:
    app = typer.Typer(cls=ErrorMappingGroup)

    @app.callback()
    def root() -> None:
        """root"""

    @app.command()
    def boom() -> None:
        """raise"""
        raise exc

    return app


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.UsageError("bad"), 2),
        (errors.ConfigError("cfg"), 3),
        (errors.AuthError("auth"), 4),
        (errors.ExchangeUnavailable("down"), 5),
        (errors.RateLimited("slow down"), 5),
        (errors.OrderRejected("no"), 6),
        (errors.InsufficientMargin("poor"), 6),
        (errors.Interrupted("stop"), 130),
        (KeyboardInterrupt(), 130),
    ],
)
def test_expected_errors_map_to_codes_without_traceback(exc: BaseException, code: int) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(_app_raising(exc), ["boom"], env={"NO_COLOR": "1"})
    assert result.exit_code == code
    assert "Traceback" not in result.output
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


def test_retcode_and_hint_in_the_one_line() -> None:
    e = errors.OrderRejected("order rejected", ret_code=110007, hint="lower the size")
    assert e.one_line() == "order rejected (Bybit retCode 110007); lower the size"


def test_unexpected_error_exits_1_with_traceback() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(_app_raising(ZeroDivisionError("oops")), ["boom"], env={"NO_COLOR": "1"})
    assert result.exit_code == 1
    assert "ZeroDivisionError" in result.stderr
    assert "unexpected" in result.stderr


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_help_does_not_import_ccxt_or_numpy() -> None:
    # Runs the real entry point in a fresh interpreter, as `bybit-mm --help` would.
    code = (
        "import sys\n"
        "from bybit_mm.cli.app import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('ccxt', 'numpy', 'aiohttp', 'plotly', 'matplotlib', 'ray') if m in sys.modules)\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy))\n"
    )
    out = _run(code)
    assert "Usage" in out.stdout
    assert out.stderr.strip().endswith("HEAVY="), out.stderr


@pytest.mark.parametrize("argv", [["fees", "--json"], ["profile", "list", "--json"], ["profile", "path"],
                                  ["runs", "--json"], ["report", "--help"], ["sweep", "--help"]])
def test_offline_commands_do_not_import_ccxt_or_charts(argv: list[str], tmp_path) -> None:
    code = (
        "import os, sys\n"
        f"os.environ['BYBIT_MM_HOME'] = {str(tmp_path)!r}\n"
        "from bybit_mm.cli.app import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "heavy = sorted(m for m in ('ccxt', 'plotly', 'matplotlib', 'ray') if m in sys.modules)\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy))\n"
    )
    out = _run(code)
    assert out.stderr.strip().endswith("HEAVY="), out.stderr


def test_python_dash_m_works() -> None:
    out = subprocess.run([sys.executable, "-m", "bybit_mm", "fees", "--json"], capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout)["tiers"]


def test_debug_traceback_masks_registered_secrets() -> None:
    from typer.testing import CliRunner

    from bybit_mm.cli.app import ErrorMappingGroup
    from bybit_mm.cli.context import app_context

    app = typer.Typer(cls=ErrorMappingGroup)

    @app.callback()
    def root(ctx: typer.Context) -> None:
        """root"""
        from bybit_mm.cli.context import AppContext

        ctx.obj = AppContext(debug=True)

    @app.command()
    def boom(ctx: typer.Context) -> None:
        """raise with a secret in a local variable"""
        api_secret = "very-secret-value-123"
        app_context(ctx).register_secret(api_secret)
        raise RuntimeError("bug")

    result = CliRunner().invoke(app, ["boom"], env={"NO_COLOR": "1"})
    assert result.exit_code == 1
    assert "api_secret" in result.stderr  # locals are shown with --debug ...
    assert "very-secret-value-123" not in result.stderr  # ... but the secret is masked


def test_shell_completion_is_offered_and_completes_commands_and_options(cli, monkeypatch) -> None:
    # Typer asks shellingham for the parent shell unless told not to; the test runner's parent may
    # be `sh` (unsupported), so the shell is named instead (read when the command is built).
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    result = cli("--help")
    assert "--install-completion" in result.output and "--show-completion" in result.output
    script = cli("--show-completion", "bash")
    assert script.exit_code == 0 and "_BYBIT_MM_COMPLETE=complete_bash" in script.output
    # What the installed script runs on <TAB>: the real entry point, in a fresh interpreter.
    env = {"_BYBIT_MM_COMPLETE": "complete_bash", "COMP_WORDS": "bybit-mm pa", "COMP_CWORD": "1"}
    out = subprocess.run([sys.executable, "-m", "bybit_mm"], capture_output=True, text=True,
                         env={**os.environ, **env})
    assert out.returncode == 0 and out.stdout.split() == ["paper"]
    env = {"_BYBIT_MM_COMPLETE": "complete_bash", "COMP_WORDS": "bybit-mm paper --spe", "COMP_CWORD": "2"}
    out = subprocess.run([sys.executable, "-m", "bybit_mm"], capture_output=True, text=True,
                         env={**os.environ, **env})
    assert out.stdout.split() == ["--speed"]


def test_the_entry_point_imports_without_collections_and_leaves_the_collector_on() -> None:
    code = (
        "import gc, sys\n"
        "from bybit_mm.__main__ import main\n"
        "during_import = []\n"
        "def seen(phase, info):\n"
        "    app = sys.modules.get('bybit_mm.cli.app')\n"
        "    during_import.append(app is None or not hasattr(app, 'main'))\n"
        "gc.callbacks.append(seen)\n"
        "sys.argv = ['bybit-mm', '--version']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(f'ENABLED={gc.isenabled()} FROZEN={gc.get_freeze_count() > 10000} '\n"
        "                 f'DURING_IMPORT={any(during_import)}')\n"
    )
    out = _run(code)
    assert out.stdout.strip() == f"bybit-mm {__version__}"
    assert out.stderr.strip().endswith("ENABLED=True FROZEN=True DURING_IMPORT=False"), out.stderr


def test_a_run_converts_only_its_own_command(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import typer.main

    from bybit_mm.cli import app as app_module

    converted: list[str] = []
    convert = typer.main.get_command_from_info

    def counting(command_info: Any, **kwargs: Any) -> Any:
        converted.append(command_info.name)
        return convert(command_info, **kwargs)

    monkeypatch.setattr(typer.main, "get_command_from_info", counting)
    monkeypatch.setenv("BYBIT_MM_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as done:
        app_module.main(["fees", "--json"])
    assert done.value.code in (0, None)
    root_commands = {info.name for info in app_module._COMMANDS}
    assert [name for name in converted if name in root_commands] == ["fees"]  # (the profile group's are its own)


def test_the_help_lists_every_command_in_the_order_registered(cli) -> None:
    from bybit_mm.cli.app import _COMMANDS

    out = cli("--help").stdout
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.startswith("  ")]
    assert listed == [info.name for info in _COMMANDS if not info.hidden] + ["profile"]
    assert "No such command 'pape'. Did you mean 'paper'?" in cli("pape").stderr
