"""Plain option values converted without pydantic give what Typer's own conversion gives."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import typer
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param

import bybit_mm.cli.app  # noqa: F401  (installs the plain conversion)
from bybit_mm.cli.coercion import PlainValue, plain_kind

SPELLINGS = ["20", "-3", "0", "-0", "007", "1.5", "-0.25", "123456789012345.123456789012345", "1e3", " 5",
             "5 ", "+5", "1_000", "nan", "inf", "-inf", "1.", ".5", "2.0", "abc", "", "0x10", "١٢",
             "99999999999999999999", "BTCUSDT", "true", "no"]


def _option(annotation: type) -> Any:
    """The Typer option of a one-option command taking ``annotation``."""
    app = typer.Typer(add_completion=False)

    def cmd(value: Any = typer.Option(None, "--value")) -> None:
        pass

    cmd.__annotations__ = {"value": annotation, "return": None}
    app.command()(cmd)
    command = typer.main.get_command(app)
    return next(p for p in command.params if p.name == "value")


def _outcome(runtime: Any, value: Any, param: Any) -> tuple[str, Any]:
    try:
        out = runtime.coerce(value, param=param, ctx=None)
    except BadParameter as e:
        return "error", e.format_message()
    return type(out).__name__, out


@pytest.mark.parametrize("annotation", [str, int, float, bool])
def test_every_spelling_converts_as_typer_converts_it(annotation: type) -> None:
    param = _option(annotation)
    assert plain_kind(param) is annotation
    plain, typer_own = PlainValue(annotation), build_runtime_param(param.type_descriptor)
    for value in [*SPELLINGS, None, True, False, 3, 2.5]:
        mine, theirs = _outcome(plain, value, param), _outcome(typer_own, value, param)
        # nan != nan: compare the reprs
        assert repr(mine) == repr(theirs), (annotation, value)


def test_options_with_bounds_or_several_values_keep_typers_conversion() -> None:
    app = typer.Typer(add_completion=False)

    @app.command()
    def cmd(n: int = typer.Option(1, min=0), xs: list[float] = typer.Option([], "--x")) -> None:
        pass

    params = typer.main.get_command(app).params
    assert [plain_kind(p) for p in params] == [None, None]


def test_a_paper_run_does_not_import_pydantic(tmp_path: Any) -> None:
    # Typer converts options with pydantic adapters: ~0.1 s of every start (issue 12).
    code = (
        "import sys\n"
        "from bybit_mm.cli.app import main\n"
        "try:\n"
        "    main(['paper', '--market', 'sim', '--duration', '30s', '--speed', '0', '--seed', '3',\n"
        "          '--interval', '2.5', '--fresh', '--json'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "sys.stderr.write('PYDANTIC=' + str('pydantic' in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "BYBIT_MM_HOME": str(tmp_path)})
    assert out.stderr.strip().endswith("PYDANTIC=False"), out.stderr
    assert '"type": "summary"' in out.stdout


def test_a_bad_number_still_gets_typers_message(cli: Any) -> None:
    result = cli("paper", "--market", "sim", "--speed", "fast")
    assert result.exit_code == 2
    assert "Invalid value for '--speed'" in result.stderr
