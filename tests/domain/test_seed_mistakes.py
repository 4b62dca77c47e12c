"""The seed's DryRunFuturesClient arithmetic, transcribed, and one test per mistake it makes.

Each test states the correct (Bybit) answer, checks that our domain code gives it, and checks
that the seed's arithmetic does NOT, so the test would fail had the seed's math been kept.
"""

from __future__ import annotations

from decimal import Decimal as D

from bybit_mm.domain.margin import liquidation_price
from bybit_mm.domain.orders import PositionSide, Side, resting_fill_price
from bybit_mm.domain.position import Position, apply_fill


# --- the seed's arithmetic (shared/seed/bybit-futures-architecture.md, DryRunFuturesClient) ---

def seed_close_pnl(side: str, entry: D, size: D, exit_price: D, leverage: D) -> D:
    pnl = (exit_price - entry) * size if side == "long" else (entry - exit_price) * size
    return pnl * leverage  # "Leveraged P&L"


def seed_liquidation_price(side: str, entry: D, leverage: D) -> D:
    return entry - entry / leverage if side == "long" else entry + entry / leverage


def seed_fill_price(order_price: D, current_price: D) -> D:
    return current_price  # _execute_fill(order, current_price)


def seed_execute_fill(position: dict | None, side: str, size: D, fill_price: D,
                      leverage: D, balance: D) -> tuple[dict | None, D]:
    if position is None:
        return {"size": size if side == "buy" else -size,
                "side": "long" if side == "buy" else "short", "entry_price": fill_price}, balance
    closing = (side == "buy" and position["side"] == "short") or (side == "sell" and position["side"] == "long")
    if closing:
        balance += seed_close_pnl(position["side"], position["entry_price"], abs(position["size"]),
                                  fill_price, leverage)
    position = dict(position, size=position["size"] + (size if side == "buy" else -size))
    if abs(position["size"]) < D("1e-8"):
        position = None
    return position, balance


# --- the five mistakes ---

def test_1_pnl_is_not_multiplied_by_leverage() -> None:
    # 1 BTC long from 10,000 closed at 10,500 at 50x: +500 (before fees), not +25,000.
    pos, _ = apply_fill(Position.flat("BTCUSDT"), Side.BUY, D(1), D(10000), D(0))
    _, effect = apply_fill(pos, Side.SELL, D(1), D(10500), D(0))
    assert effect.realized_pnl == 500
    assert seed_close_pnl("long", D(10000), D(1), D(10500), D(50)) != 500  # the seed says 25,000


def test_2_liquidation_is_not_at_the_bankruptcy_price() -> None:
    lp = liquidation_price(PositionSide.LONG, D(10000), D(1), D(50), D("0.005"))
    assert lp == 9850
    assert seed_liquidation_price("long", D(10000), D(50)) != 9850  # the seed says 9,800


def test_3_a_resting_limit_order_fills_at_its_own_price_on_a_gap() -> None:
    # A limit buy at 10,000; the market gaps down and trades at 9,000.
    assert resting_fill_price(Side.BUY, D(10000), D(9000)) == 10000
    assert resting_fill_price(Side.SELL, D(10000), D(11000)) == 10000
    assert resting_fill_price(Side.BUY, D(10000), D(10001)) is None
    assert seed_fill_price(D(10000), D(9000)) != 10000  # the seed fills at 9,000


def test_4_a_partial_close_realises_pnl_on_the_closed_qty_only() -> None:
    pos, _ = apply_fill(Position.flat("BTCUSDT"), Side.BUY, D(1), D(10000), D(0))
    pos, effect = apply_fill(pos, Side.SELL, D("0.5"), D(10500), D(0))
    assert effect.realized_pnl == 250
    assert (pos.qty, pos.entry_price) == (D("0.5"), D(10000))  # entry kept
    seed_pos, balance = seed_execute_fill({"size": D(1), "side": "long", "entry_price": D(10000)},
                                          "sell", D("0.5"), D(10500), D(1), D(0))
    assert balance != 250  # the seed realises on the whole 1 BTC (500), even at 1x


def test_5_a_flip_becomes_a_short_at_the_fill_price() -> None:
    pos, _ = apply_fill(Position.flat("BTCUSDT"), Side.BUY, D(1), D(10000), D(0))
    pos, effect = apply_fill(pos, Side.SELL, D(3), D(10500), D(0))
    assert (effect.closed_qty, effect.opened_qty, effect.realized_pnl) == (1, 2, 500)
    assert pos.side is PositionSide.SHORT and pos.qty == -2 and pos.entry_price == 10500
    seed_pos, _ = seed_execute_fill({"size": D(1), "side": "long", "entry_price": D(10000)},
                                    "sell", D(3), D(10500), D(1), D(0))
    assert seed_pos is not None
    # The seed keeps calling it "long" with a negative size and the old entry.
    assert not (seed_pos["side"] == "short" and seed_pos["entry_price"] == 10500)


def test_and_fees_are_charged_on_every_fill() -> None:
    pos, open_fx = apply_fill(Position.flat("BTCUSDT"), Side.BUY, D(1), D(10000), D("0.00055"))
    pos, close_fx = apply_fill(pos, Side.SELL, D(1), D(10500), D("0.00055"))
    assert open_fx.fee == D("5.5") and close_fx.fee == D("5.775")
    assert pos.net_realized_pnl == D(500) - D("5.5") - D("5.775")
