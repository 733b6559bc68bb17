"""One probe round of the Lex V2 bots in both regions, and the failover decision.

Invoked with ``{}`` (the SPEC's event) or by the probe loop with the round's
scheduled time (its slot, see :func:`round_slot`). Reads its environment
(``settings.HealthCheckSettings``), reads every state item of its Connect
region from the local replica (``state_store``), picks each region's probe
method for this slot (``HealthCheckSettings.method_for``), probes both
regions concurrently, applies :func:`handlers.lex_dr.decision.decide` with
the peer checkers' latest rounds to **its own** item with a conditional,
versioned write, deletes the test sessions, emits metrics, and returns
``{"activeRegion", "healthy", "switched"}``.

In a one-region setup (only the SPEC's environment) the checker is the
primary's, its item is the SPEC's ``lexDR`` item, and there is no peer: it
behaves exactly as the SPEC says.

A configuration error raises :class:`ConfigurationError` before anything is
probed or written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from handlers.common.observability import Observability
from handlers.lex_dr import aws_clients, bot_probe, clock, decision, state_store, telemetry
from handlers.lex_dr.settings import ConfigurationError, HealthCheckSettings
from handlers.lex_dr.state_store import RegionObservation

__all__ = ["ConfigurationError", "handler"]

observability = Observability(
    default_service=telemetry.HEALTH_CHECK_SERVICE, namespace=telemetry.METRIC_NAMESPACE
)
logger = observability.logger
tracer = observability.tracer


@observability.instrument_handler
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    settings = HealthCheckSettings.from_env()
    return run_round(settings, slot=round_slot(event, settings.probe_interval_seconds))


def round_slot(event: Any, interval_seconds: int) -> int | None:
    """The round's time-slot id, or None for a round without one.

    The probe loop passes ``{"executionStartTime": ISO, "offset": s}`` (or a
    caller ``{"slot": n}``): slot = floor((start + offset) / interval). A
    retried or duplicated round carries the same slot and is applied once;
    a late round (an older slot) is dropped. ``{}`` (the SPEC's event) has
    no slot: every such invocation is a round of its own.
    """
    if not isinstance(event, dict):
        return None
    if "slot" in event:
        slot = event["slot"]
        if isinstance(slot, bool) or not isinstance(slot, int) or slot < 0:
            raise ValueError(f"event.slot must be a non-negative integer, got {slot!r}")
        return slot
    if "executionStartTime" not in event:
        return None
    try:
        started = datetime.fromisoformat(str(event["executionStartTime"]).replace("Z", "+00:00"))
        offset = float(event.get("offset", 0))
    except (TypeError, ValueError):
        raise ValueError(
            "event.executionStartTime must be an ISO 8601 time and event.offset a number "
            f"of seconds, got {event.get('executionStartTime')!r}, {event.get('offset')!r}"
        ) from None
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return int((started.timestamp() + offset) // interval_seconds)


@tracer.capture_method
def run_round(settings: HealthCheckSettings, slot: int | None = None) -> dict[str, Any]:
    policy = settings.policy
    client = aws_clients.dynamodb()
    checker = settings.checker_region
    before: state_store.StoredState | None = None
    try:
        before = state_store.load(
            client, settings.table_name, settings.connect_region, policy, checker
        )
    except (ClientError, BotoCoreError):
        # Probe anyway: the per-region probe metrics still tell what Lex does;
        # recording the round below fails loudly (function error, alarm).
        logger.exception("state unreadable before the round; probing with default methods")
    if before is not None and state_store.slot_already_applied(before, slot):
        return _skipped(settings, before, slot)

    method_slot = slot if slot is not None else int(clock.now() // settings.probe_interval_seconds)
    last_failed = before.last_failed if before is not None else {}
    methods = {
        r: settings.method_for(r, method_slot, bool(last_failed.get(r))) for r in policy.regions
    }
    probes = bot_probe.probe_regions(settings, aws_clients.lex_runtime, methods=methods)
    results = {region: result.ok for region, result in probes.items()}
    observations = {
        region: RegionObservation(ok=p.ok, latency_ms=p.latency_ms, error=p.error, method=p.method)
        for region, p in probes.items()
    }
    _emit_probe_metrics(probes)
    try:
        outcome = state_store.apply_round(
            client,
            settings.table_name,
            settings.connect_region,
            policy,
            lambda state, peers: decision.decide(state, results, policy, peers),
            observations,
            now=clock.iso,
            checker_region=checker,
            slot=slot,
            now_epoch=clock.now,
            with_peers=True,
        )
    finally:
        failed_deletes = bot_probe.delete_sessions(probes, settings, aws_clients.lex_runtime)
        if any(failed_deletes.values()):
            logger.warning("test sessions not deleted", extra={"failedDeletes": failed_deletes})

    if outcome.skipped or outcome.decision is None:
        return _skipped(settings, outcome.stored, slot, results)
    outcome_decision = outcome.decision
    if outcome_decision.ignored_override is not None:
        logger.warning(
            "overrideRegion ignored: not one of the two regions",
            extra={"overrideRegion": outcome_decision.ignored_override, "regions": policy.regions},
        )
    _count(telemetry.METRIC_REGION_SWITCHED, outcome_decision.switched)
    _count(telemetry.METRIC_ALL_REGIONS_FAILING, outcome_decision.all_failing)
    _count(telemetry.METRIC_ROUND_SKIPPED, False)
    _count(telemetry.METRIC_SWITCH_VETOED, outcome_decision.vetoed is not None)
    observability.count(telemetry.METRIC_PEER_CHECKERS_ALIVE, outcome_decision.vantage_points - 1)
    overridden = bool(outcome_decision.state.override_region) and not (
        outcome_decision.ignored_override
    )
    observability.count(telemetry.METRIC_OVERRIDE_ACTIVE, int(overridden))
    _emit_region_metric(
        telemetry.METRIC_REGION_ACTIVE,
        {r: int(r == outcome_decision.active_region) for r in policy.regions},
    )
    summary = {
        "connectRegion": settings.connect_region,
        "checkerRegion": checker,
        "slot": slot,
        "activeRegion": outcome_decision.active_region,
        "previousRegion": outcome_decision.previous_region,
        "epoch": outcome.stored.epoch + int(outcome_decision.switched),
        "version": outcome.version,
        "writeConflicts": outcome.conflicts,
        "vantagePoints": outcome_decision.vantage_points,
        "peers": {
            p.checker_region: {"ageSeconds": round(p.age_seconds, 1), "last": dict(p.last_results)}
            for p in outcome.stored.peers
        },
        "probes": {
            r: {
                "ok": p.ok,
                "method": p.method,
                "attempts": p.attempts,
                "latencyMs": p.latency_ms,
                "error": p.error,
            }
            for r, p in probes.items()
        },
    }
    if outcome_decision.switched:
        logger.warning("lex region switched", extra={**summary, "reason": outcome_decision.reason})
    elif outcome_decision.vetoed:
        logger.warning(
            "switch vetoed: an alive peer checker disagrees",
            extra={**summary, "vetoed": outcome_decision.vetoed},
        )
    elif outcome_decision.all_failing:
        logger.error("all regions failing; keeping the active region", extra=summary)
    else:
        logger.info("probe round", extra=summary)

    return {
        "activeRegion": outcome_decision.active_region,
        "healthy": results,
        "switched": outcome_decision.switched,
    }


def _skipped(
    settings: HealthCheckSettings,
    stored: state_store.StoredState,
    slot: int | None,
    results: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """A round whose slot was already applied: nothing recorded, nothing decided."""
    _count(telemetry.METRIC_ROUND_SKIPPED, True)
    _count(telemetry.METRIC_REGION_SWITCHED, False)
    logger.warning(
        "probe round skipped: its slot was already applied",
        extra={
            "slot": slot,
            "lastSlot": stored.last_slot,
            "checkerRegion": settings.checker_region,
        },
    )
    active = decision.effective_region(stored.state.lex_region, settings.policy)
    if stored.state.override_region in settings.policy.regions:
        active = stored.state.override_region
    healthy = results or {r: not stored.last_failed.get(r, False) for r in settings.policy.regions}
    return {"activeRegion": active, "healthy": healthy, "switched": False}


def _count(name: str, flag: bool) -> None:
    observability.count(name, int(flag))


def _emit_probe_metrics(probes: dict[str, bot_probe.BotProbeResult]) -> None:
    # Per-region metrics need their own dimension set, apart from the
    # handler-wide metrics (whose only dimension is service).
    for region, result in probes.items():
        dimensions = {telemetry.REGION_DIMENSION: region}
        observability.emit(telemetry.METRIC_PROBE_SUCCEEDED, dimensions, int(result.ok))
        observability.emit(telemetry.METRIC_PROBE_FAILED, dimensions, int(not result.ok))
        observability.emit(
            telemetry.METRIC_PROBE_LATENCY, dimensions, result.latency_ms, MetricUnit.Milliseconds
        )


def _emit_region_metric(name: str, values: dict[str, int]) -> None:
    """One data point per region, dimensions service + region (see above)."""
    for region, value in values.items():
        observability.emit(name, {telemetry.REGION_DIMENSION: region}, value)
