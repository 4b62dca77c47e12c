"""The one columnar event format every reader produces and every replay consumes.

One row is one atomic market change, as in hftbacktest's event arrays: a book level set to a
size (0 removes it), a trade print, a mark price or a funding rate. A Bybit WebSocket message
becomes several rows; the last row of a message carries ``FLAG_LAST`` so a consumer knows when
the book is consistent again. Timestamps are integer nanoseconds since the epoch:
``exch_ts`` is the exchange's time, ``local_ts`` when we received it (equal to ``exch_ts`` for
Bybit's history files, which carry no receive time). Prices and sizes are floats; code that
needs ticks converts with the instrument's tick size (``round(px / tick)``).
"""

from __future__ import annotations

import numpy as np

#: Row kinds.
BOOK_CLEAR = 1  #: a snapshot starts: forget every level of the book (px, qty unused)
BID = 2  #: set the bid level at px to qty (qty 0 removes it)
ASK = 3  #: set the ask level at px to qty (qty 0 removes it)
TRADE_BUY = 4  #: a print whose aggressor bought (it lifted the ask) at px for qty
TRADE_SELL = 5  #: a print whose aggressor sold (it hit the bid) at px for qty
MARK = 6  #: the mark price is px
FUNDING = 7  #: px is the funding rate; qty is the next funding time in ns (0 if unknown)

#: Flags (bit set).
FLAG_LAST = 1  #: the last row of one source message (the book is consistent after it)
FLAG_RESYNC = 2  #: this snapshot follows a gap in update ids (the book was rebuilt)

EVENT_DTYPE = np.dtype(
    [
        ("kind", "u1"),
        ("flags", "u1"),
        ("exch_ts", "i8"),
        ("local_ts", "i8"),
        ("px", "f8"),
        ("qty", "f8"),
    ]
)
