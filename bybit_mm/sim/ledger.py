"""The simulated account: wallet, positions, leverage and margin mode per symbol, margin checks.

All futures arithmetic is the domain's (``bybit_mm.domain.position`` / ``margin`` /
``liquidation``); this module only keeps the books. Conventions:

- One USDT wallet (unified account). Fees and funding are paid from it on every fill/settlement;
  realised PnL is added to it on every reducing fill. Hence the invariant tested in
  ``tests/sim``: ``wallet == deposits + Σ realised − Σ fees − Σ funding`` and
  ``equity == wallet + Σ unrealised``.
- Default leverage **10x** and margin mode **cross**, as a new Bybit account starts
  (``DEFAULT_LEVERAGE``/``DEFAULT_MARGIN_MODE``; a profile sets its own with ``set_leverage``).
- Position IM: entry value / leverage (isolated) or mark value / leverage (cross); MM from the
  risk-limit tier of the value (domain ``maintenance_margin``).
- Order margin (Bybit's "order cost"): for the part of each order that would open or grow a
  position, IM + fee to open + fee to close at the bankruptcy price (domain
  ``order_cost_per_unit``, taker rate). Bids and asks of a symbol do not add up: the larger side
  counts, as on Bybit in one-way mode.
- Available balance = wallet + unrealised PnL of cross positions − position IM − order IM
  (never below 0). An isolated position's loss is capped by its margin, so its uPnL is left out.
- Isolated liquidation: mark reaches the domain's liquidation price → closed at the bankruptcy
  price; the loss is exactly the position margin. Cross liquidation (approximation): equity ≤
  total MM of cross positions → every cross position is closed at the mark price, fee-free.
  A cross position reports the domain's ``cross_liquidation_price`` for the balance backing it
  (wallet + other cross positions' uPnL − their MM − isolated positions' margin), the price at
  which that rule fires when it is the only cross position.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bybit_mm.domain.instruments import Instrument
from bybit_mm.domain.margin import (
    cross_liquidation_price,
    initial_margin,
    isolated_liquidation,
    maintenance_margin,
    order_cost_per_unit,
)
from bybit_mm.domain.liquidation import settle_liquidation
from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import (
    FillEffect,
    Position,
    apply_fill,
    apply_funding,
    unrealized_pnl,
)
from bybit_mm.sim import errors as E
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.models import PositionView, WalletView

ZERO = Decimal(0)
DEFAULT_LEVERAGE = Decimal(10)
DEFAULT_MARGIN_MODE = "cross"
MARGIN_MODES = ("isolated", "cross")


class Ledger:
    """Wallet and positions of the simulated account."""

    def __init__(self, instruments: dict[str, Instrument], balance: Decimal, taker_rate: Decimal) -> None:
        self.instruments = instruments
        self.balance = Decimal(balance)
        self.deposits = Decimal(balance)
        self.taker_rate = taker_rate
        self.positions: dict[str, Position] = {s: Position.flat(s) for s in instruments}
        self.leverage: dict[str, Decimal] = {s: DEFAULT_LEVERAGE for s in instruments}
        self.margin_mode: dict[str, str] = {s: DEFAULT_MARGIN_MODE for s in instruments}
        self.updated_ms: dict[str, int] = {s: 0 for s in instruments}
        #: Isolated liquidation/bankruptcy prices of open isolated positions (cache).
        self._liq: dict[str, tuple[Decimal, Decimal, Decimal]] = {}

    # --- changes ------------------------------------------------------------------------------

    def set_balance(self, amount: Decimal) -> None:
        """Set the wallet balance (a deposit or withdrawal, kept apart from PnL)."""
        self.deposits += amount - self.balance
        self.balance = Decimal(amount)

    def fill(self, symbol: str, side: Side, qty: Decimal, price: Decimal, fee_rate: Decimal,
             ts_ms: int) -> FillEffect:
        """Apply a fill to the position and the wallet; returns what it did."""
        pos, effect = apply_fill(self.positions[symbol], side, qty, price, fee_rate)
        self.positions[symbol] = pos
        self.balance += effect.realized_pnl - effect.fee
        self.updated_ms[symbol] = ts_ms
        self.refresh(symbol)
        return effect

    def fund(self, symbol: str, mark: Decimal, rate: Decimal, ts_ms: int) -> Decimal:
        """Settle funding for the position open now; returns the amount paid (negative: received)."""
        pos, paid = apply_funding(self.positions[symbol], mark, rate)
        self.positions[symbol] = pos
        self.balance -= paid
        return paid

    def settle_loss(self, symbol: str, flat: Position, loss: Decimal, ts_ms: int) -> None:
        """Record a liquidation settled by the domain: the position is flat and ``loss`` is gone."""
        self.positions[symbol] = flat
        self.balance -= loss
        self.updated_ms[symbol] = ts_ms
        self.refresh(symbol)

    def liquidate_isolated(self, symbol: str, ts_ms: int) -> tuple[Decimal, Decimal, Decimal]:
        """Close the isolated position at its bankruptcy price (the domain's settlement); returns
        (signed qty closed, bankruptcy price, loss)."""
        _, bust, margin = self._liq[symbol]
        pos = self.positions[symbol]
        flat, loss = settle_liquidation(pos, bust, margin)
        self.settle_loss(symbol, flat, loss, ts_ms)
        return pos.qty, bust, loss

    def liquidate_cross(self, symbol: str, mark: Decimal, ts_ms: int) -> tuple[Decimal, FillEffect]:
        """Close the cross position at ``mark``, fee-free (this sim's approximation, see the module
        docstring); returns (signed qty closed, the fill's effect)."""
        pos = self.positions[symbol]
        close = Side.SELL if pos.qty > 0 else Side.BUY
        return pos.qty, self.fill(symbol, close, pos.size, mark, ZERO, ts_ms)

    def refresh(self, symbol: str) -> None:
        """Recompute the cached liquidation numbers of ``symbol`` after a change."""
        pos = self.positions[symbol]
        if pos.is_flat or self.margin_mode[symbol] != "isolated":
            self._liq.pop(symbol, None)
            return
        info = isolated_liquidation(self.instruments[symbol], pos.side, pos.entry_price, pos.size,
                                    self.leverage[symbol])
        self._liq[symbol] = (info.liquidation_price, info.bankruptcy_price, info.initial_margin)

    def isolated_liq(self, symbol: str) -> tuple[Decimal, Decimal, Decimal] | None:
        """(liquidation price, bankruptcy price, position margin) of an open isolated position."""
        return self._liq.get(symbol)

    # --- views --------------------------------------------------------------------------------

    def position_im(self, symbol: str, mark: Decimal) -> Decimal:
        """Initial margin held by the position (entry value when isolated, mark value when cross)."""
        pos = self.positions[symbol]
        if pos.is_flat:
            return ZERO
        value = pos.entry_value if self.margin_mode[symbol] == "isolated" else pos.notional(mark)
        return initial_margin(value, self.leverage[symbol])

    def position_mm(self, symbol: str, mark: Decimal) -> Decimal:
        """Maintenance margin of the position (on entry value when isolated, mark value when cross)."""
        pos = self.positions[symbol]
        if pos.is_flat:
            return ZERO
        value = pos.entry_value if self.margin_mode[symbol] == "isolated" else pos.notional(mark)
        return maintenance_margin(value, self.instruments[symbol])

    def order_cost(self, symbol: str, orders: list[tuple[Side, Decimal, Decimal]]) -> Decimal:
        """Order margin of ``orders`` ((side, leaves qty, price)) of one symbol, given its position."""
        pos = self.positions[symbol]
        lev = self.leverage[symbol]
        costs = {Side.BUY: ZERO, Side.SELL: ZERO}
        for side, leaves, price in orders:
            opening = leaves
            if pos.qty and (pos.qty > 0) != (side is Side.BUY):
                opening = max(ZERO, leaves - pos.size)
            if opening > 0:
                costs[side] += opening * order_cost_per_unit(side, price, lev, self.taker_rate)
        return max(costs[Side.BUY], costs[Side.SELL])

    def check_order(self, symbol: str, side: Side, qty: Decimal, price: Decimal,
                    live: dict[str, list[tuple[Side, Decimal, Decimal]]], marks: dict[str, Decimal]) -> None:
        """Risk-limit (110090) and margin (110007) checks of a new (or amended) order of ``qty`` at
        ``price``; ``live``: every symbol's other live non-reduce-only orders (side, leaves, price)."""
        inst = self.instruments[symbol]
        lev = self.leverage[symbol]
        pos = self.positions[symbol]
        same = qty + sum((leaves for s, leaves, _ in live.get(symbol, ()) if s is side), ZERO)
        projected = pos.qty + same * side.sign
        if (projected > 0) == (side is Side.BUY) and projected != 0:
            tiers = [t for t in inst.risk_tiers if t.max_leverage >= lev]
            cap = tiers[-1].limit_value if tiers else ZERO
            if abs(projected) * price > cap:
                raise SimError(E.RISK_LIMIT_EXCEEDED,
                               f"Order placement failed as your position may exceed the max limit. "
                               f"Please adjust your leverage to lower the max. position value {cap}")
        orders_im = ZERO
        for s in self.instruments:
            rows = list(live.get(s, ()))
            if s == symbol:
                rows.append((side, qty, price))
            if rows:
                orders_im += self.order_cost(s, rows)
        if orders_im > self.free_margin(marks):
            raise SimError(E.INSUFFICIENT_AVAILABLE, "ab not enough for new order")

    def cross_backing(self, symbol: str, marks: dict[str, Decimal]) -> Decimal:
        """The margin balance standing behind the cross position of ``symbol``.

        Wallet balance, plus the other cross positions' uPnL less their maintenance margin, less
        the margin isolated positions hold (it cannot come to this position's rescue).
        """
        backing = self.balance
        for other, pos in self.positions.items():
            if other == symbol or pos.is_flat:
                continue
            mark = marks.get(other, pos.entry_price)
            if self.margin_mode[other] == "cross":
                backing += unrealized_pnl(pos, mark) - self.position_mm(other, mark)
            else:
                backing -= self.position_im(other, mark)
        return backing

    def position_view(self, symbol: str, mark: Decimal, marks: dict[str, Decimal] | None = None) -> PositionView:
        """The position of ``symbol`` as Bybit shows it (flat: side "" and size 0).

        ``marks`` (every symbol's mark price) prices the other positions that back a cross one.
        """
        pos = self.positions[symbol]
        inst = self.instruments[symbol]
        lev = self.leverage[symbol]
        mode = self.margin_mode[symbol]
        if pos.is_flat:
            return PositionView(symbol, "", ZERO, ZERO, mark, lev, mode, None, None, ZERO, ZERO, ZERO,
                                ZERO, pos.net_realized_pnl, inst.tier_for(ZERO).limit_value,
                                self.updated_ms[symbol])
        liq = bust = None
        cached = self._liq.get(symbol)
        if cached is not None:
            liq, bust, _ = cached
        value = pos.notional(mark)
        if mode == "cross":
            # Cross: liquidated when this backing plus the uPnL falls to the MM (on mark value);
            # bankrupt when it falls to zero.
            backing = self.cross_backing(symbol, {**(marks or {}), symbol: mark})
            tier = inst.tier_for(value)
            liq = cross_liquidation_price(pos.side, pos.entry_price, pos.size, backing, tier.mmr, tier.mm_deduction)
            bust = cross_liquidation_price(pos.side, pos.entry_price, pos.size, backing, ZERO)
        return PositionView(
            symbol, "Buy" if pos.qty > 0 else "Sell", pos.size, pos.entry_price, mark, lev, mode, liq, bust,
            self.position_im(symbol, mark), self.position_mm(symbol, mark), value,
            unrealized_pnl(pos, mark), pos.net_realized_pnl, inst.tier_for(value).limit_value,
            self.updated_ms[symbol])

    def wallet_view(self, marks: dict[str, Decimal], order_im: Decimal) -> WalletView:
        """The wallet, given each symbol's mark price and the total order margin."""
        upnl = cross_upnl = total_im = total_mm = realised = ZERO
        for symbol, pos in self.positions.items():
            realised += pos.net_realized_pnl
            if pos.is_flat:
                continue
            mark = marks[symbol]
            u = unrealized_pnl(pos, mark)
            upnl += u
            if self.margin_mode[symbol] == "cross":
                cross_upnl += u
            total_im += self.position_im(symbol, mark)
            total_mm += self.position_mm(symbol, mark)
        available = max(ZERO, self.balance + cross_upnl - total_im - order_im)
        return WalletView(self.balance, self.balance + upnl, available, total_im + order_im, total_mm,
                          upnl, realised, order_im)

    def free_margin(self, marks: dict[str, Decimal]) -> Decimal:
        """Wallet + cross uPnL − position IM: what orders may use before the available balance is 0."""
        free = self.balance
        for symbol, pos in self.positions.items():
            if pos.is_flat:
                continue
            mark = marks[symbol]
            if self.margin_mode[symbol] == "cross":
                free += unrealized_pnl(pos, mark)
            free -= self.position_im(symbol, mark)
        return free

    def cross_at_risk(self, marks: dict[str, Decimal]) -> bool:
        """Whether cross-margin equity has fallen to the cross positions' total maintenance margin."""
        equity = self.balance
        total_mm = ZERO
        any_cross = False
        for symbol, pos in self.positions.items():
            if pos.is_flat:
                continue
            equity += unrealized_pnl(pos, marks[symbol])
            if self.margin_mode[symbol] == "cross":
                any_cross = True
                total_mm += self.position_mm(symbol, marks[symbol])
        return any_cross and equity <= total_mm

    # --- persistence --------------------------------------------------------------------------

    def to_state(self) -> dict:
        """JSON-able state (Decimals as strings)."""
        return {
            "balance": str(self.balance),
            "deposits": str(self.deposits),
            "positions": {s: {"qty": str(p.qty), "entry_price": str(p.entry_price),
                              "realized_pnl": str(p.realized_pnl), "fees_paid": str(p.fees_paid),
                              "funding_paid": str(p.funding_paid)} for s, p in self.positions.items()},
            "leverage": {s: str(v) for s, v in self.leverage.items()},
            "margin_mode": dict(self.margin_mode),
            "updated_ms": dict(self.updated_ms),
        }

    def load_state(self, state: dict) -> None:
        """Replace the books with ``state`` (from :meth:`to_state`); unknown symbols are ignored."""
        self.balance = Decimal(state["balance"])
        self.deposits = Decimal(state.get("deposits", state["balance"]))
        for s, p in state.get("positions", {}).items():
            if s in self.positions:
                self.positions[s] = replace(
                    Position.flat(s), qty=Decimal(p["qty"]), entry_price=Decimal(p["entry_price"]),
                    realized_pnl=Decimal(p["realized_pnl"]), fees_paid=Decimal(p["fees_paid"]),
                    funding_paid=Decimal(p["funding_paid"]))
        for s, v in state.get("leverage", {}).items():
            if s in self.leverage:
                self.leverage[s] = Decimal(v)
        for s, m in state.get("margin_mode", {}).items():
            if s in self.margin_mode and m in MARGIN_MODES:
                self.margin_mode[s] = m
        for s, t in state.get("updated_ms", {}).items():
            if s in self.updated_ms:
                self.updated_ms[s] = int(t)
        for s in self.positions:
            self.refresh(s)
