"""``/validate``: are the caller's cached endpoints still right, and is the
cell serving? Judged against the caller's own mapping only.

``valid``: the cached ``cellId`` is the mapped cell and the two cached URLs
are the cell's current endpoints, in either order (see ``cached_endpoints``).
``healthy``: the cell is ``IsHealthy`` and ``ACTIVE`` and, with
``VALIDATOR_DEEP_CHECK``, every current endpoint answers an HTTPS GET with
2xx/3xx (``endpoint_probe``: endpoints re-checked against ``CELL_ENDPOINT_DOMAINS``
and public addresses, one total deadline). ``cellId`` and ``endpoints`` in
the result are the current truth.

The probes' deadline is ``VALIDATOR_TIMEOUT_SECONDS``, cut short so that
``PROBE_RESERVE_SECONDS`` of the invocation's remaining time is left to
answer: a slow cell is reported unhealthy with remediation, never a timeout.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import (
    cached_endpoints,
    caller_cell,
    endpoint_probe,
    input_parsing,
    model,
    settings,
)
from handlers.cell_router.observability import count, instrument_handler, logger
from handlers.cell_router.store import RouterStore

#: Time kept back from the probes for writing the answer (seconds).
PROBE_RESERVE_SECONDS = 0.5


def probe_budget(timeout_seconds: float, context: object) -> float:
    """Seconds the probes may take: the configured timeout, or less when the
    invocation has less time left (``get_remaining_time_in_millis``)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return timeout_seconds
    return max(0.0, min(timeout_seconds, remaining() / 1000 - PROBE_RESERVE_SECONDS))


@instrument_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = input_parsing.parse_router_request(event)
    cached = input_parsing.parse_cached_endpoints(request.body)
    deep_check = settings.validator_deep_check()
    timeout = settings.validator_timeout_seconds()
    domains = settings.cell_endpoint_domains()
    texts = cached_endpoints.RemediationTexts(
        support_contact=settings.support_contact(),
        incident_notice=settings.incident_notice(),
        expected_wait_minutes=settings.expected_wait_minutes(),
    )
    store = RouterStore(settings.table_name())
    logger.append_keys(userHash=request.caller.user_key)

    mapping = caller_cell.require_mapping(store, request.caller.user_key)
    cell = store.get_cell(mapping.market_id, mapping.cell_id)

    valid = cached_endpoints.cache_is_valid(cached.cell_id, cached.urls, cell)
    healthy = cell is not None and cell.healthy and cell.active
    endpoint_up: dict[str, bool] | None = None
    if healthy and deep_check and cell is not None:
        deadline = endpoint_probe.ProbeDeadline.after(probe_budget(timeout, context))
        results = endpoint_probe.probe_all_results(
            [endpoint.url for endpoint in cell.endpoints], deadline, domains
        )
        endpoint_up = {url: result.up for url, result in results.items()}
        healthy = bool(endpoint_up) and all(endpoint_up.values())
        for url, result in results.items():
            if not result.up:
                if result.reason.startswith("refused"):
                    count(model.METRIC_ENDPOINT_REFUSED)
                else:
                    count(model.METRIC_ENDPOINT_DOWN)
                logger.warning(
                    "cell endpoint down",
                    extra={
                        "cellId": cell.cell_id,
                        "endpoint": [e.url for e in cell.endpoints].index(url) + 1,
                        "reason": result.reason,
                    },
                )

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
        "remediation": cached_endpoints.remediation(
            valid=valid, healthy=healthy, cell=cell, texts=texts, endpoint_up=endpoint_up
        ),
    }
