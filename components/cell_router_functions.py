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
heartbeat      (two regions only, ``writer``) BatchGetItem of the market
               registries and writer records (``WRITERS#``, ``WRITER#``);
               GetItem of heartbeats (``HEARTBEAT#``); PutItem of this
               region's own heartbeat item only; with automatic promotion,
               PutItem of a writer record and UpdateItem of this region's
               registry. Scheduled every minute.
=============  ==============================================================

In two regions (``writer``) the dispatcher also gets the writer gate's
``ROUTER_*``/``WRITER_*`` settings and may BatchGetItem the market's writer
record and the peer's heartbeat and ConditionCheckItem the writer record
(``WRITER#`` only) inside its placement transaction.

With ``slots_per_cell`` above 1 (issue #14) the dispatcher also gets
UpdateItem of slot items (``SLOT#`` partitions only, the slot's counter and
what its condition reads) and BatchGetItem of them (the last look), the
sweeper a Query of a market's cells, BatchGetItem of slots and UpdateItem of
the roll-up's attributes (never ``USER#``, ``SCALE#`` or ``MARKET#``), and
the dispatcher, mapper, registrar and sweeper get ``SLOTS_PER_CELL``. The
default stack gets neither (the registrar and sweeper always get
``CAPACITY_BUFFER``, for the slots' shares).

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
from handlers.cell_router import contract
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
from handlers.cell_router.slots import SLOT_PREFIX
from handlers.cell_router.writer import (
    DEFAULT_AUTO_PROMOTE_AFTER_SECONDS,
    DEFAULT_FENCE_SECONDS,
    DEFAULT_LEASE_SECONDS,
    HEARTBEAT_PREFIX,
    REGISTRY_PREFIX,
    WRITER_PREFIX,
    WriterConfigError,
    WriterPolicy,
)

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
#: The heartbeat's run: three batched reads and one write (plus promotions).
HEARTBEAT_TIMEOUT_SECONDS = 30
SWEEPER_SCHEDULE_DESCRIPTION = "Resend scale-out requests that were never sent or never answered"
HEARTBEAT_SCHEDULE_DESCRIPTION = (
    "Write this region's writer heartbeat: the peer reads it to tell a partition from a quiet peer"
)
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


def writer_gate_statements(table_arn: Any) -> list[Statement]:
    """The dispatcher's writer gate in a two-region router (issue #13): read
    the market's writer record and the peer's heartbeat in one BatchGetItem,
    and prove the record unchanged inside the placement transaction."""
    return [
        {
            "Sid": "ReadWriterRecordAndPeerHeartbeat",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(WRITER_PREFIX + "*", HEARTBEAT_PREFIX + "*"),
        },
        {
            "Sid": "CheckWriterEpochInPlacement",
            "Effect": "Allow",
            "Action": ["dynamodb:ConditionCheckItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(WRITER_PREFIX + "*"),
        },
    ]


def heartbeat_statements(table_arn: Any, region: str, auto_promotion: bool) -> list[Statement]:
    """``heartbeat``: read the registries, writer records and heartbeats;
    write this region's own heartbeat item only; with automatic promotion,
    also a writer record and this region's own market registry."""
    statements: list[Statement] = [
        {
            "Sid": "ReadRegistriesAndWriterRecords",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(REGISTRY_PREFIX + "*", WRITER_PREFIX + "*"),
        },
        {
            "Sid": "ReadHeartbeats",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(HEARTBEAT_PREFIX + "*"),
        },
        {
            # One writing region per item: this region's heartbeat only.
            "Sid": "WriteOwnHeartbeat",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem"],
            "Resource": table_arn,
            "Condition": _only_partitions(HEARTBEAT_PREFIX + region),
        },
    ]
    if auto_promotion:
        statements += [
            {
                "Sid": "PromoteThisRegion",
                "Effect": "Allow",
                "Action": ["dynamodb:PutItem"],
                "Resource": table_arn,
                "Condition": _only_partitions(WRITER_PREFIX + "*"),
            },
            {
                "Sid": "RegisterPromotedMarkets",
                "Effect": "Allow",
                "Action": ["dynamodb:UpdateItem"],
                "Resource": table_arn,
                "Condition": _only_partitions(REGISTRY_PREFIX + region),
            },
        ]
    return statements


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


@dataclass(frozen=True)
class WriterSettings:
    """The writer gate of a router that runs in two regions (issue #13;
    ``handlers/cell_router/writer_gate.py`` reads these as ``ROUTER_*`` and
    ``WRITER_*``). ``router_urls``: JSON object region -> router API URL,
    named by ``WrongRegion``. Validated by the handlers' own ``WriterPolicy``.
    """

    region: str
    peer_region: str
    #: Writer of a market that has no writer record yet.
    primary_region: str
    router_urls: pulumi.Input[str]
    fence_seconds: int = DEFAULT_FENCE_SECONDS
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    auto_promotion: bool = False
    auto_promote_after_seconds: int = DEFAULT_AUTO_PROMOTE_AFTER_SECONDS
    #: How often each region writes its heartbeat (EventBridge rate).
    heartbeat_interval_minutes: int = 1

    def __post_init__(self) -> None:
        try:
            WriterPolicy(
                local_region=self.region,
                default_writer=self.primary_region,
                peer_region=self.peer_region,
                fence_seconds=self.fence_seconds,
                lease_seconds=self.lease_seconds,
                auto_promotion=self.auto_promotion,
                auto_promote_after_seconds=self.auto_promote_after_seconds,
            )
        except WriterConfigError as error:
            raise ValueError(f"writer settings: {error}") from None
        if self.heartbeat_interval_minutes < 1:
            raise ValueError("heartbeat_interval_minutes must be at least 1")
        # A lease shorter than two beats reads a healthy peer as partitioned.
        if self.lease_seconds < 2 * 60 * self.heartbeat_interval_minutes:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds}) must cover two heartbeats "
                f"({2 * 60 * self.heartbeat_interval_minutes} s), or a healthy peer "
                "reads as partitioned"
            )

    def environment_values(self) -> dict[str, Any]:
        """The gate's and the heartbeat's settings, keyed by their contract
        attributes (``handlers/cell_router/contract.py`` renders them)."""
        return {
            contract.ROUTER_REGION.attr: self.region,
            contract.ROUTER_PEER_REGION.attr: self.peer_region,
            contract.ROUTER_PRIMARY_REGION.attr: self.primary_region,
            contract.ROUTER_URLS.attr: self.router_urls,
            contract.WRITER_FENCE_SECONDS.attr: self.fence_seconds,
            contract.WRITER_LEASE_SECONDS.attr: self.lease_seconds,
            contract.WRITER_AUTO_PROMOTION.attr: self.auto_promotion,
            contract.WRITER_AUTO_PROMOTE_AFTER_SECONDS.attr: self.auto_promote_after_seconds,
        }


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
    max_cells_per_market: int | None = contract.MAX_CELLS_PER_MARKET.deployed_default
    #: Counter items ("slots") per new cell (issue #14; bounds: the contract).
    #: 1, the default, is the SPEC's layout: the cell item is its own and
    #: only slot and its ``currentCapacity`` moves with each sign-up. Above 1,
    #: sign-ups take a slot, ``currentCapacity`` becomes the sweeper's
    #: roll-up, and the functions get the slot permissions (README, "Sign-ups
    #: per market under contention").
    slots_per_cell: int = contract.SLOTS_PER_CELL.default
    #: Non-empty: also deploy ``sign_up_gate`` (Cognito pre sign-up trigger)
    #: admitting these e-mail domains (``signUpPolicy: allowedDomains``).
    sign_up_allowed_domains: Sequence[str] = ()
    # Defaults and bounds: handlers/cell_router/contract.py (declared once).
    default_market: str = contract.DEFAULT_MARKET.deployed_default
    capacity_buffer: float = float(contract.CAPACITY_BUFFER.deployed_default)
    scale_out_threshold: float = float(contract.SCALE_OUT_THRESHOLD.deployed_default)
    endpoint_ttl_seconds: int = contract.ENDPOINT_TTL_SECONDS.deployed_default
    validator_deep_check: bool = contract.VALIDATOR_DEEP_CHECK.deployed_default
    validator_probe_timeout_seconds: int = int(contract.VALIDATOR_TIMEOUT_SECONDS.deployed_default)
    support_contact: str = contract.REMEDIATION_SUPPORT_CONTACT.deployed_default
    incident_notice: str = contract.REMEDIATION_INCIDENT_NOTICE.deployed_default
    expected_wait_minutes: int = contract.REMEDIATION_EXPECTED_WAIT_MINUTES.deployed_default
    runtime: str = "python3.13"
    architecture: str = "arm64"
    powertools_layer_version: int = 27
    log_retention_days: int = 30
    task_timeout_seconds: int = DEFAULT_TASK_TIMEOUT_SECONDS
    scaler_timeout_seconds: int = DEFAULT_SCALER_TIMEOUT_SECONDS
    #: An unsent scale-out episode is resent after this long; a sent one
    #: whose cell never arrived after ``scale_out_episode_timeout_seconds``.
    scale_out_resend_seconds: int = contract.SCALE_OUT_RESEND_SECONDS.deployed_default
    scale_out_episode_timeout_seconds: int = (
        contract.SCALE_OUT_EPISODE_TIMEOUT_SECONDS.deployed_default
    )
    #: How often the sweeper looks for due episodes (EventBridge rate).
    sweeper_interval_minutes: int = 1
    #: Two regions (issue #13): the dispatcher's writer gate and the
    #: ``heartbeat`` function on its schedule. ``None``: one region.
    writer: WriterSettings | None = None

    def __post_init__(self) -> None:
        if self.writer is not None and self.writer.region != self.region:
            raise ValueError(
                f"writer.region {self.writer.region!r} must be this router's region {self.region!r}"
            )
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
        for attr, f in (
            ("capacity_buffer", contract.CAPACITY_BUFFER),
            ("scale_out_threshold", contract.SCALE_OUT_THRESHOLD),
            ("slots_per_cell", contract.SLOTS_PER_CELL),
        ):
            try:
                f.render(getattr(self, attr))
            except ValueError as problem:
                raise ValueError(f"{attr} must be {f.describe()}: {problem}") from None
        if not 1 <= self.validator_probe_timeout_seconds < self.task_timeout_seconds:
            raise ValueError(
                "validator_probe_timeout_seconds must be at least 1 and leave the validator "
                "time for its reads within task_timeout_seconds"
            )


class CellRouterFunctions(pulumi.ComponentResource):
    """Dispatcher, scaler, mapper, validator, registrar, sweeper (and, in two
    regions, heartbeat), the registrar's rule and the queue that keeps
    CellReady events neither could handle."""

    functions: dict[str, PythonFunction]
    sign_up_gate: PythonFunction | None
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
    alarms: dict[str, aws.cloudwatch.MetricAlarm]

    def __init__(
        self,
        name: str,
        args: CellRouterFunctionsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("resilient-routing:components:CellRouterFunctions", name, None, opts)
        self._name = name
        self.alarms = {}
        # Before the functions: the registrar's policy names it.
        self._cell_ready_failed_queue()
        self._functions(args)
        self._sign_up_gate(args)
        self._provisioning_channel(args)
        self._schedule("sweeper", args.sweeper_interval_minutes, SWEEPER_SCHEDULE_DESCRIPTION)
        if args.writer is not None:
            self._schedule(
                "heartbeat", args.writer.heartbeat_interval_minutes, HEARTBEAT_SCHEDULE_DESCRIPTION
            )
        self._cell_limit_alarm(args)
        self.register_outputs(self._outputs(args))

    # --- builders ---------------------------------------------------------------

    def _cell_ready_failed_queue(self) -> None:
        self.cell_ready_failed_queue = aws.sqs.Queue(
            f"{self._name}-CellReady-failed",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=FAILED_RETENTION_SECONDS,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _function_specs(
        self, args: CellRouterFunctionsArgs
    ) -> dict[str, tuple[str, list[Statement], Mapping[str, pulumi.Input[str]], int]]:
        """module -> (description, policy statements, environment, timeout)."""
        placeable_index_arn = pulumi.Output.concat(
            args.table_arn, "/index/", ROUTER_PLACEABLE_INDEX_NAME
        )
        secret_arn = args.user_key_secret_arn
        # Every function's environment, rendered from its contract.
        values: dict[str, Any] = dict(
            table_name=args.table_name,
            user_key_secret_arn=secret_arn,
            provisioning_queue_url=args.queue_url,
            scale_out_resend_seconds=args.scale_out_resend_seconds,
            scale_out_episode_timeout_seconds=args.scale_out_episode_timeout_seconds,
            default_market=args.default_market,
            capacity_buffer=args.capacity_buffer,
            scale_out_threshold=args.scale_out_threshold,
            endpoint_ttl_seconds=args.endpoint_ttl_seconds,
            max_cells_per_market=args.max_cells_per_market,
            cell_endpoint_domains=[normalise_domain(d) for d in args.cell_endpoint_domains],
            validator_deep_check=args.validator_deep_check,
            validator_timeout_seconds=args.validator_probe_timeout_seconds,
            remediation_support_contact=args.support_contact,
            remediation_incident_notice=args.incident_notice,
            remediation_expected_wait_minutes=args.expected_wait_minutes,
            cell_ready_router_id=args.router_id,
        )
        writer = args.writer
        if writer is not None:
            values.update(writer.environment_values())
        # Issue #14: only a slotted stack gets the slot settings and permissions.
        slotted = args.slots_per_cell > 1
        values[contract.SLOTS_PER_CELL.attr] = args.slots_per_cell if slotted else None

        def environment(module: str) -> Mapping[str, pulumi.Input[str]]:
            fn = contract.CONTRACTS[module]
            return fn.render(**{f.attr: values[f.attr] for f in fn.fields if f.attr in values})

        specs: dict[str, tuple[str, list[Statement], Mapping[str, pulumi.Input[str]], int]] = {
            "dispatcher": (
                "Assigns a caller to the least-loaded healthy cell of their market (/cells)",
                [
                    *dispatcher_statements(
                        args.table_arn, placeable_index_arn, args.queue_arn, secret_arn
                    ),
                    *(writer_gate_statements(args.table_arn) if writer is not None else []),
                    *(slotted_dispatcher_statements(args.table_arn) if slotted else []),
                ],
                environment("dispatcher"),
                args.task_timeout_seconds,
            ),
            "scaler": (
                "Requests a new cell once per scale-out episode when a cell nears capacity",
                scaler_statements(args.table_arn, args.queue_arn),
                environment("scaler"),
                args.scaler_timeout_seconds,
            ),
            "mapper": (
                "Returns the caller's own cell (/mapper)",
                reader_statements(args.table_arn, secret_arn),
                environment("mapper"),
                args.task_timeout_seconds,
            ),
            "validator": (
                "Checks a caller's cached cell endpoints and returns remediation (/validate)",
                reader_statements(args.table_arn, secret_arn),
                environment("validator"),
                args.task_timeout_seconds,
            ),
            "registrar": (
                "Records a cell the provisioning layer reports ready (EventBridge CellReady)",
                registrar_statements(args.table_arn, self.cell_ready_failed_queue.arn),
                environment("registrar"),
                REGISTRAR_TIMEOUT_SECONDS,
            ),
            "sweeper": (
                "Resends scale-out requests that were never sent or never answered (schedule)",
                sweeper_statements(args.table_arn, args.queue_arn)
                + (roll_up_statements(args.table_arn) if slotted else []),
                environment("sweeper"),
                SWEEPER_TIMEOUT_SECONDS,
            ),
        }
        if writer is not None:
            specs["heartbeat"] = (
                "Writes this region's writer heartbeat (and promotes, if automatic) (schedule)",
                heartbeat_statements(args.table_arn, writer.region, writer.auto_promotion),
                environment("heartbeat"),
                HEARTBEAT_TIMEOUT_SECONDS,
            )
        return specs

    def _function(
        self,
        args: CellRouterFunctionsArgs,
        module: str,
        description: str,
        statements: list[Statement],
        environment: Mapping[str, pulumi.Input[str]],
        timeout: int,
    ) -> PythonFunction:
        return PythonFunction(
            f"{self._name}-{module}",
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

    def _functions(self, args: CellRouterFunctionsArgs) -> None:
        self.functions = {
            module: self._function(args, module, *spec)
            for module, spec in self._function_specs(args).items()
        }

    def _sign_up_gate(self, args: CellRouterFunctionsArgs) -> None:
        self.sign_up_gate = None
        if args.sign_up_allowed_domains:
            allowed = [normalise_domain(d) for d in args.sign_up_allowed_domains]
            self.sign_up_gate = self._function(
                args,
                "sign_up_gate",
                "Cognito pre sign-up: self sign-up from allowed e-mail domains",
                [],
                contract.SIGN_UP_GATE.render(sign_up_allowed_domains=allowed),
                # Cognito waits at most 5 s for a trigger.
                5,
            )

    def _provisioning_channel(self, args: CellRouterFunctionsArgs) -> None:
        """The stack's own bus, the pinned CellReady rule, the registrar's
        target and asynchronous-failure destination, and their alarm."""
        name = self._name
        registrar = self.functions["registrar"]
        failed_queue = self.cell_ready_failed_queue
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
        self.cell_ready_rule_arn = rule.arn
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

    def _schedule(self, module: str, minutes: int, description: str) -> None:
        """Invoke ``module`` every ``minutes`` minutes with ``{}``."""
        function = self.functions[module]
        schedule = aws.cloudwatch.EventRule(
            f"{self._name}-{module}-schedule",
            description=description,
            schedule_expression=f"rate({minutes} minute{'s' if minutes > 1 else ''})",
            opts=pulumi.ResourceOptions(parent=self),
        )
        permission = aws.lambda_.Permission(
            f"{self._name}-{module}-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=schedule.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-{module}-target",
            rule=schedule.name,
            arn=function.arn,
            input="{}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )

    def _cell_limit_alarm(self, args: CellRouterFunctionsArgs) -> None:
        # A market at its cell cap: the registrar refused a cell (the event is
        # in CellReady-failed too). Raise the cap or retire cells, then replay.
        if args.max_cells_per_market is None:
            return
        self.alarms["cell-limit-reached"] = aws.cloudwatch.MetricAlarm(
            f"{self._name}-cell-limit-reached",
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

    def _outputs(self, args: CellRouterFunctionsArgs) -> dict[str, pulumi.Input[object]]:
        """Set the public outputs; returns what ``register_outputs`` records."""
        self.dispatcher_arn = self.functions["dispatcher"].arn
        self.scaler_arn = self.functions["scaler"].arn
        self.mapper_arn = self.functions["mapper"].arn
        self.validator_arn = self.functions["validator"].arn
        self.registrar_arn = self.functions["registrar"].arn
        self.sweeper_arn = self.functions["sweeper"].arn
        self.function_names = {module: f.name for module, f in self.functions.items()}
        self.provisioning_bus_name = self.provisioning_bus.name
        self.provisioning_bus_arn = self.provisioning_bus.arn
        self.router_id = pulumi.Output.from_input(args.router_id)
        self.cell_ready_failed_queue_url = self.cell_ready_failed_queue.url
        self.cell_ready_failed_queue_arn = self.cell_ready_failed_queue.arn
        return {
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
