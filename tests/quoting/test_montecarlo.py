"""The A&S Monte-Carlo: deterministic, comparable across strategies, and showing the paper's effect."""

from __future__ import annotations

import pytest

from bybit_mm.quoting.simulation import SimParams, run

SMALL = SimParams(paths=400)


def test_same_seed_same_numbers() -> None:
    assert run(0.1, SMALL, seed=5) == run(0.1, SMALL, seed=5)
    assert run(0.1, SMALL, seed=5) != run(0.1, SMALL, seed=6)


def test_one_strategys_numbers_do_not_depend_on_the_others() -> None:
    alone = run(0.1, SMALL, ("inventory",), seed=3)["inventory"]
    together = run(0.1, SMALL, ("glft", "symmetric", "inventory"), seed=3)["inventory"]
    assert alone == together


def test_inventory_strategy_has_far_less_dispersion_than_symmetric() -> None:
    # The paper's finding (gamma = 0.1: std(profit) 5.89 vs 13.43, std(q) 2.80 vs 8.66).
    res = run(0.1, SimParams(), ("inventory", "symmetric", "glft"), seed=1)
    inv, sym = res["inventory"], res["symmetric"]
    assert inv.profit_std < 0.6 * sym.profit_std
    assert inv.final_q_std < 0.45 * sym.final_q_std
    assert 55 < inv.profit_mean < 72 and 60 < sym.profit_mean < 75
    assert res["glft"].final_q_std < 0.45 * sym.final_q_std
    assert inv.spread == pytest.approx(1.2907704, abs=1e-6) == sym.spread


def test_higher_gamma_holds_less_inventory() -> None:
    low = run(0.01, SMALL, ("inventory",), seed=2)["inventory"]
    high = run(0.5, SMALL, ("inventory",), seed=2)["inventory"]
    assert high.final_q_std < low.final_q_std
    assert high.profit_mean < low.profit_mean


def test_progress_reaches_the_last_step_and_unknown_strategy_fails() -> None:
    seen: list[int] = []
    run(0.1, SimParams(paths=10), seed=1, progress=seen.append)
    assert seen[-1] == 200 and seen == sorted(seen)
    with pytest.raises(ValueError):
        run(0.1, SMALL, ("martingale",))
