"""The application object carried in the Typer context (no module-level singletons)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

from bybit_mm.ui.console import Terminal, make_terminal

if TYPE_CHECKING:
    from bybit_mm.config.schema import Profile


class SecretFilter(logging.Filter):
    """Masks registered secrets in every log record that passes through a handler."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        from bybit_mm.config.secrets import scrub

        if self.secrets:
            record.msg = scrub(record.getMessage(), self.secrets)
            record.args = ()
        return True


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted: rich's live table redirects
    it while it runs, and prints what arrives above the table instead of under its redraws."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@dataclass
class AppContext:
    """Options of the root command and the things every command needs."""

    profile_selector: str | None = None
    verbose: int = 0
    debug: bool = False
    terminal: Terminal = field(default_factory=make_terminal)
    secret_filter: SecretFilter = field(default_factory=SecretFilter)
    _profile: Profile | None = None
    _warned: set[str] = field(default_factory=set)

    @property
    def profile(self) -> Profile:
        """The selected profile, loaded and validated on first use."""
        if self._profile is None:
            from bybit_mm.config.profiles import resolve

            self._profile = resolve(self.profile_selector)
            self._warn_deprecations(self._profile)
        return self._profile

    def use_profile(self, profile: Profile) -> None:
        """Use ``profile`` from now on in place of the selected one (a command's overrides applied)."""
        self._profile = profile
        self._warn_deprecations(profile)

    def _warn_deprecations(self, profile: Profile) -> None:
        """One line on stderr per deprecated key or option the profile was read with (each once)."""
        for note in profile.deprecations:
            if note not in self._warned:
                self._warned.add(note)
                self.terminal.warn(note)

    def register_secret(self, *values: str) -> None:
        """Make sure these values never reach a log line."""
        self.secret_filter.secrets.extend(v for v in values if v)

    def setup_logging(self) -> None:
        """Log to stderr: warnings by default, info with -v, debug with -vv or --debug."""
        level = logging.DEBUG if (self.debug or self.verbose >= 2) else logging.INFO if self.verbose else logging.WARNING
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(self.secret_filter)
        root = logging.getLogger("bybit_mm")
        root.handlers[:] = [handler]
        root.setLevel(level)
        root.propagate = False


def app_context(ctx: typer.Context) -> AppContext:
    """The AppContext of the running command (created if a command runs without the root callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj
