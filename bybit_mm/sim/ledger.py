"""The simulated account: wallet, positions, leverage and margin mode per symbol, margin checks.

All futures arithmetic is the domain's (``bybit_mm.domain.position`` / ``margin`` /
``liquidation``); this module only keeps the books. Conventions:

- One USDT wallet (unified account). Fees and funding are paid from it on every fill/settlement;
  realised PnL is added to it on every reducing fill. Hence the invariant tested in
  ``tests/sim``: ``wallet == deposits + Σ realised − Σ fees − Σ funding`` and
  ``equity == wallet + Σ unrealised``.
- Default leverage **10x** and margin mode **cross**, as a new Bybit account starts
  (``DEFAULT_LEVERAGE``/``DEFAULT_MARGIN_MODE``; a profile sets its own with ``set_leverage``).
- Position IM, as Bybit reports it (``positionIM``): value / leverage plus the estimated fee to
  close (qty x bankruptcy price x taker rate), on the entry value (isolated) or the mark value
  (cross); MM (``positionMM``): the risk-limit tier's ``value x MMR - deduction`` plus the same fee
  to close (domain ``position_margin`` / ``maintenance_margin`` / ``fee_to_close``). The fee to
  close stays reserved while the position is open, as on Bybit.
- Order margin (Bybit's "order cost"): for the part of each order that would open or grow a
  position, IM + fee to open + fee to close at the bankruptcy price (domain
  ``order_cost_per_unit``, taker rate). Bids and asks of a symbol do not add up: the larger side
  counts, as on Bybit in one-way mode.
- Available balance = wallet + unrealised PnL of cross positions − position IM − order IM
  (never below 0). An isolated position's loss is capped by its margin, so its uPnL is left out.
- Risk-limit tiers: orders that would take a position beyond the known tiers are refused by the
  exchange (110090). A position admitted within them whose *mark* value later grows past the
  last known tier keeps that last tier for its cross MM (it can no longer be refused).
- Isolated liquidation: mark reaches the domain's liquidation price → taken over at the
  bankruptcy price, the fee to close charged; the wallet loses exactly the position margin
  (IM + fee to close). Cross liquidation: cross equity (wallet − isolated positions' margin +
  cross uPnL) ≤ total MM of cross positions → every cross position is taken over at its
  bankruptcy price with the fee to close, and the cross margin balance is lost entirely (the
  wallet keeps only what isolated positions hold). With several cross positions the remaining
  equity is shared out in proportion to their MM to set each one's bankruptcy price.
  A cross position reports the domain's ``cross_liquidation_price`` for the balance backing it
  (wallet + other cross positions' uPnL − their MM − isolated positions' margin), the price at
  which that rule fires when it is the only cross position, and ``cross_bankruptcy_price``.
"""

from __future__ import annotations

import math

from dataclasses import replace
from decimal import Decimal
from typing import Any

from bybit_mm.domain.instruments import Instrument, RiskTier
from bybit_mm.domain.liquidation import settle_liquidation
from bybit_mm.domain.margin import (
    bankruptcy_price,
    cross_bankruptcy_price,
    cross_close_fee_rate,
    cross_liquidation_price,
    fee_to_close,
    isolated_liquidation,
    order_cost_per_unit,
    position_margin,
)
from bybit_mm.domain.orders import PositionSide, Side
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


def _side(pos: Position) -> PositionSide:
    """The side of an open position."""
    return PositionSide.LONG if pos.qty > 0 else PositionSide.SHORT


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

    def liquidate_isolated(self, symbol: str, ts_ms: int) -> tuple[Position, Decimal, FillEffect]:
        """Take the isolated position of ``symbol`` over at its bankruptcy price.

        Returns (the position before, the bankruptcy price, the settlement); the wallet loses
        exactly the position margin (IM + fee to close).
        """
        _, bust, margin = self._liq[symbol]
        before = self.positions[symbol]
        flat, effect = settle_liquidation(before, bust, margin, self.taker_rate)
        self._settle(symbol, flat, effect, ts_ms)
        return before, bust, effect

    def liquidate_cross(self, marks: dict[str, Decimal],
                        ts_ms: int) -> list[tuple[str, Position, Decimal, FillEffect]]:
        """Take every cross position over at its bankruptcy price: the cross margin balance is lost.

        The cross equity left (wallet − isolated margin + cross uPnL) is shared out in proportion
        to the positions' MM; each position's bankruptcy price is where its share is gone once
        the fee to close is paid. Returns (symbol, position before, bankruptcy price, settlement).
        """
        cross = [s for s, p in self.positions.items() if not p.is_flat and self.margin_mode[s] == "cross"]
        if not cross:
            return []
        equity = self.cross_equity(marks)
        weights = {s: self.position_mm(s, marks[s]) for s in cross}
        total = sum(weights.values(), ZERO)
        if total <= 0:
            weights = {s: self.positions[s].notional(marks[s]) for s in cross}
            total = sum(weights.values(), ZERO)
        out = []
        for s in cross:
            before = self.positions[s]
            backing = equity * weights[s] / total - unrealized_pnl(before, marks[s])
            bust = cross_bankruptcy_price(_side(before), before.entry_price, before.size, backing, self.taker_rate)
            flat, effect = settle_liquidation(before, bust, backing, self.taker_rate)
            self._settle(s, flat, effect, ts_ms)
            out.append((s, before, bust, effect))
        return out

    def _settle(self, symbol: str, flat: Position, effect: FillEffect, ts_ms: int) -> None:
        self.positions[symbol] = flat
        self.balance += effect.cash_flow
        self.updated_ms[symbol] = ts_ms
        self.refresh(symbol)

    def refresh(self, symbol: str) -> None:
        """Recompute the cached liquidation numbers of ``symbol`` after a change."""
        pos = self.positions[symbol]
        if pos.is_flat or self.margin_mode[symbol] != "isolated":
            self._liq.pop(symbol, None)
            return
        info = isolated_liquidation(self.instruments[symbol], pos.side, pos.entry_price, pos.size,
                                    self.leverage[symbol], taker_rate=self.taker_rate)
        self._liq[symbol] = (info.liquidation_price, info.bankruptcy_price, info.position_margin)

    def isolated_liq(self, symbol: str) -> tuple[Decimal, Decimal, Decimal] | None:
        """(liquidation price, bankruptcy price, position margin) of an open isolated position."""
        return self._liq.get(symbol)

    # --- views --------------------------------------------------------------------------------

    def _margin_price(self, symbol: str, mark: Decimal) -> Decimal:
        """The price margins are computed on: entry when isolated, mark when cross."""
        pos = self.positions[symbol]
        return pos.entry_price if self.margin_mode[symbol] == "isolated" else mark

    def _tier(self, symbol: str, value: Decimal) -> RiskTier:
        inst = self.instruments[symbol]
        # Orders beyond the known tiers are refused (110090); a cross position's mark value can
        # still grow past them afterwards, and then keeps the last known tier (see the docstring).
        return inst.tier_for(min(value, inst.max_position_value))

    def position_im(self, symbol: str, mark: Decimal) -> Decimal:
        """Bybit's position IM: value / leverage + fee to close (entry value isolated, mark value cross)."""
        pos = self.positions[symbol]
        if pos.is_flat:
            return ZERO
        return position_margin(_side(pos), self._margin_price(symbol, mark), pos.size, self.leverage[symbol],
                               self.taker_rate)

    def position_mm(self, symbol: str, mark: Decimal) -> Decimal:
        """Bybit's position MM: the tier's ``value x MMR - deduction`` + fee to close (entry/mark as IM)."""
        pos = self.positions[symbol]
        if pos.is_flat:
            return ZERO
        price = self._margin_price(symbol, mark)
        value = pos.size * price
        tier = self._tier(symbol, value)
        bust = bankruptcy_price(_side(pos), price, self.leverage[symbol])
        return value * tier.mmr - tier.mm_deduction + fee_to_close(pos.size, bust, self.taker_rate)

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
                    live: dict[str, list[tuple[Side, Decimal, Decimal]]], marks: dict[str, Decimal],
                    best_bid: Decimal) -> None:
        """Risk-limit (110090) and margin (110007) checks of a new (or amended) order of ``qty`` at
        ``price``; ``live``: every symbol's other live non-reduce-only orders (side, leaves, price);
        ``best_bid``: the symbol's best bid (a crossing sell fills at up to it)."""
        inst = self.instruments[symbol]
        lev = self.leverage[symbol]
        pos = self.positions[symbol]
        mine = [(leaves, p) for s, leaves, p in live.get(symbol, ()) if s is side]
        same = qty + sum((leaves for leaves, _ in mine), ZERO)
        projected = pos.qty + same * side.sign
        if (projected > 0) == (side is Side.BUY) and projected != 0:
            tiers = [t for t in inst.risk_tiers if t.max_leverage >= lev]
            cap = tiers[-1].limit_value if tiers else ZERO
            # The entry value the fills would leave (what the tiers apply to): a buy fills at its
            # price or better, a crossing sell at up to the best bid; an add keeps the position's
            # own entry value. Beyond the known tiers the MMR is unknown, so the order is refused.
            worst = price if side is Side.BUY else max(price, best_bid)
            orders_value = qty * worst + sum((leaves * p for leaves, p in mine), ZERO)
            adding = pos.qty != 0 and (pos.qty > 0) == (side is Side.BUY)
            value = pos.entry_value + orders_value if adding else abs(projected) * max(
                [worst] + [p for _, p in mine])
            if value > cap:
                # docs v5/error 110090, naming the leverage that allows this position value (beyond
                # the known tiers: the last tier's, the lowest there is).
                allowed = inst.max_leverage_for(min(value, inst.max_position_value))
                raise SimError(E.RISK_LIMIT_EXCEEDED,
                               f"Order placement failed as your position may exceed the max limit. Please adjust "
                               f"your leverage to {allowed.normalize():f} or below to increase the max. position "
                               "limit")
        free = self.free_margin(marks)
        if self._orders_im_bound(symbol, side, qty, price, live) < float(free):
            return
        orders_im = ZERO
        for s in self.instruments:
            rows = list(live.get(s, ()))
            if s == symbol:
                rows.append((side, qty, price))
            if rows:
                orders_im += self.order_cost(s, rows)
        if orders_im > free:
            raise SimError(E.INSUFFICIENT_AVAILABLE, "ab not enough for new order")

    def _orders_im_bound(self, symbol: str, side: Side, qty: Decimal, price: Decimal,
                         live: dict[str, list[tuple[Side, Decimal, Decimal]]]) -> float:
        """A float upper bound of the order margin :meth:`check_order` computes exactly (inf: none).

        Each order's whole leaves counted as opening, its bankruptcy price at its highest (a short's
        ``price x (1 + 1/leverage)``): per unit ``price x (1/L + fee x (2 + 1/L))`` >= Bybit's order
        cost; raised by 1e-9 relative, far above the floats' own error. Below the free margin, the
        order certainly fits; otherwise the exact Decimals decide.
        """
        if float(self.taker_rate) < 0:
            return math.inf
        total = 0.0
        for s in self.instruments:
            buy = sell = 0.0
            for sd, leaves, p in live.get(s, ()):
                if sd is Side.BUY:
                    buy += float(leaves) * float(p)
                else:
                    sell += float(leaves) * float(p)
            if s == symbol:
                if side is Side.BUY:
                    buy += float(qty) * float(price)
                else:
                    sell += float(qty) * float(price)
            total += max(buy, sell) * self.order_im_per_value(s)
        return total * (1.0 + 1e-9)

    def order_im_per_value(self, symbol: str) -> float:
        """Order margin per unit of order value, at its highest (see :meth:`_orders_im_bound`):
        ``1/L + fee x (2 + 1/L)``; inf with a negative fee rate (no bound)."""
        fee = float(self.taker_rate)
        if fee < 0:
            return math.inf
        inv = 1.0 / float(self.leverage[symbol])
        return inv + fee * (2.0 + inv)

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

    def position_view(self, symbol: str, mark: Decimal, marks: dict[str, Decimal] | None = None,
                      **held: Any) -> PositionView:
        """The position of ``symbol`` as Bybit shows it (flat: side "" and size 0).

        ``marks`` (every symbol's mark price) prices the other positions that back a cross one;
        ``held``: the view's fields the ledger does not keep (an open position's take-profit, its
        realised PnL so far...), from the exchange.
        """
        pos = self.positions[symbol]
        inst = self.instruments[symbol]
        lev = self.leverage[symbol]
        mode = self.margin_mode[symbol]
        if pos.is_flat:
            return PositionView(symbol, "", ZERO, ZERO, mark, lev, mode, None, None, ZERO, ZERO, ZERO,
                                ZERO, pos.net_realized_pnl, inst.risk_tiers[0].limit_value,
                                self.updated_ms[symbol])
        liq = bust = None
        cached = self._liq.get(symbol)
        if cached is not None:
            liq, bust, _ = cached
        side = _side(pos)
        value = pos.notional(mark)
        tier = self._tier(symbol, pos.size * self._margin_price(symbol, mark))
        if mode == "cross":
            # Cross: liquidated when this backing plus the uPnL falls to the MM (on mark value, fee
            # to close included); bankrupt when it is gone once the fee to close is paid.
            backing = self.cross_backing(symbol, {**(marks or {}), symbol: mark})
            liq = cross_liquidation_price(side, pos.entry_price, pos.size, backing, tier.mmr, tier.mm_deduction,
                                          cross_close_fee_rate(side, lev, self.taker_rate))
            bust = cross_bankruptcy_price(side, pos.entry_price, pos.size, backing, self.taker_rate)
        return PositionView(
            symbol, "Buy" if pos.qty > 0 else "Sell", pos.size, pos.entry_price, mark, lev, mode, liq, bust,
            self.position_im(symbol, mark), self.position_mm(symbol, mark), value,
            unrealized_pnl(pos, mark), pos.net_realized_pnl, tier.limit_value, self.updated_ms[symbol], **held)

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

    def cross_equity(self, marks: dict[str, Decimal]) -> Decimal:
        """Equity of the cross margin pool: wallet − isolated positions' margin + cross uPnL."""
        equity = self.balance
        for symbol, pos in self.positions.items():
            if pos.is_flat:
                continue
            if self.margin_mode[symbol] == "cross":
                equity += unrealized_pnl(pos, marks[symbol])
            else:
                equity -= self.position_im(symbol, marks[symbol])
        return equity

    def cross_at_risk(self, marks: dict[str, Decimal]) -> bool:
        """Whether cross equity has fallen to the cross positions' total maintenance margin."""
        cross = [s for s, p in self.positions.items() if not p.is_flat and self.margin_mode[s] == "cross"]
        if not cross:
            return False
        total_mm = sum((self.position_mm(s, marks[s]) for s in cross), ZERO)
        return self.cross_equity(marks) <= total_mm

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
