"""The router table: key layout and every read and write the handlers make.

Item layout (one table, ``TABLE_NAME``):

* cell: ``marketId=<market>``, ``cellId=<cell>``, ``currentCapacity`` N,
  ``maxCapacity`` N, ``endPoint_1``/``endPoint_2``, ``regionCode_1``/
  ``regionCode_2``, ``IsHealthy`` BOOL, optional ``status``
  (ACTIVE|DRAINING|DISABLED, absent = ACTIVE), ``registeredAt``/``updatedAt``.
* user mapping: ``marketId="USER#<user key>"`` (``identity``: HMAC of the sub),
  ``cellId="MAPPING"``, ``assignedMarketId``, ``assignedCellId``,
  ``assignedAt``. No ``currentCapacity``, so never in the capacity index.
* scale-out episode: ``marketId="SCALE#<market>"``, ``cellId="SCALE_OUT"``,
  ``episodeId``, ``status`` OPEN|CLOSED, ``openedAt``/``openedAtEpoch``,
  ``triggeringCellId``, ``reason``, ``sent`` BOOL (the request reached the
  queue), ``sentAt``/``lastSentAtEpoch``, ``sends`` N, ``closedAt``/
  ``closedByCellId``.
* known market: ``marketId="MARKET#"``, ``cellId=<market>``, ``registeredAt``.
  Written when a market opens a scale-out episode (``scaleout``); cells are
  recorded by ``registration``, which does not write it. The router answers ``UnknownMarket``
  for a market with no cells and no such item. One partition, so the sweeper
  lists every market with one query.

The placeable-cells index (``PLACEABLE_INDEX``) is sparse: a cell carries
``placeableMarketId`` (= its market) only while it is healthy, ``ACTIVE`` and
below its assignable limit, so one index page always holds placeable cells,
however many unhealthy or full cells the market has. The writes that change
placeability maintain it: the assignment that takes a cell's last slot
removes it, ``registration`` lists a new cell itself, and the dispatcher
repairs an entry it finds wrong or missing (an operator marking a cell
unhealthy without removing it; a cell from before the index existed) on the
refusal path, which reads the market's cells consistently before it ever
answers ``NoCapacity``.

Slotted cells (issue #14, ``SLOTS_PER_CELL`` above 1; ``slots``): a cell item
carries ``slots`` N and, from the roll-up, ``placeableShards`` N; its
``placeableMarketId`` is ``<market>#<shard>``; each slot is an item
``marketId="SLOT#<market>#<cell>#<k>"``, ``cellId="SLOT"`` with ``slotLoad``,
``slotLimit``, ``slotOf`` and copies of the cell's ``IsHealthy``/``status``
(``slot_item``, ``assign_slot``, ``read_slots``, ``roll_up_cell``,
``sync_slot``).

``#`` is not allowed in a market id, so no helper item can collide with
a market's partition.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from handlers.cell_router import aws_clients, budget, slots, writer_store

# Private names kept because bench/contention.py calls store._dump/_code.
from handlers.cell_router.attribute_values import dump as _dump
from handlers.cell_router.attribute_values import load as _load
from handlers.cell_router.budget import Deadline
from handlers.cell_router.budget import error_code as _code

# The table's keys and indexes are declared once, in the family's contract
# (components.schemas takes them from there too); re-exported for callers.
from handlers.cell_router.contract import CAPACITY_ATTRIBUTE as CAPACITY_ATTRIBUTE
from handlers.cell_router.contract import CAPACITY_INDEX as CAPACITY_INDEX
from handlers.cell_router.contract import PARTITION_KEY as PARTITION_KEY
from handlers.cell_router.contract import PLACEABLE_ATTRIBUTE as PLACEABLE_ATTRIBUTE
from handlers.cell_router.contract import PLACEABLE_INDEX as PLACEABLE_INDEX
from handlers.cell_router.contract import SORT_KEY as SORT_KEY
from handlers.cell_router.model import (
    MARKET_PARTITION,
    SCALE_PREFIX,
    STATUS_ACTIVE,
    USER_PREFIX,
    Cell,
    Endpoint,
    Mapping,
)

#: Slotted cells (issue #14): the cell item's slot count and the shard count
#: of its market's placeable index (written by the roll-up); a slot item's
#: counter, share and cell. See ``slots``.
SLOTS_ATTRIBUTE = "slots"
SHARDS_ATTRIBUTE = "placeableShards"
SLOT_LOAD_ATTRIBUTE = "slotLoad"
SLOT_LIMIT_ATTRIBUTE = "slotLimit"
SLOT_CELL_ATTRIBUTE = "slotOf"

MAPPING_SORT_KEY = "MAPPING"
EPISODE_SORT_KEY = "SCALE_OUT"
EPISODE_OPEN = "OPEN"
EPISODE_CLOSED = "CLOSED"

#: Cells read per placeable-index page, least-loaded first. Every entry is
#: placeable unless an out-of-band write left it stale.
QUERY_PAGE_SIZE = 10
#: Pages read at most before the refusal path's consistent market read.
MAX_QUERY_PAGES = 2

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
    SLOTS_ATTRIBUTE,
    SHARDS_ATTRIBUTE,
)
_CELL_NAMES = {f"#a{i}": name for i, name in enumerate(_CELL_ATTRIBUTES)}
_CELL_PROJECTION = ", ".join(_CELL_NAMES)


def mapping_key(user_key: str) -> dict[str, str]:
    return {PARTITION_KEY: USER_PREFIX + user_key, SORT_KEY: MAPPING_SORT_KEY}


def episode_key(market_id: str) -> dict[str, str]:
    return {PARTITION_KEY: SCALE_PREFIX + market_id, SORT_KEY: EPISODE_SORT_KEY}


def market_key(market_id: str) -> dict[str, str]:
    return {PARTITION_KEY: MARKET_PARTITION, SORT_KEY: market_id}


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
        listed=bool(item.get(PLACEABLE_ATTRIBUTE)),
        slots=max(1, int(item.get(SLOTS_ATTRIBUTE) or 1)),
        shards=int(item.get(SHARDS_ATTRIBUTE) or 0),
        listed_in=str(item.get(PLACEABLE_ATTRIBUTE) or ""),
    )


@dataclass(frozen=True)
class SlotLoad:
    """One slot item as read (issue #14)."""

    cell_id: str
    slot: int
    load: int
    limit: int
    healthy: bool
    status: str

    @property
    def free(self) -> bool:
        return self.healthy and self.status == STATUS_ACTIVE and self.load < self.limit


def slot_item(cell: Cell, slot: int, limit: int, load: int = 0) -> dict[str, Any]:
    """A slot item of ``cell`` (plain values): its share ``limit`` of the
    cell's assignable limit, its ``load``, and copies of the cell's health
    and status (the sign-up transaction's condition reads them here, never
    on the cell item)."""
    return {
        **slots.slot_key(cell.market_id, cell.cell_id, slot),
        SLOT_CELL_ATTRIBUTE: cell.cell_id,
        SLOT_LOAD_ATTRIBUTE: load,
        SLOT_LIMIT_ATTRIBUTE: limit,
        "IsHealthy": cell.healthy,
        "status": cell.status,
    }


def mapping_from_item(item: dict[str, Any]) -> Mapping:
    return Mapping(
        user_key=str(item[PARTITION_KEY]).removeprefix(USER_PREFIX),
        market_id=str(item["assignedMarketId"]),
        cell_id=str(item["assignedCellId"]),
        assigned_at=str(item.get("assignedAt", "")),
    )


@dataclass(frozen=True)
class Episode:
    """A market's scale-out episode (one item per market)."""

    market_id: str
    episode_id: str
    open: bool
    sent: bool
    opened_at_epoch: int
    last_sent_at_epoch: int
    sends: int
    triggering_cell_id: str | None
    reason: str
    trigger_current_capacity: int | None = None
    trigger_max_capacity: int | None = None
    opened_at: str = ""


def episode_from_item(item: dict[str, Any]) -> Episode:
    def number(name: str) -> int | None:
        value = item.get(name)
        return None if value is None else int(value)

    return Episode(
        market_id=str(item[PARTITION_KEY]).removeprefix(SCALE_PREFIX),
        episode_id=str(item.get("episodeId", "")),
        open=item.get("status") == EPISODE_OPEN,
        # Episodes written before requests became durable were sent before
        # they were stored; only an explicit false means "not sent".
        sent=item.get("sent") is not False,
        opened_at_epoch=number("openedAtEpoch") or 0,
        last_sent_at_epoch=number("lastSentAtEpoch") or number("openedAtEpoch") or 0,
        sends=number("sends") or 0,
        triggering_cell_id=str(item["triggeringCellId"]) if item.get("triggeringCellId") else None,
        reason=str(item.get("reason") or "threshold"),
        trigger_current_capacity=number("triggerCurrentCapacity"),
        trigger_max_capacity=number("triggerMaxCapacity"),
        opened_at=str(item.get("openedAt", "")),
    )


class AssignOutcome(enum.Enum):
    PLACED = "placed"
    #: Someone (a repeated sign-up of the same user) placed this user first.
    ALREADY_MAPPED = "already-mapped"
    #: The cell cannot take the user: full, unhealthy, inactive or resized
    #: (DynamoDB returned the item that proves it, or nothing at all).
    CELL_REJECTED = "cell-rejected"
    #: The cell could take the user, but holds another load than the caller
    #: assumed: the index snapshot was stale. ``observed_capacity`` is the
    #: real load; assign again with ``exact_load``.
    STALE_LOAD = "stale-load"
    #: The market's writer record no longer names this region under the
    #: epoch the sign-up gate decided on (issue #13): nothing was written.
    WRITER_MOVED = "writer-moved"
    #: Another transaction held the slot (``TransactionConflict``): nothing
    #: was written; the slotted dispatcher draws again (issue #14).
    LOST_RACE = "lost-race"


@dataclass(frozen=True)
class AssignResult:
    outcome: AssignOutcome
    mapping: Mapping | None = None
    #: The cell's load before the attempt, when DynamoDB returned it.
    observed_capacity: int | None = None
    #: The cell as DynamoDB returned it on a rejection (for index repair).
    observed_cell: Cell | None = None


class RouterStore:
    """Every read and write of the router table.

    Each call is made within ``deadline`` (``budget.retrying``): throttles,
    lost transaction races and transient faults are retried with backoff
    while another attempt fits, then raise ``ServiceUnavailable``.
    """

    def __init__(
        self, table_name: str, client: Any | None = None, deadline: Deadline | None = None
    ) -> None:
        self.table_name = table_name
        self._client = client
        self._deadline = deadline
        #: Retries made so far (throttles, conflicts, transient faults).
        self.retries = 0

    @property
    def deadline(self) -> Deadline:
        """The invocation's deadline; without one, each call gets
        ``budget.DEFAULT_BUDGET_SECONDS`` of its own."""
        return self._deadline or Deadline(budget.DEFAULT_BUDGET_SECONDS)

    @property
    def client(self) -> Any:
        return self._client or aws_clients.dynamodb(self.deadline.remaining())

    def _call(
        self,
        what: str,
        operation: Callable[[Any], Any],
        on_retry: Callable[[BaseException], None] | None = None,
    ) -> Any:
        def attempt(seconds_left: float) -> Any:
            return operation(self._client or aws_clients.dynamodb(seconds_left))

        def retried(error: BaseException) -> None:
            self.retries += 1
            if on_retry is not None:
                on_retry(error)

        return budget.retrying(attempt, self.deadline, what=what, on_retry=retried)

    # -- reads -----------------------------------------------------------

    def _get(self, key: dict[str, str], **projection: Any) -> dict[str, Any] | None:
        """One item, read consistently, as plain values (None when absent)."""
        response = self._call(
            "the routing table",
            lambda c: c.get_item(
                TableName=self.table_name, Key=_dump(key), ConsistentRead=True, **projection
            ),
        )
        item = response.get("Item")
        return _load(item) if item else None

    def get_mapping(self, user_key: str) -> Mapping | None:
        item = self._get(mapping_key(user_key))
        return mapping_from_item(item) if item else None

    def get_cell(self, market_id: str, cell_id: str) -> Cell | None:
        item = self._get(
            cell_key(market_id, cell_id),
            ProjectionExpression=_CELL_PROJECTION,
            ExpressionAttributeNames=_CELL_NAMES,
        )
        return cell_from_item(item) if item else None

    def least_loaded_cells(
        self, market_id: str, enough: Callable[[list[Cell]], bool]
    ) -> list[Cell]:
        """Cells of the market from the sparse placeable index, least-loaded
        first; stops at the first page for which ``enough`` holds (normally
        the first), after ``MAX_QUERY_PAGES`` at most. The index is
        eventually consistent: callers re-check placeability themselves."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": PLACEABLE_INDEX,
            "KeyConditionExpression": "#pk = :market",
            "ProjectionExpression": _CELL_PROJECTION,
            "ExpressionAttributeNames": {**_CELL_NAMES, "#pk": PLACEABLE_ATTRIBUTE},
            "ExpressionAttributeValues": _dump({":market": market_id}),
            "ScanIndexForward": True,
            "Limit": QUERY_PAGE_SIZE,
        }
        cells: list[Cell] = []
        for _ in range(MAX_QUERY_PAGES):
            response = self._call("the routing table", lambda c: c.query(**request))
            cells.extend(
                replace(cell_from_item(_load(item)), listed=True)
                for item in response.get("Items", [])
            )
            last_key = response.get("LastEvaluatedKey")
            if enough(cells) or not last_key:
                break
            request["ExclusiveStartKey"] = last_key
        return cells

    def market_cells(self, market_id: str) -> list[Cell]:
        """Every cell of the market, read consistently from the table (all
        pages). The refusal path's proof: ``NoCapacity`` is only answered
        when this holds no placeable cell."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :market",
            "ProjectionExpression": _CELL_PROJECTION + ", #listed",
            "ExpressionAttributeNames": {
                **_CELL_NAMES,
                "#pk": PARTITION_KEY,
                "#listed": PLACEABLE_ATTRIBUTE,
            },
            "ExpressionAttributeValues": _dump({":market": market_id}),
            "ConsistentRead": True,
        }
        cells: list[Cell] = []
        while True:
            response = self._call("the routing table", lambda c: c.query(**request))
            cells.extend(cell_from_item(_load(item)) for item in response.get("Items", []))
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return cells
            request["ExclusiveStartKey"] = last_key

    def market_known(self, market_id: str) -> bool:
        """True when the market has a known-market item."""
        return self._get(market_key(market_id)) is not None

    def known_markets(self) -> list[str]:
        """Every market with a known-market item (one partition, all pages)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :markets",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            "ExpressionAttributeValues": _dump({":markets": MARKET_PARTITION}),
            "ProjectionExpression": "#sk",
        }
        markets: list[str] = []
        while True:
            response = self._call("the routing table", lambda c: c.query(**request))
            markets.extend(str(_load(item)[SORT_KEY]) for item in response.get("Items", []))
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return markets
            request["ExclusiveStartKey"] = last_key

    def remember_market(self, market_id: str, now: str) -> None:
        """Write the known-market item (idempotent)."""
        self._call(
            "the routing table",
            lambda c: c.update_item(
                TableName=self.table_name,
                Key=_dump(market_key(market_id)),
                UpdateExpression="SET registeredAt = if_not_exists(registeredAt, :now)",
                ExpressionAttributeValues=_dump({":now": now}),
            ),
        )

    def market_cell_count(self, market_id: str) -> int:
        """Cells recorded for the market: a consistent ``Select=COUNT`` Query
        of its partition (every item there is a cell; slots live under
        ``SLOT#``), all pages, within the deadline."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :market",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": _dump({":market": market_id}),
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        total = 0
        while True:
            response = self._call("the routing table", lambda c: c.query(**request))
            total += int(response.get("Count", 0))
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return total
            request["ExclusiveStartKey"] = last_key

    # -- slotted cells (issue #14) ---------------------------------------

    def shard_cells(self, market_id: str, shard: int) -> list[Cell]:
        """One shard of the market's placeable index (one page, eventually
        consistent): the slotted dispatcher's snapshot. Entries are
        ``listed``; their ``currentCapacity`` is the last roll-up."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": PLACEABLE_INDEX,
            "KeyConditionExpression": "#pk = :shard",
            "ProjectionExpression": _CELL_PROJECTION,
            "ExpressionAttributeNames": {**_CELL_NAMES, "#pk": PLACEABLE_ATTRIBUTE},
            "ExpressionAttributeValues": _dump(
                {":shard": slots.placeable_partition(market_id, shard)}
            ),
            # A shard holds SHARD_CELLS cells, a few more between a
            # registration and the next roll-up.
            "Limit": 4 * slots.SHARD_CELLS,
        }
        response = self._call("the routing table", lambda c: c.query(**request))
        return [
            replace(cell_from_item(_load(item)), listed=True) for item in response.get("Items", [])
        ]

    def read_slots(self, cells: list[Cell]) -> list[SlotLoad]:
        """Every slot of ``cells`` read strongly (BatchGetItem, 100 keys a
        call, unprocessed keys re-asked). A cell with one slot is its own
        slot: its load is the cell item's ``currentCapacity``, as given."""
        found: list[SlotLoad] = []
        keys: list[dict[str, Any]] = []
        for cell in cells:
            if cell.slots <= 1:
                found.append(
                    SlotLoad(cell.cell_id, 0, cell.current_capacity, -1, cell.healthy, cell.status)
                )
                continue
            keys.extend(
                _dump(slots.slot_key(cell.market_id, cell.cell_id, k)) for k in range(cell.slots)
            )
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {
                self.table_name: {"Keys": keys[start : start + 100], "ConsistentRead": True}
            }
            while pending:
                response = self._call(
                    "the routing table",
                    lambda c, request=pending: c.batch_get_item(RequestItems=request),
                )
                for raw in response.get("Responses", {}).get(self.table_name, []):
                    found.append(_slot_from_item(_load(raw)))
                pending = response.get("UnprocessedKeys") or {}
        return found

    def assign_slot(
        self,
        mapping: Mapping,
        cell: Cell,
        slot: int,
        share: int,
        known_load: int | None = None,
        writer_check: dict[str, Any] | None = None,
    ) -> AssignResult:
        """One transaction: the mapping put (only if the user has none) and
        one slot's conditional ADD -- healthy, active, below the slot's own
        ``slotLimit`` -- so the cell never passes its assignable limit.

        Scale-out is edge-triggered: ``share`` is the slot's share of the
        cell's scale-out point (``slots.slot_scale_out_count``), and the
        condition proves which side of it this sign-up is on. Without
        ``known_load`` (or below it) the slot must stay below ``share``;
        at ``share - 1`` it must be exactly that (this sign-up crosses);
        at or past ``share``, anywhere from there to its limit. When only
        that bound fails the result is ``STALE_LOAD`` with the slot's real
        load; a full or unhealthy slot is ``CELL_REJECTED``; another
        transaction holding the slot is ``LOST_RACE`` (not retried here: the
        dispatcher draws another slot). Throttles are retried within the
        deadline.
        """
        names = {
            "#load": SLOT_LOAD_ATTRIBUTE,
            "#limit": SLOT_LIMIT_ATTRIBUTE,
            "#healthy": "IsHealthy",
            "#st": "status",
        }
        values: dict[str, Any] = {":true": True, ":active": STATUS_ACTIVE, ":one": 1}
        condition = (
            "#healthy = :true AND (attribute_not_exists(#st) OR #st = :active) AND #load < #limit"
        )
        if known_load is None or known_load + 1 < share:
            condition += " AND #load < :below"
            values[":below"] = max(0, share - 1)
        elif known_load + 1 == share:
            condition += " AND #load = :load"
            values[":load"] = known_load
        else:
            condition += " AND #load >= :share"
            values[":share"] = share
        token = uuid.uuid4().hex
        mapping_item = {
            **mapping_key(mapping.user_key),
            "assignedMarketId": mapping.market_id,
            "assignedCellId": mapping.cell_id,
            "assignedAt": mapping.assigned_at,
            "assignmentId": token,
        }
        items = [
            self._mapping_put(mapping_item),
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _dump(slots.slot_key(cell.market_id, cell.cell_id, slot)),
                    "UpdateExpression": "ADD #load :one",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": _dump(values),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            *([writer_check] if writer_check else []),
        ]

        def attempt(client: Any) -> bool:
            try:
                # Same token on a retry after a timeout or server error: a
                # transaction that did commit is not applied twice.
                client.transact_write_items(TransactItems=items, ClientRequestToken=token)
            except ClientError as error:
                reasons = budget.cancellation_reasons(error)
                if "TransactionConflict" in reasons and "ConditionalCheckFailed" not in reasons:
                    return False
                raise
            return True

        try:
            committed = self._call("cell assignment", attempt)
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise
            result = _slot_cancelled(error, token)
            return (
                replace(result, mapping=mapping)
                if result.mapping is None and (result.outcome is AssignOutcome.PLACED)
                else result
            )
        if not committed:
            return AssignResult(AssignOutcome.LOST_RACE)
        return AssignResult(AssignOutcome.PLACED, mapping)

    def roll_up_cell(self, cell: Cell, load: int, partition: str | None, shards: int) -> bool:
        """Write a slotted cell's roll-up: ``currentCapacity`` = the sum of
        its slots, and its entry in the sharded placeable index
        (``partition``; None takes it out). Only while the cell's health,
        status and size are still those the roll-up read. False when they
        changed (the next roll-up redoes it)."""
        names = {
            "#cap": CAPACITY_ATTRIBUTE,
            "#listed": PLACEABLE_ATTRIBUTE,
            "#shards": SHARDS_ATTRIBUTE,
            "#healthy": "IsHealthy",
            "#st": "status",
            "#max": "maxCapacity",
            "#pk": PARTITION_KEY,
        }
        values: dict[str, Any] = {
            ":load": load,
            ":shards": shards,
            ":healthy": cell.healthy,
            ":max": cell.max_capacity,
            ":active": STATUS_ACTIVE,
        }
        update = "SET #cap = :load, #shards = :shards"
        if partition is None:
            update += " REMOVE #listed"
        else:
            update += ", #listed = :partition"
            values[":partition"] = partition
        status = "(attribute_not_exists(#st) OR #st = :active)" if cell.active else "#st = :status"
        if not cell.active:
            values[":status"] = cell.status
        return self._conditional(
            lambda c: c.update_item(
                TableName=self.table_name,
                Key=_dump(cell_key(cell.market_id, cell.cell_id)),
                UpdateExpression=update,
                ConditionExpression=(
                    f"attribute_exists(#pk) AND #healthy = :healthy AND #max = :max AND {status}"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_dump(values),
            )
        )

    def sync_slot(self, cell: Cell, slot: int, limit: int) -> bool:
        """Copy the cell's health and status onto one of its slots and set
        the slot's share ``limit`` (after an operator's change or a resize);
        creates a missing slot empty. Never touches the slot's load."""
        return self._conditional(
            lambda c: c.update_item(
                TableName=self.table_name,
                Key=_dump(slots.slot_key(cell.market_id, cell.cell_id, slot)),
                UpdateExpression=(
                    "SET #healthy = :healthy, #st = :status, #limit = :limit, #of = :cell,"
                    " #load = if_not_exists(#load, :zero)"
                ),
                ExpressionAttributeNames={
                    "#healthy": "IsHealthy",
                    "#st": "status",
                    "#limit": SLOT_LIMIT_ATTRIBUTE,
                    "#of": SLOT_CELL_ATTRIBUTE,
                    "#load": SLOT_LOAD_ATTRIBUTE,
                },
                ExpressionAttributeValues=_dump(
                    {
                        ":healthy": cell.healthy,
                        ":status": cell.status,
                        ":limit": limit,
                        ":cell": cell.cell_id,
                        ":zero": 0,
                    }
                ),
            )
        )

    def _mapping_put(self, mapping_item: dict[str, Any]) -> dict[str, Any]:
        """The sign-up transaction's first item: the caller's mapping, only if
        absent (a lost race returns the mapping that won, ``ALL_OLD``)."""
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": _dump(mapping_item),
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    # -- the placeable index ---------------------------------------------

    def list_cell(self, cell: Cell, limit: int) -> bool:
        """Put a placeable cell (back) into the placeable index; False when
        the cell is no longer placeable."""
        return self._conditional(
            lambda c: c.update_item(
                TableName=self.table_name,
                Key=_dump(cell_key(cell.market_id, cell.cell_id)),
                UpdateExpression="SET #listed = :market",
                ConditionExpression=_PLACEABLE_CONDITION,
                ExpressionAttributeNames=_PLACEABLE_NAMES,
                ExpressionAttributeValues=_dump(
                    {
                        ":market": cell.market_id,
                        ":true": True,
                        ":active": STATUS_ACTIVE,
                        ":limit": limit,
                    }
                ),
            )
        )

    def unlist_cell(self, cell: Cell, limit: int) -> bool:
        """Take a cell that cannot take users out of the placeable index;
        False when it is placeable after all (or gone)."""
        return self._conditional(
            lambda c: c.update_item(
                TableName=self.table_name,
                Key=_dump(cell_key(cell.market_id, cell.cell_id)),
                UpdateExpression="REMOVE #listed",
                ConditionExpression=(f"attribute_exists(#listed) AND NOT ({_PLACEABLE_CONDITION})"),
                ExpressionAttributeNames=_PLACEABLE_NAMES,
                ExpressionAttributeValues=_dump(
                    {":true": True, ":active": STATUS_ACTIVE, ":limit": limit}
                ),
            )
        )

    def _conditional(self, operation: Callable[[Any], Any]) -> bool:
        try:
            self._call("the routing table", operation)
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- assignment ------------------------------------------------------

    def assign(
        self,
        mapping: Mapping,
        cell: Cell,
        limit: int,
        below: int | None = None,
        exact_load: int | None = None,
        writer_check: dict[str, Any] | None = None,
    ) -> AssignResult:
        """One transaction: write the mapping only if the user has none, and
        count the user on the cell only if it is healthy, active, below
        ``limit`` and still the size we computed the limit from.

        The cell leaves the placeable index in the same transaction when
        this user takes its last slot. Without ``exact_load`` the cell is
        incremented only while that is not the case (load below
        ``limit - 1``) and, when ``below`` is given, while its load is under
        that too (the dispatcher passes the scale-out point, so the
        transaction itself proves "this sign-up did not reach the
        threshold"). When only those extra bounds fail, the result is
        ``STALE_LOAD`` with the load DynamoDB returned; the caller assigns
        again with ``exact_load`` (condition: the load is exactly that).

        Throttling and lost races (cancellation reasons ``ThrottlingError``,
        ``TransactionConflict``...) are retried inside the deadline.

        ``writer_check`` (``writer_store.condition_check``), when given, is a
        third item proving this region still writes the market under the
        epoch the gate decided; when it fails the result is ``WRITER_MOVED``.
        """
        names = {
            "#cap": CAPACITY_ATTRIBUTE,
            "#healthy": "IsHealthy",
            "#st": "status",
            "#max": "maxCapacity",
        }
        values: dict[str, Any] = {
            ":true": True,
            ":active": STATUS_ACTIVE,
            ":max": cell.max_capacity,
        }
        condition = "#healthy = :true AND (attribute_not_exists(#st) OR #st = :active)"
        condition += " AND #max = :max"
        if exact_load is None:
            bound = limit - 1 if below is None else min(limit - 1, below)
            update = "ADD #cap :one"
            condition += " AND #cap < :bound"
            values.update({":one": 1, ":bound": bound})
        else:
            if exact_load >= limit:
                return AssignResult(AssignOutcome.CELL_REJECTED)
            update = "SET #cap = :next"
            if exact_load + 1 >= limit:
                update += " REMOVE #listed"
                names["#listed"] = PLACEABLE_ATTRIBUTE
            condition += (
                " AND #cap = :load"
                if exact_load
                else " AND (#cap = :load OR attribute_not_exists(#cap))"
            )
            values.update({":load": exact_load, ":next": exact_load + 1})
        # The same token on a retry after a timeout or a server error, so a
        # transaction that did commit is not applied twice; a new one after a
        # cancellation, which certainly did not commit.
        token = [uuid.uuid4().hex]
        # Names this assignment in the mapping: when a retry finds the user
        # already mapped by this very assignment (a commit whose answer was
        # lost, where the token did not make the retry a no-op), it is ours.
        assignment_id = token[0]
        mapping_item = {
            **mapping_key(mapping.user_key),
            "assignedMarketId": mapping.market_id,
            "assignedCellId": mapping.cell_id,
            "assignedAt": mapping.assigned_at,
            "assignmentId": assignment_id,
        }

        def renew_token(error: BaseException) -> None:
            if _code(error) == "TransactionCanceledException":
                token[0] = uuid.uuid4().hex

        try:
            self._call(
                "cell assignment",
                lambda c: c.transact_write_items(
                    TransactItems=[
                        self._mapping_put(mapping_item),
                        {
                            "Update": {
                                "TableName": self.table_name,
                                "Key": _dump(cell_key(cell.market_id, cell.cell_id)),
                                "UpdateExpression": update,
                                "ConditionExpression": condition,
                                "ExpressionAttributeNames": names,
                                "ExpressionAttributeValues": _dump(values),
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            }
                        },
                        *([writer_check] if writer_check else []),
                    ],
                    ClientRequestToken=token[0],
                ),
                on_retry=renew_token,
            )
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise
            result = _cancelled(error, cell, limit)
            if result.outcome is AssignOutcome.ALREADY_MAPPED and _is_ours(error, assignment_id):
                return AssignResult(AssignOutcome.PLACED, mapping)
            return result
        return AssignResult(AssignOutcome.PLACED, mapping)

    def read_writer(self, market_id: str, peer_region: str | None) -> Any:
        """The market's writer record and the peer's heartbeat (issue #13),
        one BatchGetItem within the deadline."""
        return self._call(
            "writer check",
            lambda c: writer_store.read_gate(c, self.table_name, market_id, peer_region),
        )

    def forget_mapping(self, mapping: Mapping) -> bool:
        """Delete a mapping whose cell no longer exists (only while it still
        points at that cell). True when deleted."""
        return self._conditional(
            lambda c: c.delete_item(
                TableName=self.table_name,
                Key=_dump(mapping_key(mapping.user_key)),
                ConditionExpression="assignedCellId = :cell AND assignedMarketId = :market",
                ExpressionAttributeValues=_dump(
                    {":cell": mapping.cell_id, ":market": mapping.market_id}
                ),
            )
        )

    # -- scale-out episodes ----------------------------------------------

    def get_episode(self, market_id: str) -> Episode | None:
        item = self._get(episode_key(market_id))
        return episode_from_item(item) if item else None

    def get_episodes(self, market_ids: list[str]) -> list[Episode]:
        """The episodes of these markets (those that have one), batched."""
        episodes: list[Episode] = []
        for start in range(0, len(market_ids), 100):
            keys = [_dump(episode_key(m)) for m in market_ids[start : start + 100]]
            pending: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
            while pending:
                response = self._call(
                    "the routing table",
                    lambda c, request=pending: c.batch_get_item(RequestItems=request),
                )
                items = response.get("Responses", {}).get(self.table_name, [])
                episodes.extend(episode_from_item(_load(item)) for item in items)
                pending = response.get("UnprocessedKeys") or {}
        return episodes

    def open_episode(
        self,
        *,
        market_id: str,
        episode_id: str,
        triggering_cell_id: str | None,
        opened_at: str,
        opened_at_epoch: int,
        reason: str = "threshold",
        trigger_load: tuple[int, int] | None = None,
    ) -> bool:
        """Open the market's scale-out episode, not yet sent, unless one is
        already open. True when this call opened it. (A stale episode is not
        taken over: it is resent, with its own id, by whoever finds it due.)"""
        opened, _ = self.open_or_get_episode(
            market_id=market_id,
            episode_id=episode_id,
            triggering_cell_id=triggering_cell_id,
            opened_at=opened_at,
            opened_at_epoch=opened_at_epoch,
            reason=reason,
            trigger_load=trigger_load,
        )
        return opened

    def open_or_get_episode(
        self,
        *,
        market_id: str,
        episode_id: str,
        triggering_cell_id: str | None,
        opened_at: str,
        opened_at_epoch: int,
        reason: str,
        trigger_load: tuple[int, int] | None,
    ) -> tuple[bool, Episode | None]:
        """``(True, None)`` when this call opened the episode, else
        ``(False, the open episode)`` -- read from the failed condition's
        old item, so deduplication costs no extra round trip."""
        item: dict[str, Any] = {
            **episode_key(market_id),
            "episodeId": episode_id,
            "status": EPISODE_OPEN,
            "openedAt": opened_at,
            "openedAtEpoch": opened_at_epoch,
            "lastSentAtEpoch": opened_at_epoch,
            "reason": reason,
            "sent": False,
            "sends": 0,
        }
        if triggering_cell_id is not None:
            item["triggeringCellId"] = triggering_cell_id
        if trigger_load is not None:
            item["triggerCurrentCapacity"], item["triggerMaxCapacity"] = trigger_load
        try:
            self._call(
                "the routing table",
                lambda c: c.put_item(
                    TableName=self.table_name,
                    Item=_dump(item),
                    ConditionExpression="attribute_not_exists(#pk) OR #st <> :open",
                    ExpressionAttributeNames={"#pk": PARTITION_KEY, "#st": "status"},
                    ExpressionAttributeValues=_dump({":open": EPISODE_OPEN}),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise
            old = error.response.get("Item")
            return False, (episode_from_item(_load(old)) if old else self.get_episode(market_id))
        return True, None

    def claim_resend(self, episode: Episode, now_epoch: int, due_before_epoch: int) -> bool:
        """Claim the next send of an open episode whose last send (or open)
        is older than ``due_before_epoch``: only one sender per round wins."""
        return self._conditional(
            lambda c: c.update_item(
                TableName=self.table_name,
                Key=_dump(episode_key(episode.market_id)),
                UpdateExpression="SET lastSentAtEpoch = :now",
                ConditionExpression=(
                    "#st = :open AND episodeId = :episode AND (lastSentAtEpoch < :due"
                    # An episode stored before sends were recorded.
                    " OR (attribute_not_exists(lastSentAtEpoch) AND openedAtEpoch < :due))"
                ),
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=_dump(
                    {
                        ":open": EPISODE_OPEN,
                        ":episode": episode.episode_id,
                        ":now": now_epoch,
                        ":due": due_before_epoch,
                    }
                ),
            )
        )

    def mark_sent(self, market_id: str, episode_id: str, sent_at: str, now_epoch: int) -> bool:
        """Record that the episode's request reached the queue."""
        return self._conditional(
            lambda c: c.update_item(
                TableName=self.table_name,
                Key=_dump(episode_key(market_id)),
                UpdateExpression=(
                    "SET sent = :true, sentAt = :at, lastSentAtEpoch = :now ADD sends :one"
                ),
                ConditionExpression="episodeId = :episode",
                ExpressionAttributeValues=_dump(
                    {
                        ":true": True,
                        ":at": sent_at,
                        ":now": now_epoch,
                        ":one": 1,
                        ":episode": episode_id,
                    }
                ),
            )
        )

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
        return self._conditional(
            lambda c: c.update_item(
                TableName=self.table_name,
                Key=_dump(episode_key(market_id)),
                UpdateExpression="SET #st = :closed, closedAt = :at, closedByCellId = :cell",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=_dump(values),
            )
        )


_PLACEABLE_CONDITION = (
    "#healthy = :true AND (attribute_not_exists(#st) OR #st = :active) AND #cap < :limit"
)
_PLACEABLE_NAMES = {
    "#listed": PLACEABLE_ATTRIBUTE,
    "#healthy": "IsHealthy",
    "#st": "status",
    "#cap": CAPACITY_ATTRIBUTE,
}


def _slot_from_item(item: dict[str, Any]) -> SlotLoad:
    cell_id = str(item.get(SLOT_CELL_ATTRIBUTE) or "")
    slot = int(str(item[PARTITION_KEY]).rsplit("#", 1)[-1])
    if not cell_id:
        cell_id = str(item[PARTITION_KEY]).split("#")[2]
    return SlotLoad(
        cell_id=cell_id,
        slot=slot,
        load=int(item.get(SLOT_LOAD_ATTRIBUTE, 0)),
        limit=int(item.get(SLOT_LIMIT_ATTRIBUTE, 0)),
        healthy=item.get("IsHealthy") is True,
        status=str(item.get("status") or STATUS_ACTIVE),
    )


def _slot_cancelled(error: ClientError, assignment_id: str) -> AssignResult:
    """What a cancelled slot assignment means (conflicts and throttles never
    get here)."""
    reasons = error.response.get("CancellationReasons") or []
    mapping_reason = reasons[0] if len(reasons) > 0 else {}
    slot_reason = reasons[1] if len(reasons) > 1 else {}
    if mapping_reason.get("Code") == "ConditionalCheckFailed":
        if _is_ours(error, assignment_id):
            return AssignResult(AssignOutcome.PLACED)
        old = mapping_reason.get("Item")
        return AssignResult(
            AssignOutcome.ALREADY_MAPPED, mapping_from_item(_load(old)) if old else None
        )
    if len(reasons) > 2 and reasons[2].get("Code") == "ConditionalCheckFailed":
        return AssignResult(AssignOutcome.WRITER_MOVED)
    if slot_reason.get("Code") == "ConditionalCheckFailed":
        if not slot_reason.get("Item"):
            return AssignResult(AssignOutcome.CELL_REJECTED)  # no such slot
        old = _slot_from_item(_load(slot_reason["Item"]))
        if old.free:
            return AssignResult(AssignOutcome.STALE_LOAD, observed_capacity=old.load)
        return AssignResult(AssignOutcome.CELL_REJECTED)
    raise error


def _is_ours(error: ClientError, assignment_id: str) -> bool:
    reasons = error.response.get("CancellationReasons") or []
    old = (reasons[0].get("Item") or {}) if reasons else {}
    return old.get("assignmentId", {}).get("S") == assignment_id


def _cancelled(error: ClientError, cell: Cell, limit: int) -> AssignResult:
    """What a cancelled assignment means (throttling and conflicts never get
    here: ``budget.retrying`` retried them until the deadline)."""
    reasons = error.response.get("CancellationReasons") or []
    mapping_reason = reasons[0] if len(reasons) > 0 else {}
    cell_reason = reasons[1] if len(reasons) > 1 else {}
    if mapping_reason.get("Code") == "ConditionalCheckFailed":
        old = mapping_reason.get("Item")
        return AssignResult(
            AssignOutcome.ALREADY_MAPPED, mapping_from_item(_load(old)) if old else None
        )
    if len(reasons) > 2 and reasons[2].get("Code") == "ConditionalCheckFailed":
        return AssignResult(AssignOutcome.WRITER_MOVED)
    if cell_reason.get("Code") == "ConditionalCheckFailed":
        if not cell_reason.get("Item"):
            # The cell item is gone.
            return AssignResult(AssignOutcome.CELL_REJECTED)
        old = cell_from_item(_load(cell_reason["Item"]))
        still_placeable = (
            old.healthy
            and old.active
            and old.max_capacity == cell.max_capacity
            and old.current_capacity < limit
        )
        if still_placeable:
            return AssignResult(AssignOutcome.STALE_LOAD, observed_capacity=old.current_capacity)
        return AssignResult(AssignOutcome.CELL_REJECTED, observed_cell=old)
    # Validation, item size...: not a race; let it surface.
    raise error
