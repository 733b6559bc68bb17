"""One probe round of the Lex V2 bots in both regions, and the failover decision.

Invoked with ``{}`` (by a schedule or a Step Functions loop). Reads its
environment (``settings.HealthCheckSettings``), probes both regions
concurrently, applies :func:`handlers.lex_dr.decision.decide` to the state
item with a conditional, versioned write, deletes the test sessions, emits
metrics, and returns ``{"activeRegion", "healthy", "switched"}``.

A configuration error raises :class:`ConfigurationError` before anything is
probed or written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.lex_dr import aws_clients, decision, probe, state_store, telemetry
from handlers.lex_dr.settings import ConfigurationError, HealthCheckSettings
from handlers.lex_dr.state_store import RegionObservation

__all__ = ["ConfigurationError", "handler"]

logger = Logger(service=telemetry.HEALTH_CHECK_SERVICE)
metrics = Metrics(namespace=telemetry.METRIC_NAMESPACE, service=telemetry.HEALTH_CHECK_SERVICE)
tracer = Tracer(service=telemetry.HEALTH_CHECK_SERVICE)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    settings = HealthCheckSettings.from_env()
    return run_round(settings)


@tracer.capture_method
def run_round(settings: HealthCheckSettings) -> dict[str, Any]:
    policy = settings.policy
    probes = probe.probe_regions(settings, aws_clients.lex_runtime)
    results = {region: result.ok for region, result in probes.items()}
    observations = {
        region: RegionObservation(ok=p.ok, latency_ms=p.latency_ms, error=p.error)
        for region, p in probes.items()
    }
    _emit_probe_metrics(probes)
    try:
        outcome = state_store.apply_round(
            aws_clients.dynamodb(),
            settings.table_name,
            settings.connect_region,
            policy,
            lambda state: decision.decide(state, results, policy),
            observations,
            now=_now,
        )
    finally:
        failed_deletes = probe.delete_sessions(probes, settings, aws_clients.lex_runtime)
        if any(failed_deletes.values()):
            logger.warning("test sessions not deleted", extra={"failedDeletes": failed_deletes})

    outcome_decision = outcome.decision
    if outcome_decision.ignored_override is not None:
        logger.warning(
            "overrideRegion ignored: not one of the two regions",
            extra={"overrideRegion": outcome_decision.ignored_override, "regions": policy.regions},
        )
    metrics.add_metric(
        name=telemetry.METRIC_REGION_SWITCHED,
        unit=MetricUnit.Count,
        value=1 if outcome_decision.switched else 0,
    )
    metrics.add_metric(
        name=telemetry.METRIC_ALL_REGIONS_FAILING,
        unit=MetricUnit.Count,
        value=1 if outcome_decision.all_failing else 0,
    )
    overridden = bool(outcome_decision.state.override_region) and not (
        outcome_decision.ignored_override
    )
    metrics.add_metric(
        name=telemetry.METRIC_OVERRIDE_ACTIVE, unit=MetricUnit.Count, value=int(overridden)
    )
    _emit_region_metric(
        telemetry.METRIC_REGION_ACTIVE,
        {r: int(r == outcome_decision.active_region) for r in policy.regions},
    )
    summary = {
        "connectRegion": settings.connect_region,
        "activeRegion": outcome_decision.active_region,
        "previousRegion": outcome_decision.previous_region,
        "version": outcome.version,
        "writeConflicts": outcome.conflicts,
        "probes": {
            r: {"ok": p.ok, "attempts": p.attempts, "latencyMs": p.latency_ms, "error": p.error}
            for r, p in probes.items()
        },
    }
    if outcome_decision.switched:
        logger.warning("lex region switched", extra={**summary, "reason": outcome_decision.reason})
    elif outcome_decision.all_failing:
        logger.error("all regions failing; keeping the active region", extra=summary)
    else:
        logger.info("probe round", extra=summary)

    return {
        "activeRegion": outcome_decision.active_region,
        "healthy": results,
        "switched": outcome_decision.switched,
    }


def _emit_probe_metrics(probes: dict[str, probe.ProbeResult]) -> None:
    # Per-region metrics need their own dimension set; EphemeralMetrics keeps
    # them out of the handler-wide Metrics (whose only dimension is service).
    for region, result in probes.items():
        region_metrics = EphemeralMetrics(
            namespace=telemetry.METRIC_NAMESPACE, service=telemetry.HEALTH_CHECK_SERVICE
        )
        region_metrics.add_dimension(name=telemetry.REGION_DIMENSION, value=region)
        region_metrics.add_metric(
            name=telemetry.METRIC_PROBE_SUCCEEDED, unit=MetricUnit.Count, value=int(result.ok)
        )
        region_metrics.add_metric(
            name=telemetry.METRIC_PROBE_FAILED, unit=MetricUnit.Count, value=int(not result.ok)
        )
        region_metrics.add_metric(
            name=telemetry.METRIC_PROBE_LATENCY,
            unit=MetricUnit.Milliseconds,
            value=result.latency_ms,
        )
        region_metrics.flush_metrics()


def _emit_region_metric(name: str, values: dict[str, int]) -> None:
    """One data point per region, dimensions service + region (see above)."""
    for region, value in values.items():
        region_metrics = EphemeralMetrics(
            namespace=telemetry.METRIC_NAMESPACE, service=telemetry.HEALTH_CHECK_SERVICE
        )
        region_metrics.add_dimension(name=telemetry.REGION_DIMENSION, value=region)
        region_metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        region_metrics.flush_metrics()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
