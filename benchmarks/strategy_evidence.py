"""The strategy's evidence: the shipped profile on both synthetic presets, seed by seed, after fees.

For each preset and seed: ``bybit-mm paper --leverage 50 --market sim --preset P --seed S
--duration D --speed 0 --fresh --json`` in a private ``BYBIT_MM_HOME``, then ``bybit-mm report
paper/SYMBOL/1 --json`` for the markouts. Printed per run and per preset: fills, traded notional,
fees, net PnL after fees and before fees (net + fees), spread capture against the mid at the fill
(the 0 s markout) and the 10 s markout in bps of traded notional, the largest |inventory| in USDT
(over the snapshots: |position| x mid), the smallest distance to liquidation, and the liquidation
guard's emergency reductions and liquidations.

Run: python benchmarks/strategy_evidence.py [--presets thin-alt,deep-major] [--seeds 1-10]
     [--duration 4h] [--workers 2] [--json] [-- extra paper options, e.g. --risk-aversion 0.02]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

SYMBOL = {"thin-alt": "ARBUSDT", "deep-major": "BTCUSDT"}


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def run_one(preset: str, seed: int, duration: str, extra: list[str]) -> dict[str, Any]:
    """One paper run and its report; the figures of the docstring."""
    with tempfile.TemporaryDirectory(prefix="bybit-mm-evidence-") as home:
        env = {**os.environ, "BYBIT_MM_HOME": home, "NO_COLOR": "1"}
        env.pop("BYBIT_MM_PROFILE", None)
        paper = subprocess.run(
            ["bybit-mm", "paper", "--leverage", "50", "--market", "sim", "--preset", preset, "--seed", str(seed),
             "--duration", duration, "--speed", "0", "--fresh", "--json", *extra],
            env=env, capture_output=True, text=True)
        if paper.returncode not in (0, 6):
            raise SystemExit(f"paper {preset} seed {seed} failed ({paper.returncode}): {paper.stderr.strip()}")
        lines = [json.loads(line) for line in paper.stdout.splitlines() if line.strip()]
        summary = lines[-1]
        max_inv = max((abs(d["position_qty"] * d["mid"]) for d in lines
                       if d.get("type") == "snapshot" and d.get("mid")), default=0.0)
        rep = subprocess.run(["bybit-mm", "report", f"paper/{SYMBOL[preset]}/1", "--json"], env=env,
                             capture_output=True, text=True, check=True)
        marks = {m["horizon_s"]: m for m in json.loads(rep.stdout)["markouts"]}
    notional = summary["notional"] or 1.0
    return {"preset": preset, "seed": seed, "fills": summary["fills"], "notional": summary["notional"],
            "fees": summary["fees"], "net": summary["total_pnl"], "before_fees": summary["total_pnl"] + summary["fees"],
            "net_bps": summary["total_pnl"] / notional * 1e4,
            "capture_bps": marks[0]["bps"] if 0 in marks else None,
            "markout_10s_bps": marks[10]["bps"] if 10 in marks else None,
            "max_inventory_usdt": max_inv, "min_liq_distance_pct": summary["min_liq_distance_pct"],
            "liquidations": summary["liquidations"], "emergency_reduces": summary["emergency_reduces"],
            "stop_reason": summary["stop_reason"]}


def _f(x: Any, digits: int = 2) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", default="thin-alt,deep-major")
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--duration", default="4h")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args, extra = ap.parse_known_args()
    extra = [a for a in extra if a != "--"]
    jobs = [(p, s) for p in args.presets.split(",") for s in _seeds(args.seeds)]
    with ThreadPoolExecutor(args.workers) as pool:
        rows = list(pool.map(lambda j: run_one(j[0], j[1], args.duration, extra), jobs))
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return
    cols = ("preset", "seed", "fills", "notional", "fees", "net", "before_fees", "net_bps", "capture_bps",
            "markout_10s_bps", "max_inventory_usdt", "min_liq_distance_pct", "emergency_reduces", "liquidations")
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) if c in ("preset", "seed", "fills", "emergency_reduces", "liquidations")
                         else _f(r[c]) for c in cols))
    for preset in args.presets.split(","):
        mine = [r for r in rows if r["preset"] == preset]
        wins = sum(r["net"] > 0 for r in mine)
        pre = sum(r["before_fees"] > 0 for r in mine)
        print(f"{preset}: net > 0 on {wins} of {len(mine)} seeds; before fees > 0 on {pre}; "
              f"total net {_f(sum(r['net'] for r in mine))}, fees {_f(sum(r['fees'] for r in mine))}, "
              f"max |inventory| {_f(max(r['max_inventory_usdt'] for r in mine), 0)} USDT, "
              f"min liquidation distance {_f(min(r['min_liq_distance_pct'] or 1e9 for r in mine), 3)} %, "
              f"emergency reduces {sum(r['emergency_reduces'] for r in mine)}, "
              f"liquidations {sum(r['liquidations'] for r in mine)}")


if __name__ == "__main__":
    main()
