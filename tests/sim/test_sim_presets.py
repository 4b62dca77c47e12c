"""The synthetic market's presets: what the tape and the book measure matches what the parameters say.

Each preset runs two simulated hours with a sink that records every book step and every print;
the statistics (spread in ticks, realised volatility, order rate, order sizes, informed share and
how informed and uninformed order signs relate to the mid's next move, how far orders walk the
book) are compared with the preset's parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from statistics import median

import numpy as np
import pytest

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.orders import Side
from bybit_mm.sim.market import (
    DEFAULT_SYMBOL_PARAMS,
    PRESETS,
    MarketParams,
    SyntheticMarket,
    SyntheticMarketParams,
    synthetic_params,
)

DAY0 = 1_767_225_600_000
HOURS = 2


@dataclass
class Order:
    ts: int
    buy: bool
    informed: bool
    mid: float
    notional: float = 0.0
    levels: int = 0
    deepest: int = 0


@dataclass
class Recorder:
    """A MarketSink that keeps every order (grouped from its prints) and the book after every step."""

    orders: list[Order] = field(default_factory=list)
    mids: list[float] = field(default_factory=list)
    spreads: list[int] = field(default_factory=list)
    _seen: int = 0

    def on_trade(self, market: SyntheticMarket, trade, tick: int, steps: int) -> None:
        if market.order_count != self._seen:  # the first print of a new market order
            self._seen = market.order_count
            self.orders.append(Order(trade.ts_ms, trade.side is Side.BUY, market.informed_now, market.mid))
        o = self.orders[-1]
        # Callbacks come before the order's walk moves the touch: the level is counted from it.
        level = tick - market.ask_tick if o.buy else market.bid_tick - tick
        o.notional += float(trade.price * trade.qty)
        o.levels += 1
        o.deepest = max(o.deepest, level)

    def on_book(self, market: SyntheticMarket, ts: int) -> None:
        self.mids.append(market.mid)
        self.spreads.append(market.ask_tick - market.bid_tick)

    def on_funding(self, market, ts, rate, mark) -> None:
        pass


def _run(params: SyntheticMarketParams, seed: int = 3, hours: float = HOURS) -> tuple[SyntheticMarket, Recorder]:
    inst = get_instrument(params.symbol)
    m = SyntheticMarket(inst, params, seed=seed, start_ms=DAY0, market_params=MarketParams(history_minutes=0))
    rec = Recorder()
    m.step_until(DAY0 + int(hours * 3_600_000), rec)
    return m, rec


@pytest.fixture(scope="module", params=sorted(PRESETS))
def run(request: pytest.FixtureRequest) -> tuple[SyntheticMarketParams, SyntheticMarket, Recorder]:
    params = PRESETS[request.param]
    return (params, *_run(params))


def test_the_spread_is_the_presets_number_of_ticks(run) -> None:
    p, _, rec = run
    assert median(rec.spreads) == p.spread_ticks
    # Wider only now and then: the wide-spread draws (1-3 ticks) and touches walked away and not refilled.
    assert p.spread_ticks <= float(np.mean(rec.spreads)) <= p.spread_ticks + 1.0
    assert min(rec.spreads) >= p.spread_ticks


def test_realised_volatility_matches_the_preset(run) -> None:
    p, m, rec = run
    every = 100  # 10-second mids
    mids = np.array(rec.mids[every - 1::every])
    rets = np.diff(np.log(mids))
    per_year = 365 * 24 * 3600 * 1000 / (every * m.step_ms)
    realised = float(np.std(rets, ddof=1) * math.sqrt(per_year))
    expected = math.sqrt(p.annual_vol ** 2 + p.jumps_per_day * 365 * p.jump_sigma ** 2)
    assert realised == pytest.approx(expected, rel=0.15)


def test_order_rate_and_sizes_match_the_preset(run) -> None:
    p, m, rec = run
    seconds = HOURS * 3600
    assert m.order_count == len(rec.orders)
    assert m.order_count / seconds == pytest.approx(p.trades_per_second, rel=0.03)
    assert median(o.notional for o in rec.orders) == pytest.approx(p.trade_notional_median, rel=0.1)
    # The size tail: lognormal, so the 90th percentile sits exp(1.2816 sigma) above the median.
    q90 = float(np.quantile([o.notional for o in rec.orders], 0.9))
    assert q90 / p.trade_notional_median == pytest.approx(math.exp(1.2816 * p.trade_size_sigma), rel=0.2)


def test_informed_orders_precede_the_mids_move_and_uninformed_ones_do_not(run) -> None:
    p, m, rec = run
    h = round(p.informed_horizon_ms / m.step_ms)
    rows = []
    for o in rec.orders:
        k = (o.ts - DAY0 - 1) // m.step_ms  # the step the order arrived in
        if k + h - 1 < len(rec.mids):
            rows.append((o.informed, 1.0 if o.buy else -1.0, rec.mids[k + h - 1] - o.mid))
    informed = np.array([(s, mv) for i, s, mv in rows if i])
    uninformed = np.array([(s, mv) for i, s, mv in rows if not i])
    assert len(informed) / len(rows) == pytest.approx(p.informed_share, abs=0.02)
    agree = np.mean(np.sign(informed[:, 1]) == informed[:, 0])
    assert agree > 0.99  # an informed order is on the side of the next move (ties aside)
    assert np.corrcoef(informed[:, 0], informed[:, 1])[0, 1] > 0.5
    assert abs(np.corrcoef(uninformed[:, 0], uninformed[:, 1])[0, 1]) < 0.04


def test_market_orders_walk_past_the_touch(run) -> None:
    p, _, rec = run
    uninformed = [o for o in rec.orders if not o.informed]
    walked = sum(o.deepest >= 1 for o in uninformed) / len(uninformed)
    assert walked > 0  # uninformed flow reaches quotes beyond the touch
    assert any(o.deepest >= 2 for o in uninformed)
    if p is PRESETS["thin-alt"]:
        assert walked > 0.02  # a thin touch: a few percent of orders take more than one level


def test_a_walked_level_refills_at_the_refill_rate() -> None:
    still = replace(PRESETS["thin-alt"], annual_vol=0.0, jumps_per_day=0.0, trades_per_second=0.0,
                    wide_spread_prob=0.0)
    m, _ = _run(still, hours=0.01)
    twin, _ = _run(still, hours=0.01)  # the same market, never walked
    ask, bid = m.ask_tick, m.bid_tick
    shown = m.displayed_at(Side.SELL, ask)
    m._print(m.ts_ms + 1, True, shown * float(m.qty_step) * m.mid * 1.01, False, None)  # take the touch
    assert m.displayed_at(Side.SELL, ask) == 0 and m.ask_tick > ask  # the spread widened
    assert m.bid_tick == bid
    half_life_ms = int(math.log(2) / still.refill_per_s * 1000)
    for market in (m, twin):
        market.step_until(market.ts_ms + half_life_ms, None)
    full = twin.displayed_at(Side.SELL, ask)
    assert m.ask_tick == ask  # the touch is back, about half refilled
    assert m.displayed_at(Side.SELL, ask) == pytest.approx(full - shown / 2, abs=0.05 * shown + 2)
    for market in (m, twin):
        market.step_until(market.ts_ms + 10 * half_life_ms, None)
    assert twin.displayed_at(Side.SELL, ask) - m.displayed_at(Side.SELL, ask) <= shown / 1000 + 1


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_same_seed_same_tape(name: str) -> None:
    p = PRESETS[name]
    a, ra = _run(p, seed=5, hours=0.2)
    b, rb = _run(p, seed=5, hours=0.2)
    c, rc = _run(p, seed=6, hours=0.2)
    tape = [(t.trade_id, t.ts_ms, t.price, t.qty, t.side) for t in a.trades]
    assert tape == [(t.trade_id, t.ts_ms, t.price, t.qty, t.side) for t in b.trades]
    assert ra.mids == rb.mids and [o.informed for o in ra.orders] == [o.informed for o in rb.orders]
    assert rc.mids != ra.mids


def test_presets_model_their_symbols_and_carry_over_to_others() -> None:
    assert PRESETS["deep-major"].symbol == "BTCUSDT" and PRESETS["thin-alt"].symbol == "ARBUSDT"
    assert DEFAULT_SYMBOL_PARAMS["BTCUSDT"] is PRESETS["deep-major"]
    arb = get_instrument("ARBUSDT")
    # The thin alt's tick is far coarser relative to its price than BTCUSDT's.
    assert float(arb.tick_size) / PRESETS["thin-alt"].start_price > 100 * 0.1 / PRESETS["deep-major"].start_price
    btc = get_instrument("BTCUSDT")
    on_btc = synthetic_params("BTCUSDT", btc, "thin-alt", {"spread_ticks": 7})
    assert on_btc.symbol == "BTCUSDT" and on_btc.start_price == 95_000.0 and on_btc.spread_ticks == 7
    assert on_btc.trades_per_second == PRESETS["thin-alt"].trades_per_second
    assert synthetic_params("ARBUSDT", arb) is PRESETS["thin-alt"]
    with pytest.raises(ValueError, match="unknown synthetic market preset"):
        synthetic_params("BTCUSDT", btc, "deepest")
    with pytest.raises(ValueError, match="spread"):
        synthetic_params("BTCUSDT", btc, None, {"spread": 3})
    with pytest.raises(ValueError, match="informed_share"):
        synthetic_params("BTCUSDT", btc, None, {"informed_share": 1.5})
    with pytest.raises(ValueError, match="finite"):
        SyntheticMarketParams(annual_vol=float("nan"))
