"""Slotted cells' pure policy: shares that add up, a choice weighted by free
capacity that never offers what it must not, and the scale-out share."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.cell_router import placement, slots
from handlers.cell_router.model import Cell


def cell(cell_id: str, current: int, maximum: int = 125, **kwargs) -> Cell:
    return Cell("europe", cell_id, current, maximum, kwargs.pop("healthy", True), **kwargs)


@given(limit=st.integers(0, 100_000), count=st.integers(1, 64))
def test_slot_limits_add_up_to_the_cell_limit_and_differ_by_at_most_one(limit, count) -> None:
    limits = slots.slot_limits(limit, count)
    assert len(limits) == count
    assert sum(limits) == limit
    assert max(limits) - min(limits) <= 1


def test_a_cell_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        slots.slot_limits(400, 0)


@given(load=st.integers(0, 500), limit=st.integers(0, 400), count=st.integers(1, 16))
def test_existing_users_spread_over_slots_within_their_shares(load, limit, count) -> None:
    limits = slots.slot_limits(limit, count)
    loads = slots.spread_load(load, limits)
    assert all(0 <= have <= share for have, share in zip(loads, limits, strict=True))
    assert sum(loads) == min(load, limit)


def test_choice_is_weighted_by_free_capacity_and_skips_excluded_slots() -> None:
    # Assignable limit of 125 at buffer 0.2 is 100: free 100 against 50.
    snapshot = [cell("empty", 0), cell("half", 50)]
    rng = random.Random(3)
    picks = [slots.choose_slot(snapshot, 0.2, 4, set(), rng) for _ in range(3_000)]
    share = sum(pick is not None and pick[0] == "empty" for pick in picks) / len(picks)
    assert share == pytest.approx(100 / 150, abs=0.03)  # gradual, not every sign-up
    excluded = {("empty", k) for k in range(4)} | {("half", 0), ("half", 1)}
    for _ in range(50):
        assert slots.choose_slot(snapshot, 0.2, 4, excluded, rng) in {("half", 2), ("half", 3)}


@pytest.mark.parametrize("policy", slots.POLICIES)
def test_choice_never_offers_full_unhealthy_or_inactive_cells(policy) -> None:
    snapshot = [
        cell("full", 100),
        cell("sick", 0, healthy=False),
        cell("draining", 0, status="DRAINING"),
    ]
    assert slots.choose_slot(snapshot, 0.2, 4, set(), random.Random(1), policy) is None
    with pytest.raises(ValueError, match="policy"):
        slots.choose_slot(snapshot, 0.2, 4, set(), random.Random(1), "argmin")


@given(
    loads=st.lists(st.integers(0, 120), min_size=1, max_size=8),
    count=st.integers(1, 8),
    seed=st.integers(0, 2**16),
    policy=st.sampled_from(slots.POLICIES),
)
def test_choice_is_always_a_placeable_cell_and_an_open_slot(loads, count, seed, policy) -> None:
    snapshot = [cell(f"c{i}", load) for i, load in enumerate(loads)]
    rng = random.Random(seed)
    excluded = {(f"c{i}", k) for i in range(len(loads)) for k in range(count) if rng.random() < 0.5}
    pick = slots.choose_slot(snapshot, 0.2, count, excluded, rng, policy)
    open_pairs = {
        (c.cell_id, k)
        for c in snapshot
        if placement.is_placeable(c, 0.2)
        for k in range(count)
        if (c.cell_id, k) not in excluded
    }
    assert (pick in open_pairs) if open_pairs else pick is None


@given(maximum=st.integers(1, 10_000), count=st.integers(1, 32))
def test_a_full_cell_has_every_slot_past_its_scale_out_share(maximum, count) -> None:
    limit = placement.assignable_limit(maximum, 0.2)
    due = placement.scale_out_count(maximum, 0.7)
    limits = slots.slot_limits(limit, count)
    shares = [slots.slot_scale_out_count(due, share, limit) for share in limits]
    # Every slot reaches its share before it is full, so a full cell has asked
    # for a new one, even when its scale-out point is above its limit.
    assert all(share <= slot_limit for share, slot_limit in zip(shares, limits, strict=True))
    # And the shares add up to at least the cell's scale-out point (or its
    # whole limit): slots do not ask early on average.
    assert sum(shares) >= min(due, limit)


def test_slot_partitions_are_never_a_market_name() -> None:
    key = slots.slot_partition("europe", "cell-007", 3)
    assert key == "SLOT#europe#cell-007#3"
    with pytest.raises(Exception, match="marketId"):
        from handlers.cell_router import input_parsing

        input_parsing.market_id({"marketId": key}, "europe")
