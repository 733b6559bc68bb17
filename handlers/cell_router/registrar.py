"""Registrar: records a cell the provisioning layer reports ready.

Consumes the EventBridge ``CellReady`` event (``events``), creates or
refreshes the cell item (healthy, ACTIVE, existing user count kept) and ends
the market's open scale-out episode, so the next threshold crossing asks for
another cell. Invalid events raise ``InvalidRequest`` before any write.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import model, settings, validation
from handlers.cell_router.model import utc_timestamp
from handlers.cell_router.observability import cell_occupancy, count, lambda_handler, logger
from handlers.cell_router.store import RouterStore


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ready = validation.parse_cell_ready(event)
    store = RouterStore(settings.table_name())
    now = utc_timestamp()

    # Cell first: once the episode is closed, the new cell must already be
    # there for sign-ups to land on.
    created = store.upsert_cell(ready, now)
    episode_closed = store.close_episode(ready.market_id, ready.episode_id, ready.cell_id, now)
    count(model.METRIC_CELL_REGISTERED)
    if created:  # a refreshed cell keeps its users; its load did not change here
        cell_occupancy(ready.market_id, ready.cell_id, 0, ready.max_capacity)
    logger.info(
        "cell registered",
        extra={
            "marketId": ready.market_id,
            "cellId": ready.cell_id,
            "cellCreated": created,
            "episodeClosed": episode_closed,
        },
    )
    return {
        "marketId": ready.market_id,
        "cellId": ready.cell_id,
        "created": created,
        "episodeClosed": episode_closed,
    }
