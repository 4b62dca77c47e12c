"""The project's one error tree.

Every expected failure is a :class:`BybitMMError` carrying the process exit code the CLI
returns for it. Adapters translate vendor exceptions into these (``raise ... from e``); only
the CLI turns them into a message and an exit code. Stdlib only, so every layer may import it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_AUTH = 4
EXIT_UNAVAILABLE = 5
EXIT_REJECTED = 6
EXIT_INTERRUPTED = 130
#: The reader of stdout went away (128 + SIGPIPE, as the shell reports a tool killed by it).
EXIT_BROKEN_PIPE = 141


class BybitMMError(Exception):
    """Base of every expected error; ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_UNEXPECTED

    def __init__(self, message: str, *, hint: str | None = None, ret_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: Bybit's retCode when the error came from the exchange.
        self.ret_code = ret_code

    def one_line(self) -> str:
        """The message as shown to an operator: what happened, then what to do next."""
        text = self.message
        if self.ret_code is not None:
            text = f"{text} (Bybit retCode {self.ret_code})"
        if self.hint:
            text = f"{text}; {self.hint}"
        return " ".join(text.split())


class UsageError(BybitMMError):
    """Bad input from the operator: a value out of range, an unknown name."""

    exit_code = EXIT_USAGE


class StateInUse(UsageError):
    """A paper account or run journal is held by another process (one process per account/journal)."""


class DataError(UsageError):
    """A market-data file that is missing, truncated or malformed; the message names the file
    and, where one is to blame, the line."""


class ConfigError(BybitMMError):
    """A profile or credentials file that is missing, unreadable, malformed or invalid."""

    exit_code = EXIT_CONFIG


class AuthError(BybitMMError):
    """Authentication or permission failure (bad key, bad signature, missing permission)."""

    exit_code = EXIT_AUTH


class ExchangeUnavailable(BybitMMError):
    """The exchange could not be reached, timed out, or rate-limited us past the retry budget."""

    exit_code = EXIT_UNAVAILABLE


class RateLimited(ExchangeUnavailable):
    """Rate limit exceeded (Bybit 10006, HTTP 403/429)."""


class OrderRejected(BybitMMError):
    """The exchange or our risk guard refused an order or an account change."""

    exit_code = EXIT_REJECTED


class InsufficientMargin(OrderRejected):
    """Not enough available balance for the order's margin (Bybit 110007 / 110044)."""


class RiskLimitError(OrderRejected):
    """A risk limit (ours or Bybit's risk-limit tier) forbids the action."""


class Interrupted(BybitMMError):
    """The operator interrupted the command (Ctrl-C)."""

    exit_code = EXIT_INTERRUPTED
