"""The cell router's observability: the house shape
(:class:`handlers.common.observability.Observability`) for service
``cell-router``, and the router's own metric helpers.

The service name and metrics namespace come from the standard Powertools
environment (``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE``),
which the component sets; the defaults only matter for local runs. Every
entry point is decorated with :func:`instrument_handler`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.cell_router import model
from handlers.cell_router.errors import (
    InvalidRequest,
    NoCapacity,
    ProvisioningUnavailable,
    ServiceUnavailable,
    UnknownMarket,
    UserNotFound,
    WrongRegion,
)
from handlers.cell_router.model import (
    METRIC_DANGLING_MAPPING_REPAIRED,
    METRIC_INDEX_REPAIRED,
    METRIC_NO_CAPACITY,
    METRIC_SERVICE_UNAVAILABLE,
    METRIC_UNEXPECTED_ERROR,
    METRIC_UNKNOWN_MARKET,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)
from handlers.common.observability import Observability, namespace_from_environment

__all__ = [
    "METRIC_DANGLING_MAPPING_REPAIRED",
    "METRIC_INDEX_REPAIRED",
    "METRIC_NO_CAPACITY",
    "METRIC_SERVICE_UNAVAILABLE",
    "METRIC_UNEXPECTED_ERROR",
    "METRIC_UNKNOWN_MARKET",
    "cell_occupancy",
    "count",
    "emit",
    "instrument_handler",
    "logger",
    "metrics",
    "tracer",
]

#: Errors that are answers to the caller (or counted where raised), not
#: crashes: everything else is counted as ``UnexpectedError``.
ANSWERS: tuple[type[Exception], ...] = (
    InvalidRequest,
    UserNotFound,
    NoCapacity,
    UnknownMarket,
    WrongRegion,
    ServiceUnavailable,
    ProvisioningUnavailable,
)

OBSERVABILITY = Observability(
    default_service=SERVICE_NAME, namespace=namespace_from_environment(METRICS_NAMESPACE)
)
SERVICE = OBSERVABILITY.service
logger = OBSERVABILITY.logger
metrics = OBSERVABILITY.metrics
tracer = OBSERVABILITY.tracer
count = OBSERVABILITY.count


def emit(
    name: str, dimensions: dict[str, str], value: float = 1, unit: MetricUnit = MetricUnit.Count
) -> None:
    """One data point with its own dimensions besides ``service`` (the
    handler-wide ``metrics`` has only ``service``), written at once."""
    OBSERVABILITY.emit(name, dimensions, value, unit)


def cell_occupancy(market_id: str, cell_id: str, users: int, max_capacity: int) -> None:
    """``CellOccupancy``: users as a percentage of ``maxCapacity``, per cell."""
    percent = 100.0 * users / max_capacity if max_capacity > 0 else 0.0
    emit(
        model.METRIC_CELL_OCCUPANCY,
        {model.MARKET_DIMENSION: market_id, model.CELL_DIMENSION: cell_id},
        round(percent, 2),
        MetricUnit.Percent,
    )


def instrument_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The house decorator for a cell router entry point (logger context,
    tracing, metric flushing), which also counts ``ServiceUnavailable``
    answers and unexpected errors."""
    return OBSERVABILITY.instrument_handler(handler, on_error=_count_failure)


def _count_failure(error: Exception) -> None:
    if isinstance(error, ServiceUnavailable):
        count(model.METRIC_SERVICE_UNAVAILABLE)
        logger.warning("answered ServiceUnavailable: AWS kept failing until the deadline")
    elif not isinstance(error, ANSWERS):
        # ConfigurationError included: a broken setting is an incident.
        count(model.METRIC_UNEXPECTED_ERROR)
        logger.exception("unexpected error", extra={"errorType": type(error).__name__})
