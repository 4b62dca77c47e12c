"""Independent checks for the data tests: a dict-based book rebuilt straight from the JSON
messages, and the same book rebuilt from event rows (the two must agree)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import numpy as np

from bybit_mm.data.events import ASK, BID, BOOK_CLEAR, FLAG_LAST

Book = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]


def books_from_messages(messages: list[dict[str, Any]]) -> list[Book]:
    """The book after each message that carries a change, applying Bybit's rules directly
    (a snapshot replaces the book; a delta sets levels, size 0 removes); no gap handling."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    out: list[Book] = []
    for msg in messages:
        if msg["type"] == "snapshot":
            bids, asks = {}, {}
        elif not msg["data"]["b"] and not msg["data"]["a"]:
            continue
        for side, key in ((bids, "b"), (asks, "a")):
            for p, q in msg["data"][key]:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
        out.append((dict(bids), dict(asks)))
    return out


def books_from_events(events: np.ndarray) -> list[Book]:
    """The book at every FLAG_LAST book row of ``events``."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    out: list[Book] = []
    for row in events:
        kind = int(row["kind"])
        if kind not in (BOOK_CLEAR, BID, ASK):
            continue
        if kind == BOOK_CLEAR:
            bids, asks = {}, {}
        else:
            side = bids if kind == BID else asks
            px, qty = _dec(row["px"]), _dec(row["qty"])
            if qty == 0:
                side.pop(px, None)
            else:
                side[px] = qty
        if int(row["flags"]) & FLAG_LAST:
            out.append((dict(bids), dict(asks)))
    return out


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x))).normalize()


def normalise(books: list[Book]) -> list[Book]:
    """Decimal keys/values normalised (``"60000.10"`` and ``60000.1`` compare equal)."""
    return [({k.normalize(): v.normalize() for k, v in b.items()}, {k.normalize(): v.normalize() for k, v in a.items()})
            for b, a in books]


def lines_of(text: str) -> list[dict[str, Any]]:
    """The JSON objects of JSON-lines text."""
    return [json.loads(x) for x in text.splitlines() if x.strip()]
