"""What each ``python -m ops`` command does, as functions of a client factory.

``clients(region)`` returns a DynamoDB client for that region (boto3 in the
command line, moto in the tests). Every write is conditional on what was
read; a lost race or a refused change raises ``OpsError`` and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers.cell_router import store, writer, writer_store
from handlers.cell_router.budget import error_code
from handlers.cell_router.model import STATUS_ACTIVE, STATUS_DRAINING
from handlers.cell_router.writer import Heartbeat, PromotionRefused, WriterPolicy, WriterRecord
from handlers.cell_router.writer_store import dump, load
from handlers.lex_dr import clock, layout, state_store
from ops.outputs import OpsError, StackOutputs

Clients = Callable[[str], Any]


def policy_for(outputs: StackOutputs, region: str) -> WriterPolicy:
    """The policy the router in ``region`` applies (defaults; the tool only
    uses it to show verdicts and to build promotions)."""
    return WriterPolicy(
        local_region=region,
        default_writer=outputs.primary_region,
        peer_region=outputs.other(region),
    )


# -- reading ---------------------------------------------------------------------


@dataclass(frozen=True)
class RegionView:
    """One region's copy of a market's writer items (None fields: absent)."""

    region: str
    reachable: bool
    record: WriterRecord | None = None
    heartbeats: dict[str, Heartbeat] = field(default_factory=dict)
    error: str = ""


def read_view(clients: Clients, outputs: StackOutputs, region: str, market_id: str) -> RegionView:
    """The region's local copies of the market's writer record and of both
    regions' heartbeats (one BatchGetItem, strongly consistent)."""
    client = clients(region)
    table = outputs.require_router()
    keys = [writer.writer_key(market_id)] + [writer.heartbeat_key(r) for r in outputs.regions]
    try:
        response = client.batch_get_item(
            RequestItems={table: {"Keys": [dump(k) for k in keys], "ConsistentRead": True}}
        )
    except (ClientError, BotoCoreError) as error:
        return RegionView(region, reachable=False, error=str(error))
    record = None
    heartbeats: dict[str, Heartbeat] = {}
    for raw in response.get("Responses", {}).get(table, []):
        item = load(raw)
        if item["cellId"] == writer.WRITER_SORT_KEY:
            record = writer.record_from_item(item)
        elif item["cellId"] == writer.HEARTBEAT_SORT_KEY:
            beat = writer.market_heartbeat(item, market_id)
            heartbeats[beat.region] = beat
    return RegionView(region, reachable=True, record=record, heartbeats=heartbeats)


def discover_markets(clients: Clients, table: str, region: str) -> list[str]:
    """Markets with cells or a writer record. A Scan of the whole table (it
    also reads every user mapping, filtered server-side): fine for an
    operator now and then; pass --market to avoid it on a large table."""
    client = clients(region)
    markets: set[str] = set()
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "marketId",
        "FilterExpression": "begins_with(marketId, :w) OR attribute_exists(maxCapacity)",
        "ExpressionAttributeValues": dump({":w": writer.WRITER_PREFIX}),
    }
    while True:
        response = client.scan(**request)
        for raw in response.get("Items", []):
            markets.add(str(load(raw)["marketId"]).removeprefix(writer.WRITER_PREFIX))
        if not response.get("LastEvaluatedKey"):
            return sorted(markets)
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def writer_status(
    clients: Clients, outputs: StackOutputs, markets: Iterable[str], now: float
) -> list[dict[str, Any]]:
    """Per market and region: the writer, epoch, heartbeat ages and the
    verdict that region's router would give a sign-up now."""
    outputs.require_router()
    rows = []
    for market in markets:
        for region in outputs.regions:
            view = read_view(clients, outputs, region, market)
            row: dict[str, Any] = {"marketId": market, "region": region}
            if not view.reachable:
                row.update(reachable=False, error=view.error)
                rows.append(row)
                continue
            policy = policy_for(outputs, region)
            effective = writer.effective_writer(market, view.record, policy)
            decision = writer.decide(
                market, view.record, view.heartbeats.get(outputs.other(region)), now, policy
            )
            row.update(
                reachable=True,
                writerRegion=effective.region,
                epoch=effective.epoch,
                implicit=view.record is None,
                fencedRegion=effective.fenced_region,
                heartbeatAgeSeconds={
                    name: round(now - beat.heartbeat_at)
                    for name, beat in sorted(view.heartbeats.items())
                },
                seenEpochs={
                    name: beat.seen_epoch for name, beat in sorted(view.heartbeats.items())
                },
                verdict=decision.verdict.value,
                reason=decision.reason,
            )
            rows.append(row)
    return rows


# -- promotion -------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A change the tool will make (or, with --dry-run, would make)."""

    region: str
    table: str
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    applied: bool = False


def promote(
    clients: Clients,
    outputs: StackOutputs,
    market_id: str,
    target_region: str,
    *,
    now: float | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> Plan:
    """Make ``target_region`` the writer of ``market_id`` (epoch + 1).

    Without ``force`` both regions must answer and hold the same record (so
    the old writer will acknowledge the new epoch and the fence can end);
    with ``force`` the old writer's region is declared lost."""
    table = outputs.require_router()
    if target_region not in outputs.regions:
        raise OpsError(
            f"--to {target_region!r} is not one of the stack's regions {list(outputs.regions)}"
        )
    now = time.time() if now is None else now
    target = read_view(clients, outputs, target_region, market_id)
    if not target.reachable:
        raise OpsError(
            f"cannot read the writer record in {target_region} ({target.error}); "
            "a promotion is written in the new writer's region"
        )
    if not force:
        other = read_view(clients, outputs, outputs.other(target_region), market_id)
        if not other.reachable:
            raise OpsError(
                f"{outputs.other(target_region)} does not answer ({other.error}). If that region "
                "is lost, promote with --force: the new writer then waits the fence bound "
                "instead of the old writer's acknowledgement, and writes the old region made "
                "just before it was lost may collide when it returns (see the README)"
            )
        if _epoch(other.record) != _epoch(target.record):
            raise OpsError(
                f"the regions disagree on {market_id!r}'s writer epoch ({target_region}: "
                f"{_epoch(target.record)}, {other.region}: {_epoch(other.record)}): replication "
                "is behind or partitioned; wait and retry, or use --force if a region is lost"
            )
    policy = policy_for(outputs, target_region)
    try:
        new = writer.promote(market_id, target.record, target_region, now, policy, force=force)
    except PromotionRefused as error:
        raise OpsError(str(error)) from None
    before = writer.record_item(target.record) if target.record else None
    after = writer.record_item(new)
    verb = "force-promote" if force else "promote"
    plan = Plan(
        region=target_region,
        table=table,
        summary=(
            f"{verb} {target_region} to writer of {market_id!r}: epoch "
            f"{_epoch(target.record)} -> {new.epoch} (previous writer {new.previous_region})"
        ),
        before=before,
        after=after,
    )
    if dry_run:
        return plan
    _put_record(clients(target_region), table, new, target.record)
    return Plan(**{**plan.__dict__, "applied": True})


def heal(
    clients: Clients,
    outputs: StackOutputs,
    market_id: str,
    *,
    dry_run: bool = False,
) -> Plan:
    """Lift a forced promotion's fence once the lost region has come back and
    acknowledged the current epoch (its heartbeat, replicated to the writer)."""
    table = outputs.require_router()
    # The writer's region holds the authoritative record; try both to find it.
    views = [read_view(clients, outputs, region, market_id) for region in outputs.regions]
    holders = [view for view in views if view.reachable and view.record is not None]
    if not holders:
        raise OpsError(f"no writer record for {market_id!r} is readable; nothing to heal")
    current = max(holders, key=lambda view: view.record.epoch)  # type: ignore[union-attr]
    record = current.record
    assert record is not None
    writer_view = next(view for view in views if view.region == record.region)
    if not writer_view.reachable or writer_view.record != record:
        raise OpsError(f"the writer region {record.region} does not hold epoch {record.epoch} yet")
    lost = record.fenced_region
    try:
        healed = writer.heal(record, writer_view.heartbeats.get(lost or ""))
    except PromotionRefused as error:
        raise OpsError(str(error)) from None
    plan = Plan(
        region=record.region,
        table=table,
        summary=f"heal {market_id!r}: {lost} rejoins as reader at epoch {record.epoch}",
        before=writer.record_item(record),
        after=writer.record_item(healed),
    )
    if dry_run:
        return plan
    _put_record(clients(record.region), table, healed, record)
    return Plan(**{**plan.__dict__, "applied": True})


def _epoch(record: WriterRecord | None) -> int:
    return record.epoch if record else 0


def _put_record(client: Any, table: str, new: WriterRecord, read: WriterRecord | None) -> None:
    try:
        writer_store.put_record(client, table, new, read)
    except writer_store.RecordChanged:
        raise OpsError(
            "the writer record changed since it was read (another operator or a "
            "promotion replicated meanwhile); nothing was written - run the command again"
        ) from None
    except ClientError as error:
        raise OpsError(f"writing the writer record failed: {error}") from None


# -- cells -------------------------------------------------------------------------


def set_cell_status(
    clients: Clients,
    outputs: StackOutputs,
    market_id: str,
    cell_id: str,
    *,
    drain: bool,
    region: str | None = None,
    now: float | None = None,
    dry_run: bool = False,
) -> Plan:
    """Drain (``DRAINING``: no new users, existing users stay) or undrain
    (``ACTIVE``) a cell, in the market's writer region (the only region that
    writes the market's items) unless ``region`` is given."""
    table = outputs.require_router()
    if region is None:
        region = _writer_region(clients, outputs, table, market_id)
    elif region not in outputs.regions:
        raise OpsError(f"--region {region!r} is not one of the stack's regions")
    client = clients(region)
    key = dump(store.cell_key(market_id, cell_id))
    try:
        item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    except (ClientError, BotoCoreError) as error:
        raise OpsError(f"cannot read cell {cell_id!r} in {region}: {error}") from None
    if not item:
        raise OpsError(f"market {market_id!r} has no cell {cell_id!r} (in {region})")
    status = str(load(item).get("status") or STATUS_ACTIVE)
    wanted, required = (
        (STATUS_DRAINING, STATUS_ACTIVE) if drain else (STATUS_ACTIVE, STATUS_DRAINING)
    )
    if status != required:
        raise OpsError(
            f"cell {cell_id!r} is {status}; {'drain' if drain else 'undrain'} needs it {required}"
        )
    plan = Plan(
        region=region,
        table=table,
        summary=f"{market_id}/{cell_id}: {status} -> {wanted} (in {region})",
        before={"status": status},
        after={"status": wanted},
    )
    if dry_run:
        return plan
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
    condition = "attribute_exists(cellId) AND " + (
        "(attribute_not_exists(#st) OR #st = :required)" if drain else "#st = :required"
    )
    try:
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #st = :wanted, updatedAt = :now",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues=dump(
                {":wanted": wanted, ":required": required, ":now": stamp}
            ),
        )
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            raise OpsError(
                f"cell {cell_id!r} changed since it was read; nothing was written - run again"
            ) from None
        raise OpsError(f"updating cell {cell_id!r} failed: {error}") from None
    return Plan(**{**plan.__dict__, "applied": True})


def _writer_region(clients: Clients, outputs: StackOutputs, table: str, market_id: str) -> str:
    views = [read_view(clients, outputs, region, market_id) for region in outputs.regions]
    readable = [view for view in views if view.reachable]
    if not readable:
        raise OpsError(
            "neither region's router table answers: " + "; ".join(v.error for v in views)
        )
    newest = max(readable, key=lambda view: _epoch(view.record))
    return writer.effective_writer(
        market_id, newest.record, policy_for(outputs, newest.region)
    ).region


# -- Lex override ------------------------------------------------------------------


def lex_override(
    clients: Clients,
    outputs: StackOutputs,
    region: str | None,
    *,
    connect_region: str | None = None,
    table_region: str | None = None,
    now: float | None = None,
    dry_run: bool = False,
) -> Plan:
    """Set (``region``) or clear (None) the Lex override of the operator's
    region ``table_region`` (default: the primary) for ``connect_region``
    (default: the primary).

    Each region's operators write only their own override item
    (``layout.override_key``: ``overrideRegion`` and ``setAt``, ISO 8601 UTC
    with milliseconds), so the global table never sees one item written from
    two regions; both lookups honour the latest ``setAt`` at once, and the
    health check copies it into ``lexRegion`` on its next round. Setting the
    region the item already holds refreshes ``setAt``, so it wins again over
    an older override from the other region. Clearing deletes the item; an
    override still held by another item (the other region's, or the legacy
    ``overrideRegion`` on the primary's item) is named in the summary.
    Both writes are conditional on the item as read.
    """
    table = outputs.require_lex()
    connect_region = connect_region or outputs.primary_region
    table_region = table_region or outputs.primary_region
    for name, value in (("override region", region), ("table region", table_region)):
        if value is not None and value not in outputs.regions:
            raise OpsError(
                f"{name} {value!r} is not one of the stack's regions {list(outputs.regions)}"
            )
    client = clients(table_region)
    keys = layout.state_keys(connect_region, outputs.regions)
    try:
        items = state_store.read_items(client, table, keys)
    except (ClientError, BotoCoreError) as error:
        raise OpsError(f"cannot read the Lex state in {table_region}: {error}") from None
    by_key = {item[layout.KEY_ATTRIBUTE]["S"]: item for item in items}
    found = {key: by_key.get(key) for key in keys}
    if not found.get(connect_region):
        raise OpsError(
            f"the Lex state table has no item for Connect region {connect_region!r} "
            "(the stack seeds one for the primary; pass --connect-region)"
        )
    own_key = layout.override_key(connect_region, table_region)
    own_item = found.get(own_key)
    own = layout.override_of(own_item) if own_item else None
    others = [i for k, i in found.items() if i and k != own_key]
    if region is None and own is None:
        raise OpsError(
            f"no override is set in {table_region}'s item {own_key!r}; nothing to clear"
            + _other_override(others)
        )
    set_at = clock.iso(now)
    after = {"overrideRegion": region, "setAt": set_at} if region else None
    effective = layout.view([i for i in found.values() if i]).override
    summary = (
        f"Lex override for Connect region {connect_region}, item {own_key}: "
        f"{own.region if own else '(none)'} -> {region or '(none)'} "
        f"(in effect before: {effective.region if effective else '(none)'})"
    )
    if region is None:
        summary += _other_override(others)
    plan = Plan(
        region=table_region,
        table=table,
        summary=summary,
        before={"overrideRegion": own.region, "setAt": own.set_at} if own else None,
        after=after,
    )
    if dry_run:
        return plan
    key = dump({layout.KEY_ATTRIBUTE: own_key})
    # Exactly the item as read: another operator in this region wins the race.
    names = {"#o": "overrideRegion", "#s": "setAt"}
    values: dict[str, Any] = {}
    if own_item is None:
        condition = f"attribute_not_exists({layout.KEY_ATTRIBUTE})"
        names = {}
    elif own is None:
        condition = "attribute_not_exists(#o)"
        names = {"#o": "overrideRegion"}
    elif own.set_at:
        condition = "#o = :region_read AND #s = :set_at_read"
        values = {":region_read": own.region, ":set_at_read": own.set_at}
    else:
        condition = "#o = :region_read AND attribute_not_exists(#s)"
        values = {":region_read": own.region}
    request: dict[str, Any] = {"TableName": table, "ConditionExpression": condition}
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        request["ExpressionAttributeValues"] = dump(values)
    try:
        if region is None:
            client.delete_item(Key=key, **request)
        else:
            item = {layout.KEY_ATTRIBUTE: own_key, "overrideRegion": region, "setAt": set_at}
            client.put_item(Item=dump(item), **request)
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            raise OpsError(
                f"the override item {own_key!r} changed since it was read; "
                "nothing was written - run again"
            ) from None
        raise OpsError(f"updating the Lex state failed: {error}") from None
    return Plan(**{**plan.__dict__, "applied": True})


def _other_override(items: Iterable[dict[str, Any] | None]) -> str:
    """Where an override outside the operator's own item still holds."""
    held = layout.winning_override(layout.override_of(i) for i in items if i)
    if held is None:
        return ""
    return (
        f"; an override to {held.region} is still held by item {held.key!r}"
        f" (clear it from {layout.writer_region(held.key)})"
    )
