"""Only the ccxt adapter (REST client and stream) may import ccxt (scanned in the sources, not guessed)."""

from __future__ import annotations

import ast
from pathlib import Path

import bybit_mm

ALLOWED = {Path("exchange/ccxt_client.py"), Path("exchange/ccxt_stream.py")}


def _imports_ccxt(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "ccxt" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ccxt" and node.level == 0:
            return True
    return False


def test_no_module_but_the_ccxt_adapter_imports_ccxt() -> None:
    root = Path(bybit_mm.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if Path(p.relative_to(root)) not in ALLOWED and _imports_ccxt(p)]
    assert offenders == []
    assert _imports_ccxt(root / "exchange" / "ccxt_client.py")  # the scan does see imports
    assert _imports_ccxt(root / "exchange" / "ccxt_stream.py")
