"""AWS round trips, bytes read and read/write units per cell-router request, as the market grows.

Runs the real handlers on in-process moto and counts, through botocore's
event hooks on the handlers' own clients, every HTTP attempt (``before-send``)
and every response body byte (``response-received``). Targets: a new user
signs up in <= 3 round trips, a known user and the mapper take <= 2, and
neither grows with the number of users already placed.

Read and write units (RRU/WRU) are worked out from the requests the handlers
send and the items they touch, by DynamoDB's published rules (moto's own
``ConsumedCapacity`` is not: it charges a strongly consistent read 0.5):
a read rounds each item (a Query: the items it returns, together) up to
4 KB, 1 RRU strongly consistent, 0.5 eventually; a write rounds the item up
to 1 KB, 1 WRU, twice in a transaction (prepare and commit); a write that
changes an index key attribute (``currentCapacity``) costs the index two
more (delete and put); a conditional write whose condition fails still costs
its write; a cancelled transaction is counted at 0 (AWS publishes no figure;
``bench/contention.py`` makes the same assumption). Item sizes follow
DynamoDB's rules (attribute names plus values; a number about one byte per
two digits).

The ``slotted:`` rows (issue #14) are the same requests with
``SLOTS_PER_CELL`` = 10: a new user's transaction adds to one slot item (no
index moves: 4 WRU), a warm container reads no index page, a lost race
draws another slot at once, the scaler writes the market's scale-out item
only at a slot's edge, and a known user's cell comes from the container's
cache.

Two scenarios go beyond the happy path: a sign-up whose first transaction
loses a race (``TransactionConflict`` on the cell, injected with
``support.faults``), and a sign-up into a cell inside the scale-out band (70 to
80 % of ``maxCapacity``), where today the scaler writes the market's
scale-out item on every sign-up even while an episode is already open.

    python -m bench.round_trips            # 100 and 10,000 users
    python -m bench.round_trips 100 1000   # other sizes
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench.capacity_units import read_units, write_units  # noqa: E402
from components.schemas import ROUTER_TABLE  # noqa: E402
from handlers.cell_router import contract as router_contract  # noqa: E402
from support.argtypes import integer_in  # noqa: E402
from support.emulator import FAKE_CREDENTIALS, scoped_environ  # noqa: E402
from support.sfn import FakeLambdaContext  # noqa: E402

TABLE = "tbl_router_bench"
MARKET = "europe"
SAMPLES = 5
#: The bench stack's user-key HMAC key (what its secret holds).
USER_KEY = "bench-user-key-0123456789abcdef"
SCENARIOS = (
    "new user sign-up",
    "new user sign-up, first transaction lost a race",
    "new user sign-up + scaler, scale-out band (episode open)",
    "known user sign-up",
    "mapper",
    "validator (no deep check)",
    # Issue #13: the router in two regions, this one the market's writer.
    "two-region sign-up, writer check cached",
    "two-region sign-up, writer check cold",
)
#: Issue #14, ``SLOTS_PER_CELL`` = ``SLOTS`` (a market of slotted cells,
#: ``SLOTTED_MARKET``). "Cold": the container has no snapshot or cell cache yet.
SLOTTED_SCENARIOS = (
    "slotted: new user sign-up, cold container",
    "slotted: new user sign-up, warm container",
    "slotted: new user sign-up, first transaction lost a race",
    "slotted: new user sign-up + scaler, scale-out band (episode open)",
    "slotted: known user sign-up, cold container",
    "slotted: known user sign-up, warm container",
    "slotted: mapper, warm container",
)
SLOTS = 10
SLOTTED_MARKET = "slotted"
#: The two-region scenarios' settings (this table plays the writer's replica).
TWO_REGIONS = {
    router_contract.ROUTER_REGION.name: "us-east-1",
    router_contract.ROUTER_PEER_REGION.name: "us-west-2",
    router_contract.ROUTER_PRIMARY_REGION.name: "us-east-1",
}
#: Loads of the seeded cells for the scale-out band scenario (of 500).
BAND_LOAD = 375


@dataclass
class Cost:
    """Worst case over the samples of one scenario."""

    round_trips: int = 0
    bytes_read: int = 0
    operations: list[str] = field(default_factory=list)
    read_units: float = 0.0
    write_units: float = 0.0

    def worst(self, other: Cost) -> Cost:
        if other._order() > self._order():
            return other
        return self

    def _order(self) -> tuple[int, float, float, int]:
        return (self.round_trips, self.write_units, self.read_units, self.bytes_read)


class _Meter:
    """Counts HTTP attempts and response bytes on the clients it is attached to."""

    def __init__(self, sizer: Any | None = None) -> None:
        self.current = Cost()
        #: An unmetered client on the same table, to size the items touched.
        self.sizer = sizer
        self._params: dict[str, Any] = {}

    def attach(self, client: Any) -> None:
        # First, so moto's own before-send (which answers the request) cannot
        # hide the attempt from us.
        client.meta.events.register_first("before-send", self._sent)
        client.meta.events.register("response-received", self._received)
        if self.sizer is not None and client.meta.service_model.service_name == "dynamodb":
            client.meta.events.register("before-parameter-build.dynamodb", self._called)
            client.meta.events.register("after-call.dynamodb", self._answered)

    def _called(self, params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._params = params or {}

    def _answered(
        self, parsed: dict[str, Any] | None = None, model: Any = None, **kwargs: Any
    ) -> None:
        if model is None or parsed is None:
            return
        reads, writes = units(model.name, self._params, parsed, self.sizer)
        self.current.read_units += reads
        self.current.write_units += writes

    def _sent(self, request: Any = None, **kwargs: Any) -> None:
        self.current.round_trips += 1
        target = (request.headers.get("X-Amz-Target") or b"") if request is not None else b""
        if isinstance(target, bytes):
            target = target.decode()
        self.current.operations.append(target.rsplit(".", 1)[-1] or "?")

    def _received(self, response_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if response_dict is not None:
            self.current.bytes_read += len(response_dict.get("body") or b"")

    def measure(self, call: Callable[[], Any]) -> tuple[Cost, Any]:
        self.current = cost = Cost()
        try:
            value = call()
        finally:
            self.current = Cost()
        return cost, value


def item_size(item: dict[str, Any]) -> int:
    """Bytes of a DynamoDB item (wire format) by DynamoDB's sizing rules."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = len(data.lstrip("-").replace(".", "").strip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in data.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in data)
    return sum(len(str(element).encode()) for element in data)  # SS, NS, BS


def _stored(sizer: Any, table: str, key: dict[str, Any]) -> dict[str, Any]:
    return sizer.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {}


def units(
    operation: str, params: dict[str, Any], parsed: dict[str, Any], sizer: Any
) -> tuple[float, float]:
    """(RRU, WRU) one DynamoDB call consumed, by the rules in the module notes."""
    failed = "Error" in parsed
    code = parsed.get("Error", {}).get("Code", "") if failed else ""
    if operation == "GetItem":
        if failed:
            return 0.0, 0.0
        size = item_size(_stored(sizer, params["TableName"], params["Key"]))
        return read_units(size, consistent=bool(params.get("ConsistentRead"))), 0.0
    if operation in ("Query", "Scan"):
        if failed:
            return 0.0, 0.0
        keys = [_key_of(item, params["TableName"], sizer) for item in parsed.get("Items", [])]
        size = sum(item_size(_stored(sizer, params["TableName"], key)) for key in keys)
        return read_units(size, consistent=bool(params.get("ConsistentRead"))), 0.0
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        if failed and code != "ConditionalCheckFailedException":
            return 0.0, 0.0
        key = params.get("Key") or _key_of(params.get("Item", {}), params["TableName"], sizer)
        item = params.get("Item") or _stored(sizer, params["TableName"], key)
        return 0.0, write_units(item_size(item), transactional=False)
    if operation == "TransactWriteItems":
        if failed:
            return 0.0, 0.0  # cancelled: no published figure, counted 0
        total = 0.0
        for action in params.get("TransactItems", []):
            ((kind, body),) = action.items()
            stored = body.get("Item") or _stored(sizer, body["TableName"], body["Key"])
            item = body["Item"] if kind == "Put" else stored
            total += write_units(item_size(item), transactional=True)
            if kind == "Update":
                size = write_units(item_size(item), transactional=False)
                total += size * _index_writes(body, item, sizer)
        return 0.0, total
    return 0.0, 0.0


def _index_writes(update: dict[str, Any], item: dict[str, Any], sizer: Any) -> int:
    """Index writes (per KB of item) an Update costs: for every global
    secondary index that holds the item and whose key attributes the update
    sets, a delete and a put (2); one that removes the item from a sparse
    index, a delete (1). After #11 a sign-up moves ``currentCapacity`` in two
    indexes: the SPEC's capacity index and the sparse placeable-cells index."""
    names = update.get("ExpressionAttributeNames", {})
    words = update["UpdateExpression"].replace(",", " ").split()
    touched = {names.get(token, token) for token in words}
    removed: set[str] = set()
    if "REMOVE" in words:
        tail = words[words.index("REMOVE") + 1 :]
        for token in tail:
            if token in ("SET", "ADD", "DELETE"):
                break
            removed.add(names.get(token, token))
    description = sizer.describe_table(TableName=update["TableName"])["Table"]
    writes = 0
    for index in description.get("GlobalSecondaryIndexes", []):
        keys = [part["AttributeName"] for part in index["KeySchema"]]
        if not all(key in item for key in keys) or not touched & set(keys):
            continue
        writes += 1 if removed & set(keys) else 2
    return writes


def _key_of(item: dict[str, Any], table: str, sizer: Any) -> dict[str, Any]:
    schema = sizer.describe_table(TableName=table)["Table"]["KeySchema"]
    return {part["AttributeName"]: item[part["AttributeName"]] for part in schema}


def _environment() -> contextlib.AbstractContextManager[None]:
    """Fake credentials and the handlers' settings; nothing from the caller's shell."""
    return scoped_environ(
        {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            router_contract.TABLE_NAME.name: TABLE,
            router_contract.VALIDATOR_DEEP_CHECK.name: "false",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_ENDPOINT_URL": None,
            "AWS_PROFILE": None,
            router_contract.DEFAULT_MARKET.name: None,
            router_contract.CAPACITY_BUFFER.name: None,
            router_contract.SCALE_OUT_THRESHOLD.name: None,
            router_contract.PROVISIONING_QUEUE_URL.name: None,
        }
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence handler logs and metrics output while measuring."""
    from handlers.cell_router.observability import logger

    level = logger.log_level
    logger.setLevel("ERROR")
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _url(cell: int, n: int) -> str:
    return f"https://cell-{cell:03}-{n}.{MARKET}.example.com"


def _seed(users: int, cells: int, max_capacity: int) -> None:
    from handlers.cell_router import identity, store

    client = boto3.client("dynamodb")
    client.create_table(**ROUTER_TABLE.create_table_request(TABLE))
    loads = [users // cells + (1 if i < users % cells else 0) for i in range(cells)]
    items: list[dict[str, Any]] = []
    for i, load in enumerate(loads):
        items.append(
            {
                "marketId": {"S": MARKET},
                "cellId": {"S": f"cell-{i:03}"},
                "currentCapacity": {"N": str(load)},
                "maxCapacity": {"N": str(max_capacity)},
                "endPoint_1": {"S": _url(i, 1)},
                "endPoint_2": {"S": _url(i, 2)},
                "regionCode_1": {"S": "eu-west-1"},
                "regionCode_2": {"S": "eu-central-1"},
                "IsHealthy": {"BOOL": True},
                # In the placeable index, as the registrar leaves a new cell.
                store.PLACEABLE_ATTRIBUTE: {"S": MARKET},
            }
        )
    user = 0
    for i, load in enumerate(loads):
        for _ in range(load):
            key = store.mapping_key(identity.keyed_user_key(f"user{user}", USER_KEY.encode()))
            items.append(
                {
                    store.PARTITION_KEY: {"S": key[store.PARTITION_KEY]},
                    store.SORT_KEY: {"S": key[store.SORT_KEY]},
                    "assignedMarketId": {"S": MARKET},
                    "assignedCellId": {"S": f"cell-{i:03}"},
                    "assignedAt": {"S": "2025-01-01T00:00:00Z"},
                }
            )
            user += 1
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending: dict[str, Any] = {TABLE: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def measure(users: int, *, cells: int = 30, max_capacity: int = 500) -> dict[str, Cost]:
    """Worst-case cost of each scenario with ``users`` already placed."""
    from handlers.cell_router import (
        aws_clients,
        budget,
        dispatcher,
        identity,
        mapper,
        scaler,
        validator,
    )
    from handlers.cell_router.budget import ATTEMPT_TIMEOUTS

    # Round trips are counted, not timed: every invocation gets a fresh
    # context (as in Lambda), and deadlines run on a clock that only backoff
    # sleeps advance, so a slow or loaded machine can never run a request out
    # of time and change what is counted.
    slept = [0.0]
    counted_time = budget.Clock(
        now=lambda: slept[0], sleep=lambda seconds: slept.__setitem__(0, slept[0] + seconds)
    )
    with _environment(), mock_aws(), _swapped(budget, "CLOCK", counted_time):
        _seed(users, cells, max_capacity)
        secret = boto3.client("secretsmanager").create_secret(
            Name="bench-user-key", SecretString=USER_KEY
        )["ARN"]
        os.environ[router_contract.USER_KEY_SECRET_ARN.name] = secret
        aws_clients.reset()
        identity.reset()
        _seed_band_market(max_capacity)
        meter = _Meter(sizer=boto3.client("dynamodb"))
        # One cached client per (connect, read) pair: meter them all, since
        # each call picks the pair that fits its function's remaining time.
        for connect, read in ATTEMPT_TIMEOUTS:
            meter.attach(aws_clients.dynamodb(connect + read))
            meter.attach(aws_clients.sqs(connect + read))
            meter.attach(aws_clients.secretsmanager(connect + read))
        # A warm container: the user-key secret is read once per container
        # (one GetSecretValue on its first request), not per request -- a
        # per-request read would show up in every scenario below.
        identity.user_key("warm-up")

        def event(user_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            return {"path": "/", "httpMethod": "POST", "userId": user_id, "body": body or {}}

        known = [f"user{(users * k) // SAMPLES}" for k in range(SAMPLES)]
        costs = dict.fromkeys(SCENARIOS, Cost())

        def record(scenario: str, handler: Callable[..., Any], request: dict[str, Any]) -> Any:
            context = FakeLambdaContext(function_name="bench")
            cost, value = meter.measure(lambda: handler(request, context))
            costs[scenario] = costs[scenario].worst(cost)
            return value

        def lost_race(request: dict[str, Any], context: Any) -> Any:
            from support.faults import FaultInjector, parse_faults

            rule = parse_faults("dynamodb:TransactWriteItems=cancel:TransactionConflict*1")
            clients = [aws_clients.dynamodb(connect + read) for connect, read in ATTEMPT_TIMEOUTS]
            with FaultInjector(rule, seed=k).active(*clients):
                return dispatcher.handler(request, context)

        def band_sign_up(request: dict[str, Any], context: Any) -> Any:
            # The state machine runs the scaler on the dispatcher's result.
            return scaler.handler(dispatcher.handler(request, context), context)

        with _quiet():
            for k in range(SAMPLES):
                record(SCENARIOS[0], dispatcher.handler, event(f"new{k}"))
                record(SCENARIOS[1], lost_race, event(f"raced{k}"))
                record(SCENARIOS[2], band_sign_up, event(f"band{k}", BAND_BODY))
                record(SCENARIOS[3], dispatcher.handler, event(known[k]))
                placed = record(SCENARIOS[4], mapper.handler, event(known[k]))
                first, second = (endpoint["url"] for endpoint in placed["endpoints"])
                cached = {"cellId": placed["cellId"], "cellUrl": first, "cellUrl2": second}
                verdict = record(SCENARIOS[5], validator.handler, event(known[k], cached))
                if not verdict["valid"]:
                    raise AssertionError(f"seeded cache judged stale: {verdict}")
            _two_region_sign_ups(record, event)
            costs.update(dict.fromkeys(SLOTTED_SCENARIOS, Cost()))
            _slotted_sign_ups(record, event, users, max_capacity)
        aws_clients.reset()
        identity.reset()
        os.environ.pop(router_contract.USER_KEY_SECRET_ARN.name, None)
        return costs


@contextlib.contextmanager
def _swapped(owner: Any, name: str, value: Any) -> Iterator[None]:
    """``owner.name`` is ``value`` inside the block, restored after it."""
    previous = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, previous)


def _two_region_sign_ups(record: Callable[..., Any], event: Callable[..., Any]) -> None:
    """Sign-ups in the market's writer region of a two-region router: a cold
    writer check costs one BatchGetItem (record + peer heartbeat), a cached
    one nothing (the transaction's condition check re-proves it)."""
    from handlers.cell_router import dispatcher, writer, writer_gate, writer_store

    with scoped_environ(TWO_REGIONS):
        peer = writer.heartbeat_item("us-west-2", time.time(), {})
        writer_store.write_heartbeat(boto3.client("dynamodb"), TABLE, peer)
        for k in range(SAMPLES):
            writer_gate.forget()
            record(SCENARIOS[7], dispatcher.handler, event(f"cold{k}"))
            record(SCENARIOS[6], dispatcher.handler, event(f"warm{k}"))
        writer_gate.forget()


def _slotted_sign_ups(
    record: Callable[..., Any], event: Callable[..., Any], users: int, max_capacity: int
) -> None:
    """Issue #14: the same requests against slotted cells (``SLOTS`` slots a
    cell, 3 cells holding ``users`` between them; a band market of slotted
    cells past their slots' share of the scale-out point, episode open)."""
    from handlers.cell_router import aws_clients, budget, caller_cell, dispatcher, scaler
    from handlers.cell_router.budget import ATTEMPT_TIMEOUTS
    from support.faults import FaultInjector, parse_faults

    band = f"{SLOTTED_MARKET}-band"
    # Large cells, so the seeded users never bring a slot to its share of
    # the scale-out point (that crossing costs its sign-up one more
    # transaction, once per slot: the band row shows the band).
    _seed_slotted(SLOTTED_MARKET, users, 100 * max_capacity, cells=10)
    # In the band (72 % of maxCapacity, past every slot's share of the
    # scale-out point) with room to spare: a slot that filled during the
    # samples would cost a redraw that is not the band's.
    _seed_slotted(band, 3 * 72 * max_capacity // 10, 10 * max_capacity, episode_open=True)
    body = {"marketId": SLOTTED_MARKET}

    def cold() -> None:
        dispatcher.SNAPSHOTS.clear()
        caller_cell.forget_cells()

    def band_sign_up(request: dict[str, Any], context: Any) -> Any:
        return scaler.handler(dispatcher.handler(request, context), context)

    def lost_race(request: dict[str, Any], context: Any) -> Any:
        rule = parse_faults("dynamodb:TransactWriteItems=cancel:TransactionConflict:1*1")
        clients = [aws_clients.dynamodb(connect + read) for connect, read in ATTEMPT_TIMEOUTS]
        with FaultInjector(rule, seed=1).active(*clients):
            return dispatcher.handler(request, context)

    # Frozen time: "warm" must mean warm however slow the machine is (the
    # snapshot is kept SNAPSHOT_TTL_SECONDS, a second of wall time).
    saved_clock = budget.CLOCK
    budget.CLOCK = budget.Clock(now=lambda: 0.0, sleep=lambda _seconds: None)
    try:
        _slotted_samples(record, event, body, band, cold, band_sign_up, lost_race)
    finally:
        budget.CLOCK = saved_clock


def _slotted_samples(
    record: Callable[..., Any],
    event: Callable[..., Any],
    body: dict[str, Any],
    band: str,
    cold: Callable[[], None],
    band_sign_up: Callable[..., Any],
    lost_race: Callable[..., Any],
) -> None:
    from handlers.cell_router import dispatcher, mapper

    slots = router_contract.SLOTS_PER_CELL
    with scoped_environ({slots.name: slots.render(SLOTS)}):
        for k in range(SAMPLES):
            cold()
            record(SLOTTED_SCENARIOS[0], dispatcher.handler, event(f"s-new{k}", body))
            record(SLOTTED_SCENARIOS[1], dispatcher.handler, event(f"s-warm{k}", body))
            record(SLOTTED_SCENARIOS[2], lost_race, event(f"s-raced{k}", body))
            band_body = {"marketId": band}
            # Warm the snapshot of the band market first.
            band_sign_up(
                event(f"s-band-warm{k}", band_body), FakeLambdaContext(function_name="bench")
            )
            record(SLOTTED_SCENARIOS[3], band_sign_up, event(f"s-band{k}", band_body))
            cold()
            record(SLOTTED_SCENARIOS[4], dispatcher.handler, event(f"s-new{k}", body))
            record(SLOTTED_SCENARIOS[5], dispatcher.handler, event(f"s-new{k}", body))
            record(SLOTTED_SCENARIOS[6], mapper.handler, event(f"s-new{k}", body))
        cold()


def _seed_slotted(
    market: str, users: int, max_capacity: int, *, cells: int = 3, episode_open: bool = False
) -> None:
    """Slotted cells of ``market`` holding ``users`` between them (spread over
    their slots as the dispatcher would), listed in shard 0."""
    from decimal import Decimal

    from handlers.cell_router import placement, slots, store
    from handlers.cell_router.attribute_values import dump
    from handlers.cell_router.model import Cell

    client = boto3.client("dynamodb")
    limit = placement.assignable_limit(max_capacity, Decimal("0.2"))
    for i in range(cells):
        load = users // cells + (1 if i < users % cells else 0)
        cell = Cell(market, f"{market}-{i}", load, max_capacity, True)
        limits = slots.slot_limits(limit, SLOTS)
        for k, (share, taken) in enumerate(
            zip(limits, slots.spread_load(load, limits), strict=True)
        ):
            client.put_item(TableName=TABLE, Item=dump(store.slot_item(cell, k, share, taken)))
        client.put_item(
            TableName=TABLE,
            Item={
                "marketId": {"S": market},
                "cellId": {"S": cell.cell_id},
                "currentCapacity": {"N": str(load)},
                "maxCapacity": {"N": str(max_capacity)},
                "endPoint_1": {"S": f"https://{cell.cell_id}-1.example.com"},
                "endPoint_2": {"S": f"https://{cell.cell_id}-2.example.com"},
                "regionCode_1": {"S": "eu-west-1"},
                "regionCode_2": {"S": "eu-central-1"},
                "IsHealthy": {"BOOL": True},
                store.SLOTS_ATTRIBUTE: {"N": str(SLOTS)},
                store.SHARDS_ATTRIBUTE: {"N": "1"},
                store.PLACEABLE_ATTRIBUTE: {"S": slots.placeable_partition(market, 0)},
            },
        )
    if episode_open:
        key = store.episode_key(market)
        client.put_item(
            TableName=TABLE,
            Item={
                store.PARTITION_KEY: {"S": key[store.PARTITION_KEY]},
                store.SORT_KEY: {"S": key[store.SORT_KEY]},
                "episodeId": {"S": "open-episode"},
                "status": {"S": store.EPISODE_OPEN},
                "openedAt": {"S": "2025-01-01T00:00:00Z"},
                "openedAtEpoch": {"N": str(int(time.time()))},
            },
        )


BAND_MARKET = "band"
BAND_BODY = {"marketId": BAND_MARKET}


def _seed_band_market(max_capacity: int) -> None:
    """Three cells of another market inside the scale-out band, its episode
    already open (the steady state of the band: every sign-up's scaler finds
    it open), and a queue for the scaler."""
    import os

    from handlers.cell_router import store

    client = boto3.client("dynamodb")
    for i in range(3):
        client.put_item(
            TableName=TABLE,
            Item={
                "marketId": {"S": BAND_MARKET},
                "cellId": {"S": f"band-{i}"},
                "currentCapacity": {"N": str(BAND_LOAD)},
                "maxCapacity": {"N": str(max_capacity)},
                "endPoint_1": {"S": f"https://band-{i}-1.example.com"},
                "endPoint_2": {"S": f"https://band-{i}-2.example.com"},
                "regionCode_1": {"S": "eu-west-1"},
                "regionCode_2": {"S": "eu-central-1"},
                "IsHealthy": {"BOOL": True},
                # Below its limit, so in the placeable index (as _seed's cells).
                store.PLACEABLE_ATTRIBUTE: {"S": BAND_MARKET},
            },
        )
    key = store.episode_key(BAND_MARKET)
    client.put_item(
        TableName=TABLE,
        Item={
            store.PARTITION_KEY: {"S": key[store.PARTITION_KEY]},
            store.SORT_KEY: {"S": key[store.SORT_KEY]},
            "episodeId": {"S": "open-episode"},
            "status": {"S": store.EPISODE_OPEN},
            "openedAt": {"S": "2025-01-01T00:00:00Z"},
            "openedAtEpoch": {"N": str(int(time.time()))},
            "triggeringCellId": {"S": "band-0"},
        },
    )
    queue = boto3.client("sqs").create_queue(QueueName="CellProvisioning-bench")
    os.environ[router_contract.PROVISIONING_QUEUE_URL.name] = queue["QueueUrl"]


def markdown(results: dict[int, dict[str, Cost]]) -> str:
    sizes = sorted(results)
    header = "| request | " + " | ".join(
        f"{n:,} users: round trips / bytes read / RRU / WRU" for n in sizes
    )
    lines = [header + " | calls |", "|---" * (len(sizes) + 2) + "|"]
    for scenario in (*SCENARIOS, *SLOTTED_SCENARIOS):
        if scenario not in results[sizes[-1]]:
            continue
        cells = [
            f"{results[n][scenario].round_trips} / {results[n][scenario].bytes_read:,}"
            f" / {results[n][scenario].read_units:g} / {results[n][scenario].write_units:g}"
            for n in sizes
        ]
        calls = " + ".join(results[sizes[-1]][scenario].operations)
        lines.append(f"| {scenario} | " + " | ".join(cells) + f" | {calls} |")
    return "\n".join(lines)


#: Largest market measured: seeding is ~1 s per 1,000 users on moto.
MAX_USERS = 100_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.round_trips",
        description=__doc__.split("\n\n")[0],
        epilog=f"Each size is a number of users already placed, 1-{MAX_USERS:,}.",
    )
    parser.add_argument(
        "sizes",
        nargs="*",
        type=integer_in(1, MAX_USERS),
        metavar="USERS",
        help="market sizes to measure (default: 100 10000)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = sorted(set(args.sizes)) or [100, 10_000]
    started = time.monotonic()
    results = {n: measure(n) for n in sizes}
    print(markdown(results))
    print(f"\n({SAMPLES} samples per cell, worst case shown; {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
