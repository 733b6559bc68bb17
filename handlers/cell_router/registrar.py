"""Registrar: records a cell the provisioning layer reports ready.

Consumes the ``CellReady`` event from the stack's own provisioning bus
(``events``; only the principals named in ``provisioningPrincipals`` may put
events there, and the rule matches this account and router only). The cell is
created if absent, or its provisioning-owned attributes are refreshed by a
newer ``revision``; operator-owned state (``IsHealthy``, ``status``) is never
touched and a replay changes nothing (``registration``). Endpoints must pass
``endpoint_policy`` against ``CELL_ENDPOINT_DOMAINS``. The market's open
scale-out episode is ended (the named one, or -- for an event without
``episodeId`` -- whichever is open, but only when this event created the cell),
so the next threshold crossing asks for another cell. Invalid events raise
``InvalidRequest`` before any write.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import aws_clients, input_parsing, model, settings
from handlers.cell_router.errors import CellLimitReached
from handlers.cell_router.model import utc_timestamp
from handlers.cell_router.observability import cell_occupancy, count, instrument_handler, logger
from handlers.cell_router.registration import Registration, register_cell
from handlers.cell_router.store import RouterStore


@instrument_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ready = input_parsing.parse_cell_ready(
        event, settings.cell_endpoint_domains(), settings.cell_ready_router_id()
    )
    table = settings.table_name()
    max_cells = settings.max_cells_per_market()
    slot_count = settings.slots_per_cell()
    store = RouterStore(table)
    now = utc_timestamp()

    # Cell first: once the episode is closed, the new cell must already be
    # there for sign-ups to land on.
    try:
        outcome = register_cell(
            aws_clients.dynamodb(),
            table,
            ready,
            now,
            max_cells,
            slot_count=slot_count,
            buffer=settings.capacity_buffer(),
        )
    except CellLimitReached:
        count(model.METRIC_CELL_LIMIT_REACHED)
        logger.error(
            "market is at its cell cap",
            extra={"marketId": ready.market_id, "cellId": ready.cell_id, "cap": max_cells},
        )
        raise
    created = outcome is Registration.CREATED
    if created and slot_count > 1:
        # The sweeper rolls up the slots of every known market's cells.
        store.remember_market(ready.market_id, now)
    episode_closed = False
    if ready.episode_id is not None or created:
        episode_closed = store.close_episode(ready.market_id, ready.episode_id, ready.cell_id, now)
    if outcome is Registration.UNCHANGED:
        count(model.METRIC_CELL_READY_UNCHANGED)
    else:
        count(model.METRIC_CELL_REGISTERED)
    if created:  # a refreshed cell keeps its users; its load did not change here
        cell_occupancy(ready.market_id, ready.cell_id, 0, ready.max_capacity)
    logger.info(
        "cell registered" if outcome is not Registration.UNCHANGED else "cell ready ignored",
        extra={
            "marketId": ready.market_id,
            "cellId": ready.cell_id,
            "registration": outcome.value,
            "revision": ready.revision,
            "episodeClosed": episode_closed,
        },
    )
    return {
        "marketId": ready.market_id,
        "cellId": ready.cell_id,
        "created": created,
        "episodeClosed": episode_closed,
    }
