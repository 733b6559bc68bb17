"""``/mapper``: the caller's own cell, in the dispatcher's shape.

The identity is the token's email claim (``event["email"]``); a body cannot
name another user, so nobody reads a mapping but their own.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import settings, validation
from handlers.cell_router.errors import CellUnavailable, UserNotFound
from handlers.cell_router.model import routing_result
from handlers.cell_router.observability import count, logger, metrics, tracer
from handlers.cell_router.store import RouterStore


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validation.parse_router_request(event)
    ttl = settings.endpoint_ttl_seconds()
    store = RouterStore(settings.table_name())
    logger.append_keys(userHash=request.caller.user_key)

    mapping = store.get_mapping(request.caller.user_key)
    if mapping is None:
        count("UserNotFound")
        raise UserNotFound("you have no cell yet; sign up through /cells")
    cell = store.get_cell(mapping.market_id, mapping.cell_id)
    if cell is None:
        logger.error("mapped cell is missing", extra={"cellId": mapping.cell_id})
        raise CellUnavailable(f"cell {mapping.cell_id} of your mapping no longer exists")
    count("MappingReturned")
    return routing_result(cell, ttl_seconds=ttl, new_assignment=False)
