"""The account's history as Bybit reports it: closed PnL per closing order and the transaction log.

The exchange tells the journal about every fill, funding settlement and liquidation, with the
position before and after and the wallet balance after; the journal keeps:

- **Closed PnL** (``/v5/position/closed-pnl``): one record per order that reduced a position,
  its fills aggregated. ``closedPnl = exit value − entry value (by side) − open fee − close fee``,
  the open fee being the closed part's share of the fees paid opening the position (Bybit's
  ``openFee``/``closeFee``); funding is not in it.
- **Transaction log** (``/v5/account/transaction-log``): one entry per fill (``TRADE``), funding
  settlement (``SETTLEMENT``) and liquidation (``LIQUIDATION``), with Bybit's signs: ``funding``
  positive when received, ``fee`` positive when paid, ``cashFlow`` the realised PnL,
  ``change = cashFlow + funding − fee`` and ``cashBalance`` the wallet after it.
- Per position: the realised PnL of the position held now (fees and funding included) and when
  it was opened (position ``curRealisedPnl`` / ``openTime``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from decimal import Decimal

from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import FillEffect, Position
from bybit_mm.sim.models import Execution

ZERO = Decimal(0)
_MAX_RECORDS = 20_000


@dataclass(frozen=True, slots=True)
class ClosedPnl:
    """One closing order's realised result (Bybit's closed-pnl record)."""

    symbol: str
    order_id: str
    #: The closing order's side (Sell closes a long).
    side: Side
    order_qty: Decimal
    order_price: Decimal
    order_type: str
    exec_type: str
    closed_size: Decimal
    entry_value: Decimal
    exit_value: Decimal
    closed_pnl: Decimal
    fill_count: int
    leverage: Decimal
    open_fee: Decimal
    close_fee: Decimal
    created_ms: int
    updated_ms: int

    @property
    def avg_entry_price(self) -> Decimal:
        """Entry value / closed size."""
        return self.entry_value / self.closed_size if self.closed_size else ZERO

    @property
    def avg_exit_price(self) -> Decimal:
        """Exit value / closed size."""
        return self.exit_value / self.closed_size if self.closed_size else ZERO


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One line of the transaction log."""

    entry_id: str
    symbol: str
    side: Side
    ts_ms: int
    #: ``TRADE``, ``SETTLEMENT`` (funding) or ``LIQUIDATION``.
    kind: str
    qty: Decimal
    #: The position after it, signed (short negative).
    size: Decimal
    price: Decimal
    #: Funding received (negative: paid); 0 for trades.
    funding: Decimal
    #: Fee paid (negative: rebate).
    fee: Decimal
    fee_rate: Decimal
    #: Realised PnL (trading only).
    cash_flow: Decimal
    cash_balance: Decimal
    trade_id: str
    order_id: str
    order_link_id: str

    @property
    def change(self) -> Decimal:
        """``cashFlow + funding − fee``: how much the wallet moved."""
        return self.cash_flow + self.funding - self.fee


@dataclass
class _Holding:
    open_fee: Decimal = ZERO
    cur_realised: Decimal = ZERO
    open_ms: int = 0


class Journal:
    """Closed PnL and transaction log of the simulated account (see the module docstring)."""

    def __init__(self) -> None:
        self.closed: deque[ClosedPnl] = deque(maxlen=_MAX_RECORDS)
        self.log: deque[LedgerEntry] = deque(maxlen=_MAX_RECORDS)
        self._open: dict[str, ClosedPnl] = {}
        self._holding: dict[str, _Holding] = {}

    def holding(self, symbol: str) -> tuple[Decimal, int]:
        """(realised PnL of the position held now, when it was opened); (0, 0) when flat."""
        h = self._holding.get(symbol)
        return (h.cur_realised, h.open_ms) if h is not None else (ZERO, 0)

    def on_fill(self, ex: Execution, effect: FillEffect, before: Position, after: Position,
                balance: Decimal, leverage: Decimal, order_qty: Decimal, order_price: Decimal,
                order_type: str) -> None:
        """A fill (trade or liquidation) moved ``before`` to ``after``; the wallet is now ``balance``."""
        h = self._holding.setdefault(ex.symbol, _Holding())
        close_fee = effect.fee * effect.closed_qty / ex.qty if ex.qty else ZERO
        open_fee = effect.fee - close_fee
        if effect.closed_qty > 0 and before.size > 0:
            share = effect.closed_qty / before.size
            entry_open_fee = h.open_fee * share
            h.open_fee -= entry_open_fee
            self._record_close(ex, effect, before, entry_open_fee, close_fee, leverage, order_qty,
                               order_price, order_type)
        if after.is_flat:
            self._holding.pop(ex.symbol, None)
        else:
            if before.is_flat or effect.opened_qty > 0 and effect.closed_qty > 0:  # opened or flipped
                h = self._holding[ex.symbol] = _Holding(open_ms=ex.ts_ms)
                h.cur_realised = -open_fee
            else:
                h.cur_realised += effect.realized_pnl - effect.fee
            h.open_fee += open_fee
        kind = "LIQUIDATION" if ex.exec_type == "BustTrade" else "TRADE"
        self.log.append(LedgerEntry(ex.exec_id, ex.symbol, ex.side, ex.ts_ms, kind, ex.qty, after.qty, ex.price,
                                    ZERO, effect.fee, ex.fee_rate, effect.realized_pnl, balance, ex.exec_id,
                                    ex.order_id, ex.order_link_id))

    def _record_close(self, ex: Execution, effect: FillEffect, before: Position, open_fee: Decimal,
                      close_fee: Decimal, leverage: Decimal, order_qty: Decimal, order_price: Decimal,
                      order_type: str) -> None:
        closed = effect.closed_qty
        entry_value = closed * before.entry_price
        exit_value = closed * ex.price
        pnl = effect.realized_pnl - open_fee - close_fee
        prev = self._open.get(ex.order_id)
        if prev is not None and prev.symbol == ex.symbol:
            rec = replace(prev, closed_size=prev.closed_size + closed, entry_value=prev.entry_value + entry_value,
                          exit_value=prev.exit_value + exit_value, closed_pnl=prev.closed_pnl + pnl,
                          fill_count=prev.fill_count + 1, open_fee=prev.open_fee + open_fee,
                          close_fee=prev.close_fee + close_fee, updated_ms=ex.ts_ms, leverage=leverage)
            # The newest record of an order is the one kept (and listed first).
            self.closed.remove(prev)
        else:
            rec = ClosedPnl(ex.symbol, ex.order_id, ex.side, order_qty, order_price, order_type, ex.exec_type,
                            closed, entry_value, exit_value, pnl, 1, leverage, open_fee, close_fee,
                            ex.ts_ms, ex.ts_ms)
        self.closed.append(rec)
        self._open[ex.order_id] = rec
        if len(self._open) > 1000:
            self._open.pop(next(iter(self._open)))

    def order_closed_pnl(self, order_id: str) -> Decimal:
        """The closed PnL an order realised (0 if it closed nothing, or long ago)."""
        rec = self._open.get(order_id)
        return rec.closed_pnl if rec is not None else ZERO

    def on_funding(self, ex: Execution, pos: Position, paid: Decimal, balance: Decimal) -> None:
        """A funding settlement of ``paid`` (negative: received) on ``pos``."""
        h = self._holding.get(ex.symbol)
        if h is not None:
            h.cur_realised -= paid
        self.log.append(LedgerEntry(ex.exec_id, ex.symbol, ex.side, ex.ts_ms, "SETTLEMENT", ex.qty, pos.qty, ex.price,
                                    -paid, ZERO, ex.fee_rate, ZERO, balance, ex.exec_id, ex.order_id, ""))

    def newest_closed(self) -> list[ClosedPnl]:
        """Closed-PnL records, newest first."""
        return list(reversed(self.closed))

    def newest_log(self) -> list[LedgerEntry]:
        """Transaction-log entries, newest first."""
        return list(reversed(self.log))
