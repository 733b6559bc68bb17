"""The sign-up gate and the heartbeat on moto: one round trip per check,
cached; the placement's condition check refuses a stale cache; defaults keep
a one-region setup placing; heartbeats acknowledge promotions."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from components.schemas import ROUTER_TABLE
from handlers.cell_router import aws_clients, heartbeat, writer, writer_gate, writer_store
from handlers.cell_router.errors import ConfigurationError
from handlers.cell_router.writer import Verdict, WriterRecord

EAST, WEST = "us-east-1", "us-west-2"
TABLE = "tbl_router-gate"
NOW = 1_800_000_000


@pytest.fixture
def ddb(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("AWS_REGION", EAST)
    writer_gate.forget()
    aws_clients.reset()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=EAST)
        client.create_table(**ROUTER_TABLE.create_table_request(TABLE))
        yield client
    writer_gate.forget()
    aws_clients.reset()


class Counting:
    def __init__(self, client):
        self.client = client
        self.calls = 0

    def batch_get_item(self, **kwargs):
        self.calls += 1
        return self.client.batch_get_item(**kwargs)


def test_spec_env_only_means_this_region_places_without_a_read(ddb) -> None:
    policy = writer_gate.policy_from_env({"AWS_REGION": EAST})
    assert policy.peer_region is None and policy.default_writer == EAST
    counting = Counting(ddb)
    assert writer_gate.check(counting, TABLE, "europe", policy, now=NOW).may_place
    assert counting.calls == 0


def test_peer_without_primary_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ROUTER_PRIMARY_REGION must be set"):
        writer_gate.policy_from_env({"AWS_REGION": EAST, "ROUTER_PEER_REGION": WEST})
    with pytest.raises(ConfigurationError, match="WRITER_LEASE_SECONDS"):
        writer_gate.policy_from_env({"AWS_REGION": EAST, "WRITER_LEASE_SECONDS": "soon"})
    with pytest.raises(ConfigurationError, match="ROUTER_URLS"):
        writer_gate.router_urls({"ROUTER_URLS": "[1]"})


def test_check_is_one_round_trip_then_cached(ddb) -> None:
    env = {"AWS_REGION": WEST, "ROUTER_PEER_REGION": EAST, "ROUTER_PRIMARY_REGION": EAST}
    policy = writer_gate.policy_from_env(env)
    counting = Counting(ddb)
    decision = writer_gate.check(counting, TABLE, "europe", policy, now=NOW, cache_seconds=5)
    assert decision.verdict is Verdict.NOT_WRITER and decision.writer_region == EAST
    body = writer_gate.wrong_region_body(decision, {EAST: "https://east.example.com/prod"})
    assert body == {"writerRegion": EAST, "routerUrl": "https://east.example.com/prod", "epoch": 0}
    for _ in range(10):
        writer_gate.check(counting, TABLE, "europe", policy, now=NOW + 4, cache_seconds=5)
    assert counting.calls == 1
    writer_gate.check(counting, TABLE, "europe", policy, now=NOW + 5, cache_seconds=5)
    assert counting.calls == 2


def test_condition_check_refuses_a_stale_epoch(ddb) -> None:
    """A region that cached "epoch 0, I write" must not place once a record
    exists; one that cached epoch 1 must not place after epoch 2."""
    cell_update = {
        "Update": {
            "TableName": TABLE,
            "Key": {"marketId": {"S": "europe"}, "cellId": {"S": "c1"}},
            "UpdateExpression": "ADD currentCapacity :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    ok = writer_store.condition_check(TABLE, "europe", EAST, 0)
    ddb.transact_write_items(TransactItems=[ok, cell_update])
    first = WriterRecord("europe", WEST, 1, NOW, previous_region=EAST)
    writer_store.put_record(ddb, TABLE, first, None)
    with pytest.raises(ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(TransactItems=[ok, cell_update])
    ddb.transact_write_items(
        TransactItems=[writer_store.condition_check(TABLE, "europe", WEST, 1), cell_update]
    )
    second = WriterRecord("europe", EAST, 2, NOW, previous_region=WEST)
    writer_store.put_record(ddb, TABLE, second, first)
    with pytest.raises(ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(
            TransactItems=[writer_store.condition_check(TABLE, "europe", WEST, 1), cell_update]
        )
    with pytest.raises(writer_store.RecordChanged):
        writer_store.put_record(ddb, TABLE, second, first)
    cell = ddb.get_item(TableName=TABLE, Key=cell_update["Update"]["Key"])["Item"]
    assert cell["currentCapacity"] == {"N": "2"}


def test_heartbeat_acknowledges_the_record_its_table_holds(ddb, monkeypatch) -> None:
    monkeypatch.setenv("ROUTER_PEER_REGION", WEST)
    monkeypatch.setenv("ROUTER_PRIMARY_REGION", EAST)
    assert heartbeat.handler({}, None, now=NOW) == {"region": EAST, "markets": 0, "promoted": []}
    promoted = WriterRecord("europe", WEST, 1, NOW, previous_region=EAST)
    writer_store.put_record(ddb, TABLE, promoted, None)
    heartbeat.handler({}, None, now=NOW + 60)
    heartbeat.handler({}, None, now=NOW + 120)
    item = writer_store.read_own_heartbeat(ddb, TABLE, EAST)
    assert item is not None and item["heartbeatAt"] == NOW + 120
    assert writer.market_heartbeat(item, "europe") == writer.Heartbeat(EAST, 1, NOW + 120, NOW + 60)


def test_auto_promotion_only_when_enabled_and_stale(ddb, monkeypatch) -> None:
    monkeypatch.setenv("AWS_REGION", WEST)
    monkeypatch.setenv("ROUTER_PEER_REGION", EAST)
    monkeypatch.setenv("ROUTER_PRIMARY_REGION", EAST)
    record = WriterRecord("europe", EAST, 1, NOW - 5000, previous_region=WEST)
    writer_store.put_record(ddb, TABLE, record, None)
    writer_store.write_heartbeat(ddb, TABLE, writer.heartbeat_item(EAST, NOW - 700, {}))
    assert heartbeat.handler({}, None, now=NOW)["promoted"] == []
    monkeypatch.setenv("WRITER_AUTO_PROMOTION", "true")
    assert heartbeat.handler({}, None, now=NOW)["promoted"] == ["europe"]
    current = writer_store.read_records(ddb, TABLE, ["europe"])["europe"]
    assert (current.region, current.epoch, current.fenced_region) == (WEST, 2, EAST)
