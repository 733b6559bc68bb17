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
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import lookup, model, placement, settings, validation
from handlers.cell_router.errors import NoCapacity
from handlers.cell_router.model import Cell, Mapping, routing_result, utc_timestamp
from handlers.cell_router.observability import cell_occupancy, count, emit, lambda_handler, logger
from handlers.cell_router.store import AssignOutcome, RouterStore

#: Transactions tried per candidate list before re-reading the index.
MAX_ATTEMPTS_PER_QUERY = 5
#: Index reads per sign-up: the first, plus one re-read after lost races.
MAX_QUERIES = 2

_rng = random.SystemRandom()


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validation.parse_router_request(event)
    market_id = validation.market_id(request.body, settings.default_market())
    buffer = settings.capacity_buffer()
    threshold = settings.scale_out_threshold()
    ttl = settings.endpoint_ttl_seconds()
    store = RouterStore(settings.table_name())
    user_key = request.caller.user_key
    logger.append_keys(userHash=user_key)

    mapping = store.get_mapping(user_key)
    if mapping is not None:
        return _existing(store, mapping, ttl)
    return _assign(store, user_key, market_id, buffer, threshold, ttl)


def _existing(
    store: RouterStore, mapping: Mapping, ttl: int, cell: Cell | None = None
) -> dict[str, Any]:
    """A placed user keeps their cell, whatever market the body names."""
    cell = lookup.require_cell(store, mapping, known=cell)
    count(model.METRIC_USER_KNOWN)
    return routing_result(
        cell, ttl_seconds=ttl, new_assignment=False, current_capacity=cell.current_capacity
    )


def _assign(
    store: RouterStore, user_key: str, market_id: str, buffer: Any, threshold: Any, ttl: int
) -> dict[str, Any]:
    def has_placeable(cells: list[Cell]) -> bool:
        return any(placement.is_placeable(cell, buffer) for cell in cells)

    market_has_cells = False
    for _ in range(MAX_QUERIES):
        cells = store.least_loaded_cells(market_id, has_placeable)
        market_has_cells = market_has_cells or bool(cells)
        candidates = placement.order_candidates(cells, buffer, _rng)
        if not candidates:
            break
        for cell in candidates[:MAX_ATTEMPTS_PER_QUERY]:
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
            below = due - 1 if known_load + 1 < due else None
            result = store.assign(mapping, cell, limit, below)
            if result.outcome is AssignOutcome.BUSIER_THAN_READ:
                count(model.METRIC_STALE_LOAD_CORRECTED)
                known_load = result.observed_capacity or known_load
                result = store.assign(mapping, cell, limit)
            if result.outcome is AssignOutcome.PLACED:
                count(model.METRIC_USER_ASSIGNED)
                emit(model.METRIC_SIGN_UP_PLACED, {model.MARKET_DIMENSION: market_id})
                cell_occupancy(market_id, cell.cell_id, known_load + 1, cell.max_capacity)
                logger.info("user assigned", extra={"marketId": market_id, "cellId": cell.cell_id})
                # At least one above the last load we know the cell had; when
                # that is below the scale-out point the transaction proved it.
                return routing_result(
                    cell,
                    ttl_seconds=ttl,
                    new_assignment=True,
                    current_capacity=known_load + 1,
                )
            if result.outcome in (AssignOutcome.ALREADY_MAPPED, AssignOutcome.MAPPING_CONFLICT):
                existing = result.mapping or store.get_mapping(user_key)
                if existing is not None:
                    logger.info("user was placed by a concurrent sign-up")
                    return _existing(store, existing, ttl, cell)
            count(model.METRIC_ASSIGNMENT_RETRY)
            logger.info("cell rejected the assignment", extra={"cellId": cell.cell_id})

    count(model.METRIC_NO_CAPACITY)
    emit(
        model.METRIC_SIGN_UP_REFUSED,
        {
            model.MARKET_DIMENSION: market_id if market_has_cells else model.MARKET_WITHOUT_CELLS,
            model.REASON_DIMENSION: NoCapacity.__name__,
        },
    )
    logger.warning("no placeable cell", extra={"marketId": market_id})
    raise NoCapacity(f"no cell of market {market_id} can take a new user")
