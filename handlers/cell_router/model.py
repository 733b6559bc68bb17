"""Plain value types of the router and the result shape the API returns (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Powertools service name and metric namespace of every router function
#: (the component sets them; the handlers' defaults for local runs match).
SERVICE_NAME = "cell-router"
METRICS_NAMESPACE = "ResilientRouting/CellRouter"

#: Dimension names of the router's metrics (Powertools adds ``service``).
SERVICE_DIMENSION = "service"
MARKET_DIMENSION = "marketId"
CELL_DIMENSION = "cellId"
REASON_DIMENSION = "reason"

# Counters with dimension ``service`` only, one data point per event.
METRIC_USER_KNOWN = "UserKnown"  # dispatcher: a signed-up user asked again
METRIC_USER_ASSIGNED = "UserAssigned"  # dispatcher: a new user placed
METRIC_STALE_LOAD_CORRECTED = "StaleLoadCorrected"  # dispatcher: index snapshot was stale
METRIC_ASSIGNMENT_RETRY = "AssignmentRetry"  # dispatcher: a cell refused the transaction
METRIC_NO_CAPACITY = "NoCapacity"  # dispatcher: no placeable cell
METRIC_MAPPING_RETURNED = "MappingReturned"  # mapper
METRIC_USER_NOT_FOUND = "UserNotFound"  # mapper/validator: caller has no cell
METRIC_CELL_REGISTERED = "CellRegistered"  # registrar: a CellReady recorded
METRIC_SCALE_OUT_DEDUPLICATED = "ScaleOutDeduplicated"  # scaler: episode already open
METRIC_PROVISIONING_FAILED = "ProvisioningFailed"  # scaler: CellRequested not sent
METRIC_PROVISIONING_REQUESTED = "ProvisioningRequested"  # scaler: CellRequested sent
METRIC_ENDPOINTS_VALIDATED = "EndpointsValidated"  # validator
METRIC_CACHED_ENDPOINTS_STALE = "CachedEndpointsStale"  # validator
METRIC_CELL_UNHEALTHY = "CellUnhealthy"  # validator
# Failure modes (#11); the router's alarms (components/router_alarms.py) read these.
METRIC_UNKNOWN_MARKET = "UnknownMarket"  # dispatcher: a market the router does not know
METRIC_SERVICE_UNAVAILABLE = "ServiceUnavailable"  # any: AWS failed until the deadline
METRIC_UNEXPECTED_ERROR = "UnexpectedError"  # any: an exception that is not an answer
METRIC_INDEX_REPAIRED = "PlaceableIndexRepaired"  # dispatcher: placeable index entry fixed
METRIC_DANGLING_MAPPING = "DanglingMapping"  # mapper/validator: mapped cell is gone
METRIC_DANGLING_MAPPING_REPAIRED = "DanglingMappingRepaired"  # dispatcher: mapping replaced
METRIC_SCALE_OUT_RESENT = "ScaleOutResent"  # scaler/dispatcher/sweeper: episode resent
# Trust boundaries (issue #10).
METRIC_CELL_LIMIT_REACHED = "CellLimitReached"  # registrar/scaler: market at maxCellsPerMarket
METRIC_CELL_READY_UNCHANGED = "CellReadyUnchanged"  # registrar: a replay, or create-only event
METRIC_ENDPOINT_DOWN = "EndpointDown"  # validator: a probed endpoint did not answer 2xx/3xx
METRIC_ENDPOINT_REFUSED = "EndpointRefused"  # validator: an endpoint failed the fetch policy
METRIC_SELF_SIGN_UP_ALLOWED = "SelfSignUpAllowed"  # sign_up_gate: e-mail domain admitted
METRIC_SELF_SIGN_UP_REFUSED = "SelfSignUpRefused"  # sign_up_gate: e-mail domain refused

# Per market and per cell (values come from the table, never from a request,
# so the number of distinct metrics is bounded by the cells that exist).
METRIC_SIGN_UP_PLACED = "SignUpPlaced"  # Count: a new user placed in the market
METRIC_SIGN_UP_REFUSED = "SignUpRefused"  # Count: a sign-up refused, ``reason`` = error
METRIC_CELL_OCCUPANCY = "CellOccupancy"  # Percent: users / maxCapacity after a change
#: ``marketId`` of a refusal in a market with no healthy, active cell: the
#: requested name is then only the caller's input and must not mint a metric.
#: ``#`` is never in a market id.
MARKET_WITHOUT_CELLS = "#no-active-cell"

#: metric name -> exact dimension names (what an alarm or a dashboard must give).
METRIC_DIMENSIONS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        (
            METRIC_USER_KNOWN,
            METRIC_USER_ASSIGNED,
            METRIC_STALE_LOAD_CORRECTED,
            METRIC_ASSIGNMENT_RETRY,
            METRIC_NO_CAPACITY,
            METRIC_MAPPING_RETURNED,
            METRIC_USER_NOT_FOUND,
            METRIC_CELL_REGISTERED,
            METRIC_SCALE_OUT_DEDUPLICATED,
            METRIC_PROVISIONING_FAILED,
            METRIC_PROVISIONING_REQUESTED,
            METRIC_ENDPOINTS_VALIDATED,
            METRIC_CACHED_ENDPOINTS_STALE,
            METRIC_CELL_UNHEALTHY,
            METRIC_UNKNOWN_MARKET,
            METRIC_SERVICE_UNAVAILABLE,
            METRIC_UNEXPECTED_ERROR,
            METRIC_INDEX_REPAIRED,
            METRIC_DANGLING_MAPPING,
            METRIC_DANGLING_MAPPING_REPAIRED,
            METRIC_SCALE_OUT_RESENT,
            METRIC_CELL_LIMIT_REACHED,
            METRIC_CELL_READY_UNCHANGED,
            METRIC_ENDPOINT_DOWN,
            METRIC_ENDPOINT_REFUSED,
            METRIC_SELF_SIGN_UP_ALLOWED,
            METRIC_SELF_SIGN_UP_REFUSED,
        ),
        (SERVICE_DIMENSION,),
    ),
    METRIC_SIGN_UP_PLACED: (SERVICE_DIMENSION, MARKET_DIMENSION),
    METRIC_SIGN_UP_REFUSED: (SERVICE_DIMENSION, MARKET_DIMENSION, REASON_DIMENSION),
    METRIC_CELL_OCCUPANCY: (SERVICE_DIMENSION, MARKET_DIMENSION, CELL_DIMENSION),
}

#: A market id: the partition key of its cells, so never a helper prefix.
MARKET_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: Partition prefixes of the table's helper items. ``#`` cannot occur in a
#: market id, so these never collide with cells or show up in a market query.
USER_PREFIX = "USER#"
SCALE_PREFIX = "SCALE#"
#: The one partition of the known-market items (sort key: the market id).
MARKET_PARTITION = "MARKET#"

STATUS_ACTIVE = "ACTIVE"
STATUS_DRAINING = "DRAINING"
STATUS_DISABLED = "DISABLED"


def utc_timestamp(epoch: float | None = None) -> str:
    """ISO 8601 UTC to the second, e.g. ``2025-01-01T00:00:00Z``."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Endpoint:
    url: str
    region: str

    def as_dict(self) -> dict[str, str]:
        return {"url": self.url, "region": self.region}


@dataclass(frozen=True)
class Cell:
    market_id: str
    cell_id: str
    current_capacity: int
    max_capacity: int
    healthy: bool
    status: str = STATUS_ACTIVE
    # endPoint_1 first: clients try them in this order.
    endpoints: tuple[Endpoint, ...] = ()
    #: Whether the item is in the sparse placeable-cells index.
    listed: bool = False
    #: Counter items of the cell (issue #14, ``slots``): 1 = the cell item
    #: is its own and only slot (the SPEC's layout).
    slots: int = 1
    #: Shards of its market's placeable index the cell item last carried
    #: (written by the roll-up; 0 = not known).
    shards: int = 0
    #: The placeable index partition the item carries ("" = not listed).
    listed_in: str = ""

    @property
    def active(self) -> bool:
        return self.status == STATUS_ACTIVE


@dataclass(frozen=True)
class Mapping:
    """Where one user lives. ``user_key`` is the keyed hash of the token's
    subject (``identity``), never the subject itself."""

    user_key: str
    market_id: str
    cell_id: str
    assigned_at: str


def routing_result(
    cell: Cell,
    *,
    ttl_seconds: int,
    new_assignment: bool,
    current_capacity: int | None = None,
) -> dict[str, Any]:
    """The dispatcher/mapper result. ``current_capacity`` adds ``cellLoad``,
    the dispatcher's hint for the scaler (the state machine strips it)."""
    result: dict[str, Any] = {
        "cellId": cell.cell_id,
        "marketId": cell.market_id,
        "endpoints": [endpoint.as_dict() for endpoint in cell.endpoints],
        "ttlSeconds": ttl_seconds,
        "newAssignment": new_assignment,
    }
    if current_capacity is not None:
        result["cellLoad"] = {
            "currentCapacity": current_capacity,
            "maxCapacity": cell.max_capacity,
        }
    return result
