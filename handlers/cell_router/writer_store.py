"""Reads and writes of the writer items (layout in ``writer.py``).

Shared by the sign-up gate, the heartbeat function and the operator tool, so
the conditional writes exist once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from handlers.cell_router import writer
from handlers.cell_router.attribute_values import dump, load
from handlers.cell_router.budget import error_code
from handlers.cell_router.writer import Heartbeat, WriterRecord

#: BatchGetItem's per-call key limit.
_BATCH = 100


class RecordChanged(Exception):
    """The writer record moved since it was read; nothing was written."""


def read_gate(
    client: Any, table: str, market_id: str, peer_region: str | None
) -> tuple[WriterRecord | None, Heartbeat | None]:
    """The market's writer record and the peer's heartbeat for it, from this
    region's table, in one round trip (strongly consistent)."""
    keys = [writer.writer_key(market_id)]
    if peer_region:
        keys.append(writer.heartbeat_key(peer_region))
    response = client.batch_get_item(
        RequestItems={table: {"Keys": [dump(k) for k in keys], "ConsistentRead": True}}
    )
    record = None
    peer = None
    for raw in response.get("Responses", {}).get(table, []):
        item = load(raw)
        if item["cellId"] == writer.WRITER_SORT_KEY:
            record = writer.record_from_item(item)
        elif item["cellId"] == writer.HEARTBEAT_SORT_KEY:
            peer = writer.market_heartbeat(item, market_id)
    # An unprocessed key (throttling) must not read as "absent": absent means
    # "default writer", which would be a wrong answer, not a slow one.
    if response.get("UnprocessedKeys"):
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "unprocessed"}},
            "BatchGetItem",
        )
    return record, peer


def read_records(client: Any, table: str, markets: Iterable[str]) -> dict[str, WriterRecord]:
    records: dict[str, WriterRecord] = {}
    pending = [dump(writer.writer_key(m)) for m in sorted(set(markets))]
    while pending:
        batch, pending = pending[:_BATCH], pending[_BATCH:]
        request: dict[str, Any] = {table: {"Keys": batch, "ConsistentRead": True}}
        while request:
            response = client.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                record = writer.record_from_item(load(raw))
                records[record.market_id] = record
            request = response.get("UnprocessedKeys") or {}
    return records


def registered_markets(client: Any, table: str, regions: Iterable[str]) -> set[str]:
    keys = [dump(writer.registry_key(r)) for r in regions]
    response = client.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
    markets: set[str] = set()
    for raw in response.get("Responses", {}).get(table, []):
        markets.update(load(raw).get("markets") or ())
    return markets


def read_own_heartbeat(client: Any, table: str, region: str) -> dict[str, Any] | None:
    item = client.get_item(
        TableName=table, Key=dump(writer.heartbeat_key(region)), ConsistentRead=True
    ).get("Item")
    return load(item) if item else None


def write_heartbeat(client: Any, table: str, item: dict[str, Any]) -> None:
    # Unconditional: only this region writes its heartbeat item.
    client.put_item(TableName=table, Item=dump(item))


def put_record(client: Any, table: str, new: WriterRecord, read: WriterRecord | None) -> None:
    """Write ``new`` only if the record is still ``read`` (absent if None),
    and list the market in the writing region's registry, atomically.
    Raises ``RecordChanged`` when the record moved."""
    put: dict[str, Any] = {"TableName": table, "Item": dump(writer.record_item(new))}
    if read is None:
        put["ConditionExpression"] = "attribute_not_exists(marketId)"
    else:
        put["ConditionExpression"] = "epoch = :epoch AND writerRegion = :region"
        put["ExpressionAttributeValues"] = dump({":epoch": read.epoch, ":region": read.region})
    register = {
        "TableName": table,
        "Key": dump(writer.registry_key(new.region)),
        "UpdateExpression": "ADD markets :market",
        "ExpressionAttributeValues": {":market": {"SS": [new.market_id]}},
    }
    try:
        client.transact_write_items(TransactItems=[{"Put": put}, {"Update": register}])
    except ClientError as error:
        if error_code(error) == "TransactionCanceledException":
            raise RecordChanged(new.market_id) from None
        raise


def condition_check(table: str, market_id: str, region: str, epoch: int) -> dict[str, Any]:
    """A TransactWriteItems ConditionCheck proving, atomically with the
    placement, that ``region`` still writes ``market_id`` under ``epoch``
    (for epoch 0: that no record exists yet). This is what makes a cached
    writer check safe: a stale cache fails the transaction, it never places."""
    if epoch == 0:
        condition = "attribute_not_exists(marketId)"
        values: dict[str, Any] | None = None
    else:
        condition = "writerRegion = :region AND epoch = :epoch"
        values = dump({":region": region, ":epoch": epoch})
    check: dict[str, Any] = {
        "TableName": table,
        "Key": dump(writer.writer_key(market_id)),
        "ConditionExpression": condition,
    }
    if values:
        check["ExpressionAttributeValues"] = values
    return {"ConditionCheck": check}
