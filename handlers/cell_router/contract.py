"""The cell router functions' environment and table, declared once.

Every variable a ``handlers/cell_router`` function reads is declared below,
once (name, type, default, bounds, meaning, and the stack setting that feeds
it); each function's contract lists the ones it gets.
``components/cell_router_functions.py`` renders the environments from these
contracts, ``settings.py`` and ``writer_gate.py`` parse them, ``config.py``
takes the stack-fed defaults and bounds from here (with the percent ->
fraction conversion, ``stack_scale``), and ``components/schemas.py`` takes
the table's keys and indexes. Change a default or a bound here and
``Pulumi.yaml``, the README's config table, the deployed environments and
the handlers follow (tests keep them equal).

Pure: no boto3, Powertools or Pulumi (packaged with ``handlers/cell_router``).
"""

from __future__ import annotations

from decimal import Decimal

from handlers.cell_router import endpoint_policy, writer
from handlers.cell_router.model import MARKET_ID_PATTERN
from handlers.common.contract import (
    Attribute,
    Contract,
    EnvField,
    GlobalIndex,
    TableSchema,
)

# --------------------------------------------------------------------------- #
# The router table (tbl_router)
# --------------------------------------------------------------------------- #
PARTITION_KEY = "marketId"
SORT_KEY = "cellId"
CAPACITY_ATTRIBUTE = "currentCapacity"
#: Only cells that can take a user carry it (= their market): a sparse index.
PLACEABLE_ATTRIBUTE = "placeableMarketId"
#: The original's index: a market's cells by load.
CAPACITY_INDEX = "marketId-currentCapacity-index"
#: Sparse: placeable cells only, least-loaded first (``store.py`` keeps it so).
PLACEABLE_INDEX = "placeable-cells-index"

#: Cell items under their market; every other item type (user mappings,
#: scale-out markers) under a partition key containing ``#``, which a market
#: id cannot contain.
ROUTER_TABLE = TableSchema(
    logical_name="tbl_router",
    hash_key=Attribute(PARTITION_KEY, "S"),
    range_key=Attribute(SORT_KEY, "S"),
    global_indexes=(
        GlobalIndex(CAPACITY_INDEX, PARTITION_KEY, CAPACITY_ATTRIBUTE),
        GlobalIndex(PLACEABLE_INDEX, PLACEABLE_ATTRIBUTE, CAPACITY_ATTRIBUTE),
    ),
    extra_attributes=(Attribute(CAPACITY_ATTRIBUTE, "N"), Attribute(PLACEABLE_ATTRIBUTE, "S")),
)


# --------------------------------------------------------------------------- #
# Checks of parsed values
# --------------------------------------------------------------------------- #
def _market_id(value: str) -> str | None:
    return None if MARKET_ID_PATTERN.fullmatch(value) else "is not a valid market id"


def _domain_list(value: object, *, non_empty: bool = False) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "is not a JSON list of strings"
    if non_empty and not value:
        return "must name at least one domain"
    for domain in value:
        try:
            endpoint_policy.normalise_domain(domain)
        except ValueError as error:
            return str(error)
    return None


def _url_map(value: object) -> str | None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return "must be a JSON object of region -> URL"
    return None


# --------------------------------------------------------------------------- #
# Fields
# --------------------------------------------------------------------------- #
TABLE_NAME = EnvField("TABLE_NAME", "str", "Name of the router table (tbl_router).")
USER_KEY_SECRET_ARN = EnvField(
    "USER_KEY_SECRET_ARN",
    "str",
    "Secrets Manager secret whose string is the HMAC key of user ids.",
)
PROVISIONING_QUEUE_URL = EnvField(
    "PROVISIONING_QUEUE_URL", "str", "URL of the CellProvisioning queue."
)
DEFAULT_MARKET = EnvField(
    "DEFAULT_MARKET",
    "str",
    "Market of a sign-up that names none.",
    default="europe",
    check=_market_id,
    stack_key="defaultMarket",
)
CAPACITY_BUFFER = EnvField(
    "CAPACITY_BUFFER",
    "decimal",
    "Share of a cell kept unassignable (stack: percent).",
    default=Decimal("0.2"),
    low=Decimal(0),
    high=Decimal("0.9"),
    stack_key="capacityBufferPercent",
    stack_scale=100,
)
SCALE_OUT_THRESHOLD = EnvField(
    "SCALE_OUT_THRESHOLD",
    "decimal",
    "Cell load (share of maxCapacity) that requests a new cell (stack: percent).",
    default=Decimal("0.7"),
    low=Decimal(0),
    low_open=True,
    high=Decimal(1),
    stack_key="scaleOutThresholdPercent",
    stack_scale=100,
)
ENDPOINT_TTL_SECONDS = EnvField(
    "ENDPOINT_TTL_SECONDS",
    "int",
    "How long clients may cache cell endpoints.",
    default=300,
    low=1,
    high=86_400,
    stack_key="endpointTtlSeconds",
)
SCALE_OUT_EPISODE_TIMEOUT_SECONDS = EnvField(
    "SCALE_OUT_EPISODE_TIMEOUT_SECONDS",
    "int",
    "A sent scale-out request whose cell never arrived is resent after this long.",
    default=7200,
    low=60,
)
#: Every function's timeout is far shorter: an episode still unsent after
#: this long lost its sender, and the next caller or the sweeper resends it.
SCALE_OUT_RESEND_SECONDS = EnvField(
    "SCALE_OUT_RESEND_SECONDS",
    "int",
    "An unsent scale-out request is resent after this long.",
    default=60,
    low=10,
)
VALIDATOR_DEEP_CHECK = EnvField(
    "VALIDATOR_DEEP_CHECK",
    "bool",
    "Validator probes cell endpoints over HTTP.",
    default=True,
    stack_key="validatorDeepCheck",
)
VALIDATOR_TIMEOUT_SECONDS = EnvField(
    "VALIDATOR_TIMEOUT_SECONDS",
    "decimal",
    "Timeout of the validator's HTTP probe of one endpoint (seconds).",
    default=Decimal(2),
    low=Decimal(0),
    low_open=True,
    high=Decimal(30),
)
REMEDIATION_SUPPORT_CONTACT = EnvField(
    "REMEDIATION_SUPPORT_CONTACT",
    "str",
    "Contact in remediation.",
    default="your platform support team",
    stack_key="supportContact",
)
REMEDIATION_INCIDENT_NOTICE = EnvField(
    "REMEDIATION_INCIDENT_NOTICE",
    "str",
    "Notice shown to users of an unhealthy cell.",
    default="We are aware of a problem with your service cell and are working on it.",
    stack_key="incidentNotice",
)
REMEDIATION_EXPECTED_WAIT_MINUTES = EnvField(
    "REMEDIATION_EXPECTED_WAIT_MINUTES",
    "int",
    "Expected wait shown in remediation.",
    default=15,
    low=0,
    high=10_080,
    stack_key="expectedWaitMinutes",
)
CELL_ENDPOINT_DOMAINS = EnvField(
    "CELL_ENDPOINT_DOMAINS",
    "json",
    "JSON list of allowed endpoint host suffixes ([] or unset: any public DNS name).",
    default=(),
    check=_domain_list,
)
#: Unset: no cap. A stack deploys 20 (``maxCellsPerMarket``; 0 there = unset).
MAX_CELLS_PER_MARKET = EnvField(
    "MAX_CELLS_PER_MARKET",
    "int",
    "Most cells the registrar records per market (unset: no cap).",
    default=None,
    low=1,
    high=10_000,
    deploy_default=20,
)
SLOTS_PER_CELL = EnvField(
    "SLOTS_PER_CELL",
    "int",
    "Counter items per new cell (1: the SPEC's layout; above 1: currentCapacity is a roll-up "
    "of the cell's slots; see slots.py).",
    default=1,
    low=1,
    # The registrar writes a cell and its slots in one TransactWriteItems,
    # which takes at most 100 items.
    high=50,
    stack_key="slotsPerCell",
)
CELL_READY_ROUTER_ID = EnvField(
    "CELL_READY_ROUTER_ID",
    "str",
    "When set, a CellReady event must name this router (detail.routerId).",
    default=None,
)
SIGN_UP_ALLOWED_DOMAINS = EnvField(
    "SIGN_UP_ALLOWED_DOMAINS",
    "json",
    "JSON list of e-mail domains that may self sign-up (Cognito pre sign-up trigger).",
    check=lambda value: _domain_list(value, non_empty=True),
)

# The writer gate (two regions; every default keeps one region placing).
ROUTER_REGION = EnvField(
    "ROUTER_REGION", "region", "This region (unset: AWS_REGION, which Lambda sets).", default=None
)
ROUTER_PEER_REGION = EnvField(
    "ROUTER_PEER_REGION",
    "region",
    "The other region (unset: one region, no writer rules beyond the record).",
    default=None,
)
ROUTER_PRIMARY_REGION = EnvField(
    "ROUTER_PRIMARY_REGION",
    "region",
    "Writer of a market without a record (required with ROUTER_PEER_REGION; unset: this region).",
    default=None,
)
ROUTER_URLS = EnvField(
    "ROUTER_URLS",
    "json",
    "JSON object region -> router API URL, named by WrongRegion.",
    default=None,
    check=_url_map,
)
WRITER_FENCE_SECONDS = EnvField(
    "WRITER_FENCE_SECONDS",
    "int",
    "Seconds a moved writer's old region stays fenced (writer.py).",
    default=writer.DEFAULT_FENCE_SECONDS,
    low=0,
)
WRITER_LEASE_SECONDS = EnvField(
    "WRITER_LEASE_SECONDS",
    "int",
    "Seconds a writer's heartbeat stays valid (writer.py).",
    default=writer.DEFAULT_LEASE_SECONDS,
    low=0,
)
WRITER_AUTO_PROMOTION = EnvField(
    "WRITER_AUTO_PROMOTION",
    "bool",
    "Promote this region when the writer's heartbeat is stale (opt-in).",
    default=False,
)
WRITER_AUTO_PROMOTE_AFTER_SECONDS = EnvField(
    "WRITER_AUTO_PROMOTE_AFTER_SECONDS",
    "int",
    "Staleness of the writer's heartbeat before an automatic promotion (writer.py).",
    default=writer.DEFAULT_AUTO_PROMOTE_AFTER_SECONDS,
    low=0,
)
WRITER_CHECK_CACHE_SECONDS = EnvField(
    "WRITER_CHECK_CACHE_SECONDS",
    "int",
    "Seconds a container caches a market's writer check.",
    default=5,
    low=0,
)

WRITER_GATE_FIELDS = (
    ROUTER_REGION,
    ROUTER_PEER_REGION,
    ROUTER_PRIMARY_REGION,
    ROUTER_URLS,
    WRITER_FENCE_SECONDS,
    WRITER_LEASE_SECONDS,
    WRITER_AUTO_PROMOTION,
    WRITER_AUTO_PROMOTE_AFTER_SECONDS,
    WRITER_CHECK_CACHE_SECONDS,
)
_SCALE_OUT_TIMING = (SCALE_OUT_RESEND_SECONDS, SCALE_OUT_EPISODE_TIMEOUT_SECONDS)

# --------------------------------------------------------------------------- #
# Functions
# --------------------------------------------------------------------------- #
DISPATCHER = Contract(
    "dispatcher",
    (
        TABLE_NAME,
        USER_KEY_SECRET_ARN,
        # A refused sign-up requests capacity (scale-out episode).
        PROVISIONING_QUEUE_URL,
        *_SCALE_OUT_TIMING,
        DEFAULT_MARKET,
        CAPACITY_BUFFER,
        # Lets the transaction prove a sign-up stayed below the scale-out
        # point (see dispatcher.py).
        SCALE_OUT_THRESHOLD,
        ENDPOINT_TTL_SECONDS,
        # A refusal at the cell cap requests no cell (issue #14).
        MAX_CELLS_PER_MARKET,
        SLOTS_PER_CELL,
        *WRITER_GATE_FIELDS,
    ),
)
SCALER = Contract(
    "scaler",
    (
        TABLE_NAME,
        SCALE_OUT_THRESHOLD,
        PROVISIONING_QUEUE_URL,
        *_SCALE_OUT_TIMING,
        MAX_CELLS_PER_MARKET,
    ),
)
MAPPER = Contract("mapper", (TABLE_NAME, USER_KEY_SECRET_ARN, ENDPOINT_TTL_SECONDS, SLOTS_PER_CELL))
VALIDATOR = Contract(
    "validator",
    (
        TABLE_NAME,
        USER_KEY_SECRET_ARN,
        CELL_ENDPOINT_DOMAINS,
        VALIDATOR_DEEP_CHECK,
        VALIDATOR_TIMEOUT_SECONDS,
        REMEDIATION_SUPPORT_CONTACT,
        REMEDIATION_INCIDENT_NOTICE,
        REMEDIATION_EXPECTED_WAIT_MINUTES,
    ),
)
REGISTRAR = Contract(
    "registrar",
    (
        TABLE_NAME,
        CELL_ENDPOINT_DOMAINS,
        CELL_READY_ROUTER_ID,
        MAX_CELLS_PER_MARKET,
        # A new cell's slots and their shares of its assignable limit.
        SLOTS_PER_CELL,
        CAPACITY_BUFFER,
    ),
)
SWEEPER = Contract(
    "sweeper",
    # The roll-up of slotted cells needs the slot count and the buffer.
    (TABLE_NAME, PROVISIONING_QUEUE_URL, *_SCALE_OUT_TIMING, SLOTS_PER_CELL, CAPACITY_BUFFER),
)
HEARTBEAT = Contract("heartbeat", (TABLE_NAME, *WRITER_GATE_FIELDS))
SIGN_UP_GATE = Contract("sign_up_gate", (SIGN_UP_ALLOWED_DOMAINS,))

#: By handler module name (``handlers/cell_router/<module>.py``).
CONTRACTS = {
    c.function: c
    for c in (DISPATCHER, SCALER, MAPPER, VALIDATOR, REGISTRAR, SWEEPER, HEARTBEAT, SIGN_UP_GATE)
}
