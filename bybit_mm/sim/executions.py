"""The account's recent executions: bounded, and read without scanning the whole history.

Executions are kept in the order they happened, numbered (``seq``, never reused) and capped at
``maxlen`` (the oldest go first), as Bybit keeps a bounded window of history. Reads that readers
make every update are indexed:

- *since a time* (``start_ms``, the engine's cursor): a running maximum of ``ts_ms`` over the log
  is non-decreasing, so a binary search finds the first execution that can be that recent (an
  external feed may hand out a fill a little older than the previous one: it is still found);
- *since a sequence number* (what the paper store has not written yet);
- *of one order* (its cumulative fee, for the emulator's order views).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from bybit_mm.sim.models import Execution


class ExecutionLog:
    """Executions oldest first, at most ``maxlen`` of them (see the module docstring)."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._rows: list[Execution] = []
        self._top: list[int] = []  # running max of ts_ms, aligned with _rows
        self._head = 0  # index of the oldest kept row
        self._first_seq = 1  # seq of _rows[_head]
        self._by_order: dict[str, list[Execution]] = {}

    def __len__(self) -> int:
        return len(self._rows) - self._head

    def __iter__(self) -> Iterator[Execution]:
        return iter(self._rows[self._head:])

    @property
    def next_seq(self) -> int:
        """The sequence number the next execution will get (one past the newest)."""
        return self._first_seq + len(self)

    def append(self, ex: Execution) -> None:
        """Add the newest execution, dropping the oldest beyond ``maxlen``."""
        self._rows.append(ex)
        self._top.append(max(ex.ts_ms, self._top[-1]) if self._top else ex.ts_ms)
        if ex.order_id:
            self._by_order.setdefault(ex.order_id, []).append(ex)
        while len(self) > self.maxlen:
            self._drop_oldest()
        if self._head >= max(64, self.maxlen // 4):  # dropped rows are freed in batches (amortised O(1))
            del self._rows[:self._head]
            del self._top[:self._head]
            self._head = 0

    def _drop_oldest(self) -> None:
        old = self._rows[self._head]
        self._head += 1
        self._first_seq += 1
        mine = self._by_order.get(old.order_id)
        if mine is not None:
            if mine and mine[0] is old:
                mine.pop(0)
            if not mine:
                del self._by_order[old.order_id]

    def clear(self) -> None:
        """Forget every execution (sequence numbers go on)."""
        self._first_seq = self.next_seq
        self._rows, self._top, self._head = [], [], 0
        self._by_order.clear()

    def newest_first(self, symbol: str | None = None, limit: int = 50, start_ms: int | None = None,
                     end_ms: int | None = None) -> list[Execution]:
        """Up to ``limit`` executions (of ``symbol``; with ``start_ms ≤ ts_ms ≤ end_ms``), newest first."""
        lo = self._head
        if start_ms is not None:
            lo = bisect_left(self._top, start_ms, lo=self._head)
        out: list[Execution] = []
        rows = self._rows
        for i in range(len(rows) - 1, lo - 1, -1):
            ex = rows[i]
            if (symbol and ex.symbol != symbol) or (start_ms is not None and ex.ts_ms < start_ms) \
                    or (end_ms is not None and ex.ts_ms > end_ms):
                continue
            out.append(ex)
            if len(out) >= limit:
                break
        return out

    def since_seq(self, seq: int) -> list[Execution]:
        """Executions numbered ``seq`` or later that are still kept, oldest first."""
        start = self._head + max(0, seq - self._first_seq)
        return self._rows[start:]

    def of_order(self, order_id: str) -> list[Execution]:
        """The kept executions of one order, oldest first."""
        return list(self._by_order.get(order_id, ()))
