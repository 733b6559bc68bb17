"""The headline claim: concurrent sign-ups never overfill a cell, never place
a user twice, and ask for exactly one new cell.

Runs against a moto server that serves one request at a time (DynamoDB
applies each write atomically; moto's threaded server does not), while 16
client threads race for real between their calls.
"""

from __future__ import annotations

import collections
from concurrent.futures import ThreadPoolExecutor

import pytest

from handlers.cell_router import dispatcher, scaler
from handlers.cell_router.errors import NoCapacity
from tests.handlers.cell_router.support import build_router, request

THREADS = 16
USERS = 150


@pytest.mark.slow
def test_sixteen_threads_sign_up_150_users(serial_moto, lambda_context, monkeypatch) -> None:
    router = build_router()
    monkeypatch.setenv("PROVISIONING_QUEUE_URL", router.queue_url)
    monkeypatch.setenv("USER_KEY_SECRET_ARN", router.secret_arn)
    for cell_id in ("c1", "c2", "c3"):
        router.put_cell(cell_id, maximum=50)
    router.put_cell("sick", maximum=50, healthy=False)
    router.put_cell("asia-1", market="asia", maximum=50)
    untouched = (router.cell("sick"), router.cell("asia-1", "asia"))

    def sign_up(user_id: str) -> dict | None:
        # What the state machine does for /cells: Dispatcher, then Scaler.
        try:
            placed = dispatcher.handler(request(user_id), lambda_context)
        except NoCapacity:
            return None
        scaled = scaler.handler(placed, lambda_context)
        return {**placed, **scaled}

    user_ids = [f"user{i}" for i in range(USERS)]
    with ThreadPoolExecutor(THREADS) as pool:
        results = dict(zip(user_ids, pool.map(sign_up, user_ids), strict=True))

    placed = {user: r for user, r in results.items() if r is not None}
    assert len(placed) == 120
    assert all(r["newAssignment"] for r in placed.values()), {
        u: r for u, r in placed.items() if not r["newAssignment"]
    }
    loads = {c: router.load(c) for c in ("c1", "c2", "c3")}
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
