"""The roll-up of slotted cells (issue #14): slots into the cell item.

With ``SLOTS_PER_CELL`` above 1 a sign-up adds its user to one of the cell's
slot items, never to the cell item, so the cell item's ``currentCapacity``
and its entry in the sharded placeable index are kept here, by the sweeper,
once a run (every ``sweeperIntervalMinutes``, one minute by default):

* the market's cells are read consistently (one Query of its partition) and
  all their slots (BatchGetItem, strongly consistent);
* each slotted cell whose load, index entry or shard count changed gets one
  conditional write: ``currentCapacity`` = the sum of its slots,
  ``placeableMarketId`` = ``<market>#<shard>`` while it has a free slot and
  is healthy and ACTIVE (else removed), ``placeableShards`` = the market's
  shard count. Cells are dealt to shards in cellId order, ten a shard
  (``slots.SHARD_CELLS``), so a snapshot (one shard page) costs the same at
  3 or 300 cells;
* each slot whose copy of the cell's ``IsHealthy``/``status``, or whose share
  of the assignable limit (after a resize), differs is brought in line.

Why the sweeper and not the scaler: the scaler runs after every sign-up, and
writing the cell item per sign-up is exactly the 40/s-per-cell and
500/s-per-market ceiling this design removes; "every few seconds" across
hundreds of concurrent scaler invocations would need a lease of its own. The
sweeper already runs on a schedule, once per stack, off the request path,
and already lists the known markets. The price: ``currentCapacity`` trails
the slots by up to one sweep, an operator's ``IsHealthy``/``status`` change
reaches the slots (and so the sign-up transaction) within one sweep, and
the snapshot weights trail by as much -- the transaction's condition keeps
every placement exact regardless, and the dispatcher's last look reads the
slots themselves before any ``NoCapacity``.

A one-slot cell in a slotted market (registered before the setting changed)
is its own slot: its ``currentCapacity`` is live, and the roll-up only moves
its index entry into a shard.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from handlers.cell_router import placement, slots
from handlers.cell_router.model import Cell
from handlers.cell_router.store import RouterStore, SlotLoad


@dataclass(frozen=True)
class RollUp:
    """What one market's roll-up did."""

    cells: int = 0
    cells_written: int = 0
    slots_synced: int = 0


def cell_load(cell: Cell, loads: list[SlotLoad]) -> int:
    """A cell's users: its slots' sum (a one-slot cell: its own counter)."""
    if cell.slots <= 1:
        return cell.current_capacity
    return sum(slot.load for slot in loads)


def has_room(cell: Cell, loads: list[SlotLoad], buffer: Decimal | float) -> bool:
    """Healthy, ACTIVE and (a one-slot cell) below its limit, or (slotted)
    with a slot below its share."""
    if not (cell.healthy and cell.active):
        return False
    if cell.slots <= 1:
        return placement.is_placeable(cell, buffer)
    return any(slot.load < slot.limit for slot in loads)


def roll_up_market(store: RouterStore, market_id: str, buffer: Decimal | float) -> RollUp:
    """Roll the slots of ``market_id``'s cells up into their cell items (see
    the module docstring). Raises ``ServiceUnavailable`` when the table
    cannot be read within the store's deadline."""
    cells = sorted(store.market_cells(market_id), key=lambda cell: cell.cell_id)
    if not cells:
        return RollUp()
    by_cell: dict[str, list[SlotLoad]] = defaultdict(list)
    for slot in store.read_slots([cell for cell in cells if cell.slots > 1]):
        by_cell[slot.cell_id].append(slot)
    shards = slots.shard_count(len(cells))
    written = synced = 0
    for position, cell in enumerate(cells):
        loads = sorted(by_cell.get(cell.cell_id, []), key=lambda slot: slot.slot)
        if cell.slots > 1:
            synced += _sync_slots(store, cell, loads, buffer)
        load = cell_load(cell, loads)
        partition = (
            slots.placeable_partition(market_id, position % shards)
            if has_room(cell, loads, buffer)
            else None
        )
        current = cell.listed_in or None
        if (load, partition, shards) == (cell.current_capacity, current, cell.shards):
            continue
        if store.roll_up_cell(cell, load, partition, shards):
            written += 1
    return RollUp(cells=len(cells), cells_written=written, slots_synced=synced)


def _sync_slots(
    store: RouterStore, cell: Cell, loads: list[SlotLoad], buffer: Decimal | float
) -> int:
    limits = slots.slot_limits(placement.assignable_limit(cell.max_capacity, buffer), cell.slots)
    found = {slot.slot: slot for slot in loads}
    synced = 0
    for k, limit in enumerate(limits):
        slot = found.get(k)
        if (
            slot is not None
            and slot.limit == limit
            and slot.healthy == cell.healthy
            and slot.status == cell.status
        ):
            continue
        if store.sync_slot(cell, k, limit):
            synced += 1
    return synced
