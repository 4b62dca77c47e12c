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
        # importlib.import_module("ccxt..."), find_spec("ccxt...") and the like count as imports too
        if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str) and node.args[0].value.split(".")[0] == "ccxt"
                and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "find_spec",
                                                                                 "_lazy_package", "__import__")):
            return True
    return False


def test_no_module_but_the_ccxt_adapter_imports_ccxt() -> None:
    root = Path(bybit_mm.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if Path(p.relative_to(root)) not in ALLOWED and _imports_ccxt(p)]
    assert offenders == []
    assert _imports_ccxt(root / "exchange" / "ccxt_client.py")  # the scan does see imports


def test_the_scan_sees_importlib_imports(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text("import importlib\ndef f():\n    return importlib.import_module('ccxt.async_support.bybit')\n")
    assert _imports_ccxt(p)
    p.write_text("import importlib\ndef f():\n    return importlib.import_module('json')\n")
    assert not _imports_ccxt(p)


_CHILD = """
import sys
from bybit_mm.exchange.ccxt_client import BybitFuturesClient
c = BybitFuturesClient(network="emulator", url="http://127.0.0.1:1", api_key="k", api_secret="s")
others = sorted(m for m in sys.modules if m.startswith(("ccxt.async_support.", "ccxt.pro.", "ccxt."))
                and m.split(".")[-1] in ("binance", "okx", "kraken", "bitget"))
print(",".join(others) or "none")
import ccxt.async_support
print(ccxt.async_support.bybit.__name__, ccxt.async_support.binance.__name__)  # all of ccxt on demand
import ccxt
print(ccxt.NetworkError.__name__, ccxt.binance.__name__)
from bybit_mm.exchange.ccxt_client import import_ccxt_pro_bybit
import ccxt.pro
print(import_ccxt_pro_bybit().__name__, ccxt.pro.bybit.__name__, issubclass(ccxt.pro.bybit, ccxt.async_support.bybit))
"""


def test_the_rest_client_imports_only_ccxts_bybit_and_the_rest_of_ccxt_stays_reachable() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["none", "bybit binance", "NetworkError binance", "bybit bybit True"]
