"""Plain value types of the router and the result shape the API returns (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Powertools service name and metric namespace of every router function
#: (the component sets them; the handlers' defaults for local runs match).
SERVICE_NAME = "cell-router"
METRICS_NAMESPACE = "ResilientRouting/CellRouter"

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
