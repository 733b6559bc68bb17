"""The headline claim: concurrent sign-ups never overfill a cell, never place
a user twice, and ask for exactly one new cell.

Runs against a moto server that serves one request at a time (DynamoDB
applies each write atomically; moto's threaded server does not), while 16
client threads race for real between their calls.
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from handlers.cell_router import aws_clients, budget, dispatcher, scaler
from handlers.cell_router.errors import NoCapacity, ServiceUnavailable, UnknownMarket
from support.emulator import EMULATOR_TIME_SCALE
from support.faults import FaultInjector
from support.sfn import FakeLambdaContext
from tests.handlers.cell_router.support import QUEUE, TABLE, build_router, request

THREADS = 16
USERS = 150


@pytest.fixture
def emulator_time(monkeypatch) -> Callable[[], FakeLambdaContext]:
    """Lambda contexts and per-attempt timeouts scaled for the emulator.

    The serial moto server queues 16 threads' requests one at a time, so a
    request can wait seconds for its turn; deadline-derived read timeouts
    (as short as 0.4 s near the end of a budget) would then fire, losing
    answers and changing outcomes -- measuring the emulator, not the router.
    These tests are about atomicity, not latency (time budgets are tested on a
    simulated clock), so, as the drill does, every invocation gets
    EMULATOR_TIME_SCALE times the budget and every attempt that many times
    its timeouts: no request waits that long here.
    """
    scaled = tuple(
        (connect * EMULATOR_TIME_SCALE, read * EMULATOR_TIME_SCALE)
        for connect, read in budget.ATTEMPT_TIMEOUTS
    )
    monkeypatch.setattr(budget, "ATTEMPT_TIMEOUTS", scaled)
    monkeypatch.setattr(aws_clients, "ATTEMPT_TIMEOUTS", scaled)
    timeout = FakeLambdaContext.timeout_seconds * EMULATOR_TIME_SCALE

    def context() -> FakeLambdaContext:
        return FakeLambdaContext(timeout_seconds=timeout)

    return context


#: Slots per cell: 1 is the SPEC's layout; 4 is issue #14's slotted design
#: (each cell's 40 seats split over 4 slot items of 10), where "counters
#: equal mappings" means the slots' sums.
SLOT_COUNTS = (1, 4)


def _tables(slots: int, table: str, queue: str) -> tuple[str, str]:
    # Each run its own table and queue: the emulator outlives a test.
    return (table, queue) if slots == 1 else (f"{table}-s{slots}", f"{queue}-s{slots}")


@pytest.mark.slow
@pytest.mark.parametrize("slots", SLOT_COUNTS)
def test_sixteen_threads_sign_up_150_users(
    serial_moto, emulator_time, monkeypatch, slots: int
) -> None:
    table, queue = _tables(slots, TABLE, QUEUE)
    router = build_router(table, queue)
    monkeypatch.setenv("TABLE_NAME", table)
    monkeypatch.setenv("SLOTS_PER_CELL", str(slots))
    monkeypatch.setenv("PROVISIONING_QUEUE_URL", router.queue_url)
    monkeypatch.setenv("USER_KEY_SECRET_ARN", router.secret_arn)
    for cell_id in ("c1", "c2", "c3"):
        router.put_cell(cell_id, maximum=50, slots=slots)
    router.put_cell("sick", maximum=50, healthy=False, slots=slots)
    router.put_cell("asia-1", market="asia", maximum=50, slots=slots)
    untouched = (router.cell("sick"), router.cell("asia-1", "asia"))

    def sign_up(user_id: str) -> dict | None:
        # What the state machine does for /cells: Dispatcher, then Scaler.
        try:
            placed = dispatcher.handler(request(user_id), emulator_time())
        except NoCapacity:
            return None
        scaled = scaler.handler(placed, emulator_time())
        return {**placed, **scaled}

    user_ids = [f"user{i}" for i in range(USERS)]
    with ThreadPoolExecutor(THREADS) as pool:
        results = dict(zip(user_ids, pool.map(sign_up, user_ids), strict=True))

    placed = {user: r for user, r in results.items() if r is not None}
    assert len(placed) == 120
    assert all(r["newAssignment"] for r in placed.values()), {
        u: r for u, r in placed.items() if not r["newAssignment"]
    }
    loads = {c: router.users(c) for c in ("c1", "c2", "c3")}
    assert loads == {"c1": 40, "c2": 40, "c3": 40}
    mappings = router.mappings()
    assert len(mappings) == sum(loads.values()) == 120
    # Nobody in two cells: one mapping per user, and each user's mapping is
    # the cell the dispatcher told them.
    assert len({m["marketId"]["S"] for m in mappings}) == 120
    per_cell = collections.Counter(m["assignedCellId"]["S"] for m in mappings)
    assert per_cell == loads
    assert (router.cell("sick"), router.cell("asia-1", "asia")) == untouched

    # Repeated sign-ups of placed users, from several threads, change nothing.
    before = router.snapshot()
    repeat = list(placed)[:48] * 2
    with ThreadPoolExecutor(8) as pool:
        again = list(pool.map(sign_up, repeat))
    for user, result in zip(repeat, again, strict=True):
        assert result is not None
        assert result["newAssignment"] is False
        assert result["provisioningRequested"] is False
        assert result["cellId"] == placed[user]["cellId"]
    assert router.snapshot() == before

    messages = router.messages()
    assert len(messages) == 1
    assert messages[0]["marketId"] == "europe"
    assert sum(r["provisioningRequested"] for r in placed.values()) == 1


#: #11: the same race with AWS misbehaving -- 30 % of assignment
#: transactions cancelled by a conflict, 10 % of every DynamoDB and SQS call
#: throttled (on top of the real conflicts of 16 threads).
FAULTS = (
    "dynamodb:TransactWriteItems=cancel:TransactionConflict@0.3,"
    "dynamodb=ThrottlingException@0.1,"
    "sqs=RequestThrottled@0.1"
)


@pytest.mark.slow
@pytest.mark.parametrize("slots", SLOT_COUNTS)
def test_sixteen_threads_under_conflicts_and_throttling(
    serial_moto, emulator_time, monkeypatch, slots: int
) -> None:
    # Its own table and queue: the emulator outlives the test before.
    router = build_router(*_tables(slots, "tbl_router_faults", "CellProvisioning-faults"))
    monkeypatch.setenv("TABLE_NAME", router.table)
    monkeypatch.setenv("SLOTS_PER_CELL", str(slots))
    monkeypatch.setenv("PROVISIONING_QUEUE_URL", router.queue_url)
    monkeypatch.setenv("USER_KEY_SECRET_ARN", router.secret_arn)
    for cell_id in ("c1", "c2", "c3"):
        router.put_cell(cell_id, maximum=50, slots=slots)
    router.put_cell("sick", maximum=50, healthy=False, slots=slots)
    untouched = router.cell("sick")
    ticks = itertools.count()
    log: list[tuple[str, int, int, str, dict | None]] = []
    lock = threading.Lock()

    def sign_up(user_id: str) -> None:
        started = next(ticks)
        outcome, result = "placed", None
        try:
            # A fresh context per invocation, as Lambda gives (scaled: the
            # serial emulator is far slower than DynamoDB).
            result = dispatcher.handler(request(user_id), emulator_time())
            result = {**result, **scaler.handler(result, emulator_time())}
        except (NoCapacity, ServiceUnavailable, UnknownMarket) as error:
            outcome = type(error).__name__
        except Exception as error:  # an untrue answer: a 500
            outcome = f"unexpected {type(error).__name__}: {error}"
        with lock:
            log.append((user_id, started, next(ticks), outcome, result))

    injector = FaultInjector(FAULTS, seed=11)
    user_ids = [f"user{i}" for i in range(USERS)]
    with injector.active():
        aws_clients.reset()
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(sign_up, user_ids))
    aws_clients.reset()

    # The faults really happened, at about the asked rates.
    conflicts = sum(n for (_, op, f), n in injector.injected.items() if f.startswith("cancel:"))
    throttles = injector.total_injected - conflicts
    assert conflicts >= 20 and throttles >= 20, injector.injected

    outcomes = collections.Counter(entry[3] for entry in log)
    # Every placeable user placed, and every refusal the true one.
    assert outcomes == {"placed": 120, "NoCapacity": 30}, outcomes
    placed = {user: result for user, _, _, outcome, result in log if outcome == "placed"}
    loads = {c: router.users(c) for c in ("c1", "c2", "c3")}
    assert loads == {"c1": 40, "c2": 40, "c3": 40}  # none over the limit
    mappings = router.mappings()
    assert len(mappings) == len({m["marketId"]["S"] for m in mappings}) == 120
    per_cell = collections.Counter(m["assignedCellId"]["S"] for m in mappings)
    assert per_cell == loads  # nobody in two cells, nobody counted twice
    # What the callers were told matches what was written.
    told = collections.Counter(result["cellId"] for result in placed.values() if result)
    assert told == per_cell
    # No sign-up refused while a placeable cell existed: when a refusal
    # answered, at least 120 placements had already begun.
    for _, _, ended, outcome, _ in log:
        if outcome == "NoCapacity":
            assert sum(1 for e in log if e[3] == "placed" and e[1] < ended) >= 120
    assert router.cell("sick") == untouched
    messages = router.messages()
    assert [m["marketId"] for m in messages] == ["europe"]
