"""Recording a CellReady in the table: who owns which attribute of a cell.

=====================  ==========================================================
provisioning-owned     ``maxCapacity``, ``endPoint_1``/``endPoint_2``,
                       ``regionCode_1``/``regionCode_2``, ``provisioningRevision``
operator-owned         ``IsHealthy``, ``status`` (set once, at creation, to
                       healthy and ACTIVE; never again by the registrar)
router-owned           ``currentCapacity`` (the dispatcher's counter)
=====================  ==========================================================

* A cell that does not exist is created (``attribute_not_exists``), empty,
  healthy and ACTIVE -- unless the market already has
  ``MAX_CELLS_PER_MARKET`` cells (``CellLimitReached``).
* An existing cell is changed only by an event carrying a ``revision`` newer
  than the stored ``provisioningRevision`` (absent counts as older than any),
  and only in its provisioning-owned attributes. An event without a
  revision, or with one already applied, changes nothing: a replay
  (EventBridge's or Lambda's retry, an operator re-sending a failed event)
  can never undo an operator's DRAINING or a health monitor's verdict.

With ``slots`` above 1 (issue #14, ``SLOTS_PER_CELL``) a new cell is written
together with its slot items in one transaction (``TransactWriteItems``: the
cell's ``attribute_not_exists`` put and one put per slot), so no sign-up can
ever see a cell without its slots; the cell carries ``slots`` and joins
shard 0 of its market's sharded placeable index until the next roll-up
places it (``rollup``). A replay is cancelled by the cell's condition and
changes nothing, as above.

The market count is a Query for the market's partition (``Select=COUNT``, a
cell item is small: about 1 RCU per 4 KB read). It is read before the
conditional create, so concurrent registrations in one market can exceed the
cap by the number in flight; the cap bounds cost, it is not a quota.
"""

from __future__ import annotations

import enum
from typing import Any

from botocore.exceptions import ClientError

from handlers.cell_router import placement, slots
from handlers.cell_router.attribute_values import dump
from handlers.cell_router.budget import cancellation_reasons, error_code
from handlers.cell_router.errors import CellLimitReached
from handlers.cell_router.input_parsing import CellReady
from handlers.cell_router.model import STATUS_ACTIVE, Cell
from handlers.cell_router.store import (
    CAPACITY_ATTRIBUTE,
    PARTITION_KEY,
    PLACEABLE_ATTRIBUTE,
    SLOTS_ATTRIBUTE,
    cell_key,
    slot_item,
)

REVISION_ATTRIBUTE = "provisioningRevision"


class Registration(enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # a replay, or an event that may only create


def _provisioned(ready: CellReady) -> dict[str, Any]:
    first, second = ready.endpoints
    return {
        "maxCapacity": ready.max_capacity,
        "endPoint_1": first.url,
        "endPoint_2": second.url,
        "regionCode_1": first.region,
        "regionCode_2": second.region,
    }


def register_cell(
    client: Any,
    table_name: str,
    ready: CellReady,
    now: str,
    max_cells: int | None,
    slot_count: int = 1,
    buffer: Any = "0.2",
) -> Registration:
    """Create the cell if absent (with ``slot_count`` slots when above 1,
    each its share of floor(maxCapacity x (1 - ``buffer``))), else apply a
    newer revision (see module)."""
    key = cell_key(ready.market_id, ready.cell_id)
    if max_cells is not None and _cell_exists(client, table_name, key) is False:
        cells = market_cell_count(client, table_name, ready.market_id)
        if cells >= max_cells:
            raise CellLimitReached(
                f"market {ready.market_id} already has {cells} cells (maxCellsPerMarket "
                f"{max_cells}); cell {ready.cell_id} was not recorded"
            )
    item = {
        **key,
        **_provisioned(ready),
        CAPACITY_ATTRIBUTE: 0,
        "IsHealthy": True,
        "status": STATUS_ACTIVE,
        "registeredAt": now,
        "updatedAt": now,
    }
    if ready.revision is not None:
        item[REVISION_ATTRIBUTE] = ready.revision
    if slot_count == 1 and placement.assignable_limit(ready.max_capacity, buffer) > 0:
        # A new cell is placeable: listed at once, so the first sign-up that
        # should land in it finds it in the index instead of on the refusal
        # path's consistent read of the market (which listed it before).
        item[PLACEABLE_ATTRIBUTE] = ready.market_id
    if slot_count > 1:
        if _create_slotted(client, table_name, item, ready, slot_count, buffer):
            return Registration.CREATED
    else:
        try:
            client.put_item(
                TableName=table_name,
                Item=dump(item),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
            )
            return Registration.CREATED
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
    if ready.revision is None:
        return Registration.UNCHANGED
    values = {f":{name}": value for name, value in _provisioned(ready).items()}
    try:
        client.update_item(
            TableName=table_name,
            Key=dump(key),
            UpdateExpression=(
                "SET maxCapacity = :maxCapacity, endPoint_1 = :endPoint_1,"
                " endPoint_2 = :endPoint_2, regionCode_1 = :regionCode_1,"
                " regionCode_2 = :regionCode_2, #rev = :rev, updatedAt = :now"
            ),
            ConditionExpression="attribute_exists(#pk) AND "
            "(attribute_not_exists(#rev) OR #rev < :rev)",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#rev": REVISION_ATTRIBUTE},
            ExpressionAttributeValues=dump({**values, ":rev": ready.revision, ":now": now}),
        )
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return Registration.UNCHANGED
        raise
    return Registration.UPDATED


def _create_slotted(
    client: Any,
    table_name: str,
    item: dict[str, Any],
    ready: CellReady,
    slot_count: int,
    buffer: Any,
) -> bool:
    """The cell and its slots in one transaction; False when the cell exists."""
    cell = Cell(ready.market_id, ready.cell_id, 0, ready.max_capacity, True)
    limits = slots.slot_limits(placement.assignable_limit(ready.max_capacity, buffer), slot_count)
    cell_item = {
        **item,
        SLOTS_ATTRIBUTE: slot_count,
        PLACEABLE_ATTRIBUTE: slots.placeable_partition(ready.market_id, 0),
    }
    absent = {
        "ConditionExpression": "attribute_not_exists(#pk)",
        "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
    }
    puts = [{"Put": {"TableName": table_name, "Item": dump(cell_item), **absent}}]
    puts += [
        {"Put": {"TableName": table_name, "Item": dump(slot_item(cell, k, limit)), **absent}}
        for k, limit in enumerate(limits)
    ]
    try:
        client.transact_write_items(TransactItems=puts)
    except ClientError as error:
        reasons = cancellation_reasons(error)
        if reasons and reasons[0] == "ConditionalCheckFailed":
            return False
        raise
    return True


def _cell_exists(client: Any, table_name: str, key: dict[str, str]) -> bool:
    response = client.get_item(
        TableName=table_name,
        Key=dump(key),
        ConsistentRead=True,
        ProjectionExpression="#pk",
        ExpressionAttributeNames={"#pk": PARTITION_KEY},
    )
    return "Item" in response


def market_cell_count(client: Any, table_name: str, market_id: str) -> int:
    """Cells recorded for the market (every item of its partition is a cell)."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "#pk = :market",
        "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
        "ExpressionAttributeValues": dump({":market": market_id}),
        "Select": "COUNT",
        "ConsistentRead": True,
    }
    total = 0
    while True:
        response = client.query(**request)
        total += int(response.get("Count", 0))
        last = response.get("LastEvaluatedKey")
        if not last:
            return total
        request["ExclusiveStartKey"] = last
