"""The router table: key layout and every read and write the handlers make.

Item layout (one table, ``TABLE_NAME``):

* cell: ``marketId=<market>``, ``cellId=<cell>``, ``currentCapacity`` N,
  ``maxCapacity`` N, ``endPoint_1``/``endPoint_2``, ``regionCode_1``/
  ``regionCode_2``, ``IsHealthy`` BOOL, optional ``status``
  (ACTIVE|DRAINING|DISABLED, absent = ACTIVE), ``registeredAt``/``updatedAt``.
* user mapping: ``marketId="USER#<user key>"`` (``identity``: HMAC of the sub),
  ``cellId="MAPPING"``, ``assignedMarketId``, ``assignedCellId``,
  ``assignedAt``. No ``currentCapacity``, so never in the capacity index.
* scale-out marker: ``marketId="SCALE#<market>"``, ``cellId="SCALE_OUT"``,
  ``episodeId``, ``status`` OPEN|CLOSED, ``openedAt``/``openedAtEpoch``,
  ``triggeringCellId``, ``closedAt``/``closedByCellId``.

``#`` is not allowed in a market id, so neither helper item can collide with
a market's partition.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from handlers.cell_router import aws_clients
from handlers.cell_router.model import (
    SCALE_PREFIX,
    STATUS_ACTIVE,
    USER_PREFIX,
    Cell,
    Endpoint,
    Mapping,
)
from handlers.cell_router.validation import CellReady

# The table's keys and index; tests assert these equal components.schemas.
PARTITION_KEY = "marketId"
SORT_KEY = "cellId"
CAPACITY_INDEX = "marketId-currentCapacity-index"
CAPACITY_ATTRIBUTE = "currentCapacity"

MAPPING_SORT_KEY = "MAPPING"
EPISODE_SORT_KEY = "SCALE_OUT"
EPISODE_OPEN = "OPEN"
EPISODE_CLOSED = "CLOSED"

#: Cells read per index page. Least-loaded come first, so one page almost
#: always holds a placeable cell; unhealthy cells are filtered server-side
#: but still count against the page.
QUERY_PAGE_SIZE = 10
#: Pages read at most when no page holds a placeable cell (a full market).
MAX_QUERY_PAGES = 5

_CELL_ATTRIBUTES = (
    PARTITION_KEY,
    SORT_KEY,
    CAPACITY_ATTRIBUTE,
    "maxCapacity",
    "IsHealthy",
    "status",
    "endPoint_1",
    "endPoint_2",
    "regionCode_1",
    "regionCode_2",
)
_CELL_NAMES = {f"#a{i}": name for i, name in enumerate(_CELL_ATTRIBUTES)}
_CELL_PROJECTION = ", ".join(_CELL_NAMES)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _dump(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _load(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def mapping_key(user_key: str) -> dict[str, str]:
    return {PARTITION_KEY: USER_PREFIX + user_key, SORT_KEY: MAPPING_SORT_KEY}


def episode_key(market_id: str) -> dict[str, str]:
    return {PARTITION_KEY: SCALE_PREFIX + market_id, SORT_KEY: EPISODE_SORT_KEY}


def cell_key(market_id: str, cell_id: str) -> dict[str, str]:
    return {PARTITION_KEY: market_id, SORT_KEY: cell_id}


def cell_from_item(item: dict[str, Any]) -> Cell:
    endpoints = tuple(
        Endpoint(str(item[f"endPoint_{n}"]), str(item.get(f"regionCode_{n}", "")))
        for n in (1, 2)
        if item.get(f"endPoint_{n}")
    )
    return Cell(
        market_id=str(item[PARTITION_KEY]),
        cell_id=str(item[SORT_KEY]),
        current_capacity=int(item.get(CAPACITY_ATTRIBUTE, 0)),
        max_capacity=int(item.get("maxCapacity", 0)),
        healthy=item.get("IsHealthy") is True,
        status=str(item.get("status") or STATUS_ACTIVE),
        endpoints=endpoints,
    )


def mapping_from_item(item: dict[str, Any]) -> Mapping:
    return Mapping(
        user_key=str(item[PARTITION_KEY]).removeprefix(USER_PREFIX),
        market_id=str(item["assignedMarketId"]),
        cell_id=str(item["assignedCellId"]),
        assigned_at=str(item.get("assignedAt", "")),
    )


class AssignOutcome(enum.Enum):
    PLACED = "placed"
    #: Someone (a repeated sign-up of the same user) placed this user first.
    ALREADY_MAPPED = "already-mapped"
    #: Another transaction was writing this user's mapping at the same moment.
    MAPPING_CONFLICT = "mapping-conflict"
    #: The cell is full, unhealthy, inactive, resized, or was contended.
    CELL_REJECTED = "cell-rejected"
    #: The cell could take the user, but holds more than the caller assumed
    #: (``below``): the index snapshot was stale near the scale-out threshold.
    BUSIER_THAN_READ = "busier-than-read"


@dataclass(frozen=True)
class AssignResult:
    outcome: AssignOutcome
    mapping: Mapping | None = None
    #: The cell's load before the attempt, when DynamoDB returned it.
    observed_capacity: int | None = None


class RouterStore:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or aws_clients.dynamodb()

    # -- reads -----------------------------------------------------------

    def get_mapping(self, user_key: str) -> Mapping | None:
        response = self.client.get_item(
            TableName=self.table_name, Key=_dump(mapping_key(user_key)), ConsistentRead=True
        )
        item = response.get("Item")
        return mapping_from_item(_load(item)) if item else None

    def get_cell(self, market_id: str, cell_id: str) -> Cell | None:
        response = self.client.get_item(
            TableName=self.table_name,
            Key=_dump(cell_key(market_id, cell_id)),
            ConsistentRead=True,
            ProjectionExpression=_CELL_PROJECTION,
            ExpressionAttributeNames=_CELL_NAMES,
        )
        item = response.get("Item")
        return cell_from_item(_load(item)) if item else None

    def least_loaded_cells(
        self, market_id: str, enough: Callable[[list[Cell]], bool]
    ) -> list[Cell]:
        """Healthy, active cells of the market from the capacity index,
        least-loaded first; stops at the first page for which ``enough`` holds
        (normally the first), after ``MAX_QUERY_PAGES`` at most."""
        names = {**_CELL_NAMES, "#pk": PARTITION_KEY, "#healthy": "IsHealthy", "#st": "status"}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": CAPACITY_INDEX,
            "KeyConditionExpression": "#pk = :market",
            "FilterExpression": "#healthy = :true AND (attribute_not_exists(#st) OR #st = :active)",
            "ProjectionExpression": _CELL_PROJECTION,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _dump(
                {":market": market_id, ":true": True, ":active": STATUS_ACTIVE}
            ),
            "ScanIndexForward": True,
            "Limit": QUERY_PAGE_SIZE,
        }
        cells: list[Cell] = []
        for _ in range(MAX_QUERY_PAGES):
            response = self.client.query(**request)
            cells.extend(cell_from_item(_load(item)) for item in response.get("Items", []))
            last_key = response.get("LastEvaluatedKey")
            if enough(cells) or not last_key:
                break
            request["ExclusiveStartKey"] = last_key
        return cells

    # -- assignment ------------------------------------------------------

    def assign(
        self, mapping: Mapping, cell: Cell, limit: int, below: int | None = None
    ) -> AssignResult:
        """One transaction: write the mapping only if the user has none, and
        count the user on the cell only if it is healthy, active, below
        ``limit`` and still the size we computed the limit from.

        ``below``, when given, also requires the cell's load to be under it.
        The dispatcher passes the scale-out point so that the transaction
        itself proves "this sign-up did not reach the threshold"; when that
        part alone fails the result is ``BUSIER_THAN_READ`` with the load
        DynamoDB returned, so the caller can retry knowing the exact figure.
        """
        condition = (
            "#healthy = :true"
            " AND (attribute_not_exists(#st) OR #st = :active)"
            " AND #cap < :limit AND #max = :max"
        )
        values: dict[str, Any] = {
            ":one": 1,
            ":true": True,
            ":active": STATUS_ACTIVE,
            ":limit": limit,
            ":max": cell.max_capacity,
        }
        if below is not None:
            condition += " AND #cap < :below"
            values[":below"] = below
        mapping_item = {
            **mapping_key(mapping.user_key),
            "assignedMarketId": mapping.market_id,
            "assignedCellId": mapping.cell_id,
            "assignedAt": mapping.assigned_at,
        }
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _dump(mapping_item),
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": _dump(cell_key(cell.market_id, cell.cell_id)),
                            "UpdateExpression": "ADD #cap :one",
                            "ConditionExpression": condition,
                            "ExpressionAttributeNames": {
                                "#cap": CAPACITY_ATTRIBUTE,
                                "#healthy": "IsHealthy",
                                "#st": "status",
                                "#max": "maxCapacity",
                            },
                            "ExpressionAttributeValues": _dump(values),
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                ],
                # Makes an SDK retry of a transaction that did commit a no-op
                # instead of a spurious "already mapped".
                ClientRequestToken=uuid.uuid4().hex,
            )
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise
            return _cancelled(error, cell, limit, below)
        return AssignResult(AssignOutcome.PLACED, mapping)

    # -- scale-out episodes ----------------------------------------------

    def open_episode(
        self,
        *,
        market_id: str,
        episode_id: str,
        triggering_cell_id: str,
        opened_at: str,
        opened_at_epoch: int,
        stale_before_epoch: int,
    ) -> bool:
        """Open the market's scale-out episode unless one is already open
        (an open episode older than ``stale_before_epoch`` is taken over:
        its request was lost). True when this call opened it."""
        item = {
            **episode_key(market_id),
            "episodeId": episode_id,
            "status": EPISODE_OPEN,
            "openedAt": opened_at,
            "openedAtEpoch": opened_at_epoch,
            "triggeringCellId": triggering_cell_id,
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_dump(item),
                ConditionExpression=(
                    "attribute_not_exists(#pk) OR #st <> :open OR #opened < :stale"
                ),
                ExpressionAttributeNames={
                    "#pk": PARTITION_KEY,
                    "#st": "status",
                    "#opened": "openedAtEpoch",
                },
                ExpressionAttributeValues=_dump(
                    {":open": EPISODE_OPEN, ":stale": stale_before_epoch}
                ),
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_episode(self, market_id: str, episode_id: str) -> None:
        """Remove our own open episode (its request could not be sent)."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=_dump(episode_key(market_id)),
                ConditionExpression="episodeId = :episode",
                ExpressionAttributeValues=_dump({":episode": episode_id}),
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise

    def close_episode(
        self, market_id: str, episode_id: str | None, cell_id: str, closed_at: str
    ) -> bool:
        """End the market's open episode (only the given one, if named)."""
        condition = "#st = :open"
        values: dict[str, Any] = {
            ":open": EPISODE_OPEN,
            ":closed": EPISODE_CLOSED,
            ":at": closed_at,
            ":cell": cell_id,
        }
        if episode_id is not None:
            condition += " AND episodeId = :episode"
            values[":episode"] = episode_id
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_dump(episode_key(market_id)),
                UpdateExpression="SET #st = :closed, closedAt = :at, closedByCellId = :cell",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=_dump(values),
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- registration ----------------------------------------------------

    def upsert_cell(self, ready: CellReady, now: str) -> bool:
        """Create or refresh a cell, healthy and active, keeping the users it
        already counts. True when the cell is new."""
        first, second = ready.endpoints
        response = self.client.update_item(
            TableName=self.table_name,
            Key=_dump(cell_key(ready.market_id, ready.cell_id)),
            UpdateExpression=(
                "SET #cap = if_not_exists(#cap, :zero), maxCapacity = :max,"
                " endPoint_1 = :e1, endPoint_2 = :e2, regionCode_1 = :r1, regionCode_2 = :r2,"
                " IsHealthy = :true, #st = :active,"
                " registeredAt = if_not_exists(registeredAt, :now), updatedAt = :now"
            ),
            ExpressionAttributeNames={"#cap": CAPACITY_ATTRIBUTE, "#st": "status"},
            ExpressionAttributeValues=_dump(
                {
                    ":zero": 0,
                    ":max": ready.max_capacity,
                    ":e1": first.url,
                    ":e2": second.url,
                    ":r1": first.region,
                    ":r2": second.region,
                    ":true": True,
                    ":active": STATUS_ACTIVE,
                    ":now": now,
                }
            ),
            ReturnValues="UPDATED_OLD",
        )
        return not response.get("Attributes")


def _cancelled(
    error: ClientError, cell: Cell | None = None, limit: int = 0, below: int | None = None
) -> AssignResult:
    reasons = error.response.get("CancellationReasons") or []
    mapping_reason = reasons[0] if len(reasons) > 0 else {}
    cell_reason = reasons[1] if len(reasons) > 1 else {}
    mapping_code = mapping_reason.get("Code")
    cell_code = cell_reason.get("Code")
    if mapping_code == "ConditionalCheckFailed":
        old = mapping_reason.get("Item")
        return AssignResult(
            AssignOutcome.ALREADY_MAPPED, mapping_from_item(_load(old)) if old else None
        )
    if mapping_code == "TransactionConflict":
        return AssignResult(AssignOutcome.MAPPING_CONFLICT)
    if (
        cell_code == "ConditionalCheckFailed"
        and cell is not None
        and below is not None
        and cell_reason.get("Item")
    ):
        old = cell_from_item(_load(cell_reason["Item"]))
        still_placeable = (
            old.healthy
            and old.active
            and old.max_capacity == cell.max_capacity
            and old.current_capacity < limit
        )
        if still_placeable and old.current_capacity >= below:
            return AssignResult(
                AssignOutcome.BUSIER_THAN_READ, observed_capacity=old.current_capacity
            )
    if cell_code in {"ConditionalCheckFailed", "TransactionConflict"}:
        return AssignResult(AssignOutcome.CELL_REJECTED)
    # Throttling, validation, capacity...: not a lost race; let it surface.
    raise error
