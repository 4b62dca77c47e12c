"""``to_json``: Decimals as JSON numbers, non-finite floats as null wherever they are."""

from __future__ import annotations

import json
import math
from decimal import Decimal

from bybit_mm.ui.console import _finite, to_json


def test_non_finite_floats_become_null_at_any_depth() -> None:
    data = {"a": 1.5, "b": [math.nan, {"c": math.inf, "d": (1, -math.inf)}], "e": Decimal("2.50")}
    assert json.loads(to_json(data, indent=None)) == {"a": 1.5, "b": [None, {"c": None, "d": [1, None]}], "e": 2.5}


def test_finite_data_is_written_as_the_copying_path_writes_it() -> None:
    data = {"x": Decimal("0.1"), "y": [1, 2.25, None, "s"], "z": {"n": (3, 4)}, "w": -0.0}
    for indent in (None, 2):
        assert to_json(data, indent=indent) == json.dumps(_finite(data), default=float, indent=indent)
