"""Reading journaled runs back: the run list (``bybit-mm runs``) and run reports (``bybit-mm report``).

:mod:`~bybit_mm.report.runs` finds the runs in the data dir's journals and
:mod:`~bybit_mm.report.data` extracts a run's figures and series (stdlib only, testable without
any charting library); :mod:`~bybit_mm.report.html` (plotly) and :mod:`~bybit_mm.report.png`
(matplotlib) draw them. The charting libraries are the optional ``report`` extra, imported only
by those two modules through :func:`require`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from bybit_mm.errors import ConfigError

#: The optional extra that holds the charting libraries.
EXTRA = "report"


def require(module: str) -> ModuleType:
    """Import ``module`` from the ``report`` extra, or raise a ConfigError (exit 3) naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        raise ConfigError(f"the report needs {top}, which is not installed",
                          hint=f"install the {EXTRA} extra: pip install 'bybit-mm[{EXTRA}]'") from e
