"""``/mapper``: the caller's own cell, in the dispatcher's shape.

The identity is the token's subject (``event["userId"]``, see ``identity``);
a body cannot name another user, so nobody reads a mapping but their own.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import caller_cell, input_parsing, model, settings
from handlers.cell_router.budget import Deadline
from handlers.cell_router.model import routing_result
from handlers.cell_router.observability import count, instrument_handler, logger
from handlers.cell_router.store import RouterStore


@instrument_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = input_parsing.parse_router_request(event)
    ttl = settings.endpoint_ttl_seconds()
    store = RouterStore(settings.table_name(), deadline=Deadline.from_context(context))
    logger.append_keys(userHash=request.caller.user_key)

    mapping = caller_cell.require_mapping(store, request.caller.user_key)
    # Slotted cells (issue #14): known users take the cell from the
    # container's cache, 1 round trip warm instead of 2.
    cell = caller_cell.require_cell(store, mapping, cached=settings.slots_per_cell() > 1)
    count(model.METRIC_MAPPING_RETURNED)
    return routing_result(cell, ttl_seconds=ttl, new_assignment=False)
