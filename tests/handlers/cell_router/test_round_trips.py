"""The round-trip budget per request, and that it does not grow with users."""

from __future__ import annotations

import pytest

from bench.round_trips import SCENARIOS, SLOTTED_SCENARIOS, markdown, measure

BUDGET = {
    "new user sign-up": 3,
    # One more transaction per lost race.
    "new user sign-up, first transaction lost a race": 4,
    # Today the scaler writes the market's scale-out item on every sign-up in
    # the band, even while the episode is open (issue #14).
    "new user sign-up + scaler, scale-out band (episode open)": 4,
    "known user sign-up": 2,
    "mapper": 2,
    "validator (no deep check)": 2,
    # Issue #13: sign-ups stay <= 3 plus the (cached) writer check.
    "two-region sign-up, writer check cached": 3,
    "two-region sign-up, writer check cold": 4,
    # Issue #14, slotted cells: no index page once the container has its
    # snapshot, a lost race draws another slot, the band writes nothing more,
    # and a known user's cell comes from the container's cache.
    "slotted: new user sign-up, cold container": 3,
    "slotted: new user sign-up, warm container": 2,
    "slotted: new user sign-up, first transaction lost a race": 3,
    "slotted: new user sign-up + scaler, scale-out band (episode open)": 2,
    "slotted: known user sign-up, cold container": 2,
    "slotted: known user sign-up, warm container": 1,
    "slotted: mapper, warm container": 1,
}


@pytest.fixture(autouse=True)
def _writer_check_stays_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    # The "cached" scenario runs right after the cold one and relies on the
    # writer check still being cached; with the default 5 s a stalled machine
    # would re-read it and count a round trip the design does not make. (The
    # cold scenario forgets the cache itself.)
    monkeypatch.setenv("WRITER_CHECK_CACHE_SECONDS", "3600")


@pytest.mark.slow
def test_round_trips_stay_within_budget_and_flat() -> None:
    small, large = measure(100), measure(1_000)
    assert set(BUDGET) == {*SCENARIOS, *SLOTTED_SCENARIOS}
    for scenario, budget in BUDGET.items():
        assert small[scenario].round_trips <= budget, (scenario, small[scenario])
        assert large[scenario].round_trips == small[scenario].round_trips, scenario
        # Only the digits of the counters may grow; no item list does.
        assert large[scenario].bytes_read <= small[scenario].bytes_read * 1.05, scenario
    assert small["new user sign-up"].operations == ["GetItem", "Query", "TransactWriteItems"]
    assert small["two-region sign-up, writer check cold"].operations == [
        "GetItem",
        "BatchGetItem",
        "Query",
        "TransactWriteItems",
    ]
    # Every scenario reads something: a meter that misses a client shows 0.
    assert all(small[scenario].round_trips >= 1 for scenario in BUDGET)
    assert "| new user sign-up | 3 /" in markdown({100: small, 1_000: large})


@pytest.mark.slow
def test_read_and_write_units_per_request_follow_dynamodb_rules() -> None:
    costs = measure(100)
    new = costs["new user sign-up"]
    # Strongly consistent mapping read (1) + one index page read eventually (0.5);
    # mapping put and cell update, both transactional (2 + 2), and the cell's
    # move in each index sorted by currentCapacity (delete + put, 2 each):
    # the SPEC's capacity index and, since #11, the placeable-cells index.
    assert (new.read_units, new.write_units) == (1.5, 8.0)
    raced = costs["new user sign-up, first transaction lost a race"]
    assert raced.operations.count("TransactWriteItems") == 2
    assert (raced.read_units, raced.write_units) == (1.5, 8.0)
    band = costs["new user sign-up + scaler, scale-out band (episode open)"]
    assert band.operations[-1] == "PutItem"
    assert band.write_units == new.write_units + 1
    for known in ("known user sign-up", "mapper"):
        assert (costs[known].read_units, costs[known].write_units) == (2.0, 0.0)


@pytest.mark.slow
def test_slotted_sign_ups_cost_less_than_today() -> None:
    """Issue #14: a new user's transaction adds to one slot item (mapping put
    2 WRU + slot update 2 WRU, no index moves); a warm container reads only
    the mapping; the scale-out band adds no write; a known user, warm, one
    strongly consistent mapping read."""
    costs = measure(100)
    cold = costs["slotted: new user sign-up, cold container"]
    assert cold.operations == ["GetItem", "Query", "TransactWriteItems"]
    assert (cold.read_units, cold.write_units) == (1.5, 4.0)
    warm = costs["slotted: new user sign-up, warm container"]
    assert warm.operations == ["GetItem", "TransactWriteItems"]
    assert (warm.read_units, warm.write_units) == (1.0, 4.0)
    raced = costs["slotted: new user sign-up, first transaction lost a race"]
    assert raced.operations == ["GetItem", "TransactWriteItems", "TransactWriteItems"]
    band = costs["slotted: new user sign-up + scaler, scale-out band (episode open)"]
    assert "PutItem" not in band.operations and band.write_units == 4.0
    for known in ("slotted: known user sign-up, warm container", "slotted: mapper, warm container"):
        assert costs[known].operations == ["GetItem"]
        assert (costs[known].read_units, costs[known].write_units) == (1.0, 0.0)
