"""``RouterAlarms``: alarms for every failure the cell router absorbs.

A router that answers honestly still hides trouble from the people running
it: a ``NoCapacity`` answer, a scale-out request that could not be sent, a
resent request, a function that crashed or was throttled, an Orchestrator
execution that failed or timed out. Each of those raises an alarm on the
stack's one topic (OK notifications too), built by the pure
:func:`router_alarm_specs`; the README runbook says what each means and what
to do.

Answers are not incidents: the request-path functions raise ``InvalidRequest``,
``UserNotFound``, ``NoCapacity``... on purpose, and Lambda counts each as an
``Errors`` data point (and the Orchestrator as a failed execution). So their
crashes are alarmed on ``UnexpectedError`` (counted by the handlers for any
other exception) at once, and their raw ``Errors`` -- which also catch
timeouts and out-of-memory kills, which no handler can count -- and the
Orchestrator's failed executions only above a rate
(``request_errors_threshold`` in 5 minutes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.health_check import AlarmSpec, metric_alarms
from handlers.cell_router.model import (
    METRIC_NO_CAPACITY,
    METRIC_PROVISIONING_FAILED,
    METRIC_SCALE_OUT_RESENT,
    METRIC_SERVICE_UNAVAILABLE,
    METRIC_UNEXPECTED_ERROR,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)

#: Functions that answer requests by raising named errors.
REQUEST_PATH_FUNCTIONS = ("dispatcher", "mapper", "validator")


def router_alarm_specs(
    function_names: Mapping[str, Any],
    state_machine_arn: Any,
    *,
    request_errors_threshold: int = 50,
    service_unavailable_threshold: int = 10,
) -> list[AlarmSpec]:
    """The router's alarms (pure). ``function_names``: module -> Lambda name
    (dispatcher, scaler, mapper, validator, registrar, sweeper)."""
    service = {"service": SERVICE_NAME}
    specs = [
        AlarmSpec(
            key="router-no-capacity",
            description=(
                "A sign-up was refused with NoCapacity: no placeable cell in its market "
                "(full, unhealthy or none). A new cell has been requested; check the "
                "provisioning layer and the CellProvisioning queue."
            ),
            namespace=METRICS_NAMESPACE,
            metric_name=METRIC_NO_CAPACITY,
            dimensions=service,
        ),
        AlarmSpec(
            key="router-provisioning-failed",
            description=(
                "A scale-out request could not be sent to CellProvisioning. The episode "
                "stays open and unsent; the sweeper resends it within a minute or two. "
                "Check SQS errors in the scaler/dispatcher/sweeper logs."
            ),
            namespace=METRICS_NAMESPACE,
            metric_name=METRIC_PROVISIONING_FAILED,
            dimensions=service,
            period_seconds=300,
        ),
        AlarmSpec(
            key="router-scale-out-resent",
            description=(
                "A scale-out request was resent: its first send failed or timed out, or "
                "no cell arrived within the episode timeout. The provisioning layer "
                "deduplicates by episodeId; find why the request or the CellReady was lost."
            ),
            namespace=METRICS_NAMESPACE,
            metric_name=METRIC_SCALE_OUT_RESENT,
            dimensions=service,
            period_seconds=300,
        ),
        AlarmSpec(
            key="router-unexpected-errors",
            description=(
                "A router function failed with an unexpected error (a 500 to the caller "
                "on the request path). Read the function's log for the exception."
            ),
            namespace=METRICS_NAMESPACE,
            metric_name=METRIC_UNEXPECTED_ERROR,
            dimensions=service,
        ),
        AlarmSpec(
            key="router-service-unavailable",
            description=(
                f"At least {service_unavailable_threshold} requests in 5 minutes were "
                "answered ServiceUnavailable (503): DynamoDB or SQS throttled or failed "
                "until the request's deadline. Check table throttling and AWS health."
            ),
            namespace=METRICS_NAMESPACE,
            metric_name=METRIC_SERVICE_UNAVAILABLE,
            dimensions=service,
            threshold=service_unavailable_threshold,
            period_seconds=300,
        ),
        AlarmSpec(
            key="orchestrator-timed-out",
            description="An Orchestrator execution timed out (callers got 503).",
            namespace="AWS/States",
            metric_name="ExecutionsTimedOut",
            dimensions={"StateMachineArn": state_machine_arn},
        ),
        AlarmSpec(
            key="orchestrator-failed",
            description=(
                f"At least {request_errors_threshold} Orchestrator executions failed in 5 "
                "minutes. Failed executions include answered errors (400/404/503), so "
                "read the router-* alarms and the API access log for which."
            ),
            namespace="AWS/States",
            metric_name="ExecutionsFailed",
            dimensions={"StateMachineArn": state_machine_arn},
            threshold=request_errors_threshold,
            period_seconds=300,
        ),
    ]
    for module, function_name in function_names.items():
        request_path = module in REQUEST_PATH_FUNCTIONS
        specs.append(
            AlarmSpec(
                key=f"{module}-errors",
                description=(
                    f"The {module} function failed {request_errors_threshold}+ times in 5 "
                    "minutes (named answers included: see router-unexpected-errors)."
                    if request_path
                    else f"The {module} function failed (an exception, a timeout or a crash)."
                ),
                namespace="AWS/Lambda",
                metric_name="Errors",
                dimensions={"FunctionName": function_name},
                threshold=request_errors_threshold if request_path else 1,
                period_seconds=300 if request_path else 60,
            )
        )
        specs.append(
            AlarmSpec(
                key=f"{module}-throttles",
                description=(
                    f"Lambda throttled the {module} function: account or reserved "
                    "concurrency is exhausted."
                ),
                namespace="AWS/Lambda",
                metric_name="Throttles",
                dimensions={"FunctionName": function_name},
            )
        )
    return specs


@dataclass(frozen=True)
class RouterAlarmsArgs:
    """Arguments of ``RouterAlarms``: the functions (module -> name), the
    Orchestrator's ARN and the stack's alarm topic."""

    function_names: Mapping[str, pulumi.Input[str]]
    state_machine_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]
    request_errors_threshold: int = 50
    service_unavailable_threshold: int = 10

    def __post_init__(self) -> None:
        if self.request_errors_threshold < 1 or self.service_unavailable_threshold < 1:
            raise ValueError("alarm thresholds must be at least 1")


class RouterAlarms(pulumi.ComponentResource):
    """One CloudWatch alarm per :func:`router_alarm_specs` entry."""

    alarms: dict[str, aws.cloudwatch.MetricAlarm]

    def __init__(
        self, name: str, args: RouterAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:RouterAlarms", name, None, opts)
        specs = router_alarm_specs(
            args.function_names,
            args.state_machine_arn,
            request_errors_threshold=args.request_errors_threshold,
            service_unavailable_threshold=args.service_unavailable_threshold,
        )
        self.alarms = metric_alarms(
            name, specs, args.alarm_topic_arn, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"alarmNames": list(self.alarms)})
