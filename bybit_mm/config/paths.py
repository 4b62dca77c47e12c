"""Where profiles and data live.

``BYBIT_MM_HOME`` overrides the platformdirs locations: profiles then live in
``$BYBIT_MM_HOME/profiles/``, data in ``$BYBIT_MM_HOME/data/`` and caches in
``$BYBIT_MM_HOME/cache/``.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "bybit-mm"
HOME_ENV = "BYBIT_MM_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def profiles_dir() -> Path:
    """The directory holding the operator's profiles (not created)."""
    home = _home()
    if home is not None:
        return home / "profiles"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / "profiles"


def data_dir() -> Path:
    """The directory for journals and paper accounts (not created)."""
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    """The directory for caches that can be rebuilt at any time (not created)."""
    home = _home()
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME))


def templates_dir() -> Path:
    """The shipped example profiles: ``bybit_mm/_profiles`` in a wheel, ``profiles/`` in a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "_profiles"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "profiles"
