"""The journal (closed PnL per closing order, the transaction log, the current position's PnL) and
take-profit / stop-loss triggered by the sim."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import Position, apply_fill
from bybit_mm.sim.errors import SimError
from bybit_mm.sim.journal import Journal
from bybit_mm.sim.models import Execution

TAKER = D("0.00055")


def _fill(journal: Journal, pos: Position, order_id: str, side: Side, qty: str, price: str, ts: int,
          balance: D) -> tuple[Position, D]:
    after, effect = apply_fill(pos, side, D(qty), D(price), TAKER)
    balance += effect.realized_pnl - effect.fee
    ex = Execution(f"x{ts}", order_id, "", "BTCUSDT", side, D(price), D(qty), effect.fee, TAKER, False, ts,
                   "Trade", effect.closed_qty, effect.realized_pnl)
    journal.on_fill(ex, effect, pos, after, balance, D(10), D(2), D(price), "Limit")
    return after, balance


def test_closed_pnl_worked_example_aggregates_an_orders_fills() -> None:
    # Buy 2 @ 100 (fee 0.11), then one order sells 1 @ 110 (fee 0.0605) and 1 @ 120 (fee 0.066).
    j = Journal()
    pos, balance = Position.flat("BTCUSDT"), D(1000)
    pos, balance = _fill(j, pos, "o1", Side.BUY, "2", "100", 1, balance)
    assert j.holding("BTCUSDT") == (D("-0.11"), 1)  # the opening fee is the position's realised PnL
    pos, balance = _fill(j, pos, "o2", Side.SELL, "1", "110", 2, balance)
    (first,) = j.newest_closed()
    # Open fee: half the 0.11 paid opening 2; closedPnl = 10 - 0.055 - 0.0605.
    assert (first.open_fee, first.close_fee, first.closed_pnl) == (D("0.055"), D("0.0605"), D("9.8845"))
    assert j.holding("BTCUSDT")[0] == D("-0.11") + 10 - D("0.0605")
    pos, balance = _fill(j, pos, "o2", Side.SELL, "1", "120", 3, balance)
    (rec,) = j.newest_closed()  # one record per closing order
    assert rec.fill_count == 2 and rec.closed_size == 2 and rec.order_qty == 2
    assert (rec.entry_value, rec.exit_value) == (D(200), D(230))
    assert (rec.avg_entry_price, rec.avg_exit_price) == (D(100), D(115))
    assert (rec.open_fee, rec.close_fee) == (D("0.11"), D("0.1265"))
    assert rec.closed_pnl == D(30) - D("0.11") - D("0.1265") == D("29.7635")
    assert j.order_closed_pnl("o2") == rec.closed_pnl and j.order_closed_pnl("o1") == 0
    assert pos.is_flat and j.holding("BTCUSDT") == (0, 0)
    log = j.newest_log()
    assert [e.kind for e in log] == ["TRADE"] * 3 and [e.size for e in log] == [0, 1, 2]
    assert log[0].cash_balance == balance and sum(e.change for e in log) == balance - 1000


def test_funding_is_a_settlement_that_moves_the_current_pnl() -> None:
    j = Journal()
    pos, balance = _fill(j, Position.flat("BTCUSDT"), "o1", Side.BUY, "2", "100", 1, D(1000))
    ex = Execution("f1", "", "", "BTCUSDT", Side.BUY, D(100), D(2), D("0.02"), D("0.0001"), False, 8, "Funding",
                   D(0))
    j.on_funding(ex, pos, D("0.02"), balance - D("0.02"))
    (entry, _) = j.newest_log()
    assert entry.kind == "SETTLEMENT" and entry.funding == D("-0.02") and entry.change == D("-0.02")
    assert j.holding("BTCUSDT")[0] == D("-0.11") - D("0.02")


def _open_long(ex, qty: str = "0.02") -> None:
    ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D(qty))
    assert ex.positions("BTCUSDT")[0].size == D(qty)


def _run_until_flat(ex, step_ms: int = 1_000, max_steps: int = 20_000) -> None:
    for _ in range(max_steps):
        if ex.positions("BTCUSDT")[0].size == 0:
            return
        ex.run_until(ex.clock.now_ms() + step_ms)
    raise AssertionError("the position never closed")


@pytest.mark.parametrize(("kind", "trigger_by"), [("TakeProfit", "MarkPrice"), ("StopLoss", "LastPrice")])
def test_tp_or_sl_closes_the_whole_position_at_market_on_its_price(ex, kind: str, trigger_by: str) -> None:
    _open_long(ex)
    tick = ex.instrument("BTCUSDT").tick_size
    if kind == "TakeProfit":
        price = ex.mark_price("BTCUSDT") + 10 * tick
        ex.set_trading_stop("BTCUSDT", take_profit=price, tp_trigger_by=trigger_by)
    else:
        price = ex.ticker("BTCUSDT").last - 10 * tick
        ex.set_trading_stop("BTCUSDT", stop_loss=price, sl_trigger_by=trigger_by)
    view = ex.positions("BTCUSDT")[0]
    assert (view.take_profit if kind == "TakeProfit" else view.stop_loss) == price
    _run_until_flat(ex)
    closing = [o for o in ex.order_history("BTCUSDT", limit=10) if o.stop_order_type]
    assert [(o.stop_order_type, o.create_type, o.side, o.reduce_only, o.status) for o in closing] == [
        (kind, f"CreateBy{kind}", Side.SELL, True, "Filled")]
    fill = next(e for e in ex.executions("BTCUSDT") if e.order_id == closing[0].order_id)
    if trigger_by == "MarkPrice":  # it fired on the mark: the mark had reached the take-profit
        assert fill.mark_price is not None and fill.mark_price >= price
    assert ex.trading_stop("BTCUSDT").take_profit is None and ex.trading_stop("BTCUSDT").stop_loss is None
    (record,) = ex.journal.newest_closed()
    assert record.order_id == closing[0].order_id and record.closed_size == D("0.02")


def test_trading_stop_is_checked_as_bybit_checks_it(ex) -> None:
    with pytest.raises(SimError, match="zero position"):
        ex.set_trading_stop("BTCUSDT", take_profit=D(1))
    _open_long(ex)
    last = ex.ticker("BTCUSDT").last
    tick = ex.instrument("BTCUSDT").tick_size
    with pytest.raises(SimError, match="TakeProfit.*higher"):
        ex.set_trading_stop("BTCUSDT", take_profit=last - tick)
    with pytest.raises(SimError, match="StopLoss.*lower"):
        ex.set_trading_stop("BTCUSDT", stop_loss=last + tick)
    with pytest.raises(SimError, match="tick"):
        ex.set_trading_stop("BTCUSDT", take_profit=last + tick / 2)
    ex.set_trading_stop("BTCUSDT", take_profit=last + 1000 * tick, stop_loss=last - 1000 * tick)
    ex.set_trading_stop("BTCUSDT", take_profit=D(0))  # 0 cancels one, keeps the other
    stop = ex.trading_stop("BTCUSDT")
    assert stop.take_profit is None and stop.stop_loss == last - 1000 * tick


def test_prev_price_1h_is_the_open_of_the_minute_an_hour_ago(make_ex) -> None:
    ex = make_ex(history_minutes=120)
    now = ex.clock.now_ms()
    (candle,) = ex.klines("BTCUSDT", 1, now - 3_600_000, now - 3_600_000, 1)
    assert ex.ticker("BTCUSDT").prev_price_1h == candle.open
