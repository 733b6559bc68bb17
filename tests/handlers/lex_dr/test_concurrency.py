"""Overlapping health-check rounds against a moto server that serves one
request at a time (each DynamoDB write atomic, as on AWS; clients race)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from components.schemas import LEX_STATE_TABLE
from handlers.lex_dr import health_check, state_store
from handlers.lex_dr.state_store import StateConflictError
from tests.handlers.lex_dr.lex_fakes import ERROR, PRIMARY, SECONDARY, TABLE_NAME

THREADS = 6
ROUNDS_PER_THREAD = 5
KEY = {LEX_STATE_TABLE.hash_key.name: {"S": PRIMARY}}

pytestmark = pytest.mark.slow


@pytest.fixture
def serial_table(serial_fake_lex):
    client = boto3.client("dynamodb", region_name=PRIMARY)
    client.create_table(**LEX_STATE_TABLE.create_table_request(TABLE_NAME))
    client.put_item(TableName=TABLE_NAME, Item={**KEY, "lexRegion": {"S": PRIMARY}})
    return client


def read(client) -> dict:
    return client.get_item(TableName=TABLE_NAME, Key=KEY, ConsistentRead=True)["Item"]


def test_overlapping_rounds_never_lose_a_switch_or_a_round(
    serial_table, serial_fake_lex, lambda_context, monkeypatch
):
    serial_fake_lex.set(PRIMARY, ERROR)
    conflicts = []
    real_apply = state_store.apply_round

    def counting_apply(*args, **kwargs):
        outcome = real_apply(*args, **kwargs)
        conflicts.append(outcome.conflicts)
        return outcome

    monkeypatch.setattr(state_store, "apply_round", counting_apply)

    observed: list[tuple[int, str]] = []
    stop = threading.Event()
    watcher_client = boto3.client("dynamodb", region_name=PRIMARY)

    def watch() -> None:
        while not stop.is_set():
            item = read(watcher_client)
            observed.append((int(item.get("version", {"N": "0"})["N"]), item["lexRegion"]["S"]))

    gave_up = []

    def worker(_: int) -> list[dict]:
        done = []
        for _ in range(ROUNDS_PER_THREAD):
            try:
                done.append(health_check.handler({}, lambda_context))
            except StateConflictError:
                # bounded retries exhausted: the round fails loudly and writes nothing
                gave_up.append(1)
        return done

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            results = [r for batch in pool.map(worker, range(THREADS)) for r in batch]
    finally:
        stop.set()
        watcher.join()

    total = len(results)
    assert total + len(gave_up) == THREADS * ROUNDS_PER_THREAD
    assert total >= THREADS * ROUNDS_PER_THREAD * 3 // 4
    item = read(serial_table)
    regions = item["regions"]["M"]

    # every round landed exactly once: no update was lost or applied twice
    assert int(item["version"]["N"]) == total
    assert regions[PRIMARY]["M"]["failStreak"]["N"] == str(total)
    assert regions[SECONDARY]["M"]["okStreak"]["N"] == str(total)
    # the switch happened exactly once and was never undone by a stale writer
    assert item["lexRegion"]["S"] == SECONDARY
    assert item["lastSwitchReason"]["S"] == "failover"
    assert sum(r["switched"] for r in results) == 1
    # the rounds really did overlap and collide
    assert sum(conflicts) > 0, "no write conflicts: the test did not exercise concurrency"

    versions = [v for v, _ in observed]
    assert versions == sorted(versions), "version went backwards"
    regions_seen = [region for _, region in observed]
    if SECONDARY in regions_seen:
        first = regions_seen.index(SECONDARY)
        assert set(regions_seen[first:]) == {SECONDARY}, "a stale writer undid the switch"
