"""Per-call cost of the futures math the simulator calls on every fill and mark update.

Run: /work/venv/bin/python benchmarks/bench_domain.py
"""

from __future__ import annotations

import timeit
from decimal import Decimal as D

from bybit_mm.domain.instruments import get_instrument
from bybit_mm.domain.liquidation import is_liquidated
from bybit_mm.domain.margin import isolated_liquidation, liquidation_price
from bybit_mm.domain.orders import Side
from bybit_mm.domain.position import Position, apply_fill, unrealized_pnl
from bybit_mm.domain.rounding import check_order, round_price, round_qty

BTC = get_instrument("BTCUSDT")
POS = Position("BTCUSDT", D("0.5"), D("64000.1"))


def _alternating_fills() -> None:
    pos = POS
    for i in range(100):
        side = Side.BUY if i % 2 else Side.SELL
        pos, _ = apply_fill(pos, side, D("0.013"), D("64000.1") + i, D("0.0002"))


CASES = {
    "apply_fill (x100, alternating)": _alternating_fills,
    "unrealized_pnl": lambda: unrealized_pnl(POS, D("64100.2")),
    "liquidation_price": lambda: liquidation_price("long", D("64000.1"), D("0.5"), D(50), D("0.005")),
    "isolated_liquidation (tier lookup)": lambda: isolated_liquidation(BTC, "long", D("64000.1"), D("0.5"),
                                                                       D(50), taker_rate=D("0.00055")),
    "is_liquidated": lambda: is_liquidated("long", D("63000"), D("62900")),
    "round_price": lambda: round_price(D("64000.123"), BTC.tick_size, Side.BUY),
    "round_qty": lambda: round_qty(D("0.01234"), BTC.qty_step),
    "check_order": lambda: check_order(BTC, D("0.012"), D("64000.1")),
}


def main() -> None:
    print(f"{'operation':40s} {'us/call':>10s} {'calls/s':>12s}")
    for name, fn in CASES.items():
        number = 200 if "x100" in name else 20000
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number
        print(f"{name:40s} {best * 1e6:10.2f} {1 / best:12,.0f}")


if __name__ == "__main__":
    main()
