"""Slotted cells (issue #14) on moto: the slot transaction, the registrar's
slots, the roll-up, the dispatcher's snapshot and last look, the known-user
cell cache; and the two small faults of the area (the scaler's cap count
outside the store's retries, the refusal path's capacity request at the cap).

``SLOTS_PER_CELL`` is unset (1, the SPEC's layout) unless a test sets it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from handlers.cell_router import (
    aws_clients,
    budget,
    caller_cell,
    dispatcher,
    mapper,
    registrar,
    scaler,
    slots,
    sweeper,
)
from handlers.cell_router.errors import NoCapacity
from handlers.cell_router.model import Mapping
from handlers.cell_router.store import AssignOutcome, RouterStore
from support.faults import FaultInjector
from support.sfn import FakeLambdaContext
from tests.handlers.cell_router.support import TABLE, Router, SimulatedClock, cell_ready, request

SLOTS = 4


@pytest.fixture
def slotted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOTS_PER_CELL", str(SLOTS))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedClock]:
    simulated = SimulatedClock()
    monkeypatch.setattr(budget, "CLOCK", simulated)
    yield simulated


class _Calls:
    """DynamoDB operations the handlers send (every HTTP attempt)."""

    def __init__(self) -> None:
        self.operations: list[str] = []
        self.keys: list[str] = []

    def attach(self) -> None:
        for connect, read in budget.ATTEMPT_TIMEOUTS:
            client = aws_clients.dynamodb(connect + read)
            client.meta.events.register_first("before-send", self._sent)
            client.meta.events.register("before-parameter-build.dynamodb", self._called)

    def _sent(self, request: Any = None, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target") or b""
        self.operations.append(
            (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
        )

    def _called(self, params: dict[str, Any] | None = None, **_: Any) -> None:
        params = params or {}
        bodies = [params] + [
            body for action in params.get("TransactItems", []) for body in action.values()
        ]
        for body in bodies:
            key = body.get("Key") or body.get("Item") or {}
            if "marketId" in key:
                self.keys.append(key["marketId"]["S"])
            values = body.get("ExpressionAttributeValues") or {}
            self.keys.extend(v["S"] for n, v in values.items() if n == ":market" and "S" in v)

    def clear(self) -> None:
        self.operations.clear()
        self.keys.clear()


@pytest.fixture
def calls() -> _Calls:
    meter = _Calls()
    meter.attach()
    return meter


def _sign_up(user: str, context: FakeLambdaContext) -> dict[str, Any]:
    placed = dispatcher.handler(request(user), context)
    return {**placed, **scaler.handler(placed, context)}


# --------------------------------------------------------------------------- #
# the registrar writes a cell with its slots, in one transaction
# --------------------------------------------------------------------------- #
def test_registrar_writes_the_cell_and_its_slots_in_one_transaction(
    router: Router, lambda_context, slotted, calls: _Calls
) -> None:
    result = registrar.handler(cell_ready("c9", maximum=50), lambda_context)
    assert result["created"] is True
    assert calls.operations.count("TransactWriteItems") == 1
    assert "PutItem" not in calls.operations
    cell = router.cell("c9")
    assert cell["slots"] == {"N": str(SLOTS)}
    assert cell["currentCapacity"] == {"N": "0"}
    assert cell["placeableMarketId"] == {"S": "europe#0"}
    items = router.slot_items()
    assert len(items) == SLOTS
    # Shares of floor(50 x 0.8) = 40, adding up exactly; health copied.
    assert sorted(int(i["slotLimit"]["N"]) for i in items) == [10, 10, 10, 10]
    assert all(i["IsHealthy"] == {"BOOL": True} and i["slotLoad"]["N"] == "0" for i in items)
    # A replay changes nothing (the cell's condition cancels the transaction).
    before = router.snapshot()
    again = registrar.handler(cell_ready("c9", maximum=50), lambda_context)
    assert again["created"] is False
    assert router.snapshot() == before


def test_registrar_with_one_slot_writes_exactly_todays_cell(router: Router, lambda_context):
    registrar.handler(cell_ready("c9", maximum=50), lambda_context)
    assert router.slot_items() == []
    assert "slots" not in router.cell("c9")


# --------------------------------------------------------------------------- #
# the slot transaction
# --------------------------------------------------------------------------- #
def _store() -> RouterStore:
    return RouterStore(TABLE)


def test_slot_transaction_counts_on_the_slot_not_the_cell(router: Router, slotted) -> None:
    router.put_cell("c1", maximum=50, slots=SLOTS)
    cell = _store().market_cells("europe")[0]
    mapping = Mapping("u1", "europe", "c1", "2025-01-01T00:00:00Z")
    result = _store().assign_slot(mapping, cell, 2, share=9)
    assert result.outcome is AssignOutcome.PLACED
    assert router.slot_loads("c1") == [0, 0, 1, 0]
    assert router.load("c1") == 0  # the cell item moves only with the roll-up
    assert len(router.mappings()) == 1
    # A repeated sign-up of the same user writes nothing more.
    again = _store().assign_slot(mapping, cell, 1, share=9)
    assert again.outcome is AssignOutcome.ALREADY_MAPPED
    assert router.slot_loads("c1") == [0, 0, 1, 0]


def test_slot_transaction_never_passes_the_slots_share(router: Router, slotted) -> None:
    router.put_cell("c1", current=40, maximum=50, slots=SLOTS)  # every slot at 10 of 10
    cell = _store().market_cells("europe")[0]
    result = _store().assign_slot(Mapping("u1", "europe", "c1", ""), cell, 0, share=7, known_load=9)
    assert result.outcome is AssignOutcome.CELL_REJECTED
    assert router.slot_loads("c1") == [10, 10, 10, 10]
    assert router.mappings() == []


def test_slot_transaction_proves_which_side_of_the_scale_out_share_it_is(
    router: Router, slotted
) -> None:
    router.put_cell("c1", current=24, maximum=50, slots=SLOTS)  # slots at 6 each
    cell = _store().market_cells("europe")[0]
    # "Stays below 7" is false at 6: the real load comes back, nothing written.
    stale = _store().assign_slot(Mapping("u1", "europe", "c1", ""), cell, 0, share=7)
    assert (stale.outcome, stale.observed_capacity) == (AssignOutcome.STALE_LOAD, 6)
    assert router.mappings() == []
    crossing = _store().assign_slot(Mapping("u1", "europe", "c1", ""), cell, 0, 7, known_load=6)
    assert crossing.outcome is AssignOutcome.PLACED
    assert router.slot_loads("c1")[0] == 7


def test_slot_transaction_reads_health_from_the_slot(router: Router, slotted) -> None:
    router.put_cell("c1", maximum=50, slots=SLOTS, healthy=False)
    cell = _store().market_cells("europe")[0]
    result = _store().assign_slot(Mapping("u1", "europe", "c1", ""), cell, 0, share=7)
    assert result.outcome is AssignOutcome.CELL_REJECTED


# --------------------------------------------------------------------------- #
# the dispatcher: snapshot, draws, last look, edge-triggered scale-out
# --------------------------------------------------------------------------- #
def test_a_market_of_slotted_cells_fills_exactly_and_asks_for_one_cell(
    router: Router, lambda_context, slotted
) -> None:
    for cell_id in ("c1", "c2"):
        router.put_cell(cell_id, maximum=50, slots=SLOTS)
    placed = [_sign_up(f"u{i}", lambda_context) for i in range(80)]
    assert all(p["newAssignment"] for p in placed)
    assert {c: router.users(c) for c in ("c1", "c2")} == {"c1": 40, "c2": 40}
    assert all(load <= 10 for c in ("c1", "c2") for load in router.slot_loads(c))
    per_cell = Counter(m["assignedCellId"]["S"] for m in router.mappings())
    assert per_cell == {"c1": 40, "c2": 40}
    assert Counter(p["cellId"] for p in placed) == per_cell
    with pytest.raises(NoCapacity):
        dispatcher.handler(request("late"), lambda_context)
    assert len(router.messages()) == 1
    assert sum(p["provisioningRequested"] for p in placed) == 1


@pytest.mark.parametrize(("slot_count", "writes"), [("1", range(6, 9)), (str(SLOTS), [0])])
def test_sign_ups_past_the_scale_out_point_write_the_episode_only_at_the_edge(
    router: Router,
    lambda_context,
    monkeypatch: pytest.MonkeyPatch,
    calls: _Calls,
    slot_count: str,
    writes: range | list[int],
) -> None:
    """Today (one slot) every sign-up in the scale-out band writes the
    market's scale-out item, episode open or not; slotted, only the sign-up
    that takes a slot across its share of the scale-out point (35 of 50:
    9 of a slot's 10) does -- here every slot is already past it."""
    monkeypatch.setenv("SLOTS_PER_CELL", slot_count)
    for cell_id in ("c1", "c2"):
        router.put_cell(cell_id, current=36, maximum=50, slots=int(slot_count))
    for i in range(6):
        _sign_up(f"band{i}", lambda_context)
    # Today: one per sign-up (the first also records its send).
    assert sum(1 for key in calls.keys if "SCALE#" in key) in writes


def test_the_sign_up_that_crosses_a_slots_share_wakes_the_scaler(
    router: Router, lambda_context, slotted
) -> None:
    router.put_cell("c1", current=32, maximum=50, slots=SLOTS)  # 8 a slot; share 9 of 10
    results = [_sign_up(f"u{i}", lambda_context) for i in range(8)]
    # Each slot goes 8 -> 9 (crossing: reported at the scale-out point) -> 10.
    crossings = [r for r in results if r["cellLoad"]["currentCapacity"] >= 35]
    assert len(crossings) == SLOTS
    assert router.slot_loads("c1") == [10, 10, 10, 10]
    assert len(router.messages()) == 1


def test_a_warm_container_signs_up_in_two_round_trips(
    router: Router, lambda_context, slotted, calls: _Calls
) -> None:
    for cell_id in ("c1", "c2", "c3"):
        router.put_cell(cell_id, maximum=500, slots=SLOTS)
    dispatcher.handler(request("cold"), lambda_context)
    assert calls.operations == ["GetItem", "Query", "TransactWriteItems"]
    calls.clear()
    dispatcher.handler(request("warm"), lambda_context)
    assert calls.operations == ["GetItem", "TransactWriteItems"]
    # The hot path never touches the market's partition.
    assert calls.keys[0].startswith("USER#") and calls.keys[1].startswith("USER#")
    assert calls.keys[2].startswith("SLOT#europe#")
    assert "europe" not in calls.keys


def test_last_look_places_on_a_cell_the_snapshot_does_not_show(
    router: Router, lambda_context, slotted
) -> None:
    """The shard shows only a full cell (stale), the free cell is not in the
    index at all: the last look reads the slots and places the user."""
    router.put_cell("full", current=40, maximum=50, slots=SLOTS, listed=True)
    router.put_cell("hidden", maximum=50, slots=SLOTS, listed=False)
    result = dispatcher.handler(request("u1"), lambda_context)
    assert result["cellId"] == "hidden"
    assert router.users("hidden") == 1


def test_last_look_answers_no_capacity_only_when_every_slot_is_full(
    router: Router, lambda_context, slotted, calls: _Calls
) -> None:
    router.put_cell("c1", current=40, maximum=50, slots=SLOTS, listed=False)
    with pytest.raises(NoCapacity):
        dispatcher.handler(request("u1"), lambda_context)
    assert "BatchGetItem" in calls.operations  # the slots were read
    assert router.mappings() == []


def test_a_lost_race_draws_again_instead_of_waiting(
    router: Router, lambda_context, slotted, clock: SimulatedClock
) -> None:
    router.put_cell("c1", maximum=500, slots=SLOTS)
    injector = FaultInjector(
        "dynamodb:TransactWriteItems=cancel:TransactionConflict:1*1", seed=1, sleep=clock.sleep
    )
    aws_clients.reset()
    with injector.active():
        result = dispatcher.handler(request("u1"), FakeLambdaContext(timeout_seconds=5))
    aws_clients.reset()
    assert result["newAssignment"] is True
    assert injector.total_injected == 1
    assert clock.now() == 0.0  # no backoff: another slot was drawn at once
    assert router.users("c1") == 1


# --------------------------------------------------------------------------- #
# the roll-up (sweeper)
# --------------------------------------------------------------------------- #
def test_sweeper_rolls_slots_up_into_the_cell_item(router: Router, lambda_context, slotted) -> None:
    registrar.handler(cell_ready("c1", maximum=50), lambda_context)
    for i in range(5):
        dispatcher.handler(request(f"u{i}"), lambda_context)
    assert router.load("c1") == 0
    summary = sweeper.handler({}, lambda_context)
    assert summary["rolledUpCells"] == 1
    cell = router.cell("c1")
    assert cell["currentCapacity"] == {"N": "5"}
    assert cell["placeableShards"] == {"N": "1"}
    assert cell["placeableMarketId"] == {"S": "europe#0"}
    # Nothing changed: the next sweep writes nothing.
    assert sweeper.handler({}, lambda_context)["rolledUpCells"] == 0


def test_roll_up_takes_a_full_cell_out_of_the_index_and_copies_health(
    router: Router, lambda_context, slotted
) -> None:
    router.put_cell("full", current=40, maximum=50, slots=SLOTS)
    router.put_cell("sick", maximum=50, slots=SLOTS)
    router.remember_market = None  # (documentation: the registrar remembers it)
    RouterStore(TABLE).remember_market("europe", "2025-01-01T00:00:00Z")
    router.ddb.update_item(
        TableName=TABLE,
        Key={"marketId": {"S": "europe"}, "cellId": {"S": "sick"}},
        UpdateExpression="SET IsHealthy = :f",
        ExpressionAttributeValues={":f": {"BOOL": False}},
    )
    sweeper.handler({}, lambda_context)
    assert "placeableMarketId" not in router.cell("full")
    assert router.cell("full")["currentCapacity"] == {"N": "40"}
    assert "placeableMarketId" not in router.cell("sick")
    sick_slots = [i for i in router.slot_items() if "#sick#" in i["marketId"]["S"]]
    assert all(i["IsHealthy"] == {"BOOL": False} for i in sick_slots)
    with pytest.raises(NoCapacity):
        dispatcher.handler(request("u1"), lambda_context)


def test_roll_up_deals_cells_to_shards_of_ten(router: Router, lambda_context, slotted) -> None:
    for i in range(23):
        router.put_cell(f"c{i:02}", maximum=50, slots=2)
    RouterStore(TABLE).remember_market("europe", "2025-01-01T00:00:00Z")
    sweeper.handler({}, lambda_context)
    shards = Counter(router.cell(f"c{i:02}")["placeableMarketId"]["S"] for i in range(23))
    assert shards == {"europe#0": 8, "europe#1": 8, "europe#2": 7}
    assert {router.cell(f"c{i:02}")["placeableShards"]["N"] for i in range(23)} == {"3"}


# --------------------------------------------------------------------------- #
# known users: the cell cache
# --------------------------------------------------------------------------- #
def test_known_users_take_the_cell_from_the_cache_when_slotted(
    router: Router, lambda_context, slotted, calls: _Calls
) -> None:
    router.put_cell("c1", maximum=50, slots=SLOTS)
    dispatcher.handler(request("ada"), lambda_context)
    caller_cell.forget_cells()
    calls.clear()
    mapper.handler(request("ada", path="/mapper"), lambda_context)
    assert calls.operations == ["GetItem", "GetItem"]  # cold: mapping + cell
    calls.clear()
    mapper.handler(request("ada", path="/mapper"), lambda_context)
    dispatcher.handler(request("ada"), lambda_context)
    assert calls.operations == ["GetItem", "GetItem"]  # warm: one mapping read each


def test_known_users_read_the_cell_every_time_with_one_slot(
    router: Router, lambda_context, calls: _Calls
) -> None:
    router.put_cell("c1", maximum=50)
    dispatcher.handler(request("ada"), lambda_context)
    calls.clear()
    mapper.handler(request("ada", path="/mapper"), lambda_context)
    mapper.handler(request("ada", path="/mapper"), lambda_context)
    assert calls.operations == ["GetItem"] * 4


# --------------------------------------------------------------------------- #
# the two small faults of the area
# --------------------------------------------------------------------------- #
def test_scalers_cap_count_is_retried_through_the_store(
    router: Router, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    """Was: ``_market_at_cap`` called ``registration.market_cell_count`` on a
    raw client: one throttled Query surfaced as a ClientError (a 500)."""
    monkeypatch.setenv("MAX_CELLS_PER_MARKET", "5")
    router.put_cell("c1", current=35)
    placed = {
        "cellId": "c1",
        "marketId": "europe",
        "endpoints": [],
        "ttlSeconds": 300,
        "newAssignment": True,
        "cellLoad": {"currentCapacity": 35, "maxCapacity": 50},
    }
    injector = FaultInjector("dynamodb:Query=ThrottlingException*1", seed=1, sleep=clock.sleep)
    aws_clients.reset()
    with injector.active():
        result = scaler.handler(placed, FakeLambdaContext(timeout_seconds=3))
    aws_clients.reset()
    assert injector.total_injected == 1
    assert result == {"provisioningRequested": True}


@pytest.mark.parametrize("slot_count", ["1", str(SLOTS)])
def test_a_refusal_at_the_cell_cap_requests_no_cell(
    router: Router, lambda_context, monkeypatch: pytest.MonkeyPatch, slot_count: str
) -> None:
    """Was: the refusal path asked for a cell the registrar would refuse."""
    monkeypatch.setenv("SLOTS_PER_CELL", slot_count)
    monkeypatch.setenv("MAX_CELLS_PER_MARKET", "2")
    for cell_id in ("c1", "c2"):
        router.put_cell(cell_id, current=40, maximum=50, slots=int(slot_count))
    with pytest.raises(NoCapacity, match="cap of 2 cells"):
        dispatcher.handler(request("u1"), lambda_context)
    assert router.messages() == []
    assert router.marker() is None


def test_a_refusal_below_the_cap_still_requests_a_cell(
    router: Router, lambda_context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_CELLS_PER_MARKET", "3")
    router.put_cell("c1", current=40, maximum=50)
    with pytest.raises(NoCapacity):
        dispatcher.handler(request("u1"), lambda_context)
    assert len(router.messages()) == 1


def test_slot_partitions_and_shards_never_look_like_a_market() -> None:
    assert slots.slot_key("europe", "c1", 3) == {"marketId": "SLOT#europe#c1#3", "cellId": "SLOT"}
    assert slots.placeable_partition("europe", 2) == "europe#2"
    assert [slots.shard_count(n) for n in (0, 1, 10, 11, 100)] == [1, 1, 1, 2, 10]
