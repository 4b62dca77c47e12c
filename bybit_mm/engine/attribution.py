"""Per-fill PnL attribution: spread capture at the fill and markouts, resolved as market time passes.

A driver feeds the mids it sees (:meth:`Attribution.on_mid`, in time order) and our quotes' fills
(:meth:`Attribution.on_fill`). For each fill of ``qty`` at ``price`` on side ``s`` (+1 buy, -1 sell):

- **spread capture** ``s x (mid_0 - price) x qty``, ``mid_0`` the mid at the fill's time (the latest
  mid at or before it);
- **markout at h** (1, 10, 60 s) ``s x (mid_h - price) x qty``, ``mid_h`` the latest mid at or
  before ``fill time + h``; in bps of the fill's notional, ``s x (mid_h - price) / price x 10^4``
  (capture likewise; over many fills, notional-weighted: the sum in USDT over the notional);
- **adverse selection** (at the longest horizon, 60 s) ``capture - markout_60 = s x (mid_0 - mid_60)
  x qty``: what the mid did against the fill within 60 s; positive is a cost (we were picked off).

A markout is resolved once a mid later than its horizon is seen (or at :meth:`finish`, when the
run's end passes it); a fill whose horizon the run never reaches stays unresolved, never guessed.
Pending horizons wait in a small heap, so the cost per mid is one comparison until one is due;
memory is bounded by the fills of the last 60 s and the optional mid history.

Fills reported after the fact (a REST read of executions seconds later) are priced from a short
history of the mids seen (``history_s``); a fill older than that history is counted as unpriced.
Floats throughout: this is a measurement, not money the exchange settles.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

#: Markout horizons in seconds; the last one's markout defines adverse selection.
HORIZONS_S: tuple[int, ...] = (1, 10, 60)
_INF = math.inf

# Fields of a pending fill (a list, for speed): time, side sign, price, qty, mid at the fill, horizons
# left, key, then one markout (USDT, None until resolved) per horizon.
_TS, _SIGN, _PRICE, _QTY, _MID, _LEFT, _KEY, _MARKS = range(8)


@dataclass(frozen=True)
class FillMarkouts:
    """One fill's attribution, handed to ``on_done`` once every horizon is resolved (or the run
    ended): the mid at the fill and the markouts in bps by horizon (None: unresolved)."""

    key: str | None
    ts_ms: int
    mid: float
    capture_bps: float
    markouts_bps: dict[int, float | None]


class Attribution:
    """Running spread capture, markouts and adverse selection of one symbol's fills."""

    def __init__(self, horizons_s: tuple[int, ...] = HORIZONS_S, *, history_s: float = 0.0,
                 max_history: int = 100_000, on_done: Callable[[FillMarkouts], None] | None = None) -> None:
        """``history_s``: how long mids are remembered to price fills reported late (0: fills are
        reported when they happen, as in a backtest); ``on_done``: called with each fill's
        :class:`FillMarkouts` when it is complete."""
        self.horizons_s = tuple(horizons_s)
        self._h_ms = tuple(int(h * 1000) for h in self.horizons_s)
        self.on_done = on_done
        #: The latest mid seen and its time (nan / -1 before the first).
        self.mid = math.nan
        self.mid_ts = -1
        #: Horizons waiting for a later mid (drivers may skip :meth:`on_mid` while this is 0, as long
        #: as they call it with the mid at a fill's time before :meth:`on_fill`).
        self.pending = 0
        self._heap: list[tuple[int, int, int, list]] = []
        self._next_due: float = _INF
        self._seq = 0
        self._history_ms = int(history_s * 1000)
        self._hist: deque[tuple[int, float]] | None = deque(maxlen=max_history) if history_s > 0 else None
        # totals
        self.fills = 0
        self.unpriced = 0
        self.notional = 0.0
        self.capture = 0.0
        self.adverse = 0.0
        n = len(self.horizons_s)
        self.mk_usdt = [0.0] * n
        self.mk_notional = [0.0] * n
        self.mk_fills = [0] * n

    # -- feeding --------------------------------------------------------------------------------
    def on_mid(self, ts_ms: int, mid: float) -> None:
        """The mid at ``ts_ms`` (times never go back; an older one is ignored)."""
        if ts_ms < self.mid_ts:
            return
        if ts_ms >= self._next_due:
            self._resolve(ts_ms, mid)
        if mid != self.mid:
            self.mid = mid
            hist = self._hist
            if hist is not None:
                hist.append((ts_ms, mid))
                # Keep one mid at or before the horizon: it is the mid at any time since.
                horizon = ts_ms - self._history_ms
                while len(hist) > 1 and hist[1][0] <= horizon:
                    hist.popleft()
        self.mid_ts = ts_ms

    def on_fill(self, ts_ms: int, side: int, price: float, qty: float, fee: float = 0.0, maker: bool = True,
                key: str | None = None, mid: float | None = None) -> float | None:
        """One of our quotes' fills (``side`` +1 buy, -1 sell) at ``ts_ms``; ``mid``: the mid at
        the fill when the driver knows it exactly (else the latest seen at or before ``ts_ms``).
        ``fee``/``maker`` are the fill's own (not part of the capture). Returns the mid used, or
        None when no mid is known for that time (the fill stays unattributed)."""
        if mid is None:
            mid = self.mid_at(ts_ms)
        elif ts_ms >= self.mid_ts:
            self.on_mid(ts_ms, mid)
        if mid is None or not mid > 0:
            self.unpriced += 1
            return None
        self.fills += 1
        self.notional += price * qty
        self.capture += side * (mid - price) * qty
        rec: list = [ts_ms, side, price, qty, mid, len(self._h_ms), key] + [None] * len(self._h_ms)
        heap = self._heap
        for j, h in enumerate(self._h_ms):
            due = ts_ms + h
            if due < self.mid_ts:  # already passed (a late report): from the history
                later = self.mid_at(due)
                if later is None:
                    self._give_up(rec)
                else:
                    self._mark(rec, j, later)
            else:
                self._seq += 1
                heapq.heappush(heap, (due, self._seq, j, rec))
        self.pending = len(heap)
        self._next_due = heap[0][0] if heap else _INF
        return mid

    def finish(self, end_ms: int) -> None:
        """The run ended at ``end_ms``: horizons it reached are resolved at the last mid (it held
        until then); the rest stay unresolved (their fills are handed to ``on_done`` as they are)."""
        heap = self._heap
        while heap and heap[0][0] <= end_ms and self.mid_ts >= 0:
            _, _, j, rec = heapq.heappop(heap)
            self._mark(rec, j, self.mid)
        while heap:
            _, _, _, rec = heapq.heappop(heap)
            self._give_up(rec)
        self.pending = 0
        self._next_due = _INF

    def restore(self, side: int, price: float, qty: float, mid: float,
                markouts_bps: dict[int, float | None]) -> None:
        """Count a fill attributed by an earlier run of the session (a resumed run's journal)."""
        self.fills += 1
        self.notional += price * qty
        self.capture += side * (mid - price) * qty
        for j, h in enumerate(self.horizons_s):
            bps = markouts_bps.get(h)
            if bps is not None:
                usdt = bps * price * qty / 1e4
                self.mk_usdt[j] += usdt
                self.mk_notional[j] += price * qty
                self.mk_fills[j] += 1
                if j == len(self.horizons_s) - 1:
                    self.adverse += side * (mid - price) * qty - usdt

    # -- reading ------------------------------------------------------------------------------
    def mid_at(self, ts_ms: int) -> float | None:
        """The latest mid seen at or before ``ts_ms`` (None: none seen, or older than the history)."""
        if ts_ms >= self.mid_ts:
            return None if self.mid_ts < 0 else self.mid
        hist = self._hist
        if not hist:
            return None
        for t, m in reversed(hist):
            if t <= ts_ms:
                return m
        return None

    def markout_bps(self, j: int) -> float | None:
        """The notional-weighted markout at horizon index ``j`` in bps (None: none resolved)."""
        n = self.mk_notional[j]
        return self.mk_usdt[j] / n * 1e4 if n else None

    # -- inside -------------------------------------------------------------------------------
    def _resolve(self, ts_ms: int, mid: float) -> None:
        heap = self._heap
        before = self.mid
        while heap and heap[0][0] <= ts_ms:
            due, _, j, rec = heapq.heappop(heap)
            self._mark(rec, j, mid if due == ts_ms else before)
        self.pending = len(heap)
        self._next_due = heap[0][0] if heap else _INF

    def _mark(self, rec: list, j: int, later: float) -> None:
        sign, price, qty = rec[_SIGN], rec[_PRICE], rec[_QTY]
        usdt = sign * (later - price) * qty
        rec[_MARKS + j] = usdt
        self.mk_usdt[j] += usdt
        self.mk_notional[j] += price * qty
        self.mk_fills[j] += 1
        if j == len(self._h_ms) - 1:
            self.adverse += sign * (rec[_MID] - later) * qty
        self._give_up(rec)

    def _give_up(self, rec: list) -> None:
        """One of ``rec``'s horizons is done (resolved or not); the last one hands it over."""
        rec[_LEFT] -= 1
        if rec[_LEFT] == 0 and self.on_done is not None:
            self.on_done(fill_markouts(rec, self.horizons_s))


def fill_markouts(rec: list, horizons_s: tuple[int, ...]) -> FillMarkouts:
    """A pending fill's record as :class:`FillMarkouts`."""
    mid, sign, price, qty = rec[_MID], rec[_SIGN], rec[_PRICE], rec[_QTY]
    per = 1e4 / (price * qty)
    return FillMarkouts(key=rec[_KEY], ts_ms=rec[_TS], mid=mid, capture_bps=sign * (mid - price) / price * 1e4,
                        markouts_bps={h: None if rec[_MARKS + j] is None else rec[_MARKS + j] * per
                                      for j, h in enumerate(horizons_s)})
