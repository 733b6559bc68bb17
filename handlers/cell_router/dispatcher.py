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
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import input_parsing, model, placement, scaleout, settings, writer_gate
from handlers.cell_router.budget import Deadline, unavailable
from handlers.cell_router.errors import NoCapacity, ServiceUnavailable, UnknownMarket
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

_rng = random.SystemRandom()


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

    mapping = store.get_mapping(user_key)
    if mapping is not None:
        cell = store.get_cell(mapping.market_id, mapping.cell_id)
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
    return _assign(store, user_key, market_id, buffer, threshold, ttl)


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
        # The cached decision is stale: decide again (raises WrongRegion or
        # 503 while fencing); never place under an epoch we no longer hold.
        writer_gate.forget(market_id)
        writer_gate.enforce(store.read_writer, market_id)
        raise ServiceUnavailable(
            f"the writer of market {market_id!r} changed during the sign-up; retry",
            retry_after_seconds=1,
        )
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
        existing = result.mapping or store.get_mapping(user_key)
        if existing is not None:
            logger.info("user was placed by a concurrent sign-up")
            known = cell if existing.cell_id == cell.cell_id else None
            mapped = known or store.get_cell(existing.market_id, existing.cell_id)
            if mapped is not None:
                return _existing(mapped)
    if result.outcome is AssignOutcome.CELL_REJECTED and result.observed_cell is not None:
        _unlist_stale(store, [replace(result.observed_cell, listed=True)], buffer)
    return None


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
