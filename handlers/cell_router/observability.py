"""Powertools logger, metrics and tracer shared by every cell router handler.

The service name and metrics namespace come from the standard Powertools
environment (``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE``),
which the component sets; the defaults only matter for local runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from handlers.cell_router import model
from handlers.cell_router.model import METRICS_NAMESPACE, SERVICE_NAME

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME)

logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE),
    service=SERVICE,
)
tracer = Tracer(service=SERVICE)


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


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
    """Logger context, tracing and metric flushing, the same for every handler."""
    handler = metrics.log_metrics(raise_on_empty_metrics=False)(handler)
    handler = tracer.capture_lambda_handler(capture_response=False)(handler)
    return logger.inject_lambda_context(clear_state=True)(handler)
