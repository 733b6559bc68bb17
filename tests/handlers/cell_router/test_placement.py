"""Cell choice and threshold maths: examples plus properties."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from handlers.cell_router import placement
from handlers.cell_router.model import (
    STATUS_ACTIVE,
    STATUS_DISABLED,
    STATUS_DRAINING,
    Cell,
)


def cell(cell_id: str, current: int, maximum: int = 50, **kwargs) -> Cell:
    kwargs.setdefault("healthy", True)
    return Cell("europe", cell_id, current, maximum, **kwargs)


def test_assignable_limit_is_floor_of_max_times_one_minus_buffer() -> None:
    assert placement.assignable_limit(50, 0.2) == 40
    assert placement.assignable_limit(500, "0.2") == 400
    assert placement.assignable_limit(500, Decimal("0.2")) == 400
    assert placement.assignable_limit(10, 0.25) == 7  # 7.5 rounds down
    assert placement.assignable_limit(50, 0) == 50
    assert placement.assignable_limit(0, 0.2) == 0
    # 1 - 0.7 is 0.30000000000000004 in binary floating point; not here.
    assert placement.assignable_limit(100, 0.7) == 30
    assert placement.assignable_limit(10, 0.9) == 1


def test_only_healthy_active_cells_below_the_limit_are_placeable() -> None:
    assert placement.is_placeable(cell("a", 39), 0.2)
    assert not placement.is_placeable(cell("a", 40), 0.2)
    assert not placement.is_placeable(cell("a", 0, healthy=False), 0.2)
    assert not placement.is_placeable(cell("a", 0, status=STATUS_DRAINING), 0.2)
    assert not placement.is_placeable(cell("a", 0, status=STATUS_DISABLED), 0.2)
    assert not placement.is_placeable(cell("a", 0, status="RETIRED"), 0.2)
    assert not placement.is_placeable(cell("a", 0, maximum=0), 0.2)


def test_least_loaded_cell_comes_first_when_clearly_emptier() -> None:
    cells = [cell("busy", 30), cell("fresh", 0), cell("mid", 20)]
    for seed in range(50):
        ordered = placement.order_candidates(cells, 0.2, random.Random(seed))
        assert [c.cell_id for c in ordered] == ["fresh", "mid", "busy"]


def test_near_ties_among_the_three_least_loaded_are_shuffled() -> None:
    cells = [cell(f"c{i}", 10) for i in range(5)]
    firsts = {
        placement.order_candidates(cells, 0.2, random.Random(seed))[0].cell_id
        for seed in range(200)
    }
    # The spread is three cells, not one and not all five.
    assert firsts == {"c0", "c1", "c2"}


def test_unplaceable_cells_are_never_candidates() -> None:
    cells = [
        cell("full", 40),
        cell("sick", 0, healthy=False),
        cell("draining", 0, status=STATUS_DRAINING),
        cell("ok", 39),
    ]
    assert [c.cell_id for c in placement.order_candidates(cells, 0.2)] == ["ok"]
    assert placement.order_candidates([cell("full", 40)], 0.2) == []


def test_scale_out_threshold() -> None:
    assert not placement.scale_out_due(34, 50, 0.7)
    assert placement.scale_out_due(35, 50, 0.7)
    assert placement.scale_out_due(350, 500, Decimal("0.7"))
    assert not placement.scale_out_due(349, 500, "0.7")
    assert not placement.scale_out_due(0, 0, 0.7)
    assert placement.scale_out_due(50, 50, 1)


cells_strategy = st.lists(
    st.builds(
        Cell,
        market_id=st.just("europe"),
        cell_id=st.text("abcdef0123", min_size=1, max_size=6),
        current_capacity=st.integers(0, 600),
        max_capacity=st.integers(0, 600),
        healthy=st.booleans(),
        status=st.sampled_from([STATUS_ACTIVE, STATUS_DRAINING, STATUS_DISABLED]),
    ),
    max_size=12,
    unique_by=lambda c: c.cell_id,
)
buffers = st.decimals(min_value=0, max_value=Decimal("0.99"), places=2)


@given(cells=cells_strategy, buffer=buffers, seed=st.integers(0, 2**32))
def test_candidates_are_exactly_the_placeable_cells(cells, buffer, seed) -> None:
    ordered = placement.order_candidates(cells, buffer, random.Random(seed))
    assert sorted(c.cell_id for c in ordered) == sorted(
        c.cell_id for c in cells if placement.is_placeable(c, buffer)
    )
    for candidate in ordered:
        assert candidate.healthy and candidate.active
        assert candidate.current_capacity < placement.assignable_limit(
            candidate.max_capacity, buffer
        )


@given(cells=cells_strategy, buffer=buffers, seed=st.integers(0, 2**32))
def test_first_pick_is_among_the_least_loaded(cells, buffer, seed) -> None:
    ordered = placement.order_candidates(cells, buffer, random.Random(seed))
    if not ordered:
        return
    least = min(c.current_capacity for c in ordered)
    band = placement.tie_band(
        placement.assignable_limit(
            min(ordered, key=lambda c: (c.current_capacity, c.cell_id)).max_capacity, buffer
        )
    )
    assert ordered[0].current_capacity <= least + band
    # At most the first DEFAULT_SPREAD are out of load order.
    tail = ordered[placement.DEFAULT_SPREAD :]
    assert [c.current_capacity for c in tail] == sorted(c.current_capacity for c in tail)


@given(maximum=st.integers(0, 10**6), buffer=buffers)
def test_limit_never_exceeds_the_exact_product(maximum, buffer) -> None:
    limit = placement.assignable_limit(maximum, buffer)
    assert 0 <= limit <= maximum
    assert limit <= maximum * (1 - buffer) < limit + 1


@given(
    current=st.integers(0, 10**6),
    maximum=st.integers(1, 10**6),
    threshold=st.decimals(min_value=Decimal("0.01"), max_value=1, places=2),
)
def test_threshold_matches_exact_arithmetic(current, maximum, threshold) -> None:
    assert placement.scale_out_due(current, maximum, threshold) == (current >= threshold * maximum)
    # Monotonic: one more user never un-triggers a scale-out.
    if placement.scale_out_due(current, maximum, threshold):
        assert placement.scale_out_due(current + 1, maximum, threshold)
