"""``CellRouterFunctions``: the cell router's six Lambda functions, the
EventBridge rule that feeds the registrar and the schedule of the sweeper.

Each function is a ``PythonFunction`` (``handlers/cell_router/<module>.py``)
whose policy holds exactly what its handler calls (read from the handler and
``handlers/cell_router/store.py``), built by the pure ``*_statements``
functions below:

=============  ==============================================================
dispatcher     GetItem (mapping, cell, episode, known market); Query on the
               placeable-cells index and on the table (a market's cells on
               the refusal path, the known markets); TransactWriteItems =
               PutItem of the mapping (``USER#`` partitions only) +
               UpdateItem of the cell (never a ``USER#`` or ``SCALE#``
               partition, and only the attributes in
               ``DISPATCHER_CELL_ATTRIBUTES``; also repairs the placeable
               index); DeleteItem of a dangling mapping (``USER#`` only);
               PutItem/UpdateItem of a scale-out episode and its
               known-market item (``SCALE#``, ``MARKET#`` only);
               sqs:SendMessage on CellProvisioning; GetSecretValue on the
               user-key secret. A transaction is authorised per item action.
scaler         GetItem (cell, episode); Query of a market's cells (its cap,
               only when a scale-out is due); PutItem/UpdateItem of the
               market's scale-out episode and known-market item (``SCALE#``,
               ``MARKET#`` only); sqs:SendMessage on CellProvisioning
               (SSE-SQS: no KMS grant needed).
sweeper        Query of the known markets (``MARKET#`` only); BatchGetItem
               and UpdateItem of episodes (``SCALE#`` only);
               sqs:SendMessage on CellProvisioning. Scheduled every minute.
mapper         GetItem (own mapping, its cell); GetSecretValue (user key).
validator      GetItem (own mapping, its cell); GetSecretValue (user key);
               the endpoint probe is HTTPS to public addresses.
registrar      GetItem/PutItem/Query of cells (create only if absent, count
               a market's cells; never a ``USER#`` or ``SCALE#`` partition),
               UpdateItem (refresh a cell, close the episode; never a
               ``USER#`` partition); sqs:SendMessage on ``CellReady-failed``
               (Lambda sends a failed asynchronous invocation with the
               function's role).
=============  ==============================================================

With ``slots_per_cell`` above 1 (issue #14) the dispatcher also gets
UpdateItem of slot items (``SLOT#`` partitions only, the slot's counter and
what its condition reads) and BatchGetItem of them (the last look), the
sweeper a Query of a market's cells, BatchGetItem of slots and UpdateItem of
the roll-up's attributes (never ``USER#``, ``SCALE#`` or ``MARKET#``), and
the dispatcher, mapper, registrar and sweeper get ``SLOTS_PER_CELL`` (the
registrar and sweeper ``CAPACITY_BUFFER`` too, for the slots' shares). The
default stack gets neither.

``dynamodb:LeadingKeys`` conditions are used where the partition tells item
types apart (the helper items' ``#`` prefixes, which a market id cannot
contain); reads are not narrowed, since every reader needs both a mapping and
the (arbitrarily named) market partitions. Every function also gets its own
log group and X-Ray (``PythonFunction``).

Timeouts match the Orchestrator's task timeouts (``orchestrator_asl``), so a
function never outlives the state that waits for it.

Provisioning channel: CellReady arrives on the stack's **own event bus**
(``CellProvisioning-bus``), never the account's default bus. Its resource
policy admits ``events:PutEvents`` from the principals in
``provisioning_principals`` only and denies everyone else, including this
account's own roles (none configured: nobody); the rule matches this
account, the CellReady source and detail-type, and ``detail.routerId`` equal
to ``router_id`` (the registrar checks that again). The registrar then
creates a cell only if absent and changes an existing one only by a newer
``revision`` (``handlers/cell_router/registration.py``).

A CellReady event must not vanish: until it is recorded the market's
scale-out episode stays open and no further cell is requested (until the
scaler's 2-hour takeover). ``CellReady-failed`` (SSE-SQS, 14 days) therefore
receives both an event EventBridge could not deliver to the registrar (the
target's dead-letter queue) and one the registrar failed on after Lambda's
two retries (the function's on-failure destination); any message in it
raises an alarm. Replay by sending the event again to the provisioning bus:
a replay changes nothing that was already recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
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
from components.schemas import ROUTER_PLACEABLE_INDEX_NAME
from handlers.cell_router.endpoint_policy import normalise_domain
from handlers.cell_router.events import CELL_READY_EVENT_PATTERN
from handlers.cell_router.model import (
    MARKET_PARTITION,
    METRIC_CELL_LIMIT_REACHED,
    METRICS_NAMESPACE,
    SCALE_PREFIX,
    SERVICE_NAME,
    USER_PREFIX,
)
from handlers.cell_router.slots import MAX_SLOTS, SLOT_PREFIX

FAMILY = "cell_router"
#: Partition prefixes of the router table's helper items, as IAM patterns.
USER_PARTITIONS = USER_PREFIX + "*"
SCALE_PARTITIONS = SCALE_PREFIX + "*"
#: The known-market items' one partition (exact).
MARKET_PARTITIONS = MARKET_PARTITION

#: The registrar is invoked asynchronously by EventBridge, off the API path.
REGISTRAR_TIMEOUT_SECONDS = 10
#: The sweeper's run: a query, a batched read and a few resends.
SWEEPER_TIMEOUT_SECONDS = 30
#: Lambda's asynchronous retries of a failing registrar (the most it allows).
REGISTRAR_RETRY_ATTEMPTS = 2
#: Longest Lambda keeps an asynchronous event: a late registration is still
#: worth doing, and an expired event goes to CellReady-failed too.
REGISTRAR_MAX_EVENT_AGE_SECONDS = 6 * 3600
#: Longest SQS allows: a lost CellReady is evidence, and its replay input.
FAILED_RETENTION_SECONDS = SQS_MAX_RETENTION_SECONDS

Statement = dict[str, Any]

#: Who may be a provisioning principal: an IAM role or user, by ARN.
PRINCIPAL_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}")


def _only_partitions(*patterns: str) -> dict[str, Any]:
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)}}


def _never_partitions(*patterns: str) -> dict[str, Any]:
    return {"ForAllValues:StringNotLike": {"dynamodb:LeadingKeys": list(patterns)}}


#: Every attribute the dispatcher's cell update names: the key, the counter
#: it increments and those its condition reads. IAM evaluates the attribute
#: names of the whole request (update and condition expressions), so the
#: condition's attributes are listed; endpoints, regions, revisions and
#: timestamps are not, and cannot be written by the dispatcher.
DISPATCHER_CELL_ATTRIBUTES: tuple[str, ...] = (
    "marketId",
    "cellId",
    "currentCapacity",
    "IsHealthy",
    "status",
    "maxCapacity",
    # The sparse placeable-cells index key (issue #11): the transaction that
    # takes a cell's last slot, and the index repair, set or remove it.
    "placeableMarketId",
)


def read_user_key_secret(secret_arn: Any) -> Statement:
    """The user-key HMAC secret: read its value, nothing else."""
    return {
        "Sid": "ReadUserKeySecret",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": secret_arn,
    }


def dispatcher_statements(
    table_arn: Any, placeable_index_arn: Any, queue_arn: Any, secret_arn: Any = None
) -> list[Statement]:
    return [
        {
            "Sid": "ReadMappingsAndCells",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": table_arn,
        },
        {
            "Sid": "FindPlaceableCells",
            "Effect": "Allow",
            "Action": ["dynamodb:Query"],
            "Resource": placeable_index_arn,
        },
        {
            # The refusal path reads the market's cells consistently before
            # it answers NoCapacity; UnknownMarket lists the known markets.
            "Sid": "ReadMarkets",
            "Effect": "Allow",
            "Action": ["dynamodb:Query"],
            "Resource": table_arn,
        },
        {
            "Sid": "RemoveDanglingMappings",
            "Effect": "Allow",
            "Action": ["dynamodb:DeleteItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(USER_PARTITIONS),
        },
        *_episode_statements(table_arn, queue_arn),
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
            "Condition": {
                **_never_partitions(USER_PARTITIONS, SCALE_PARTITIONS),
                "ForAllValues:StringEquals": {
                    "dynamodb:Attributes": list(DISPATCHER_CELL_ATTRIBUTES)
                },
            },
        },
        *([read_user_key_secret(secret_arn)] if secret_arn is not None else []),
    ]


def _episode_statements(table_arn: Any, queue_arn: Any) -> list[Statement]:
    """Open, resend and record scale-out episodes and their known-market
    items; send their requests."""
    return [
        {
            "Sid": "OpenAndRecordScaleOutEpisodes",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(SCALE_PARTITIONS, MARKET_PARTITIONS),
        },
        {
            "Sid": "RequestCells",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": queue_arn,
        },
    ]


#: Partition prefix of slot items (issue #14), as an IAM pattern.
SLOT_PARTITIONS = SLOT_PREFIX + "*"
#: What the slotted sign-up transaction names on a slot item: the key, the
#: counter it adds to and what its condition reads.
DISPATCHER_SLOT_ATTRIBUTES: tuple[str, ...] = (
    "marketId",
    "cellId",
    "slotLoad",
    "slotLimit",
    "IsHealthy",
    "status",
)
#: What the sweeper's roll-up writes or reads in its conditions, on cell
#: items (counter, index entry, shard count) and slot items (copies of the
#: cell's health and status, the slot's share).
ROLL_UP_ATTRIBUTES: tuple[str, ...] = (
    "marketId",
    "cellId",
    "currentCapacity",
    "placeableMarketId",
    "placeableShards",
    "IsHealthy",
    "status",
    "maxCapacity",
    "slotLoad",
    "slotLimit",
    "slotOf",
)


def slotted_dispatcher_statements(table_arn: Any) -> list[Statement]:
    """Issue #14, ``slots_per_cell`` above 1 only: add users to slots, and
    read every slot of a market before answering NoCapacity (last look)."""
    return [
        {
            "Sid": "CountUsersOnSlots",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": table_arn,
            "Condition": {
                **_only_partitions(SLOT_PARTITIONS),
                "ForAllValues:StringEquals": {
                    "dynamodb:Attributes": list(DISPATCHER_SLOT_ATTRIBUTES)
                },
            },
        },
        {
            "Sid": "ReadSlots",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(SLOT_PARTITIONS),
        },
    ]


def roll_up_statements(table_arn: Any) -> list[Statement]:
    """Issue #14, ``slots_per_cell`` above 1 only: the sweeper reads each
    known market's cells and slots and writes the roll-up."""
    return [
        {
            "Sid": "ReadMarketCells",
            "Effect": "Allow",
            "Action": ["dynamodb:Query"],
            "Resource": table_arn,
            "Condition": _never_partitions(USER_PARTITIONS, SCALE_PARTITIONS),
        },
        {
            "Sid": "ReadSlots",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(SLOT_PARTITIONS),
        },
        {
            "Sid": "RollUpSlots",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": table_arn,
            "Condition": {
                **_never_partitions(USER_PARTITIONS, SCALE_PARTITIONS, MARKET_PARTITIONS),
                "ForAllValues:StringEquals": {"dynamodb:Attributes": list(ROLL_UP_ATTRIBUTES)},
            },
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
            # The market's cell count, against maxCellsPerMarket.
            "Sid": "CountMarketCells",
            "Effect": "Allow",
            "Action": ["dynamodb:Query"],
            "Resource": table_arn,
            "Condition": _never_partitions(USER_PARTITIONS, SCALE_PARTITIONS),
        },
        *_episode_statements(table_arn, queue_arn),
    ]


def sweeper_statements(table_arn: Any, queue_arn: Any) -> list[Statement]:
    return [
        {
            "Sid": "ListKnownMarkets",
            "Effect": "Allow",
            "Action": ["dynamodb:Query"],
            "Resource": table_arn,
            "Condition": _only_partitions(MARKET_PARTITIONS),
        },
        {
            "Sid": "ReadScaleOutEpisodes",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(SCALE_PARTITIONS),
        },
        {
            "Sid": "ClaimAndRecordResends",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
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


def reader_statements(table_arn: Any, secret_arn: Any = None) -> list[Statement]:
    """Mapper and validator: the caller's mapping and its cell."""
    return [
        {
            "Sid": "ReadOwnMappingAndCell",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": table_arn,
        },
        *([read_user_key_secret(secret_arn)] if secret_arn is not None else []),
    ]


def registrar_statements(table_arn: Any, failed_queue_arn: Any) -> list[Statement]:
    return [
        {
            "Sid": "CreateAndCountCells",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
            "Resource": table_arn,
            "Condition": _never_partitions(USER_PARTITIONS, SCALE_PARTITIONS),
        },
        {
            "Sid": "RefreshCellsAndCloseEpisodes",
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


def provisioning_bus_policy(bus_arn: str, principals: Sequence[str]) -> dict[str, Any]:
    """The provisioning bus's resource policy: ``principals`` (IAM role or
    user ARNs) may put events, and everyone else -- this account's own
    roles included -- is denied. No principals: nobody may."""
    statements: list[Statement] = []
    if principals:
        statements.append(
            {
                "Sid": "ProvisioningLayerAnnouncesCells",
                "Effect": "Allow",
                "Principal": {"AWS": list(principals)},
                "Action": "events:PutEvents",
                "Resource": bus_arn,
            }
        )
    deny: Statement = {
        "Sid": "NobodyElseAnnouncesCells",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "events:PutEvents",
        "Resource": bus_arn,
    }
    if principals:
        deny["Condition"] = {"ArnNotEquals": {"aws:PrincipalArn": list(principals)}}
    statements.append(deny)
    return {"Version": "2012-10-17", "Statement": statements}


def cell_ready_rule_pattern(account_id: str, router_id: str) -> dict[str, Any]:
    """CellReady from this account, for this router only."""
    return {
        **CELL_READY_EVENT_PATTERN,
        "account": [account_id],
        "detail": {"routerId": [router_id]},
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
    #: The user-key HMAC secret (``RouterData.user_key_secret_arn``); required.
    user_key_secret_arn: pulumi.Input[str] | None = None
    #: Names CellReady events for this router (``detail.routerId``), e.g.
    #: ``"<project>/<stack>"``.
    router_id: str = "resilient-routing"
    cell_endpoint_domains: Sequence[str] = ()
    provisioning_principals: Sequence[str] = ()
    #: Most cells the registrar records per market; ``None``: no cap.
    max_cells_per_market: int | None = 20
    #: Counter items ("slots") per new cell, 1-50 (issue #14). 1, the
    #: default, is the SPEC's layout: the cell item is its own and only slot
    #: and its ``currentCapacity`` moves with each sign-up. Above 1, sign-ups
    #: take a slot, ``currentCapacity`` becomes the sweeper's roll-up, and
    #: the functions get the slot permissions (README, "Sign-ups per market
    #: under contention").
    slots_per_cell: int = 1
    #: Non-empty: also deploy ``sign_up_gate`` (Cognito pre sign-up trigger)
    #: admitting these e-mail domains (``signUpPolicy: allowedDomains``).
    sign_up_allowed_domains: Sequence[str] = ()
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
    #: An unsent scale-out episode is resent after this long; a sent one
    #: whose cell never arrived after ``scale_out_episode_timeout_seconds``.
    scale_out_resend_seconds: int = 60
    scale_out_episode_timeout_seconds: int = 7200
    #: How often the sweeper looks for due episodes (EventBridge rate).
    sweeper_interval_minutes: int = 1

    def __post_init__(self) -> None:
        if not 10 <= self.scale_out_resend_seconds <= self.scale_out_episode_timeout_seconds:
            raise ValueError(
                "scale_out_resend_seconds must be at least 10 and at most "
                "scale_out_episode_timeout_seconds"
            )
        if self.scale_out_resend_seconds <= max(
            self.task_timeout_seconds, self.scaler_timeout_seconds
        ):
            raise ValueError(
                "scale_out_resend_seconds must exceed every function timeout, or a "
                "request still being sent could be resent"
            )
        if self.sweeper_interval_minutes < 1:
            raise ValueError("sweeper_interval_minutes must be at least 1")
        if self.user_key_secret_arn is None:
            raise ValueError("user_key_secret_arn is required: handlers key user ids with it")
        if not re.fullmatch(r"[A-Za-z0-9._/-]{1,128}", self.router_id):
            raise ValueError(f"router_id {self.router_id!r} must be 1-128 of A-Z a-z 0-9 . _ / -")
        for principal in self.provisioning_principals:
            if not PRINCIPAL_ARN_PATTERN.fullmatch(principal):
                raise ValueError(
                    f"provisioning principal {principal!r} must be an IAM role or user ARN"
                )
        for domain in (*self.cell_endpoint_domains, *self.sign_up_allowed_domains):
            normalise_domain(domain)
        if self.max_cells_per_market is not None and self.max_cells_per_market < 1:
            raise ValueError("max_cells_per_market must be at least 1 (or None)")
        if not 1 <= self.slots_per_cell <= MAX_SLOTS:
            raise ValueError(
                f"slots_per_cell must be between 1 and {MAX_SLOTS} (a cell and its slots "
                "are written in one transaction)"
            )
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
    sweeper_arn: pulumi.Output[str]
    function_names: dict[str, pulumi.Output[str]]
    cell_ready_rule_arn: pulumi.Output[str]
    provisioning_bus: aws.cloudwatch.EventBus
    provisioning_bus_name: pulumi.Output[str]
    provisioning_bus_arn: pulumi.Output[str]
    router_id: pulumi.Output[str]
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
        placeable_index_arn = pulumi.Output.concat(
            args.table_arn, "/index/", ROUTER_PLACEABLE_INDEX_NAME
        )
        scale_out_timing = {
            "SCALE_OUT_RESEND_SECONDS": str(args.scale_out_resend_seconds),
            "SCALE_OUT_EPISODE_TIMEOUT_SECONDS": str(args.scale_out_episode_timeout_seconds),
        }
        secret_arn = args.user_key_secret_arn
        keyed: Mapping[str, pulumi.Input[str]] = {**table, "USER_KEY_SECRET_ARN": secret_arn}
        domains = json.dumps([normalise_domain(d) for d in args.cell_endpoint_domains])
        cap: Mapping[str, str] = (
            {"MAX_CELLS_PER_MARKET": str(args.max_cells_per_market)}
            if args.max_cells_per_market is not None
            else {}
        )
        # Issue #14: only a slotted stack gets the slot settings and permissions.
        slotted = args.slots_per_cell > 1
        slot_env: Mapping[str, str] = (
            {"SLOTS_PER_CELL": str(args.slots_per_cell)} if slotted else {}
        )
        roll_up_env: Mapping[str, str] = (
            {**slot_env, "CAPACITY_BUFFER": _number(args.capacity_buffer)} if slotted else {}
        )
        specs: dict[str, tuple[str, list[Statement], Mapping[str, pulumi.Input[str]], int]] = {
            "dispatcher": (
                "Assigns a caller to the least-loaded healthy cell of their market (/cells)",
                dispatcher_statements(
                    args.table_arn, placeable_index_arn, args.queue_arn, secret_arn
                )
                + (slotted_dispatcher_statements(args.table_arn) if slotted else []),
                {
                    **keyed,
                    # A refused sign-up requests capacity (scale-out episode).
                    "PROVISIONING_QUEUE_URL": args.queue_url,
                    **scale_out_timing,
                    "DEFAULT_MARKET": args.default_market,
                    "CAPACITY_BUFFER": _number(args.capacity_buffer),
                    # Lets the transaction prove a sign-up stayed below the
                    # scale-out point (see handlers/cell_router/dispatcher.py).
                    "SCALE_OUT_THRESHOLD": _number(args.scale_out_threshold),
                    "ENDPOINT_TTL_SECONDS": str(args.endpoint_ttl_seconds),
                    # A refusal at the cap requests no cell (the registrar
                    # would refuse it).
                    **cap,
                    **slot_env,
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
                    **scale_out_timing,
                    **cap,
                },
                args.scaler_timeout_seconds,
            ),
            "mapper": (
                "Returns the caller's own cell (/mapper)",
                reader_statements(args.table_arn, secret_arn),
                {**keyed, "ENDPOINT_TTL_SECONDS": str(args.endpoint_ttl_seconds), **slot_env},
                args.task_timeout_seconds,
            ),
            "validator": (
                "Checks a caller's cached cell endpoints and returns remediation (/validate)",
                reader_statements(args.table_arn, secret_arn),
                {
                    **keyed,
                    "CELL_ENDPOINT_DOMAINS": domains,
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
                {
                    **table,
                    "CELL_ENDPOINT_DOMAINS": domains,
                    "CELL_READY_ROUTER_ID": args.router_id,
                    **cap,
                    **roll_up_env,
                },
                REGISTRAR_TIMEOUT_SECONDS,
            ),
            "sweeper": (
                "Resends scale-out requests that were never sent or never answered (schedule)",
                sweeper_statements(args.table_arn, args.queue_arn)
                + (roll_up_statements(args.table_arn) if slotted else []),
                {
                    **table,
                    "PROVISIONING_QUEUE_URL": args.queue_url,
                    **scale_out_timing,
                    **roll_up_env,
                },
                SWEEPER_TIMEOUT_SECONDS,
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

        self.sign_up_gate: PythonFunction | None = None
        if args.sign_up_allowed_domains:
            allowed = [normalise_domain(d) for d in args.sign_up_allowed_domains]
            self.sign_up_gate = PythonFunction(
                f"{name}-sign_up_gate",
                PythonFunctionArgs(
                    family=FAMILY,
                    handler="sign_up_gate.handler",
                    region=args.region,
                    description="Cognito pre sign-up: self sign-up from allowed e-mail domains",
                    service_name=SERVICE_NAME,
                    metrics_namespace=METRICS_NAMESPACE,
                    policy_statements=[],
                    environment={"SIGN_UP_ALLOWED_DOMAINS": json.dumps(allowed)},
                    runtime=args.runtime,
                    architecture=args.architecture,
                    powertools_layer_version=args.powertools_layer_version,
                    log_retention_days=args.log_retention_days,
                    # Cognito waits at most 5 s for a trigger.
                    timeout_seconds=5,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )

        registrar = self.functions["registrar"]
        # --- provisioning channel: the stack's own bus, pinned rule --------
        self.provisioning_bus = aws.cloudwatch.EventBus(
            f"{name}-CellProvisioning-bus",
            description="CellReady events from the provisioning layer to this cell router only",
            opts=pulumi.ResourceOptions(parent=self),
        )
        bus = self.provisioning_bus
        principals = list(args.provisioning_principals)
        bus_policy = aws.cloudwatch.EventBusPolicy(
            f"{name}-CellProvisioning-bus-policy",
            event_bus_name=bus.name,
            policy=bus.arn.apply(lambda arn: json.dumps(provisioning_bus_policy(arn, principals))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        rule = aws.cloudwatch.EventRule(
            f"{name}-cell-ready",
            description="A new cell is deployed: the registrar records it (CellReady)",
            event_bus_name=bus.name,
            event_pattern=identity.account_id.apply(
                lambda account: json.dumps(cell_ready_rule_pattern(account, args.router_id))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bus_policy]),
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
            event_bus_name=bus.name,
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
                "replay the event (send it again to the provisioning bus)."
            ),
            threshold=1,
            minutes=1,
            topic_arn=args.alarm_topic_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )

        # --- sweeper schedule -------------------------------------------------
        sweeper = self.functions["sweeper"]
        minutes = args.sweeper_interval_minutes
        schedule = aws.cloudwatch.EventRule(
            f"{name}-sweeper-schedule",
            description="Resend scale-out requests that were never sent or never answered",
            schedule_expression=f"rate({minutes} minute{'s' if minutes > 1 else ''})",
            opts=pulumi.ResourceOptions(parent=self),
        )
        sweeper_permission = aws.lambda_.Permission(
            f"{name}-sweeper-invoke",
            action="lambda:InvokeFunction",
            function=sweeper.name,
            principal="events.amazonaws.com",
            source_arn=schedule.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-sweeper-target",
            rule=schedule.name,
            arn=sweeper.arn,
            input="{}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sweeper_permission]),
        )
        # A market at its cell cap: the registrar refused a cell (the event is
        # in CellReady-failed too). Raise the cap or retire cells, then replay.
        if args.max_cells_per_market is not None:
            self.alarms["cell-limit-reached"] = aws.cloudwatch.MetricAlarm(
                f"{name}-cell-limit-reached",
                alarm_description=(
                    f"A market reached maxCellsPerMarket ({args.max_cells_per_market}) and "
                    "the registrar refused a new cell: sign-ups there will run out of room. "
                    "Check for abuse (sign-up flood), then raise the cap or drain cells."
                ),
                namespace=METRICS_NAMESPACE,
                metric_name=METRIC_CELL_LIMIT_REACHED,
                dimensions={"service": SERVICE_NAME},
                statistic="Sum",
                period=60,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[args.alarm_topic_arn],
                ok_actions=[args.alarm_topic_arn],
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.dispatcher_arn = self.functions["dispatcher"].arn
        self.scaler_arn = self.functions["scaler"].arn
        self.mapper_arn = self.functions["mapper"].arn
        self.validator_arn = self.functions["validator"].arn
        self.registrar_arn = registrar.arn
        self.sweeper_arn = sweeper.arn
        self.function_names = {module: f.name for module, f in self.functions.items()}
        self.cell_ready_rule_arn = rule.arn
        self.provisioning_bus_name = bus.name
        self.provisioning_bus_arn = bus.arn
        self.router_id = pulumi.Output.from_input(args.router_id)
        self.cell_ready_failed_queue_url = failed_queue.url
        self.cell_ready_failed_queue_arn = failed_queue.arn
        self.register_outputs(
            {
                "dispatcherArn": self.dispatcher_arn,
                "scalerArn": self.scaler_arn,
                "mapperArn": self.mapper_arn,
                "validatorArn": self.validator_arn,
                "registrarArn": self.registrar_arn,
                "sweeperArn": self.sweeper_arn,
                "cellReadyRuleArn": self.cell_ready_rule_arn,
                "provisioningBusName": self.provisioning_bus_name,
                "provisioningBusArn": self.provisioning_bus_arn,
                "routerId": self.router_id,
                "cellReadyFailedQueueUrl": self.cell_ready_failed_queue_url,
                "cellReadyFailedQueueArn": self.cell_ready_failed_queue_arn,
            }
        )
