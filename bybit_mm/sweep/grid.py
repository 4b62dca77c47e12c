"""Sweep axes: ``--grid KEY=V1,V2`` and ``--random N --range KEY=LO:HI`` into combinations.

Keys are dotted profile keys (``quoting.risk_aversion``); values go through the profile schema's
validator, so a bad key or value is a :class:`UsageError` naming it before any backtest runs.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

from bybit_mm.config.profiles import parse_cli_value, split_key
from bybit_mm.config.schema import SECTIONS, Profile, profile_from_dict, profile_to_dict, section_fields
from bybit_mm.errors import ConfigError, UsageError

#: One combination: (key, value) pairs in the order the keys were given.
Params = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Range:
    """A ``--range KEY=LO:HI``: uniform draws (integers for integer keys)."""

    key: str
    lo: float
    hi: float


def parse_grid(spec: str) -> tuple[str, list[Any]]:
    """``KEY=V1,V2,...`` -> (key, typed values); each value checked against the key's schema."""
    key, raw = _split(spec, "--grid", "KEY=V1,V2,...")
    values = [v.strip() for v in raw.split(",")]
    if not all(values):
        raise UsageError(f"--grid {spec!r}: empty value", hint="use KEY=V1,V2,... e.g. quoting.risk_aversion=0.01,0.05")
    typed = [check(key, parse_cli_value(key, v)) for v in values]
    if len(set(typed)) != len(typed):
        raise UsageError(f"--grid {spec!r}: a value is repeated")
    return key, typed


def parse_range(spec: str) -> Range:
    """``KEY=LO:HI`` -> :class:`Range` (both ends checked against the key's schema)."""
    key, raw = _split(spec, "--range", "KEY=LO:HI")
    parts = raw.split(":")
    if len(parts) != 2:
        raise UsageError(f"--range {spec!r} must be KEY=LO:HI", hint="e.g. quoting.risk_aversion=0.005:0.1")
    typ = _type(key)
    if typ not in (int, float):
        raise UsageError(f"--range {key}: only numeric keys can be drawn from a range")
    lo, hi = (check(key, parse_cli_value(key, p.strip())) for p in parts)
    if not lo < hi:
        raise UsageError(f"--range {spec!r}: LO must be below HI")
    return Range(key, lo, hi)


def combinations(grids: list[tuple[str, list[Any]]], ranges: list[Range], draws: int | None,
                 seed: int = 1) -> list[Params]:
    """Every combination of the grids; with ``draws``, each crossed with that many random draws
    of the ranges (seeded: the same arguments give the same combinations)."""
    keys = [k for k, _ in grids] + [r.key for r in ranges]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise UsageError(f"key {sorted(dup)[0]} is given more than once")
    if ranges and not draws:
        raise UsageError("--range needs --random N (how many draws)")
    if draws and not ranges:
        raise UsageError("--random N needs at least one --range KEY=LO:HI")
    grid = [tuple(zip([k for k, _ in grids], combo)) for combo in itertools.product(*[v for _, v in grids])]
    if not draws:
        return grid
    rng = random.Random(seed)
    drawn: list[Params] = []
    for _ in range(draws):
        drawn.append(tuple((r.key, _draw(rng, r)) for r in ranges))
    return [g + d for g in grid for d in drawn]


def _draw(rng: random.Random, r: Range) -> Any:
    if _type(r.key) is int:
        return rng.randint(int(r.lo), int(r.hi))
    return float(f"{rng.uniform(r.lo, r.hi):.6g}")


def apply(profile: Profile, params: Params) -> Profile:
    """``profile`` with ``params`` set, the whole profile validated again (cross-field checks
    too); a UsageError names the combination when it is invalid."""
    doc = profile_to_dict(profile)
    for key, value in params:
        section, name = split_key(key)
        doc[section][name] = value
    try:
        return profile_from_dict(doc, where=describe(params), name=profile.name, path=profile.path)
    except ConfigError as e:
        raise UsageError(e.message) from None


def describe(params: Params) -> str:
    """``quoting.risk_aversion=0.01 market.leverage=10``."""
    return " ".join(f"{k}={v}" for k, v in params)


def check(key: str, value: Any) -> Any:
    """One value of ``key`` through the schema's validator; a UsageError naming both."""
    from bybit_mm.config.schema import check_option

    section, name = split_key(key)
    typ, _, meta = section_fields(SECTIONS[section])[name]
    return check_option(key, value, typ, **meta)


def _type(key: str) -> type:
    section, name = split_key(key)
    return section_fields(SECTIONS[section])[name][0]


def _split(spec: str, option: str, form: str) -> tuple[str, str]:
    key, sep, raw = spec.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{option} {spec!r} must be {form}")
    key = key.strip()
    split_key(key)  # an unknown key is a UsageError naming it
    return key, raw
