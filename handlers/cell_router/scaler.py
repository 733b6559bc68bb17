"""Scaler: after a new assignment, ask for a new cell once the cell is busy.

At most one open scale-out episode per market (``scaleout``): the episode is
opened with a conditional write on the market's episode item and only the
caller that opened it sends; the registrar ends the episode when the new
cell is ready. The request is durable: a send that fails leaves the episode
open and unsent, and it is resent (same ``episodeId``) by the next caller
that finds it due or by the scheduled sweeper -- never silently dropped.

Every AWS call fits in the time the invocation has left (``budget``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import (
    input_parsing,
    model,
    placement,
    scaleout,
    settings,
)
from handlers.cell_router.budget import Deadline
from handlers.cell_router.errors import ProvisioningUnavailable
from handlers.cell_router.observability import count, instrument_handler, logger
from handlers.cell_router.store import RouterStore


def timing() -> scaleout.Timing:
    """When an open episode is due for a resend, from the environment."""
    return scaleout.Timing(
        unsent_after=settings.scale_out_resend_seconds(),
        stale_after=settings.scale_out_episode_timeout_seconds(),
    )


def _market_at_cap(store: RouterStore, market_id: str) -> bool:
    """``MAX_CELLS_PER_MARKET`` reached: asking for a cell the registrar
    would refuse only costs the provisioning layer a deployment (issue #10).
    One Query, only when a scale-out is due, through the store: throttles
    are retried within the deadline and answered ``ServiceUnavailable``."""
    cap = settings.max_cells_per_market()
    if cap is None:
        return False
    cells = store.market_cell_count(market_id)
    if cells < cap:
        return False
    count(model.METRIC_CELL_LIMIT_REACHED)
    logger.warning("market at its cell cap: no cell requested", extra={"marketId": market_id})
    return True


@instrument_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, bool]:
    request = input_parsing.parse_scale_request(event)
    if not request.new_assignment:
        return {"provisioningRequested": False}

    threshold = settings.scale_out_threshold()
    store = RouterStore(settings.table_name(), deadline=Deadline.from_context(context))
    current, maximum = request.current_capacity, request.max_capacity
    if current is None or maximum is None:
        cell = store.get_cell(request.market_id, request.cell_id)
        if cell is None:
            logger.warning("cell to check is missing", extra={"cellId": request.cell_id})
            return {"provisioningRequested": False}
        current, maximum = cell.current_capacity, cell.max_capacity
    if not placement.scale_out_due(current, maximum, threshold):
        return {"provisioningRequested": False}

    if _market_at_cap(store, request.market_id):
        return {"provisioningRequested": False}
    try:
        outcome = scaleout.request_capacity(
            store,
            market_id=request.market_id,
            queue_url=settings.provisioning_queue_url(),
            timing=timing(),
            reason=scaleout.REASON_THRESHOLD,
            triggering_cell_id=request.cell_id,
            trigger_load=(current, maximum),
        )
    except scaleout.ProvisioningFailure as error:
        raise ProvisioningUnavailable(str(error)) from error
    if outcome.sent:
        logger.info(
            "new cell requested",
            extra={
                "marketId": request.market_id,
                "episodeId": outcome.episode_id,
                "cellId": request.cell_id,
                "resent": outcome.resent,
            },
        )
    return {"provisioningRequested": outcome.sent}
