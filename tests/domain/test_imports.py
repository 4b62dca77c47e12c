"""The domain package imports nothing outside the standard library (and the project's error tree)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import bybit_mm.domain

DOMAIN = Path(bybit_mm.domain.__file__).parent
ALLOWED_PROJECT = ("bybit_mm.domain", "bybit_mm.errors")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import stays inside bybit_mm.domain
                names.append("bybit_mm.domain")
            elif node.module:
                names.append(node.module)
    return names


def _allowed(name: str) -> bool:
    top = name.split(".")[0]
    if top == "bybit_mm":
        return any(name == p or name.startswith(p + ".") for p in ALLOWED_PROJECT)
    return top in sys.stdlib_module_names or top == "__future__"


def test_every_domain_module_is_checked() -> None:
    modules = {p.stem for p in DOMAIN.glob("*.py")}
    assert {"clock", "orders", "instruments", "rounding", "position", "margin", "liquidation",
            "fees"} <= modules


def test_domain_imports_only_stdlib_and_itself() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in sorted(DOMAIN.glob("*.py"))
        for name in _imports(path)
        if not _allowed(name)
    }
    assert not offenders, f"non-stdlib imports in bybit_mm/domain: {sorted(offenders)}"


def test_the_checker_itself_rejects_third_party_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nfrom rich.table import Table\nfrom bybit_mm.cli import app\n"
                   "from decimal import Decimal\nfrom bybit_mm.errors import UsageError\n")
    assert [n for n in _imports(bad) if not _allowed(n)] == ["numpy", "rich.table", "bybit_mm.cli"]
