"""What the engine's PnL attribution (``bybit_mm.engine.attribution``) costs.

1. ``on_mid`` per call, in CPU nanoseconds: with no fill waiting (what a driver pays when it calls
   it anyway), and with a fill a second waiting on its 1/10/60 s horizons, mids every 10 ms;
   ``on_fill`` per fill in microseconds.
2. A backtest that fills: the backtest tests' seeded feed (``tests/engine/replay_feed.py``: book
   deltas every 100 ms, prints at or through the touch; an hour is 721,381 events), short
   estimator windows, SVIP fees, no latency, decisions at most every 100 ms: CPU seconds with the
   attribution, and with its two entry points replaced by no-ops (best of ``--repeat``).

Run: python benchmarks/bench_attribution.py [--seconds S] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _cpu(fn: Any) -> float:
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def micro() -> dict[str, float]:
    """Per-call costs of the tracker alone."""
    from bybit_mm.engine.attribution import Attribution

    n = 1_000_000
    idle = Attribution()
    cpu_idle = _cpu(lambda: [idle.on_mid(i * 10, 100.0 + (i & 7) * 0.01) for i in range(n)])
    busy = Attribution()

    def with_fills() -> None:
        on_mid, on_fill = busy.on_mid, busy.on_fill
        for i in range(n):
            t = i * 10
            on_mid(t, 100.0 + (i & 7) * 0.01)
            if i % 100 == 0:
                on_fill(t, 1 if i % 200 else -1, 100.0, 1.0)

    cpu_busy = _cpu(with_fills)
    fills = n // 100
    fill_only = Attribution()
    cpu_fill = _cpu(lambda: [fill_only.on_fill(i, 1, 100.0, 1.0, mid=100.05) for i in range(fills)])
    return {"on_mid_idle_ns": cpu_idle / n * 1e9, "on_mid_busy_ns": (cpu_busy - cpu_fill) / n * 1e9,
            "on_fill_us": cpu_fill / fills * 1e6, "resolved": busy.mk_fills[0]}


def backtest(events: Any, *, attribution: bool) -> tuple[float, Any]:
    """CPU seconds of one backtest run, with or without the attribution's work."""
    from bybit_mm.domain.instruments import get_instrument
    from bybit_mm.engine.attribution import Attribution
    from bybit_mm.engine.backtest import Backtest, BacktestSettings
    from bybit_mm.engine.config import EngineConfig
    from bybit_mm.sim.latency import ConstantLatency

    config = EngineConfig(vol_window_s=60.0, intensity_window_s=120.0, interval_s=1.0, bootstrap_trades=0)
    settings = BacktestSettings(fee_tier="SVIP", latency=ConstantLatency(), requote_s=0.1)
    bt = Backtest(events, config, get_instrument("BTCUSDT"), settings)
    if not attribution:
        att = bt.ledger.attribution
        att.on_mid = lambda ts, mid: None  # type: ignore[method-assign]
        att.on_fill = lambda *a, **k: None  # type: ignore[method-assign]
        assert isinstance(att, Attribution)
    c0 = time.process_time()
    result = bt.run()
    return time.process_time() - c0, result.summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3600.0, help="market seconds of the feed")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    m = micro()
    print(f"on_mid: {m['on_mid_idle_ns']:.0f} ns with nothing waiting, {m['on_mid_busy_ns']:.0f} ns with a fill "
          f"a second waiting on its horizons (mids every 10 ms); on_fill: {m['on_fill_us']:.2f} us")
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from replay_feed import make_feed

    events = make_feed(args.seconds)
    runs: dict[bool, list[float]] = {True: [], False: []}
    summary = None
    for _ in range(args.repeat):
        for on in (False, True):
            cpu, s = backtest(events, attribution=on)
            runs[on].append(cpu)
            summary = s if on else summary
    assert summary is not None
    with_, without = min(runs[True]), min(runs[False])
    print(f"backtest, {len(events):,} events, {summary.fills:,} fills ({summary.markout_60s_fills:,} with a 60 s "
          f"markout): {with_:.2f} s CPU with the attribution, {without:.2f} s without "
          f"({(with_ - without) / without * 100:+.1f}%; {len(events) / with_:,.0f} vs {len(events) / without:,.0f} "
          f"events/s); best of {args.repeat}")


if __name__ == "__main__":
    main()
