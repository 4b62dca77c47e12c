"""The layering of ARCHITECTURE.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bybit_mm"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

#: package -> the bybit_mm packages and third-party distributions it may import.
ALLOWED: dict[str, tuple[set[str], set[str]]] = {
    "domain": ({"domain", "errors"}, set()),
    "quoting": ({"domain", "quoting", "errors"}, {"numpy"}),
    "sim": ({"domain", "sim", "errors"}, {"numpy"}),
    "config": ({"config", "domain", "errors"}, {"platformdirs", "tomli_w"}),
    # config: only config.paths, for the cache directory (one place decides where files live).
    "data": ({"data", "domain", "errors", "config"}, {"numpy"}),
    # Beside cli/: reads journals; the charting extra only here.
    "report": ({"report", "engine", "exchange", "domain", "errors"}, {"plotly", "matplotlib"}),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.add("bybit_mm." + path.relative_to(PACKAGE).parts[0])  # relative: same package
    return names


def _modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    own, third_party = ALLOWED[package]
    bad = []
    for path in _modules(package):
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "bybit_mm":
                parts = name.split(".")
                if len(parts) > 1 and parts[1] not in own:
                    bad.append(f"{path.relative_to(PACKAGE)}: {name}")
            elif top not in STDLIB and top not in third_party:
                bad.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_only_the_ccxt_adapter_imports_ccxt() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("ccxt_client.py", "ccxt_stream.py") and any(n.split(".")[0] == "ccxt" for n in _imports(path))
    ]
    assert not offenders, offenders
