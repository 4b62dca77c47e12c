"""Order and execution ids stay unique when an account is saved and reloaded into a same-seed sim."""

from __future__ import annotations

import json
from decimal import Decimal as D

from tests.sim.conftest import make_exchange, run_until_fill


def _trade(ex, link_id: str) -> tuple[str, set[str]]:
    """A market buy; returns its order id and the ids of its executions."""
    o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Market", qty=D("0.01"), order_link_id=link_id)
    return o.order_id, {e.exec_id for e in ex.executions(limit=1000) if e.order_id == o.order_id}


def test_a_reloaded_account_hands_out_new_ids() -> None:
    first = make_exchange(seed=5)
    order_a, execs_a = _trade(first, "a")
    bid = first.ticker("BTCUSDT").bid
    resting = first.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.01"),
                                price=bid - 50, order_link_id="rest")
    state = json.loads(json.dumps(first.account_state()))

    # Same seed, same start time: the old id stream would start over at the first id.
    again = make_exchange(seed=5)
    again.load_account_state(state)
    order_b, execs_b = _trade(again, "b")
    assert execs_a and execs_b
    assert order_b not in (order_a, resting.order_id)
    assert not execs_b & execs_a
    # The saved resting order is still there, not overwritten by a new order with its id.
    assert again.get_order(order_link_id="rest").order_id == resting.order_id
    assert [o.order_id for o in again.open_orders()] == [resting.order_id]
    ids = [e.exec_id for e in again.executions(limit=1000)]
    assert len(ids) == len(set(ids))

    # A second save/reload cycle goes on from where the reloaded account left off.
    third = make_exchange(seed=5)
    third.load_account_state(json.loads(json.dumps(again.account_state())))
    order_c, execs_c = _trade(third, "c")
    assert order_c not in (order_a, order_b, resting.order_id)
    assert not execs_c & (execs_a | execs_b)


def test_funding_after_a_reload_gets_a_new_execution_id() -> None:
    # Start 5 minutes before the 08:00 UTC funding time.
    start = 1_767_225_600_000 + 8 * 3_600_000 - 300_000
    first = make_exchange(seed=2, start_ms=start)
    order_id, exec_ids = _trade(first, "open")
    state = json.loads(json.dumps(first.account_state()))
    again = make_exchange(seed=2, start_ms=start)
    again.load_account_state(state)
    again.run_until(start + 301_000)
    (funding,) = [e for e in again.executions(limit=1000) if e.exec_type == "Funding"]
    assert funding.exec_id not in exec_ids | {order_id}


def test_the_same_seed_still_gives_the_same_ids() -> None:
    def run() -> list[str]:
        ex = make_exchange(seed=11)
        bid = ex.ticker("BTCUSDT").bid
        o = ex.place_order(symbol="BTCUSDT", side="Buy", order_type="Limit", qty=D("0.001"), price=bid)
        run_until_fill(ex, o.order_id)
        return [o.order_id] + [e.exec_id for e in ex.executions(limit=1000)]

    assert run() == run()
