"""drill.replication: the global-table emulator, checked against the behaviour
the DynamoDB developer guide documents (asynchronous replication, per-item
last-writer-wins) before the drill trusts it."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from drill.replication import GlobalTableEmulator

EAST, WEST = "us-east-1", "us-west-2"
TABLE = "global-test"


def _client(region: str):
    return boto3.session.Session().client("dynamodb", region_name=region)


@pytest.fixture
def world() -> Iterator[tuple[GlobalTableEmulator, list[float], dict]]:
    with mock_aws():
        now = [0.0]
        for region in (EAST, WEST):
            _client(region).create_table(
                TableName=TABLE,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            )
        session = boto3.session.Session()
        emulator = GlobalTableEmulator(
            regions=(EAST, WEST),
            key_attributes={TABLE: ("pk",)},
            client_for=_client,
            clock=lambda: now[0],
            lag_seconds=1.0,
        ).attach(session)
        writers = {r: session.client("dynamodb", region_name=r) for r in (EAST, WEST)}
        yield emulator, now, writers
        emulator.detach()


def _value(region: str, key: str = "k") -> str | None:
    item = _client(region).get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True)
    return item.get("Item", {}).get("v", {}).get("S")


def test_a_write_reaches_the_other_replica_after_the_lag(world):
    emulator, now, writers = world
    writers[EAST].put_item(TableName=TABLE, Item={"pk": {"S": "k"}, "v": {"S": "one"}})
    assert (_value(EAST), _value(WEST)) == ("one", None)
    now[0] = 0.99
    emulator.pump()
    assert _value(WEST) is None
    now[0] = 1.0
    assert emulator.pump() == 1
    assert _value(WEST) == "one"
    assert emulator.multi_writer_items() == {} and emulator.lost_updates == []


def test_concurrent_writes_of_one_item_last_writer_wins_and_the_loss_is_recorded(world):
    """The guide's example: the same item updated in two regions at about the
    same time; the later write wins in every replica, the other is lost."""
    emulator, now, writers = world
    writers[EAST].put_item(TableName=TABLE, Item={"pk": {"S": "k"}, "v": {"S": "east"}})
    now[0] = 0.2
    writers[WEST].update_item(
        TableName=TABLE,
        Key={"pk": {"S": "k"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "west"}},
    )
    now[0] = 5.0
    emulator.pump()
    assert _value(EAST) == _value(WEST) == "west"
    assert [(u.lost_region, u.winning_region) for u in emulator.lost_updates] == [(EAST, WEST)]
    (((_, key), regions),) = emulator.multi_writer_items().items()
    assert key == (("pk", "S", "k"),) and regions == {EAST, WEST}
    assert emulator.divergence(TABLE) == []


def test_a_write_made_on_top_of_a_replicated_one_loses_nothing(world):
    """Writes of one item from two regions in turn, each after the other's
    arrived (a writer moving between regions): nothing is lost."""
    emulator, now, writers = world
    writers[EAST].put_item(TableName=TABLE, Item={"pk": {"S": "k"}, "v": {"S": "east"}})
    now[0] = 1.0
    emulator.pump()
    now[0] = 2.0
    writers[WEST].put_item(TableName=TABLE, Item={"pk": {"S": "k"}, "v": {"S": "west"}})
    now[0] = 3.0
    emulator.pump()
    assert _value(EAST) == _value(WEST) == "west"
    assert emulator.lost_updates == []
    assert set(emulator.multi_writer_items()) == {(TABLE, (("pk", "S", "k"),))}


def test_a_backlog_holds_back_one_regions_writes_only(world):
    emulator, now, writers = world
    writers[EAST].put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "v": {"S": "1"}})
    writers[WEST].put_item(TableName=TABLE, Item={"pk": {"S": "b"}, "v": {"S": "2"}})
    assert emulator.delay_from(EAST, 30) == 1
    now[0] = 1.0
    assert emulator.pump() == 1 and emulator.pending_from(EAST) == 1
    assert (_value(WEST, "a"), _value(EAST, "b")) == (None, "2")
    now[0] = 31.0
    assert emulator.pump() == 1 and emulator.pending == 0
    assert _value(WEST, "a") == "1"


def test_an_isolated_region_catches_up_when_restored(world):
    emulator, now, writers = world
    emulator.isolate(WEST)
    writers[EAST].put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "v": {"S": "1"}})
    writers[WEST].put_item(TableName=TABLE, Item={"pk": {"S": "b"}, "v": {"S": "2"}})
    now[0] = 10.0
    assert emulator.pump() == 0
    assert emulator.divergence(TABLE) == ["a", "b"]
    emulator.restore(WEST)
    assert emulator.pump() == 2
    assert emulator.divergence(TABLE) == [] and emulator.pending == 0


def test_deletes_and_batch_writes_replicate(world):
    emulator, now, writers = world
    writers[EAST].batch_write_item(
        RequestItems={
            TABLE: [
                {"PutRequest": {"Item": {"pk": {"S": "x"}, "v": {"S": "1"}}}},
                {"PutRequest": {"Item": {"pk": {"S": "y"}, "v": {"S": "2"}}}},
            ]
        }
    )
    now[0] = 1.0
    emulator.pump()
    writers[EAST].delete_item(TableName=TABLE, Key={"pk": {"S": "x"}})
    now[0] = 2.0
    emulator.pump()
    assert _value(WEST, "x") is None and _value(WEST, "y") == "2"
    assert {w.operation for w in emulator.writes} == {"BatchWriteItem", "DeleteItem"}


def test_needs_two_regions():
    with pytest.raises(ValueError, match="two regions"):
        GlobalTableEmulator(regions=(EAST,), key_attributes={}, client_for=_client, clock=float)
