"""Load, list, create and edit profiles (TOML read with tomllib, atomic write with tomli-w)."""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from bybit_mm.config import paths
from bybit_mm.config.schema import (
    SECTIONS,
    Profile,
    check_option,
    migrate,
    profile_from_dict,
    profile_to_dict,
    section_fields,
    with_value,
)
from bybit_mm.errors import ConfigError, UsageError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_PROFILE = "paper"


def check_name(name: str) -> str:
    """Validate a profile name (letters, digits, ``_ . -``)."""
    if not _NAME.match(name) or name.endswith(".toml"):
        raise UsageError(f"invalid profile name {name!r}: use letters, digits, '_', '.' or '-'")
    return name


def profile_path(name: str) -> Path:
    """Where the profile ``name`` lives in the profiles directory."""
    return paths.profiles_dir() / f"{check_name(name)}.toml"


def templates() -> dict[str, Path]:
    """The shipped example profiles by name."""
    folder = paths.templates_dir()
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a ConfigError naming the file."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: broken TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None


def load_file(path: Path, name: str = "") -> Profile:
    """Load and validate the profile at ``path``."""
    data = read_toml(path)
    return profile_from_dict(data, where=str(path), name=name or path.stem, path=str(path))


def looks_like_path(selector: str) -> bool:
    """A ``--profile`` value is a path when it has a separator or ends in .toml."""
    return os.sep in selector or "/" in selector or selector.endswith(".toml")


def resolve(selector: str | None) -> Profile:
    """Load the profile named by ``--profile`` (a name or a path).

    Without a selector, ``BYBIT_MM_PROFILE`` or ``paper`` is used. A name that is not in the
    profiles directory but is a shipped template (``paper``, ``testnet``, ...) loads the template,
    so ``--profile paper`` works before any ``profile init``.
    """
    selector = selector or os.environ.get("BYBIT_MM_PROFILE") or DEFAULT_PROFILE
    if looks_like_path(selector):
        path = Path(selector).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: no such profile file")
        return load_file(path)
    path = profile_path(selector)
    if path.is_file():
        return load_file(path, selector)
    shipped = templates().get(selector)
    if shipped is not None:
        return load_file(shipped, selector)
    known = sorted(set(list_names()) | set(templates()))
    raise ConfigError(f"no profile named {selector!r} in {paths.profiles_dir()}",
                      hint=f"known: {', '.join(known)}; create one with `bybit-mm profile init {selector}`")


def list_names() -> list[str]:
    """Names of the profiles in the profiles directory."""
    folder = paths.profiles_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml"))


def atomic_write_toml(path: Path, data: dict[str, Any]) -> None:
    """Write TOML to ``path`` atomically (temp file in the same directory, fsync, rename)."""
    import tomli_w

    path.parent.mkdir(parents=True, exist_ok=True)
    text = tomli_w.dumps(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_template(name: str) -> str:
    """The template ``profile init NAME`` copies without ``--from``: the shipped one of that name
    (so ``profile init emulator`` is the emulator profile, not a paper one hiding it), else paper."""
    return name if name in templates() else DEFAULT_PROFILE


def init(name: str, template: str | None = None, *, force: bool = False) -> Path:
    """Create profile ``name`` as a copy of a shipped template (see :func:`default_template`)."""
    template = template or default_template(name)
    path = profile_path(name)
    if path.exists() and not force:
        raise UsageError(f"profile {name!r} already exists at {path}", hint="use --force to overwrite")
    shipped = templates().get(template)
    if shipped is None:
        raise UsageError(f"unknown template {template!r}", hint=f"choose from {', '.join(templates())}")
    load_file(shipped)  # a template must itself be valid
    path.parent.mkdir(parents=True, exist_ok=True)
    text = shipped.read_text(encoding="utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def parse_cli_value(key: str, raw: str) -> Any:
    """Turn a VALUE typed on the command line into the type of ``key``."""
    section, field_name = split_key(key)
    typ, _, _ = section_fields(SECTIONS[section])[field_name]
    try:
        if typ is bool:
            low = raw.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return low in ("true", "1", "yes")
        if typ is int:
            return int(raw)
        if typ is float:
            return float(raw)
    except ValueError:
        raise UsageError(f"{key} must be {'a number' if typ is float else 'an integer' if typ is int else 'true or false'}, "
                         f"got {raw!r}") from None
    return raw


def split_key(key: str) -> tuple[str, str]:
    """Split ``section.key``, checking both parts exist."""
    parts = key.split(".")
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise UsageError(f"unknown key {key!r}: use section.key with a section among {', '.join(SECTIONS)}")
    section, field_name = parts
    spec = section_fields(SECTIONS[section])
    if field_name not in spec:
        raise UsageError(f"unknown key {key!r} (known in [{section}]: {', '.join(spec)})")
    return section, field_name


def set_value(name: str, key: str, raw: str) -> tuple[Profile, Any]:
    """Set ``key`` (dotted) in profile ``name`` from a command-line string; validate; write atomically."""
    path = profile_path(name)
    if not path.is_file():
        raise ConfigError(f"no profile named {name!r} at {path}",
                          hint=f"create it with `bybit-mm profile init {name} --from {default_template(name)}`")
    section, field_name = split_key(key)
    value = parse_cli_value(key, raw)
    typ, _, meta = section_fields(SECTIONS[section])[field_name]
    value = check_option(key, value, typ, **meta)
    data = read_toml(path)
    data.setdefault(section, {})[field_name] = value
    # Validate the whole document before anything is written.
    profile = profile_from_dict(data, where=str(path), name=name, path=str(path))
    atomic_write_toml(path, data)
    return profile, value


def migrate_profile(selector: str) -> tuple[Path, list[str]]:
    """Rewrite the profile ``selector`` (a name in the profiles directory, or a path) with its
    deprecated keys replaced (:func:`~bybit_mm.config.schema.migrate`); the notes, empty when there
    was nothing to migrate (the file is then left alone). Validated before it is written."""
    path = Path(selector).expanduser() if looks_like_path(selector) else profile_path(selector)
    if not path.is_file():
        raise ConfigError(f"no profile {selector!r} at {path}",
                          hint="shipped templates are current; migrate a profile of yours (`bybit-mm profile list`)")
    data, notes = migrate(read_toml(path), str(path))
    if notes:
        profile_from_dict(data, where=str(path))
        atomic_write_toml(path, data)
    return path, notes


def scrubbed(profile: Profile) -> dict[str, Any]:
    """The profile as a dict safe to print: secrets are reported as present/absent, never shown."""
    from bybit_mm.config.secrets import describe_credentials

    doc: dict[str, Any] = profile_to_dict(profile)
    doc["credentials"] = describe_credentials(profile)
    return {"name": profile.name, "path": profile.path, **doc}


__all__ = [
    "DEFAULT_PROFILE", "atomic_write_toml", "init", "list_names", "load_file", "migrate_profile", "profile_path",
    "resolve", "scrubbed", "set_value", "templates", "with_value",
]
