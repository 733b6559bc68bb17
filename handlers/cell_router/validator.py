"""``/validate``: are the caller's cached endpoints still right, and is the
cell serving? Judged against the caller's own mapping only.

``valid``: the cached ``cellId`` is the mapped cell and the two cached URLs
are the cell's current endpoints, in either order (see ``endpoint_check``).
``healthy``: the cell is ``IsHealthy`` and ``ACTIVE`` and, with
``VALIDATOR_DEEP_CHECK``, every current endpoint answers an HTTP GET with
2xx/3xx. ``cellId`` and ``endpoints`` in the result are the current truth.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import endpoint_check, lookup, model, probe, settings, validation
from handlers.cell_router.observability import count, lambda_handler, logger
from handlers.cell_router.store import RouterStore


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validation.parse_router_request(event)
    cached = validation.parse_cached_endpoints(request.body)
    deep_check = settings.validator_deep_check()
    timeout = settings.validator_timeout_seconds()
    texts = endpoint_check.RemediationTexts(
        support_contact=settings.support_contact(),
        incident_notice=settings.incident_notice(),
        expected_wait_minutes=settings.expected_wait_minutes(),
    )
    store = RouterStore(settings.table_name())
    logger.append_keys(userHash=request.caller.user_key)

    mapping = lookup.require_mapping(store, request.caller.user_key)
    cell = store.get_cell(mapping.market_id, mapping.cell_id)

    valid = endpoint_check.cache_is_valid(cached.cell_id, cached.urls, cell)
    healthy = cell is not None and cell.healthy and cell.active
    endpoint_up: dict[str, bool] | None = None
    if healthy and deep_check and cell is not None:
        endpoint_up = probe.probe_all([endpoint.url for endpoint in cell.endpoints], timeout)
        healthy = bool(endpoint_up) and all(endpoint_up.values())

    count(model.METRIC_ENDPOINTS_VALIDATED)
    if not valid:
        count(model.METRIC_CACHED_ENDPOINTS_STALE)
    if not healthy:
        count(model.METRIC_CELL_UNHEALTHY)
    logger.info(
        "cached endpoints checked",
        extra={"cellId": mapping.cell_id, "valid": valid, "healthy": healthy},
    )
    return {
        "cellId": mapping.cell_id,
        "valid": valid,
        "healthy": healthy,
        "endpoints": [endpoint.as_dict() for endpoint in cell.endpoints] if cell else [],
        "remediation": endpoint_check.remediation(
            valid=valid, healthy=healthy, cell=cell, texts=texts, endpoint_up=endpoint_up
        ),
    }
