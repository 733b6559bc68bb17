"""Scaler: after a new assignment, ask for a new cell once the cell is busy.

At most one ``CellRequested`` message per market per scale-out episode: the
episode is opened with a conditional write on the market's marker item and
only the writer that opened it sends. The registrar ends the episode when the
new cell is ready; an episode open longer than
``SCALE_OUT_EPISODE_TIMEOUT_SECONDS`` is taken over (its request was lost).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from handlers.cell_router import aws_clients, events, model, placement, settings, validation
from handlers.cell_router.errors import ProvisioningUnavailable
from handlers.cell_router.model import utc_timestamp
from handlers.cell_router.observability import count, lambda_handler, logger
from handlers.cell_router.store import RouterStore


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, bool]:
    request = validation.parse_scale_request(event)
    if not request.new_assignment:
        return {"provisioningRequested": False}

    threshold = settings.scale_out_threshold()
    store = RouterStore(settings.table_name())
    current, maximum = request.current_capacity, request.max_capacity
    if current is None or maximum is None:
        cell = store.get_cell(request.market_id, request.cell_id)
        if cell is None:
            logger.warning("cell to check is missing", extra={"cellId": request.cell_id})
            return {"provisioningRequested": False}
        current, maximum = cell.current_capacity, cell.max_capacity
    if not placement.scale_out_due(current, maximum, threshold):
        return {"provisioningRequested": False}

    queue_url = settings.provisioning_queue_url()
    now = time.time()
    requested_at = utc_timestamp(now)
    episode_id = uuid.uuid4().hex
    opened = store.open_episode(
        market_id=request.market_id,
        episode_id=episode_id,
        triggering_cell_id=request.cell_id,
        opened_at=requested_at,
        opened_at_epoch=int(now),
        stale_before_epoch=int(now) - settings.scale_out_episode_timeout_seconds(),
    )
    if not opened:
        count(model.METRIC_SCALE_OUT_DEDUPLICATED)
        return {"provisioningRequested": False}

    message = events.cell_requested_message(
        market_id=request.market_id,
        episode_id=episode_id,
        triggering_cell_id=request.cell_id,
        current_capacity=current,
        max_capacity=maximum,
        requested_at=requested_at,
    )
    try:
        aws_clients.sqs().send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(message),
            MessageAttributes={
                "type": {"DataType": "String", "StringValue": events.CELL_REQUESTED_TYPE},
                "marketId": {"DataType": "String", "StringValue": request.market_id},
            },
        )
    except (ClientError, BotoCoreError) as error:
        count(model.METRIC_PROVISIONING_FAILED)
        logger.exception("provisioning request not sent", extra={"episodeId": episode_id})
        # Release so the next sign-up past the threshold asks again. If even
        # that fails, the episode times out and is taken over later.
        try:
            store.release_episode(request.market_id, episode_id)
        except (ClientError, BotoCoreError):
            logger.exception("scale-out episode not released", extra={"episodeId": episode_id})
        raise ProvisioningUnavailable(
            f"could not request a new cell for market {request.market_id}"
        ) from error

    count(model.METRIC_PROVISIONING_REQUESTED)
    logger.info(
        "new cell requested",
        extra={"marketId": request.market_id, "episodeId": episode_id, "cellId": request.cell_id},
    )
    return {"provisioningRequested": True}
