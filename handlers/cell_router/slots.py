"""Slotted cells: the placement policy of issue #14 (pure: no boto3, no clock).

A transaction holds the items it writes for its whole duration (about 25 ms),
so one item commits at most ~40 sign-ups a second and a cell whose every
sign-up goes through its one cell item can never go faster. A slotted cell
spreads its counter over ``slots`` items, each allowed its share of the
cell's assignable limit; the sign-up transaction adds one user to one slot,
conditioned on that slot's share, so the cell still never passes its limit.

Placement chooses from a cached snapshot of the market's cells with
probability proportional to each cell's free capacity (``choose_slot``):
unlike "least loaded first", a stale snapshot cannot send every concurrent
sign-up to the same item, and a new, empty cell takes a larger share of
sign-ups rather than all of them. The transaction's condition keeps the
choice exact however stale the snapshot is.

Items (``store``): slot *k* of a cell is ``marketId=SLOT#<market>#<cell>#<k>``,
``cellId=SLOT`` with ``slotLoad``, ``slotLimit``, ``IsHealthy`` and
``status`` (copies of the cell's, kept by the roll-up). The registrar writes
a cell with its slots in one transaction (``registration``), the dispatcher
adds users to slots (``dispatcher._assign_slotted``), and the sweeper rolls
the slots up into the cell item's ``currentCapacity`` and its entry in the
sharded placeable index (``rollup``). ``slots = 1`` (the default,
``SLOTS_PER_CELL``) is the SPEC's layout: the cell item is its own slot.
Figures and reasons: README, "Sign-ups per market under contention".
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from handlers.cell_router import contract, placement
from handlers.cell_router.model import Cell

#: Partition prefix of a slot item. ``#`` cannot occur in a market id, so a
#: slot never shares a market's partition; it has no ``currentCapacity``, so
#: it never shows up in the capacity index.
SLOT_PREFIX = "SLOT#"

POLICIES = ("weighted", "two-choices")

#: Sort key of every slot item.
SLOT_SORT_KEY = "SLOT"
#: Cells per shard of a market's placeable index: a snapshot reads one
#: shard (one page), so it costs the same at 3 or 300 cells.
SHARD_CELLS = 10
#: Most slots a cell may have (the contract's bound on ``SLOTS_PER_CELL``):
#: the registrar writes the cell and its slots in one TransactWriteItems.
MAX_SLOTS = contract.SLOTS_PER_CELL.high


def slot_key(market_id: str, cell_id: str, slot: int) -> dict[str, str]:
    """The table key of slot ``slot`` of a cell."""
    return {"marketId": slot_partition(market_id, cell_id, slot), "cellId": SLOT_SORT_KEY}


def shard_count(cells: int) -> int:
    """Shards of a market's placeable index for ``cells`` cells (at least 1)."""
    return max(1, -(-cells // SHARD_CELLS))


def placeable_partition(market_id: str, shard: int) -> str:
    """Value of a slotted cell's ``placeableMarketId`` in shard ``shard``:
    ``<market>#<shard>``. ``#`` is never in a market id, so a shard never
    mixes with a one-slot market's entries (``placeableMarketId=<market>``)."""
    return f"{market_id}#{shard}"


def slot_partition(market_id: str, cell_id: str, slot: int) -> str:
    """Partition key value of slot ``slot`` of a cell: ``SLOT#<market>#<cell>#<k>``."""
    return f"{SLOT_PREFIX}{market_id}#{cell_id}#{slot}"


def slot_limits(limit: int, slots: int) -> list[int]:
    """A cell's assignable limit split over its slots: the first ``limit mod
    slots`` take one more, and the shares add up to ``limit`` exactly.

    Raises ``ValueError`` for fewer than one slot.
    """
    if slots < 1:
        raise ValueError(f"a cell needs at least one slot, got {slots}")
    base, extra = divmod(max(0, limit), slots)
    return [base + (1 if k < extra else 0) for k in range(slots)]


def slot_scale_out_count(due: int, slot_limit: int, limit: int) -> int:
    """A slot's share of the cell's scale-out point: ceil(due x slot_limit /
    limit), never above the slot's own limit (and at least 1 for a slot that
    can take anyone).

    The sign-up that takes a slot to this load wakes the scaler. A full cell
    has every slot at its limit, which is at least its share, so a market
    cannot fill without its scale-out request — even a cell so small that its
    scale-out point lies above its assignable limit.
    """
    if limit <= 0 or slot_limit <= 0:
        return 0
    return max(1, min(slot_limit, -(-due * slot_limit // limit)))


def choose_slot(
    cells: Iterable[Cell],
    buffer: float,
    slots: int | None,
    excluded: set[tuple[str, int]],
    rng: random.Random,
    policy: str = "weighted",
) -> tuple[str, int] | None:
    """The (cellId, slot) to try next, or None when the snapshot has nothing left.

    Only placeable cells (``placement.is_placeable``) with a slot not in
    ``excluded`` (lost a race, or found full) are candidates. ``weighted``
    draws a cell with probability proportional to its free capacity
    (assignable limit minus load); ``two-choices`` takes the freer of two
    cells drawn uniformly. The slot is then drawn uniformly among the cell's
    slots not excluded. ``slots`` None: each cell's own ``Cell.slots``.

    Raises ``ValueError`` for an unknown ``policy``.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    candidates: list[Cell] = []
    open_slots: dict[str, list[int]] = {}
    for cell in cells:
        if not placement.is_placeable(cell, buffer):
            continue
        count = cell.slots if slots is None else slots
        free_slots = [k for k in range(count) if (cell.cell_id, k) not in excluded]
        if free_slots:
            candidates.append(cell)
            open_slots[cell.cell_id] = free_slots
    if not candidates:
        return None
    free = [_free(cell, buffer) for cell in candidates]
    if policy == "weighted":
        (chosen,) = rng.choices(candidates, weights=free)
    else:
        first, second = rng.randrange(len(candidates)), rng.randrange(len(candidates))
        chosen = candidates[first if free[first] >= free[second] else second]
    return chosen.cell_id, rng.choice(open_slots[chosen.cell_id])


def _free(cell: Cell, buffer: float) -> int:
    return max(1, placement.assignable_limit(cell.max_capacity, buffer) - cell.current_capacity)


def spread_load(load: int, limits: Sequence[int]) -> list[int]:
    """A cell's existing users spread over its slots, none past its share
    (how a cell that already has users is slotted)."""
    loads, left = [], max(0, load)
    share = left // len(limits) if limits else 0
    for limit in limits:
        take = min(limit, share, left)
        loads.append(take)
        left -= take
    for k, limit in enumerate(limits):
        more = min(limit - loads[k], left)
        loads[k] += more
        left -= more
    return loads
