"""Plain value types of the router and the result shape the API returns (pure)."""

from __future__ import annotations

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
        ),
        (SERVICE_DIMENSION,),
    ),
    METRIC_SIGN_UP_PLACED: (SERVICE_DIMENSION, MARKET_DIMENSION),
    METRIC_SIGN_UP_REFUSED: (SERVICE_DIMENSION, MARKET_DIMENSION, REASON_DIMENSION),
    METRIC_CELL_OCCUPANCY: (SERVICE_DIMENSION, MARKET_DIMENSION, CELL_DIMENSION),
}

#: Partition prefixes of the table's helper items. ``#`` cannot occur in a
#: market id, so these never collide with cells or show up in a market query.
USER_PREFIX = "USER#"
SCALE_PREFIX = "SCALE#"

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

    @property
    def active(self) -> bool:
        return self.status == STATUS_ACTIVE


@dataclass(frozen=True)
class Mapping:
    """Where one user lives. ``user_key`` is the hash, never the email."""

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
