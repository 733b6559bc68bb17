"""An emulator of DynamoDB global table replication between regional tables.

moto keeps one independent table per region and never replicates. This
module makes a set of same-named regional tables behave like the replicas of
one global table (version 2019.11.21), as far as the failover and the cell
router rely on it:

* **asynchronous, with lag**: a write is applied in its own region at once
  and delivered to every other replica ``lag_seconds`` later on the caller's
  clock (``pump``). AWS documents replication as "usually within one
  second" (DynamoDB developer guide, global tables, "Consistency and
  conflict resolution"; the ``ReplicationLatency`` metric); the default lag
  is that second.
* **per-item last-writer-wins**: each replica applies an incoming item only
  if its write time is later than the one it holds for that key; a write
  that loses is a **lost update**, recorded with both regions. So a design
  that writes one item from two regions shows its lost updates here.
* **region isolation**: while a region is isolated (``isolate``) nothing
  replicates into or out of it; its queued writes are delivered after
  ``restore``, which is how a region comes back and converges.
* **every write recorded with its region** (``writes``, ``writers``), so a
  test or drill can assert the single-writer rule: no item written from two
  regions.

How writes are seen: ``attach`` registers botocore ``before-parameter-build``
and ``after-call`` hooks for DynamoDB on a boto3 session (default: boto3's
default session, the one the handlers' clients come from; attach before the
clients are created, they copy the session's hooks). After a successful
``PutItem``/``UpdateItem``/``DeleteItem``/``BatchWriteItem``/
``TransactWriteItems`` on a replicated table, the emulator reads the item
back from the writer's region (strongly consistent) and queues that image
for the other regions. The reads and replica writes go through clients of
``client_for(region)``, which must not be hooked (a fresh
``boto3.session.Session``).

What it does not model: replication of table settings, GSIs, TTL deletes,
stream records, and the MRSC (strong consistency) mode.

Checked against a known figure in ``tests/drill/test_replication.py``: two
regions writing the same item 0.2 s apart with 1 s lag end with the later
write in both replicas and one lost update, as the developer guide's
last-writer-wins example describes.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

#: AWS: global tables replicate "usually within one second".
DEFAULT_LAG_SECONDS = 1.0

_WRITE_OPERATIONS = (
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
)
_HOOK_ID = "drill-global-table-replication"

#: a key as ((attribute, type, value), ...), hash key first
Key = tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Write:
    """One successful write to a replicated table, as the emulator saw it."""

    t: float
    region: str
    table: str
    key: Key
    operation: str

    @property
    def key_text(self) -> str:
        return ",".join(v for _, _, v in self.key)


@dataclass(frozen=True)
class LostUpdate:
    t: float
    table: str
    key: Key
    lost_region: str
    winning_region: str


@dataclass(frozen=True)
class _Stamp:
    t: float
    seq: int
    region: str

    def order(self) -> tuple[float, int]:
        return (self.t, self.seq)


@dataclass
class _Delivery:
    due: float
    origin: str
    destination: str
    table: str
    key: Key
    item: dict[str, Any] | None
    stamp: _Stamp


@dataclass
class GlobalTableEmulator:
    """Replicas of ``tables`` in ``regions`` (see the module docstring).

    ``key_attributes``: table name -> its key attribute names (hash first);
    ``client_for(region)``: an unhooked DynamoDB client of that region;
    ``clock()``: the current (simulated or real) time in seconds.
    """

    regions: Sequence[str]
    key_attributes: Mapping[str, Sequence[str]]
    client_for: Callable[[str], Any]
    clock: Callable[[], float]
    lag_seconds: float = DEFAULT_LAG_SECONDS
    writes: list[Write] = field(default_factory=list)
    lost_updates: list[LostUpdate] = field(default_factory=list)
    delivered: int = 0
    _pending: list[_Delivery] = field(default_factory=list)
    _stamps: dict[tuple[str, str, Key], _Stamp] = field(default_factory=dict)
    _isolated: set[str] = field(default_factory=set)
    _lost_marks: set[tuple[str, Key, int]] = field(default_factory=set)
    _seq: Any = field(default_factory=itertools.count)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _sessions: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(set(self.regions)) < 2:
            raise ValueError("a global table needs at least two regions")
        if self.lag_seconds < 0:
            raise ValueError("lag_seconds must be 0 or more")

    # -- wiring -------------------------------------------------------------

    def attach(self, session: Any = None) -> GlobalTableEmulator:
        """Watch DynamoDB writes of clients made from ``session`` from now on
        (default: boto3's default session)."""
        if session is None:
            if boto3.DEFAULT_SESSION is None:
                boto3.setup_default_session()
            session = boto3.DEFAULT_SESSION
        events = session.events
        events.register(
            "before-parameter-build.dynamodb", self._before_call, unique_id=_HOOK_ID + "-b"
        )
        events.register("after-call.dynamodb", self._after_call, unique_id=_HOOK_ID + "-a")
        self._sessions.append(session)
        return self

    def detach(self) -> None:
        for session in self._sessions:
            session.events.unregister("before-parameter-build.dynamodb", unique_id=_HOOK_ID + "-b")
            session.events.unregister("after-call.dynamodb", unique_id=_HOOK_ID + "-a")
        self._sessions.clear()

    # -- control ------------------------------------------------------------

    def isolate(self, region: str) -> None:
        """Stop replication into and out of ``region`` (it is lost)."""
        with self._lock:
            self._isolated.add(region)

    def restore(self, region: str) -> None:
        with self._lock:
            self._isolated.discard(region)

    def pump(self, now: float | None = None) -> int:
        """Deliver every queued write that is due; returns how many applied."""
        at = self.clock() if now is None else now
        applied = 0
        with self._lock:
            due = [
                d
                for d in self._pending
                if d.due <= at
                and d.origin not in self._isolated
                and d.destination not in self._isolated
            ]
            for delivery in sorted(due, key=lambda d: (d.due, d.stamp.order())):
                self._pending.remove(delivery)
                applied += self._deliver(delivery, at)
        return applied

    def flush(self) -> int:
        """Deliver everything queued between regions that are not isolated."""
        return self.pump(float("inf"))

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def delay_from(self, region: str, seconds: float) -> int:
        """Hold back every write of ``region`` not yet delivered by ``seconds``
        more (a replication backlog, as an impaired region's
        ``ReplicationLatency`` grows); returns how many were held back."""
        if seconds < 0:
            raise ValueError("seconds must be 0 or more")
        with self._lock:
            held = [d for d in self._pending if d.origin == region]
            for delivery in held:
                delivery.due += seconds
            return len(held)

    def pending_from(self, region: str) -> int:
        """Writes made in ``region`` not yet delivered to every other replica."""
        with self._lock:
            return sum(1 for d in self._pending if d.origin == region)

    # -- what happened ------------------------------------------------------

    def writers(self) -> dict[tuple[str, Key], set[str]]:
        """(table, key) -> every region that wrote it."""
        found: dict[tuple[str, Key], set[str]] = {}
        for write in self.writes:
            found.setdefault((write.table, write.key), set()).add(write.region)
        return found

    def multi_writer_items(self) -> dict[tuple[str, Key], set[str]]:
        """Items written from more than one region (the rule's violations)."""
        return {k: v for k, v in self.writers().items() if len(v) > 1}

    def divergence(self, table: str) -> list[str]:
        """Keys whose item differs between the replicas (empty: converged)."""
        images: dict[str, dict[Key, dict[str, Any]]] = {}
        for region in self.regions:
            client = self.client_for(region)
            items: dict[Key, dict[str, Any]] = {}
            for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                for item in page.get("Items", []):
                    items[self._key(table, item)] = item
            images[region] = items
        keys = set().union(*(set(v) for v in images.values()))
        return sorted(
            ",".join(v for _, _, v in key)
            for key in keys
            if len({_canonical(images[r].get(key)) for r in self.regions}) > 1
        )

    # -- botocore hooks -----------------------------------------------------

    def _before_call(self, params: Mapping[str, Any], context: dict, model: Any, **_: Any) -> None:
        if model.name in _WRITE_OPERATIONS:
            context["_replication_params"] = dict(params)

    def _after_call(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict, **_: Any
    ) -> None:
        params = context.get("_replication_params")
        if params is None or model.name not in _WRITE_OPERATIONS:
            return
        if getattr(http_response, "status_code", 200) >= 300 or "Error" in parsed:
            return
        region = context.get("client_region") or ""
        for table, key in self._written(model.name, params, parsed):
            self._record(region, table, key, model.name)

    def _written(
        self, operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any]
    ) -> Iterable[tuple[str, Key]]:
        if operation == "PutItem":
            yield params["TableName"], self._key(params["TableName"], params["Item"])
        elif operation in ("UpdateItem", "DeleteItem"):
            yield params["TableName"], self._key(params["TableName"], params["Key"])
        elif operation == "BatchWriteItem":
            unprocessed = parsed.get("UnprocessedItems") or {}
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if request in unprocessed.get(table, []):
                        continue
                    body = request.get("PutRequest", {}).get("Item") or request.get(
                        "DeleteRequest", {}
                    ).get("Key")
                    yield table, self._key(table, body)
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                for kind in ("Put", "Update", "Delete"):
                    if kind in entry:
                        body = entry[kind]
                        source = body.get("Item") if kind == "Put" else body.get("Key")
                        yield body["TableName"], self._key(body["TableName"], source)

    def _key(self, table: str, item: Mapping[str, Any]) -> Key:
        names = self.key_attributes.get(table)
        if names is None:
            return ()
        return tuple((n, *next(iter(item[n].items()))) for n in names)

    def _record(self, region: str, table: str, key: Key, operation: str) -> None:
        if table not in self.key_attributes or not key:
            return
        now = self.clock()
        image = self._read(region, table, key)
        with self._lock:
            stamp = _Stamp(now, next(self._seq), region)
            self.writes.append(Write(now, region, table, key, operation))
            self._stamps[(region, table, key)] = stamp
            for destination in self.regions:
                if destination != region:
                    self._pending.append(
                        _Delivery(
                            now + self.lag_seconds, region, destination, table, key, image, stamp
                        )
                    )

    def _read(self, region: str, table: str, key: Key) -> dict[str, Any] | None:
        response = self.client_for(region).get_item(
            TableName=table, Key=_key_value(key), ConsistentRead=True
        )
        return response.get("Item")

    def _lost(self, now: float, delivery: _Delivery, loser: _Stamp, winner_region: str) -> None:
        """Record a write that lost to another region's (once per write)."""
        mark = (delivery.table, delivery.key, loser.seq)
        if mark in self._lost_marks:
            return
        self._lost_marks.add(mark)
        self.lost_updates.append(
            LostUpdate(now, delivery.table, delivery.key, loser.region, winner_region)
        )

    def _deliver(self, delivery: _Delivery, now: float) -> int:
        slot = (delivery.destination, delivery.table, delivery.key)
        current = self._stamps.get(slot)
        if current is not None and current.order() >= delivery.stamp.order():
            if current.region != delivery.origin:
                self._lost(now, delivery, delivery.stamp, current.region)
            return 0
        # A newer write overwriting the destination's own older one is not a
        # loss by itself: when the older write reached the writer first, the
        # newer one was made on top of it. If it had not, it is recorded as
        # lost above, when it arrives there and meets the newer write.
        client = self.client_for(delivery.destination)
        if delivery.item is None:
            client.delete_item(TableName=delivery.table, Key=_key_value(delivery.key))
        else:
            client.put_item(TableName=delivery.table, Item=delivery.item)
        self._stamps[slot] = delivery.stamp
        self.delivered += 1
        return 1


def _key_value(key: Key) -> dict[str, Any]:
    return {name: {kind: value} for name, kind, value in key}


def _canonical(item: Mapping[str, Any] | None) -> str:
    return json.dumps(item, sort_keys=True)
