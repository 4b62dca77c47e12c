"""How many simulated market events per second the sim core processes.

An event is one book step (mid, book, mark, funding-rate update) or one public trade print.
Four scenarios: the market alone (BTCUSDT, the deep-major preset), the market with our resting
quotes being matched (and re-quoted on every fill), three symbols stepped in lockstep, and the
thin-alt preset alone.

Run: /work/venv/bin/python benchmarks/bench_sim.py
"""

from __future__ import annotations

import time
from decimal import Decimal

from bybit_mm.sim.clock import SimClock
from bybit_mm.sim.exchange import SimExchange
from bybit_mm.sim.market import PRESETS, MarketParams
from bybit_mm.sim.models import FillEvent

START = 1_767_225_600_000
HOURS = 6


def _events(ex: SimExchange) -> int:
    return sum(m.step_count + m.trade_count for m in ex._markets.values())


def market_only(symbols: tuple[str, ...], preset: str | None = None) -> tuple[int, float]:
    markets = {s: PRESETS[preset] for s in symbols} if preset else {}
    ex = SimExchange(symbols=symbols, clock=SimClock(START), trade_events=False,
                     market_params=MarketParams(history_minutes=0, symbols=markets))
    t0 = time.perf_counter()
    ex.run_until(START + HOURS * 3_600_000)
    return _events(ex), time.perf_counter() - t0


def with_quotes() -> tuple[int, float, int]:
    ex = SimExchange(clock=SimClock(START), market_params=MarketParams(history_minutes=0),
                     balance=Decimal("1000000"), queue_model="queue")
    fills = 0
    t0 = time.perf_counter()
    end = START + HOURS * 3_600_000
    while ex.clock.now_ms() < end:
        events = ex.run_until(ex.clock.now_ms() + 1_000)
        fills += sum(isinstance(e, FillEvent) for e in events)
        if len(ex.open_orders("BTCUSDT")) < 2:
            ex.cancel_all("BTCUSDT")
            t = ex.ticker("BTCUSDT")
            ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=Decimal("0.01"),
                           price=t.bid - 5, time_in_force="PostOnly")
            ex.place_order(symbol="BTCUSDT", side="Sell", order_type="Limit", qty=Decimal("0.01"),
                           price=t.ask + 5, time_in_force="PostOnly")
    return _events(ex), time.perf_counter() - t0, fills


def main() -> None:
    print(f"sim core, {HOURS} simulated hours per scenario")
    n, dt = market_only(("BTCUSDT",))
    print(f"  market only, 1 symbol      : {n:>9,} events in {dt:6.2f} s = {n / dt:>10,.0f} events/s "
          f"({HOURS * 3600 / dt:,.0f}x real time)")
    n, dt, fills = with_quotes()
    print(f"  1 symbol, two-sided quotes : {n:>9,} events in {dt:6.2f} s = {n / dt:>10,.0f} events/s "
          f"({fills} fills, re-quoted every simulated second)")
    n, dt = market_only(("BTCUSDT", "ETHUSDT", "SOLUSDT"))
    print(f"  market only, 3 symbols     : {n:>9,} events in {dt:6.2f} s = {n / dt:>10,.0f} events/s")
    n, dt = market_only(("ARBUSDT",), "thin-alt")
    print(f"  market only, thin-alt      : {n:>9,} events in {dt:6.2f} s = {n / dt:>10,.0f} events/s "
          f"({HOURS * 3600 / dt:,.0f}x real time)")


if __name__ == "__main__":
    main()
