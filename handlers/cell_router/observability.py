"""Powertools logger, metrics and tracer shared by every cell router handler.

The service name and metrics namespace come from the standard Powertools
environment (``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE``),
which the component sets; the defaults only matter for local runs.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

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
    "lambda_handler",
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

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME)

logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE),
    service=SERVICE,
)
tracer = Tracer(service=SERVICE)


#: Powertools' metric set is one per process and not thread-safe. Lambda runs
#: one invocation per process at a time (the lock is then uncontended); the
#: tests and the drill run many at once in one process.
_metrics_lock = threading.Lock()


def count(name: str, value: int = 1) -> None:
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _flush_metrics(handler: Callable[..., Any]) -> Callable[..., Any]:
    """What ``metrics.log_metrics`` does (flush after every invocation, even
    a failed one; no error when none were recorded), under the lock."""

    @functools.wraps(handler)
    def flushed(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            with _metrics_lock:
                if metrics.metric_set:
                    metrics.flush_metrics()

    return flushed


def emit(
    name: str, dimensions: dict[str, str], value: float = 1, unit: MetricUnit = MetricUnit.Count
) -> None:
    """One data point with its own dimensions besides ``service`` (the
    handler-wide ``metrics`` has only ``service``), written at once."""
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=metrics.namespace,
        default_dimensions={model.SERVICE_DIMENSION: SERVICE},
    ) as metric:
        for key, dimension_value in dimensions.items():
            metric.add_dimension(name=key, value=dimension_value)


def cell_occupancy(market_id: str, cell_id: str, users: int, max_capacity: int) -> None:
    """``CellOccupancy``: users as a percentage of ``maxCapacity``, per cell."""
    percent = 100.0 * users / max_capacity if max_capacity > 0 else 0.0
    emit(
        model.METRIC_CELL_OCCUPANCY,
        {model.MARKET_DIMENSION: market_id, model.CELL_DIMENSION: cell_id},
        round(percent, 2),
        MetricUnit.Percent,
    )


def lambda_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Logger context, tracing and metric flushing, the same for every handler;
    ``ServiceUnavailable`` answers and unexpected errors are counted."""
    handler = _count_failures(handler)
    handler = _flush_metrics(handler)
    handler = tracer.capture_lambda_handler(capture_response=False)(handler)
    return logger.inject_lambda_context(clear_state=True)(handler)


def _count_failures(handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def counted(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except ServiceUnavailable:
            count(model.METRIC_SERVICE_UNAVAILABLE)
            logger.warning("answered ServiceUnavailable: AWS kept failing until the deadline")
            raise
        except ANSWERS:
            raise
        except Exception as error:
            # ConfigurationError included: a broken setting is an incident.
            count(model.METRIC_UNEXPECTED_ERROR)
            logger.exception("unexpected error", extra={"errorType": type(error).__name__})
            raise

    return counted
