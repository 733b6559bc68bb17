"""The one observability shape of every function: Powertools Logger, Metrics
and Tracer for one service, and the decorator for its entry point.

Each handler module builds one :class:`Observability` at import time (as
Lambda runs it: once per container) and decorates its entry point with
:meth:`Observability.instrument_handler`::

    observability = Observability(default_service="lex-dr-get-region", namespace=NAMESPACE)

    @observability.instrument_handler
    def handler(event, context): ...

- **Service name**: ``POWERTOOLS_SERVICE_NAME``, which ``components.function``
  sets to the function's service; ``default_service`` only matters for local
  runs without it. It is the ``service`` log key and metric dimension, so the
  alarms' dimension values and the functions' environment name the same one.
- **Namespace**: the caller's. A family whose alarms read a fixed namespace
  passes that constant; one that follows the environment passes
  :func:`namespace_from_environment`.
- Powertools comes from the public layer in Lambda (``components.function``)
  and from ``requirements-dev.txt`` in tests and the drill.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

#: The standard Powertools variables the shape reads.
SERVICE_NAME_VARIABLE = "POWERTOOLS_SERVICE_NAME"
METRICS_NAMESPACE_VARIABLE = "POWERTOOLS_METRICS_NAMESPACE"

#: The dimension Powertools adds to every metric (the service name).
SERVICE_DIMENSION = "service"

Handler = Callable[[Any, Any], Any]

#: Powertools' metric set is one per process and not thread-safe. Lambda runs
#: one invocation per process at a time (the lock is then uncontended); the
#: tests and the drill run many at once in one process.
_metrics_lock = threading.Lock()


def service_name(default: str) -> str:
    """``POWERTOOLS_SERVICE_NAME``, else ``default``."""
    return os.environ.get(SERVICE_NAME_VARIABLE, default)


def namespace_from_environment(default: str) -> str:
    """``POWERTOOLS_METRICS_NAMESPACE``, else ``default``."""
    return os.environ.get(METRICS_NAMESPACE_VARIABLE, default)


class Observability:
    """Logger, Metrics and Tracer of one service, and how its handlers use them.

    ``metrics`` holds the metrics whose only dimension is ``service``
    (:meth:`count`), flushed once per invocation by
    :meth:`instrument_handler`; :meth:`emit` writes metrics with further
    dimensions at once.
    """

    def __init__(self, *, default_service: str, namespace: str | None) -> None:
        self.service = service_name(default_service)
        self.namespace = namespace
        self.logger = Logger(service=self.service)
        self.metrics = Metrics(namespace=namespace, service=self.service)
        self.tracer = Tracer(service=self.service)

    def count(self, name: str, value: float = 1) -> None:
        """Add ``value`` (unit Count) to metric ``name`` of this invocation."""
        with _metrics_lock:
            self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def emit(
        self,
        name: str,
        dimensions: Mapping[str, str],
        value: float = 1,
        unit: MetricUnit = MetricUnit.Count,
    ) -> None:
        """Write one data point of ``name`` with ``dimensions`` besides
        ``service`` now (its own EMF document). The name comes first, as in
        :meth:`count`, so a static read of the handlers finds every name."""
        document = EphemeralMetrics(namespace=self.namespace, service=self.service)
        for key, dimension_value in dimensions.items():
            document.add_dimension(name=key, value=dimension_value)
        document.add_metric(name=name, unit=unit, value=value)
        document.flush_metrics()

    def instrument_handler(
        self, handler: Handler, *, on_error: Callable[[Exception], None] | None = None
    ) -> Handler:
        """The entry point's decorator, the same for every function: a fresh
        logger context per invocation (cold start, request id; no event
        logged), an X-Ray subsegment without the response (it may hold user
        data), the metrics flushed after every invocation, failed or not (none
        recorded is no error), and ``on_error`` told of an exception before it
        propagates."""
        if on_error is not None:
            handler = _reporting_errors(handler, on_error)
        handler = self._flushing_metrics(handler)
        handler = self.tracer.capture_lambda_handler(capture_response=False)(handler)
        return self.logger.inject_lambda_context(log_event=False, clear_state=True)(handler)

    def _flushing_metrics(self, handler: Handler) -> Handler:
        """What ``metrics.log_metrics(raise_on_empty_metrics=False)`` does,
        under the process-wide metrics lock."""

        @functools.wraps(handler)
        def flushed(event: Any, context: Any) -> Any:
            try:
                return handler(event, context)
            finally:
                with _metrics_lock:
                    if self.metrics.metric_set:
                        self.metrics.flush_metrics()

        return flushed


def _reporting_errors(handler: Handler, on_error: Callable[[Exception], None]) -> Handler:
    @functools.wraps(handler)
    def reported(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except Exception as error:
            on_error(error)
            raise

    return reported
