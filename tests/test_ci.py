"""CI runs exactly the README's test command (.ci/run says so; this keeps the two in sync)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readmes_test_command() -> None:
    pattern = re.compile(r"^python -m pip install '\.\[test\]' && python -m pytest.*$", re.MULTILINE)
    readme = pattern.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    ci = pattern.findall((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert len(readme) == 1 and ci == readme
    assert " -n auto" in readme[0]  # in parallel (pytest-xdist, in the test extra)
    assert "pytest-xdist" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
