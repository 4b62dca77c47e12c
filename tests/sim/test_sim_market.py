"""The synthetic market: determinism, positivity, book shape, candles, funding times."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.sim.clock import SimClock, WallClock
from bybit_mm.sim.market import PAST_FUNDINGS, MarketParams, SyntheticMarket, SyntheticMarketParams

DAY0 = 1_767_225_600_000
BTC = get_instrument("BTCUSDT")


def _market(seed: int = 1, params: SyntheticMarketParams | None = None, minutes: int = 10) -> SyntheticMarket:
    mp = MarketParams(history_minutes=minutes)
    return SyntheticMarket(BTC, params or mp.for_symbol("BTCUSDT", BTC), seed=seed, start_ms=DAY0,
                           market_params=mp)


def _tape(m: SyntheticMarket) -> list[tuple]:
    return [(t.trade_id, t.ts_ms, t.price, t.qty, t.side) for t in m.trades]


def test_same_seed_same_tape_whatever_the_call_pattern() -> None:
    a, b = _market(3), _market(3)
    a.step_until(DAY0 + 120_000, None)
    for t in range(DAY0, DAY0 + 120_000 + 1, 777):
        b.step_until(t, None)
    b.step_until(DAY0 + 120_000, None)
    assert _tape(a) == _tape(b) and len(_tape(a)) > 100
    assert a.mark_price() == b.mark_price() and a.book(5) == b.book(5)


class _Tape:
    """A sink that keeps every print it is told of."""

    def __init__(self) -> None:
        self.prints: list = []

    def on_trade(self, market, trade, tick, steps) -> None:
        self.prints.append(trade)

    def on_book(self, market, ts) -> None:
        pass

    def on_funding(self, market, ts, rate, mark) -> None:
        pass


def test_the_tape_holds_the_prints_the_sink_was_told_of_and_reads_make_them_the_same() -> None:
    told, heard, silent = _Tape(), _market(4), _market(4)
    heard.step_until(DAY0 + 300_000, told)
    silent.step_until(DAY0 + 300_000, None)  # nobody listens: the tape makes its trades when read
    assert len(told.prints) > 1000
    assert heard.trades == told.prints[-1000:] and all(a is b for a, b in zip(heard.trades, told.prints[-1000:]))
    assert silent.trades == heard.trades  # the same trades, fields and all
    newest = silent.recent_trades(30)
    assert newest == heard.trades[::-1][:30] and newest[0] is silent.recent_trades(1)[0]
    ours = silent.print_external(silent.ts_ms + 1, silent.bid_tick, 3, False)
    assert silent.recent_trades(1) == [ours] and ours.qty == 3 * BTC.qty_step and ours.seq == silent.trade_count
    old_mid = silent.mid
    silent.rebase(old_mid * 1.5)  # a resumed account's mid: the tape is scaled with the rest
    r = old_mid * 1.5 / old_mid
    assert [t.trade_id for t in silent.trades] == [t.trade_id for t in heard.trades[1:]] + [ours.trade_id]
    assert silent.trades[-1].price == round(int(ours.price / BTC.tick_size) * r) * BTC.tick_size


def test_different_seeds_give_different_tapes() -> None:
    a, b = _market(1), _market(2)
    assert [t.price for t in a.trades] != [t.price for t in b.trades]


def test_mid_and_mark_stay_positive_in_a_crash() -> None:
    crash = SyntheticMarketParams(start_price=1.0, annual_vol=8.0, annual_drift=-200_000.0, jumps_per_day=500,
                                  jump_sigma=0.3, trade_notional_median=0.001, touch_notional=0.1)
    m = _market(5, crash, minutes=0)
    for h in range(1, 7):
        m.step_until(DAY0 + h * 600_000, None)
        assert m.mid > 0 and m.mark_price() > 0 and m.bid_tick >= 1 and m.ask_tick > m.bid_tick
    assert m.mark_price() == BTC.tick_size  # floored at one tick


def test_volatility_is_in_the_configured_range() -> None:
    import math
    m = _market(11, minutes=0)
    mids = []
    for k in range(1, 6 * 60 + 1):  # 6 hours of minute mids
        m.step_until(DAY0 + k * 60_000, None)
        mids.append(m.mid)
    rets = [math.log(b / a) for a, b in zip(mids, mids[1:])]
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    annual = math.sqrt(var * 365 * 24 * 60)
    assert 0.35 < annual < 0.9  # BTC configured at 50% plus jumps


def test_book_is_sorted_uncrossed_and_on_the_grid() -> None:
    m = _market()
    book = m.book(25)
    assert len(book.bids) == 25 and len(book.asks) == 25
    assert book.bids[0][0] < book.asks[0][0]
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    assert [p for p, _ in book.asks] == sorted(p for p, _ in book.asks)
    for p, q in book.bids + book.asks:
        assert p % BTC.tick_size == 0 and q % BTC.qty_step == 0 and q > 0


def test_trades_print_at_the_touch_or_walk_the_book() -> None:
    m = _market(4, minutes=0)
    seen = []

    class Sink:
        def on_trade(self, market, trade, tick, steps):
            seen.append((tick, market.bid_tick, market.ask_tick, trade.side.value))

        def on_book(self, market, ts):
            pass

        def on_funding(self, market, ts, rate, mark):
            pass

    m.step_until(DAY0 + 300_000, Sink())
    assert seen
    for tick, bid, ask, side in seen:
        assert (tick >= ask) if side == "Buy" else (tick <= bid)
    assert any(tick > ask for tick, bid, ask, side in seen if side == "Buy")  # some walked the book


def test_klines_newest_first_and_consistent() -> None:
    m = _market(minutes=90)
    one = m.klines(1, None, None, 50)
    assert [k.start_ms for k in one] == sorted((k.start_ms for k in one), reverse=True)
    assert all(k.start_ms % 60_000 == 0 for k in one)
    for k in one:
        assert k.low <= min(k.open, k.close) <= max(k.open, k.close) <= k.high
    fifteen = m.klines(15, None, None, 3)
    assert all(k.start_ms % 900_000 == 0 for k in fifteen)
    # a 15-minute candle aggregates its minutes
    mins = [k for k in m.klines(1, None, None, 200) if fifteen[1].start_ms <= k.start_ms < fifteen[1].start_ms + 900_000]
    assert fifteen[1].volume == sum(k.volume for k in mins)
    assert fifteen[1].high == max(k.high for k in mins)


def test_funding_settles_on_the_interval_grid() -> None:
    hourly = replace(BTC, funding_interval_min=60)
    mp = MarketParams(history_minutes=0)
    m = SyntheticMarket(hourly, mp.for_symbol("BTCUSDT", hourly), seed=1, start_ms=DAY0, market_params=mp)
    m.step_until(DAY0 + 150 * 60_000, None)
    times = [t for t, _ in m.funding_history]
    assert times[-2:] == [DAY0 + 3_600_000, DAY0 + 7_200_000]
    # A fresh market has history from before it started, on the same grid, up to its start.
    past = times[:-2]
    assert len(past) == PAST_FUNDINGS and past[-1] == DAY0
    assert all(b - a == 3_600_000 for a, b in zip(past, past[1:]))
    assert all(abs(r) <= Decimal("0.005") for _, r in m.funding_history)
    assert m.next_funding_ms() == DAY0 + 3 * 3_600_000
    assert _market(minutes=0).next_funding_ms() == DAY0 + 8 * 3_600_000  # 480 min: 00/08/16 UTC


def test_clocks() -> None:
    c = SimClock(1000)
    assert c.advance(500) == 1500 and c.set(2000) == 2000 and c.now_ms() == 2000
    try:
        c.set(10)
    except ValueError:
        pass
    else:
        raise AssertionError("a SimClock must not go backwards")
    w = WallClock(speed=1000.0, start_ms=5)
    a = w.now_ms()
    b = w.now_ms()
    assert 5 <= a <= b


def test_price_at_is_the_open_of_the_newest_candle_at_or_before_the_time() -> None:
    from tests.sim.conftest import make_exchange

    ex = make_exchange(history_minutes=5)
    ex.run_until(ex.clock.now_ms() + 7 * 60_000)
    m = ex._markets["BTCUSDT"]
    candles = m.minute_candles()
    assert len(candles) >= 12 and all(b[0] - a[0] == 60_000 for a, b in zip(candles, candles[1:]))
    for ts in range(candles[0][0] - 90_000, candles[-1][0] + 90_000, 7_919):
        walked = next((c for c in reversed(candles) if c[0] <= ts), candles[0])  # the oldest when before all
        assert m.price_at(ts) == walked[1] * m.tick, ts
