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
               ``USER#`` partition).
=============  ==============================================================

``dynamodb:LeadingKeys`` conditions are used where the partition tells item
types apart (the helper items' ``#`` prefixes, which a market id cannot
contain); reads are not narrowed, since every reader needs both a mapping and
the (arbitrarily named) market partitions. Every function also gets its own
log group and X-Ray (``PythonFunction``).

Timeouts match the Orchestrator's task timeouts (``orchestrator_asl``), so a
function never outlives the state that waits for it.
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
from handlers.cell_router.events import CELL_READY_EVENT_PATTERN

FAMILY = "cell_router"
SERVICE_NAME = "cell-router"
METRICS_NAMESPACE = "ResilientRouting/CellRouter"

#: Partition prefixes of the router table's helper items
#: (``handlers/cell_router/store.py``; a test keeps them equal).
USER_PARTITIONS = "USER#*"
SCALE_PARTITIONS = "SCALE#*"

#: The registrar is invoked asynchronously by EventBridge, off the API path.
REGISTRAR_TIMEOUT_SECONDS = 10

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


def registrar_statements(table_arn: Any) -> list[Statement]:
    return [
        {
            "Sid": "UpsertCellsAndCloseEpisodes",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": table_arn,
            "Condition": _never_partitions(USER_PARTITIONS),
        }
    ]


def _number(value: float) -> str:
    """A share as the handlers parse it (``Decimal``): ``0.2``, not ``0.2000``."""
    return format(value, "g")


@dataclass(frozen=True)
class CellRouterFunctionsArgs:
    """Arguments of ``CellRouterFunctions`` (table/queue from ``RouterData``)."""

    region: str
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    index_arn: pulumi.Input[str]
    queue_url: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
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
    """Dispatcher, scaler, mapper, validator, registrar and the registrar's rule."""

    functions: dict[str, PythonFunction]
    dispatcher_arn: pulumi.Output[str]
    scaler_arn: pulumi.Output[str]
    mapper_arn: pulumi.Output[str]
    validator_arn: pulumi.Output[str]
    registrar_arn: pulumi.Output[str]
    cell_ready_rule_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: CellRouterFunctionsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("resilient-routing:components:CellRouterFunctions", name, None, opts)

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
                registrar_statements(args.table_arn),
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )

        self.dispatcher_arn = self.functions["dispatcher"].arn
        self.scaler_arn = self.functions["scaler"].arn
        self.mapper_arn = self.functions["mapper"].arn
        self.validator_arn = self.functions["validator"].arn
        self.registrar_arn = registrar.arn
        self.cell_ready_rule_arn = rule.arn
        self.register_outputs(
            {
                "dispatcherArn": self.dispatcher_arn,
                "scalerArn": self.scaler_arn,
                "mapperArn": self.mapper_arn,
                "validatorArn": self.validator_arn,
                "registrarArn": self.registrar_arn,
                "cellReadyRuleArn": self.cell_ready_rule_arn,
            }
        )
