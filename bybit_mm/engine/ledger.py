"""The engine's own books: fills replayed through the domain's position math.

Kept independently of the exchange's wallet so the accounting invariant can be checked:
``equity = starting balance + realised + unrealised - fees - funding``. Our quotes' fills also go
to the ledger's :class:`~bybit_mm.engine.attribution.Attribution` (spread capture against the mid
at the fill, markouts, adverse selection); :func:`~bybit_mm.engine.snapshot.pnl_split` splits the
trading PnL with it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import Position, apply_fill, unrealized_pnl
from bybit_mm.engine.attribution import Attribution
from bybit_mm.exchange.port import Execution

ZERO = Decimal(0)
log = logging.getLogger("bybit_mm.engine.trader")
#: How long (exchange time behind the newest booked execution) an execution id is remembered,
#: and at most how many (~220 bytes each): the fewer of the two.
SEEN_WINDOW_MS = 3_600_000
SEEN_MAX_IDS = 20_000


class SeenIds:
    """The execution ids already booked, so none is booked twice, in memory that stays flat.

    Executions are read as "since a cursor" just behind the newest one booked (REST) or as they
    happen (the stream), so an id only needs remembering while its execution can still come back:
    an id is forgotten once its execution is ``window_ms`` older than the newest booked (or
    ``max_ids`` newer ones are remembered), and from
    then on every execution at or before the newest forgotten one's time (:attr:`floor_ms`) counts
    as booked. Only an execution delivered that late would be mistaken for one already booked;
    none is ever booked twice.
    """

    def __init__(self, window_ms: int = SEEN_WINDOW_MS, max_ids: int = SEEN_MAX_IDS) -> None:
        self.window_ms = window_ms
        self.max_ids = max_ids
        self._ids: dict[str, int] = {}
        self._order: deque[tuple[int, str]] = deque()
        self.newest_ms = 0
        self.floor_ms = -1

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def booked(self, key: str, ts_ms: int) -> bool:
        """Whether the execution ``key`` of time ``ts_ms`` was booked (or is too old to be new)."""
        return key in self._ids or ts_ms <= self.floor_ms

    def add(self, key: str, ts_ms: int | None = None) -> None:
        """Remember ``key`` (of time ``ts_ms``; without one, as of the newest booked)."""
        if key in self._ids:
            return
        ts = self.newest_ms if ts_ms is None else ts_ms
        self._ids[key] = ts
        self._order.append((ts, key))
        if ts > self.newest_ms:
            self.newest_ms = ts
        horizon = self.newest_ms - self.window_ms
        order = self._order
        while order and (order[0][0] < horizon or len(order) > self.max_ids):
            old_ts, old = order.popleft()
            del self._ids[old]
            if old_ts > self.floor_ms:
                self.floor_ms = old_ts

    def __ior__(self, keys: Iterable[str]) -> SeenIds:
        for key in keys:
            self.add(key)
        return self


@dataclass
class Ledger:
    """Running totals of one symbol's trading."""

    symbol: str
    starting_balance: Decimal
    position: Position = field(init=False)
    fills: int = 0
    buy_fills: int = 0
    sell_fills: int = 0
    maker_fills: int = 0
    volume: Decimal = ZERO
    notional: Decimal = ZERO
    funding: Decimal = ZERO
    max_abs_position: Decimal = ZERO
    seen: SeenIds = field(default_factory=SeenIds)
    #: Spread capture and markouts of our quotes' fills (fed by :func:`book_executions`).
    attribution: Attribution = field(default_factory=Attribution)

    def __post_init__(self) -> None:
        self.position = Position.flat(self.symbol)

    @property
    def realized_pnl(self) -> Decimal:
        """Gross realised trading PnL (fees and funding apart)."""
        return self.position.realized_pnl

    @property
    def fees(self) -> Decimal:
        """Fees paid (negative: rebates received)."""
        return self.position.fees_paid

    def apply(self, ex: Execution) -> bool:
        """Book one execution (ignored if already seen); returns True when it was new.

        A funding execution goes to :attr:`funding`; every other type (trade, liquidation, ADL,
        settlement) changes the position as a fill.
        """
        key = fill_key(ex)
        if self.seen.booked(key, ex.ts_ms):
            return False
        self.seen.add(key, ex.ts_ms)
        if ex.is_funding:
            self.funding += ex.fee
            return True
        rate = ex.fee / (ex.qty * ex.price) if ex.qty and ex.price else ZERO
        self.position, _ = apply_fill(self.position, ex.side, ex.qty, ex.price, rate)
        # apply_fill recomputes the fee from the rate; keep the exchange's exact fee.
        drift = ex.fee - ex.qty * ex.price * rate
        if drift:
            self.position = replace(self.position, fees_paid=self.position.fees_paid + drift)
        self.fills += 1
        if ex.side is Side.BUY:
            self.buy_fills += 1
        else:
            self.sell_fills += 1
        if ex.is_maker:
            self.maker_fills += 1
        self.volume += ex.qty
        self.notional += ex.qty * ex.price
        self.max_abs_position = max(self.max_abs_position, abs(self.position.qty))
        return True

    def unrealized(self, mark: Decimal) -> Decimal:
        """Unrealised PnL at ``mark``."""
        return unrealized_pnl(self.position, mark)

    def equity(self, mark: Decimal) -> Decimal:
        """Starting balance + realised + unrealised - fees - funding."""
        return (self.starting_balance + self.realized_pnl + self.unrealized(mark) - self.fees
                - self.funding)


def book_executions(ledger: Ledger, execs: Iterable[Execution], *, counters: dict[str, int],
                    journal: Any = None, mid: float | None = None) -> None:
    """Book executions (each once, by exec id): fills and forced closes into the position, funding
    into funding; count liquidations; journal what was new (``journal``: an engine Journal).

    Our quotes' fills go to the ledger's attribution, at ``mid`` when the driver knows the mid at
    the fill (else the latest mid the attribution saw at or before the fill's time); a forced
    close (liquidation, ADL, settlement) is inventory, not spread."""
    att = ledger.attribution
    for ex in execs:
        if ledger.apply(ex):
            fill_mid = None
            if ex.exec_type == "trade":
                fill_mid = att.on_fill(ex.ts_ms, ex.side.sign, float(ex.price), float(ex.qty), float(ex.fee),
                                       ex.is_maker, ex.exec_id, mid)
            if log.isEnabledFor(logging.INFO):
                log.info("%s: %s %s %s @ %s, fee %s (position %s)", ex.exec_type, ex.side.value, ex.qty,
                         ex.symbol, ex.price, ex.fee, ledger.position.qty)
            if ex.exec_type == "liquidation":
                counters["liquidations"] += 1
            if ex.exec_type in ("liquidation", "adl", "settle"):
                log.warning("%s: %s %s %s @ %s by the exchange", ex.exec_type, ledger.symbol,
                            ex.side.value, ex.qty, ex.price)
            if journal is not None:
                if ex.is_funding:
                    journal.record_funding(ex.symbol, ex.ts_ms, ex.fee, ex.exec_id)
                else:
                    journal.record_fill(ex, None if fill_mid is None else Decimal(f"{fill_mid:.12g}"))


def fill_key(ex: Execution) -> str:
    """What makes an execution unique: its id (Bybit's execId; the sim's ids survive a reload)."""
    return ex.exec_id
