"""Request parameters: parsing and validation into Python values, with Bybit's 10001 on bad input."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from bybit_mm.emulator.wire import ApiError, params_error

_ORDER_LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
#: Integer digits / decimals a number parameter may have (beyond any instrument's range or grid).
MAX_DIGITS = 18


def parse_body(body: str) -> dict[str, Any]:
    """A POST body: a JSON object (an empty body counts as ``{}``)."""
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise params_error("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise params_error("request body must be a JSON object")
    return data


class Params:
    """Typed access to one request's parameters (query string or JSON body)."""

    def __init__(self, data: Mapping[str, Any], *, api_key: str = "") -> None:
        self.data = dict(data)
        #: The authenticated API key of a private request ("" for public ones).
        self.api_key = api_key

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def get(self, name: str) -> Any:
        """The raw value, None when missing or empty (Bybit treats "" as not given)."""
        value = self.data.get(name)
        return None if value is None or value == "" else value

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        """A string parameter."""
        value = self.get(name)
        if value is None:
            if required:
                raise params_error(f"params error: {name} is required")
            return default
        if isinstance(value, (dict, list)):
            raise params_error(f"params error: {name} must be a string")
        return str(value)

    def req(self, name: str) -> str:
        """A required string parameter."""
        value = self.string(name, required=True)
        assert value is not None
        return value

    def decimal(self, name: str, *, required: bool = False, positive: bool = True) -> Decimal | None:
        """A decimal number (sent as a string or a JSON number)."""
        value = self.get(name)
        if value is None:
            if required:
                raise params_error(f"params error: {name} is required")
            return None
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            raise params_error(f"params error: {name} must be a number")
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            raise params_error(f"params error: {name} must be a number, got {value!r}") from None
        if not d.is_finite() or (positive and d <= 0):
            raise params_error(f"params error: {name} must be a positive number, got {value!r}")
        if d and (d.adjusted() > MAX_DIGITS or d.as_tuple().exponent < -MAX_DIGITS):  # type: ignore[operator]
            raise params_error(f"params error: {name} is out of range, got {value!r}")
        return d

    def integer(self, name: str, default: int | None = None, *, lo: int | None = None,
            hi: int | None = None) -> int | None:
        """An integer within ``[lo, hi]``."""
        value = self.get(name)
        if value is None:
            return default
        try:
            if isinstance(value, bool):
                raise ValueError
            n = int(str(value))
        except ValueError:
            raise params_error(f"params error: {name} must be an integer, got {value!r}") from None
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise params_error(f"params error: {name} must be between {lo} and {hi}, got {n}")
        return n

    def limit(self, default: int, hi: int) -> int:
        """The ``limit`` parameter: ``[1, hi]``, ``default`` when missing."""
        n = self.integer("limit", default, lo=1, hi=hi)
        assert n is not None
        return n

    def boolean(self, name: str, default: bool = False) -> bool:
        """A boolean (JSON true/false, "true"/"false", 1/0)."""
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise params_error(f"params error: {name} must be true or false, got {value!r}")

    def category(self, *, required: bool = True) -> str | None:
        """``category``: the emulator serves ``linear`` only."""
        value = self.string("category")
        if value is None:
            if required:
                raise params_error("params error: category is required")
            return None
        if value != "linear":
            raise ApiError(10001, f"params error: category {value!r} is not supported by the emulator "
                                  "(linear only)")
        return value

    def order_link_id(self) -> str:
        """``orderLinkId``: up to 36 of ``[A-Za-z0-9_-]`` (empty when not given)."""
        value = self.string("orderLinkId", "")
        assert value is not None
        if value and not _ORDER_LINK_ID.match(value):
            raise params_error("params error: orderLinkId must be 1-36 characters of A-Z a-z 0-9 _ -")
        return value

    def cursor(self) -> int:
        """The offset a ``cursor`` from :func:`page` stands for; 0 when missing."""
        value = self.get("cursor")
        if value is None:
            return 0
        text = str(value)
        try:
            decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            tag, _, offset = decoded.partition(":")
            n = int(offset)
        except (ValueError, UnicodeDecodeError):
            raise params_error(f"params error: invalid cursor {value!r}") from None
        if tag != _CURSOR_TAG or n < 0:
            raise params_error(f"params error: invalid cursor {value!r}")
        return n


_CURSOR_TAG = "emu-page"


def cursor_token(offset: int) -> str:
    """An opaque ``nextPageCursor`` (Bybit's are opaque tokens; clients pass them back verbatim)."""
    return base64.urlsafe_b64encode(f"{_CURSOR_TAG}:{offset}".encode()).decode().rstrip("=")


def page(items: list[Any], params: Params, *, default_limit: int, max_limit: int) -> tuple[list[Any], str]:
    """One page of ``items`` by ``limit``/``cursor``, and the ``nextPageCursor`` ("" at the end)."""
    limit = params.limit(default_limit, max_limit)
    start = params.cursor()
    chunk = items[start:start + limit]
    more = start + limit < len(items)
    return chunk, (cursor_token(start + limit) if more else "")
