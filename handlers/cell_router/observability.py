"""Powertools logger, metrics and tracer shared by every cell router handler.

The service name and metrics namespace come from the standard Powertools
environment (``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE``),
which the component sets; the defaults only matter for local runs.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from handlers.cell_router.errors import ServiceUnavailable
from handlers.cell_router.model import METRICS_NAMESPACE, SERVICE_NAME

#: Metric names the alarms and the dashboard read (namespace METRICS_NAMESPACE,
#: dimension ``service``). Scale-out metrics are in ``scaleout``.
METRIC_NO_CAPACITY = "NoCapacity"
METRIC_UNKNOWN_MARKET = "UnknownMarket"
METRIC_SERVICE_UNAVAILABLE = "ServiceUnavailable"
METRIC_INDEX_REPAIRED = "PlaceableIndexRepaired"
METRIC_DANGLING_MAPPING_REPAIRED = "DanglingMappingRepaired"

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME)

logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE),
    service=SERVICE,
)
tracer = Tracer(service=SERVICE)


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def lambda_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Logger context, tracing and metric flushing, the same for every handler;
    a ``ServiceUnavailable`` answer is counted."""
    handler = _count_unavailable(handler)
    handler = metrics.log_metrics(raise_on_empty_metrics=False)(handler)
    handler = tracer.capture_lambda_handler(capture_response=False)(handler)
    return logger.inject_lambda_context(clear_state=True)(handler)


def _count_unavailable(handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def counted(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except ServiceUnavailable:
            count(METRIC_SERVICE_UNAVAILABLE)
            logger.warning("answered ServiceUnavailable: AWS kept failing until the deadline")
            raise

    return counted
