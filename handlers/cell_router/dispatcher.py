"""``/cells``: return the caller's cell, assigning one on first sign-up.

Round trips: a known user costs two reads (mapping, cell); a new user costs a
mapping read, one capacity-index page and one transaction. Losing a race for
a cell costs one more transaction per lost attempt.

The result's ``cellLoad`` tells the scaler whether this sign-up brought the
cell to the scale-out point, without the scaler reading the cell again. The
index snapshot it starts from can be stale (concurrent sign-ups, and a GSI is
eventually consistent), so it is never trusted near the threshold: when the
snapshot says "below", the transaction itself carries the condition "load
below the scale-out point"; if only that part fails, DynamoDB returns the
real load and the dispatcher places the user with that figure instead. A
market therefore cannot fill up without its scale-out request, however the
sign-ups interleave, and the steady state still costs one transaction.

Slotted cells (issue #14, ``SLOTS_PER_CELL`` above 1; ``_assign_slotted``):
the container keeps a snapshot of one shard of the market's placeable index
(one page, refreshed at most every ``SNAPSHOT_TTL_SECONDS``), draws a cell
with probability proportional to its free capacity and then one of its
slots (``slots.choose_slot``), and commits the mapping with that slot's
conditional ADD (``RouterStore.assign_slot``). A lost race or a full slot
draws again, within the same budget (``MAX_ATTEMPTS_PER_QUERY`` draws per
snapshot, ``MAX_ROUNDS`` snapshots). When the draws run out, the *last
look* reads the market's cells and every slot strongly and tries the slots
with room, with jittered backoff, until one takes the user, each is found
full -- then, and only then, ``NoCapacity`` -- or the deadline passes
(``ServiceUnavailable``). Scale-out is edge-triggered: only the sign-up that
takes a slot to its share of the scale-out point reports a ``cellLoad`` at
the threshold, so the scaler writes the market's episode item once per slot
per episode, not once per sign-up in the band.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import (
    budget,
    caller_cell,
    input_parsing,
    model,
    placement,
    scaleout,
    settings,
    slots,
    writer_gate,
)
from handlers.cell_router.budget import Deadline, unavailable
from handlers.cell_router.errors import (
    NoCapacity,
    ServiceUnavailable,
    UnknownMarket,
    UserNotFound,
)
from handlers.cell_router.model import Cell, Mapping, routing_result, utc_timestamp
from handlers.cell_router.observability import (
    cell_occupancy,
    count,
    emit,
    instrument_handler,
    logger,
)
from handlers.cell_router.scaler import timing
from handlers.cell_router.store import AssignOutcome, RouterStore

#: Transactions tried per candidate list before re-reading the index.
MAX_ATTEMPTS_PER_QUERY = 5
#: Candidate lists per sign-up (index reads and refusal-path reads); every
#: list but the last ends with at least one cell proven unable to take the
#: user, so this bounds the work even if the deadline is generous.
MAX_ROUNDS = 4
#: Exact-load retries on one cell whose load keeps moving under us.
MAX_EXACT_RETRIES = 3

#: Slotted cells: how long a container keeps its shard snapshot.
SNAPSHOT_TTL_SECONDS = 1.0
#: Slotted cells: how long a container remembers a slot it found full (a
#: slot only fills, unless an operator or a resize changes its cell).
FULL_SLOT_MEMORY_SECONDS = 60.0

_rng = random.SystemRandom()


@dataclass
class MarketSnapshot:
    """One container's view of one market's slotted cells."""

    cells: list[Cell] = field(default_factory=list)
    taken_at: float = -math.inf
    #: Shards of the market's placeable index, as last learned (1 until known).
    shards: int = 1
    #: (cellId, slot) found full or unhealthy, and since when.
    full: dict[tuple[str, int], float] = field(default_factory=dict)
    #: (cellId, slot) -> the slot's load as last learned from DynamoDB.
    slot_loads: dict[tuple[str, int], int] = field(default_factory=dict)

    def excluded(self, now: float) -> set[tuple[str, int]]:
        # A copy first: threads of one process (tests, the drill) share it.
        found = list(self.full.items())
        return {key for key, at in found if now - at < FULL_SLOT_MEMORY_SECONDS}


class SnapshotCache:
    """A container's snapshots, by market (thread-safe to look up; one
    sign-up at a time per Lambda container)."""

    def __init__(self) -> None:
        self._markets: dict[str, MarketSnapshot] = {}
        self._lock = threading.Lock()

    def market(self, market_id: str) -> MarketSnapshot:
        with self._lock:
            return self._markets.setdefault(market_id, MarketSnapshot())

    def clear(self) -> None:
        with self._lock:
            self._markets.clear()


#: This container's snapshots.
SNAPSHOTS = SnapshotCache()


@instrument_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = input_parsing.parse_router_request(event)
    market_id = input_parsing.market_id(request.body, settings.default_market())
    buffer = settings.capacity_buffer()
    threshold = settings.scale_out_threshold()
    ttl = settings.endpoint_ttl_seconds()
    store = RouterStore(settings.table_name(), deadline=Deadline.from_context(context))
    user_key = request.caller.user_key
    logger.append_keys(userHash=user_key)

    slotted = settings.slots_per_cell() > 1
    mapping = store.get_mapping(user_key)
    if mapping is not None:
        cell = _known_cell(store, mapping, slotted)
        if cell is not None:
            return _existing(cell)
        # The mapped cell was deleted: the mapping can never work again.
        # Forget it (only while it still names that cell) and place anew.
        if store.forget_mapping(mapping):
            count(model.METRIC_DANGLING_MAPPING_REPAIRED)
            logger.warning(
                "mapping to a deleted cell removed; placing the user anew",
                extra={"marketId": mapping.market_id, "cellId": mapping.cell_id},
            )
    if slotted:
        return _assign_slotted(store, user_key, market_id, buffer, threshold, ttl)
    return _assign(store, user_key, market_id, buffer, threshold, ttl)


def _known_cell(store: RouterStore, mapping: Mapping, slotted: bool) -> Cell | None:
    """The mapped cell, or None when it was deleted (slotted: from the
    container's cell cache, ``caller_cell.CELL_CACHE_SECONDS``)."""
    if not slotted:
        return store.get_cell(mapping.market_id, mapping.cell_id)
    try:
        return caller_cell.require_cell(store, mapping, cached=True)
    except UserNotFound:
        return None


def _existing(cell: Cell) -> dict[str, Any]:
    """A placed user keeps their cell, whatever market the body names."""
    count(model.METRIC_USER_KNOWN)
    return routing_result(
        cell,
        ttl_seconds=settings.endpoint_ttl_seconds(),
        new_assignment=False,
        current_capacity=cell.current_capacity,
    )


def _assign(
    store: RouterStore, user_key: str, market_id: str, buffer: Any, threshold: Any, ttl: int
) -> dict[str, Any]:
    # One writer region per market (issue #13): WrongRegion / 503 here, and
    # the transaction re-proves the decision, so the gate may be cached.
    decision = writer_gate.enforce(store.read_writer, market_id)
    writer_check = writer_gate.condition_for(store.table_name, market_id, decision)
    rejected: set[str] = set()

    def has_placeable(cells: list[Cell]) -> bool:
        return any(
            placement.is_placeable(cell, buffer) and cell.cell_id not in rejected for cell in cells
        )

    for _ in range(MAX_ROUNDS):
        cells = store.least_loaded_cells(market_id, has_placeable)
        _unlist_stale(store, cells, buffer)
        candidates = [
            cell
            for cell in placement.order_candidates(cells, buffer, _rng)
            if cell.cell_id not in rejected
        ]
        if not candidates:
            # Raises NoCapacity / UnknownMarket unless a consistent read of
            # the market finds placeable cells the index did not show.
            candidates = _refusal_path(store, market_id, buffer)
            rejected.difference_update(cell.cell_id for cell in candidates)
        for cell in candidates[:MAX_ATTEMPTS_PER_QUERY]:
            placed = _place(store, user_key, market_id, cell, buffer, threshold, ttl, writer_check)
            if placed is not None:
                return placed
            rejected.add(cell.cell_id)
            count(model.METRIC_ASSIGNMENT_RETRY)
            logger.info("cell rejected the assignment", extra={"cellId": cell.cell_id})
    # Every round lost its cells to concurrent sign-ups: capacity may well
    # exist, so this is contention, not NoCapacity.
    raise unavailable("cell assignment")


def _place(
    store: RouterStore,
    user_key: str,
    market_id: str,
    cell: Cell,
    buffer: Any,
    threshold: Any,
    ttl: int,
    writer_check: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Try to place the user on ``cell``: their routing result, or ``None``
    when the cell cannot take them."""
    mapping = Mapping(
        user_key=user_key,
        market_id=market_id,
        cell_id=cell.cell_id,
        assigned_at=utc_timestamp(),
    )
    limit = placement.assignable_limit(cell.max_capacity, buffer)
    # Load after this sign-up at which the scaler must act; while the
    # snapshot says we stay under it, make the transaction prove it.
    due = placement.scale_out_count(cell.max_capacity, threshold)
    known_load = cell.current_capacity
    exact: int | None = None
    if known_load + 1 >= limit:
        exact = known_load  # the last slot, as far as we know: be exact
    below = due - 1 if exact is None and known_load + 1 < due else None
    result = store.assign(mapping, cell, limit, below, exact_load=exact, writer_check=writer_check)
    for _ in range(MAX_EXACT_RETRIES):
        if result.outcome is not AssignOutcome.STALE_LOAD or result.observed_capacity is None:
            break
        count(model.METRIC_STALE_LOAD_CORRECTED)
        known_load = result.observed_capacity
        result = store.assign(
            mapping, cell, limit, exact_load=known_load, writer_check=writer_check
        )
    if result.outcome is AssignOutcome.WRITER_MOVED:
        _writer_moved(store, market_id)
    if result.outcome is AssignOutcome.PLACED:
        count(model.METRIC_USER_ASSIGNED)
        emit(model.METRIC_SIGN_UP_PLACED, {model.MARKET_DIMENSION: market_id})
        cell_occupancy(market_id, cell.cell_id, known_load + 1, cell.max_capacity)
        logger.info("user assigned", extra={"marketId": market_id, "cellId": cell.cell_id})
        # At least one above the last load we know the cell had; when that is
        # below the scale-out point the transaction proved it.
        return routing_result(
            cell, ttl_seconds=ttl, new_assignment=True, current_capacity=known_load + 1
        )
    if result.outcome is AssignOutcome.ALREADY_MAPPED:
        already = _already_mapped(store, user_key, result.mapping, cell)
        if already is not None:
            return already
    if result.outcome is AssignOutcome.CELL_REJECTED and result.observed_cell is not None:
        _unlist_stale(store, [replace(result.observed_cell, listed=True)], buffer)
    return None


# -- slotted cells (issue #14) --------------------------------------------------


def _assign_slotted(
    store: RouterStore,
    user_key: str,
    market_id: str,
    buffer: Any,
    threshold: Any,
    ttl: int,
    cache: SnapshotCache | None = None,
) -> dict[str, Any]:
    """Place a new user on a slot of a cell drawn from this container's
    snapshot (see the module docstring). ``cache``: the container's
    snapshots (default ``SNAPSHOTS``; the contention model gives each
    simulated container its own)."""
    decision = writer_gate.enforce(store.read_writer, market_id)
    writer_check = writer_gate.condition_for(store.table_name, market_id, decision)
    snapshot = (cache or SNAPSHOTS).market(market_id)
    clock = store.deadline.clock
    for round_ in range(MAX_ROUNDS):
        if round_ > 0 or clock.now() - snapshot.taken_at >= SNAPSHOT_TTL_SECONDS:
            _refresh(store, snapshot, market_id, clock.now())
        excluded = snapshot.excluded(clock.now())
        for _ in range(MAX_ATTEMPTS_PER_QUERY):
            pick = slots.choose_slot(snapshot.cells, buffer, None, excluded, _rng)
            if pick is None:
                break
            cell = next(c for c in snapshot.cells if c.cell_id == pick[0])
            outcome = _place_slot(
                store,
                user_key,
                market_id,
                cell,
                pick[1],
                buffer,
                threshold,
                ttl,
                writer_check,
                snapshot,
            )
            if isinstance(outcome, dict):
                return outcome
            excluded.add(pick)
            count(model.METRIC_ASSIGNMENT_RETRY)
            if outcome == "full":
                snapshot.full[pick] = clock.now()
        if not snapshot.cells and snapshot.shards <= 1:
            break  # the market's one shard is empty: only the last look can tell
    return _last_look(store, snapshot, user_key, market_id, buffer, threshold, ttl, writer_check)


def _refresh(store: RouterStore, snapshot: MarketSnapshot, market_id: str, now: float) -> None:
    """One page: a random shard of the market's placeable index."""
    cold = snapshot.taken_at == -math.inf
    shard = _rng.randrange(max(1, snapshot.shards))
    cells = store.shard_cells(market_id, shard)
    snapshot.cells = cells
    snapshot.taken_at = now
    known = max((cell.shards for cell in cells), default=0)
    if known:
        snapshot.shards = known
    if cold and known > 1:
        # A cold container can only read shard 0 (it learns the shard count
        # there): use it for this sign-up, and draw a random shard for the
        # next, so cold starts do not all pile onto shard 0.
        snapshot.taken_at = now - SNAPSHOT_TTL_SECONDS


def _place_slot(
    store: RouterStore,
    user_key: str,
    market_id: str,
    cell: Cell,
    slot: int,
    buffer: Any,
    threshold: Any,
    ttl: int,
    writer_check: dict[str, Any] | None,
    snapshot: MarketSnapshot | None = None,
) -> dict[str, Any] | str:
    """Try slot ``slot`` of ``cell``: the routing result, or ``"full"``
    (full, unhealthy or gone) or ``"conflict"`` (another transaction held it)."""
    if cell.slots <= 1:
        # A one-slot cell is its own slot: today's transaction on the item.
        placed = _place(store, user_key, market_id, cell, buffer, threshold, ttl, writer_check)
        return placed if placed is not None else "full"
    limit = placement.assignable_limit(cell.max_capacity, buffer)
    due = placement.scale_out_count(cell.max_capacity, threshold)
    slot_limit = slots.slot_limits(limit, cell.slots)[slot]
    share = slots.slot_scale_out_count(due, slot_limit, limit)
    known = snapshot.slot_loads.get((cell.cell_id, slot)) if snapshot else None
    if known is None and cell.current_capacity >= due:
        # The roll-up says the cell is past its scale-out point: guess the
        # slot is too. A wrong guess only costs a failed condition, which
        # returns the slot's real load; the condition keeps the edge exact.
        known = share
    mapping = Mapping(user_key, market_id, cell.cell_id, utc_timestamp())
    result = store.assign_slot(mapping, cell, slot, share, known, writer_check)
    for _ in range(MAX_EXACT_RETRIES):
        if result.outcome is not AssignOutcome.STALE_LOAD or result.observed_capacity is None:
            break
        count(model.METRIC_STALE_LOAD_CORRECTED)
        known = result.observed_capacity
        result = store.assign_slot(mapping, cell, slot, share, known, writer_check)
    if snapshot is not None and known is not None:
        snapshot.slot_loads[(cell.cell_id, slot)] = known
    if result.outcome is AssignOutcome.WRITER_MOVED:
        _writer_moved(store, market_id)
    if result.outcome is AssignOutcome.PLACED:
        # Edge-triggered scale-out: only the sign-up that took the slot to
        # its share of the scale-out point reports the cell at the point.
        crossed = known is not None and known + 1 == share
        if snapshot is not None and known is not None:
            snapshot.slot_loads[(cell.cell_id, slot)] = known + 1
        estimate = cell.current_capacity + 1
        reported = max(due, estimate) if crossed else min(estimate, max(0, due - 1))
        count(model.METRIC_USER_ASSIGNED)
        emit(model.METRIC_SIGN_UP_PLACED, {model.MARKET_DIMENSION: market_id})
        cell_occupancy(market_id, cell.cell_id, estimate, cell.max_capacity)
        logger.info(
            "user assigned",
            extra={"marketId": market_id, "cellId": cell.cell_id, "slot": slot},
        )
        return routing_result(cell, ttl_seconds=ttl, new_assignment=True, current_capacity=reported)
    if result.outcome is AssignOutcome.ALREADY_MAPPED:
        already = _already_mapped(store, user_key, result.mapping, cell)
        if already is not None:
            return already
    if result.outcome is AssignOutcome.LOST_RACE:
        return "conflict"
    return "full"


def _last_look(
    store: RouterStore,
    snapshot: MarketSnapshot,
    user_key: str,
    market_id: str,
    buffer: Any,
    threshold: Any,
    ttl: int,
    writer_check: dict[str, Any] | None,
) -> dict[str, Any]:
    """Before any ``NoCapacity``: the market's cells and every slot, read
    strongly (a Query and a BatchGetItem), and each slot with room tried,
    with jittered backoff after a lost race, until one takes the user or
    each is found full (``NoCapacity``, the truth) or the deadline passes
    (``ServiceUnavailable``)."""
    cells = store.market_cells(market_id)
    snapshot.shards = max(snapshot.shards, slots.shard_count(len(cells)))
    by_id = {cell.cell_id: cell for cell in cells}
    free: list[tuple[str, int]] = []
    for loaded in store.read_slots(cells):
        cell = by_id[loaded.cell_id]
        if not (cell.healthy and cell.active):
            continue
        room = placement.is_placeable(cell, buffer) if cell.slots <= 1 else loaded.free
        if room:
            free.append((loaded.cell_id, loaded.slot))
            snapshot.slot_loads[(loaded.cell_id, loaded.slot)] = loaded.load
    clock = store.deadline.clock
    snapshot.full = {
        (cell.cell_id, k): clock.now()
        for cell in cells
        for k in range(cell.slots)
        if (cell.cell_id, k) not in free
    }
    attempt = 0
    while free:
        pick = _rng.choice(free)
        outcome = _place_slot(
            store,
            user_key,
            market_id,
            by_id[pick[0]],
            pick[1],
            buffer,
            threshold,
            ttl,
            writer_check,
            snapshot,
        )
        if isinstance(outcome, dict):
            return outcome
        if outcome == "full":
            free.remove(pick)
            snapshot.full[pick] = clock.now()
            continue
        wait = budget.backoff_seconds(attempt, _rng)
        if budget.call_timeouts(store.deadline.remaining() - wait) is None:
            # Room exists but every try lost its race: contention, not NoCapacity.
            raise unavailable("cell assignment")
        clock.sleep(wait)
        attempt += 1
    _refuse(store, market_id, cells)


def _writer_moved(store: RouterStore, market_id: str) -> None:
    """The cached writer decision is stale: decide again (raises WrongRegion
    or 503 while fencing); never place under an epoch we no longer hold."""
    writer_gate.forget(market_id)
    writer_gate.enforce(store.read_writer, market_id)
    raise ServiceUnavailable(
        f"the writer of market {market_id!r} changed during the sign-up; retry",
        retry_after_seconds=1,
    )


def _already_mapped(
    store: RouterStore, user_key: str, mapping: Mapping | None, cell: Cell
) -> dict[str, Any] | None:
    """A concurrent sign-up of the same user placed them first: their cell."""
    existing = mapping or store.get_mapping(user_key)
    if existing is None:
        return None
    logger.info("user was placed by a concurrent sign-up")
    known = cell if existing.cell_id == cell.cell_id else None
    mapped = known or store.get_cell(existing.market_id, existing.cell_id)
    return _existing(mapped) if mapped is not None else None


def _unlist_stale(store: RouterStore, cells: list[Cell], buffer: Any) -> None:
    """Take index entries that cannot take users out of the index (an
    out-of-band write left them there), so they stop costing every sign-up."""
    for cell in cells:
        if cell.listed and not placement.is_placeable(cell, buffer):
            limit = placement.assignable_limit(cell.max_capacity, buffer)
            if store.unlist_cell(cell, limit):
                count(model.METRIC_INDEX_REPAIRED)
                logger.info(
                    "unplaceable cell taken out of the index", extra={"cellId": cell.cell_id}
                )


def _refusal_path(store: RouterStore, market_id: str, buffer: Any) -> list[Cell]:
    """The consistent answer when the index offers no cell: the market's
    placeable cells (index entries repaired), else ``NoCapacity`` after
    requesting capacity, or ``UnknownMarket``."""
    cells = store.market_cells(market_id)
    placeable = [cell for cell in cells if placement.is_placeable(cell, buffer)]
    _unlist_stale(store, cells, buffer)
    for cell in placeable:
        if not cell.listed and store.list_cell(
            cell, placement.assignable_limit(cell.max_capacity, buffer)
        ):
            count(model.METRIC_INDEX_REPAIRED)
            logger.warning(
                "placeable cell was missing from the index", extra={"cellId": cell.cell_id}
            )
    if placeable:
        return placement.order_candidates(placeable, buffer, _rng)
    _refuse(store, market_id, cells)


def _refuse(store: RouterStore, market_id: str, cells: list[Cell]) -> NoReturn:
    """No cell of the market can take the user (``cells``: all of them, read
    consistently): ``UnknownMarket`` for a market with no cells that the
    router does not know, else ``NoCapacity`` after requesting capacity --
    unless the market already has ``MAX_CELLS_PER_MARKET`` cells, where the
    registrar would refuse the new cell (the scaler checks the same)."""
    if not cells and not _market_known(store, market_id):
        count(model.METRIC_UNKNOWN_MARKET)
        _refused(model.MARKET_WITHOUT_CELLS, UnknownMarket.__name__)
        raise UnknownMarket(_unknown_market_message(store, market_id))

    count(model.METRIC_NO_CAPACITY)
    healthy_cells = any(cell.healthy and cell.active for cell in cells)
    _refused(market_id if healthy_cells else model.MARKET_WITHOUT_CELLS, NoCapacity.__name__)
    healthy = sum(1 for cell in cells if cell.healthy and cell.active)
    logger.warning(
        "no placeable cell",
        extra={"marketId": market_id, "cells": len(cells), "healthyActiveCells": healthy},
    )
    cap = settings.max_cells_per_market()
    if cap is not None and len(cells) >= cap:
        # The registrar would refuse the cell: asking only costs the
        # provisioning layer a deployment (issue #10). Counted and alarmed.
        count(model.METRIC_CELL_LIMIT_REACHED)
        logger.warning(
            "market at its cell cap: no cell requested",
            extra={"marketId": market_id, "cells": len(cells), "cap": cap},
        )
        raise NoCapacity(
            f"no cell of market {market_id} can take a new user and the market has reached "
            f"its cap of {cap} cells; ask the operators to raise maxCellsPerMarket"
        )
    try:
        scaleout.request_capacity(
            store,
            market_id=market_id,
            queue_url=settings.provisioning_queue_url(),
            timing=timing(),
            reason=scaleout.REASON_NO_CAPACITY,
        )
    except (scaleout.ProvisioningFailure, ServiceUnavailable):
        # Counted and logged; the episode stays due for the sweeper.
        logger.warning("capacity request for a refused sign-up not sent yet")
    raise NoCapacity(
        f"no cell of market {market_id} can take a new user; a new cell has been "
        "requested, retry in a few minutes"
    )


def _refused(market_dimension: str, reason: str) -> None:
    """``SignUpRefused`` per market and reason. A market with no healthy,
    active cell is reported as ``MARKET_WITHOUT_CELLS``: its name may be
    only the caller's input and must not mint a metric."""
    emit(
        model.METRIC_SIGN_UP_REFUSED,
        {model.MARKET_DIMENSION: market_dimension, model.REASON_DIMENSION: reason},
    )


def _market_known(store: RouterStore, market_id: str) -> bool:
    return market_id == settings.default_market() or store.market_known(market_id)


def _unknown_market_message(store: RouterStore, market_id: str) -> str:
    known = {settings.default_market(), *store.known_markets()}
    near = sorted(name for name in known if name.lower() == market_id.lower())
    hint = f"; market ids are case-sensitive: did you mean {near[0]!r}?" if near else ""
    return f"market {market_id!r} is not served by this router{hint}"
