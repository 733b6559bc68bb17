"""``CellRouterFunctions``: the cell router's five Lambda functions, and the
EventBridge rule that feeds the registrar.

Each function is a ``PythonFunction`` (``handlers/cell_router/<module>.py``)
whose policy holds exactly what its handler calls (read from the handler and
``handlers/cell_router/store.py``), built by the pure ``*_statements``
functions below:

=============  ==============================================================
dispatcher     GetItem (mapping, cell); Query on the capacity index;
               TransactWriteItems = PutItem of the mapping (``USER#``
               partitions only) + UpdateItem of the cell (never a ``USER#``
               or ``SCALE#`` partition). A transaction is authorised per
               item action; there is no separate transaction permission.
scaler         GetItem (cell); PutItem/DeleteItem of the market's scale-out
               marker (``SCALE#`` partitions only); sqs:SendMessage on
               CellProvisioning (SSE-SQS: no KMS grant needed).
mapper         GetItem (own mapping, its cell).
validator      GetItem (own mapping, its cell); the endpoint probe is HTTP.
registrar      UpdateItem (upsert the cell, close the episode; never a
               ``USER#`` partition); sqs:SendMessage on ``CellReady-failed``
               (Lambda sends a failed asynchronous invocation with the
               function's role).
=============  ==============================================================

``dynamodb:LeadingKeys`` conditions are used where the partition tells item
types apart (the helper items' ``#`` prefixes, which a market id cannot
contain); reads are not narrowed, since every reader needs both a mapping and
the (arbitrarily named) market partitions. Every function also gets its own
log group and X-Ray (``PythonFunction``).

Timeouts match the Orchestrator's task timeouts (``orchestrator_asl``), so a
function never outlives the state that waits for it.

A CellReady event must not vanish: until it is recorded the market's
scale-out episode stays open and no further cell is requested (until the
scaler's 2-hour takeover). ``CellReady-failed`` (SSE-SQS, 14 days) therefore
receives both an event EventBridge could not deliver to the registrar (the
target's dead-letter queue) and one the registrar failed on after Lambda's
two retries (the function's on-failure destination); any message in it
raises an alarm. Replay by sending the event again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.function import PythonFunction, PythonFunctionArgs
from components.orchestrator_asl import (
    DEFAULT_SCALER_TIMEOUT_SECONDS,
    DEFAULT_TASK_TIMEOUT_SECONDS,
)
from components.router_data import SQS_MAX_RETENTION_SECONDS, queue_depth_alarm
from handlers.cell_router.events import CELL_READY_EVENT_PATTERN
from handlers.cell_router.model import (
    METRICS_NAMESPACE,
    SCALE_PREFIX,
    SERVICE_NAME,
    USER_PREFIX,
)

FAMILY = "cell_router"
#: Partition prefixes of the router table's helper items, as IAM patterns.
USER_PARTITIONS = USER_PREFIX + "*"
SCALE_PARTITIONS = SCALE_PREFIX + "*"

#: The registrar is invoked asynchronously by EventBridge, off the API path.
REGISTRAR_TIMEOUT_SECONDS = 10
#: Lambda's asynchronous retries of a failing registrar (the most it allows).
REGISTRAR_RETRY_ATTEMPTS = 2
#: Longest Lambda keeps an asynchronous event: a late registration is still
#: worth doing, and an expired event goes to CellReady-failed too.
REGISTRAR_MAX_EVENT_AGE_SECONDS = 6 * 3600
#: Longest SQS allows: a lost CellReady is evidence, and its replay input.
FAILED_RETENTION_SECONDS = SQS_MAX_RETENTION_SECONDS

Statement = dict[str, Any]


def _only_partitions(*patterns: str) -> dict[str, Any]:
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)}}


def _never_partitions(*patterns: str) -> dict[str, Any]:
    return {"ForAllValues:StringNotLike": {"dynamodb:LeadingKeys": list(patterns)}}


def dispatcher_statements(table_arn: Any, index_arn: Any) -> list[Statement]:
    return [
        {
            "Sid": "ReadMappingsAndCells",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": table_arn,
        },
        {
            "Sid": "FindLeastLoadedCells",
            "Effect": "Allow",
            "Action": ["dynamodb:Query"],
            "Resource": index_arn,
        },
        {
            "Sid": "WriteUserMappings",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(USER_PARTITIONS),
        },
        {
            "Sid": "CountUsersOnCells",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": table_arn,
            "Condition": _never_partitions(USER_PARTITIONS, SCALE_PARTITIONS),
        },
    ]


def scaler_statements(table_arn: Any, queue_arn: Any) -> list[Statement]:
    return [
        {
            "Sid": "ReadCells",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": table_arn,
        },
        {
            "Sid": "OpenAndReleaseScaleOutEpisodes",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(SCALE_PARTITIONS),
        },
        {
            "Sid": "RequestCells",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": queue_arn,
        },
    ]


def reader_statements(table_arn: Any) -> list[Statement]:
    """Mapper and validator: the caller's mapping and its cell."""
    return [
        {
            "Sid": "ReadOwnMappingAndCell",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": table_arn,
        }
    ]


def registrar_statements(table_arn: Any, failed_queue_arn: Any) -> list[Statement]:
    return [
        {
            "Sid": "UpsertCellsAndCloseEpisodes",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": table_arn,
            "Condition": _never_partitions(USER_PARTITIONS),
        },
        {
            # Lambda delivers the on-failure destination with the function's
            # role (and checks this grant when the destination is configured).
            "Sid": "KeepFailedCellReadyEvents",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": failed_queue_arn,
        },
    ]


def cell_ready_failed_queue_policy(queue_arn: str, rule_arn: str) -> dict[str, Any]:
    """``CellReady-failed``'s policy: EventBridge may dead-letter into it, and
    only for the CellReady rule (SSE-SQS: no key policy needed)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CellReadyRuleDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }


def _number(value: float) -> str:
    """A share as the handlers parse it (``Decimal``): ``0.2``, not ``0.2000``."""
    return format(value, "g")


@dataclass(frozen=True)
class CellRouterFunctionsArgs:
    """Arguments of ``CellRouterFunctions`` (table/queue from ``RouterData``).

    ``alarm_topic_arn``: where the ``CellReady-failed`` alarm goes.
    """

    region: str
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    index_arn: pulumi.Input[str]
    queue_url: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]
    default_market: str = "europe"
    capacity_buffer: float = 0.2
    scale_out_threshold: float = 0.7
    endpoint_ttl_seconds: int = 300
    validator_deep_check: bool = True
    validator_probe_timeout_seconds: int = 2
    support_contact: str = "support@example.com"
    incident_notice: str = "We are aware of a problem with your service cell."
    expected_wait_minutes: int = 15
    runtime: str = "python3.13"
    architecture: str = "arm64"
    powertools_layer_version: int = 27
    log_retention_days: int = 30
    task_timeout_seconds: int = DEFAULT_TASK_TIMEOUT_SECONDS
    scaler_timeout_seconds: int = DEFAULT_SCALER_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if not 0 <= self.capacity_buffer < 1:
            raise ValueError("capacity_buffer must be in [0, 1)")
        if not 0 < self.scale_out_threshold <= 1:
            raise ValueError("scale_out_threshold must be in (0, 1]")
        if not 1 <= self.validator_probe_timeout_seconds < self.task_timeout_seconds:
            raise ValueError(
                "validator_probe_timeout_seconds must be at least 1 and leave the validator "
                "time for its reads within task_timeout_seconds"
            )


class CellRouterFunctions(pulumi.ComponentResource):
    """Dispatcher, scaler, mapper, validator, registrar, the registrar's rule
    and the queue that keeps CellReady events neither could handle."""

    functions: dict[str, PythonFunction]
    cell_ready_failed_queue: aws.sqs.Queue
    dispatcher_arn: pulumi.Output[str]
    scaler_arn: pulumi.Output[str]
    mapper_arn: pulumi.Output[str]
    validator_arn: pulumi.Output[str]
    registrar_arn: pulumi.Output[str]
    cell_ready_rule_arn: pulumi.Output[str]
    cell_ready_failed_queue_url: pulumi.Output[str]
    cell_ready_failed_queue_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: CellRouterFunctionsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("resilient-routing:components:CellRouterFunctions", name, None, opts)

        # Before the functions: the registrar's policy names it.
        self.cell_ready_failed_queue = aws.sqs.Queue(
            f"{name}-CellReady-failed",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=FAILED_RETENTION_SECONDS,
            opts=pulumi.ResourceOptions(parent=self),
        )
        failed_queue = self.cell_ready_failed_queue

        table: Mapping[str, pulumi.Input[str]] = {"TABLE_NAME": args.table_name}
        specs: dict[str, tuple[str, list[Statement], Mapping[str, pulumi.Input[str]], int]] = {
            "dispatcher": (
                "Assigns a caller to the least-loaded healthy cell of their market (/cells)",
                dispatcher_statements(args.table_arn, args.index_arn),
                {
                    **table,
                    "DEFAULT_MARKET": args.default_market,
                    "CAPACITY_BUFFER": _number(args.capacity_buffer),
                    # Lets the transaction prove a sign-up stayed below the
                    # scale-out point (see handlers/cell_router/dispatcher.py).
                    "SCALE_OUT_THRESHOLD": _number(args.scale_out_threshold),
                    "ENDPOINT_TTL_SECONDS": str(args.endpoint_ttl_seconds),
                },
                args.task_timeout_seconds,
            ),
            "scaler": (
                "Requests a new cell once per scale-out episode when a cell nears capacity",
                scaler_statements(args.table_arn, args.queue_arn),
                {
                    **table,
                    "SCALE_OUT_THRESHOLD": _number(args.scale_out_threshold),
                    "PROVISIONING_QUEUE_URL": args.queue_url,
                },
                args.scaler_timeout_seconds,
            ),
            "mapper": (
                "Returns the caller's own cell (/mapper)",
                reader_statements(args.table_arn),
                {**table, "ENDPOINT_TTL_SECONDS": str(args.endpoint_ttl_seconds)},
                args.task_timeout_seconds,
            ),
            "validator": (
                "Checks a caller's cached cell endpoints and returns remediation (/validate)",
                reader_statements(args.table_arn),
                {
                    **table,
                    "VALIDATOR_DEEP_CHECK": "true" if args.validator_deep_check else "false",
                    "VALIDATOR_TIMEOUT_SECONDS": str(args.validator_probe_timeout_seconds),
                    "REMEDIATION_SUPPORT_CONTACT": args.support_contact,
                    "REMEDIATION_INCIDENT_NOTICE": args.incident_notice,
                    "REMEDIATION_EXPECTED_WAIT_MINUTES": str(args.expected_wait_minutes),
                },
                args.task_timeout_seconds,
            ),
            "registrar": (
                "Records a cell the provisioning layer reports ready (EventBridge CellReady)",
                registrar_statements(args.table_arn, failed_queue.arn),
                dict(table),
                REGISTRAR_TIMEOUT_SECONDS,
            ),
        }
        self.functions = {
            module: PythonFunction(
                f"{name}-{module}",
                PythonFunctionArgs(
                    family=FAMILY,
                    handler=f"{module}.handler",
                    region=args.region,
                    description=description,
                    service_name=SERVICE_NAME,
                    metrics_namespace=METRICS_NAMESPACE,
                    policy_statements=statements,
                    environment=environment,
                    runtime=args.runtime,
                    architecture=args.architecture,
                    powertools_layer_version=args.powertools_layer_version,
                    log_retention_days=args.log_retention_days,
                    timeout_seconds=timeout,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for module, (description, statements, environment, timeout) in specs.items()
        }

        registrar = self.functions["registrar"]
        rule = aws.cloudwatch.EventRule(
            f"{name}-cell-ready",
            description="A new cell is deployed: the registrar records it (CellReady)",
            event_bus_name="default",
            event_pattern=json.dumps(CELL_READY_EVENT_PATTERN),
            opts=pulumi.ResourceOptions(parent=self),
        )
        permission = aws.lambda_.Permission(
            f"{name}-cell-ready-invoke",
            action="lambda:InvokeFunction",
            function=registrar.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Before the target: EventBridge needs the grant to dead-letter.
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-CellReady-failed-policy",
            queue_url=failed_queue.url,
            policy=pulumi.Output.all(failed_queue.arn, rule.arn).apply(
                lambda arns: json.dumps(cell_ready_failed_queue_policy(arns[0], arns[1]))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-cell-ready-registrar",
            rule=rule.name,
            event_bus_name="default",
            arn=registrar.arn,
            # A late registration is still worth doing; the scaler takes over
            # an episode whose cell never registers after its own timeout.
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=24 * 3600, maximum_retry_attempts=185
            ),
            # An event EventBridge could not hand to Lambda at all.
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=failed_queue.arn),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission, queue_policy]),
        )
        # An event Lambda accepted but the registrar failed on (or that
        # expired in Lambda's queue). The destination is checked against the
        # registrar's policy, which the function already depends on.
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-registrar-async",
            function_name=registrar.name,
            maximum_retry_attempts=REGISTRAR_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds=REGISTRAR_MAX_EVENT_AGE_SECONDS,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=failed_queue.arn
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # One lost event is the incident: Maximum over one 60 s period (SQS
        # publishes its queue metrics every minute) pages within about a
        # minute of it landing; a 5-minute period would only delay that, with
        # no noise to smooth -- nothing drains this queue but an operator.
        # notBreaching: an idle queue publishes no data points.
        # Every alarm is exposed (``alarms``): the stack's dashboard lists them all.
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        self.alarms["CellReady-failed-depth"] = queue_depth_alarm(
            f"{name}-CellReady-failed-depth",
            failed_queue.name,
            description=(
                "A CellReady event was not recorded and sits in CellReady-failed: "
                "the market's scale-out episode stays open, so no new cell is "
                "requested until the scaler's takeover. Fix the cause, then "
                "replay the event (send it again to the default bus)."
            ),
            threshold=1,
            minutes=1,
            topic_arn=args.alarm_topic_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.dispatcher_arn = self.functions["dispatcher"].arn
        self.scaler_arn = self.functions["scaler"].arn
        self.mapper_arn = self.functions["mapper"].arn
        self.validator_arn = self.functions["validator"].arn
        self.registrar_arn = registrar.arn
        self.cell_ready_rule_arn = rule.arn
        self.cell_ready_failed_queue_url = failed_queue.url
        self.cell_ready_failed_queue_arn = failed_queue.arn
        self.register_outputs(
            {
                "dispatcherArn": self.dispatcher_arn,
                "scalerArn": self.scaler_arn,
                "mapperArn": self.mapper_arn,
                "validatorArn": self.validator_arn,
                "registrarArn": self.registrar_arn,
                "cellReadyRuleArn": self.cell_ready_rule_arn,
                "cellReadyFailedQueueUrl": self.cell_ready_failed_queue_url,
                "cellReadyFailedQueueArn": self.cell_ready_failed_queue_arn,
            }
        )
