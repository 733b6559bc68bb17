"""The round-trip budget per request, and that it does not grow with users."""

from __future__ import annotations

import pytest

from bench.round_trips import SCENARIOS, markdown, measure

BUDGET = {
    "new user sign-up": 3,
    "known user sign-up": 2,
    "mapper": 2,
    "validator (no deep check)": 2,
    # Issue #13: sign-ups stay <= 3 plus the (cached) writer check.
    "two-region sign-up, writer check cached": 3,
    "two-region sign-up, writer check cold": 4,
}


@pytest.mark.slow
def test_round_trips_stay_within_budget_and_flat() -> None:
    small, large = measure(100), measure(1_000)
    assert set(BUDGET) == set(SCENARIOS)
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
    assert all(small[scenario].round_trips >= 1 for scenario in SCENARIOS)
    assert "| new user sign-up | 3 /" in markdown({100: small, 1_000: large})
