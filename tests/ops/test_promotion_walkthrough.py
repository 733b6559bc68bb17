"""A planned promotion end to end on two regional moto tables: the operator
tool writes the new epoch in the new writer's region, heartbeats acknowledge,
the gate in each region answers. Replication is done by hand at chosen
steps (the test decides when each item "arrives"), so every intermediate
state of the fence is checked; the drill uses the shared replication
emulator for lag and last-writer-wins."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from components.schemas import ROUTER_TABLE
from handlers.cell_router import aws_clients, heartbeat, writer, writer_gate, writer_store
from handlers.cell_router.writer import Verdict
from ops.cli import main

EAST, WEST = "us-east-1", "us-west-2"
TABLE = "tbl_router-walk"
T0 = 1_800_000_000


@pytest.fixture
def regions(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("ROUTER_PRIMARY_REGION", EAST)
    writer_gate.forget()
    aws_clients.reset()
    with mock_aws():
        clients = {r: boto3.client("dynamodb", region_name=r) for r in (EAST, WEST)}
        for client in clients.values():
            client.create_table(**ROUTER_TABLE.create_table_request(TABLE))
        outputs = tmp_path / "outputs.json"
        outputs.write_text(
            json.dumps({"primaryRegion": EAST, "secondaryRegion": WEST, "routerTableName": TABLE})
        )
        yield clients, str(outputs), monkeypatch
    writer_gate.forget()
    aws_clients.reset()


def beat(monkeypatch, region: str, peer: str, now: float) -> None:
    monkeypatch.setenv("AWS_REGION", region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("ROUTER_PEER_REGION", peer)
    aws_clients.reset()
    heartbeat.handler({}, None, now=now)


def replicate(clients, source: str, key: dict) -> None:
    """The item with ``key`` arrives in the other region (as written at source)."""
    item = clients[source].get_item(TableName=TABLE, Key=writer_store.dump(key))["Item"]
    target = WEST if source == EAST else EAST
    clients[target].put_item(TableName=TABLE, Item=item)


def verdict(clients, region: str, now: float) -> Verdict:
    peer = WEST if region == EAST else EAST
    policy = writer.WriterPolicy(local_region=region, default_writer=EAST, peer_region=peer)
    writer_gate.forget()
    return writer_gate.check(clients[region], TABLE, "europe", policy, now=now).verdict


def test_planned_promotion_walkthrough(regions) -> None:
    clients, outputs, monkeypatch = regions
    beat(monkeypatch, EAST, WEST, T0)
    beat(monkeypatch, WEST, EAST, T0)
    replicate(clients, EAST, writer.heartbeat_key(EAST))
    replicate(clients, WEST, writer.heartbeat_key(WEST))
    assert (verdict(clients, EAST, T0), verdict(clients, WEST, T0)) == (
        Verdict.PLACE,
        Verdict.NOT_WRITER,
    )

    out = io.StringIO()
    code = main(
        ["--outputs", outputs, "promote", "--market", "europe", "--to", WEST],
        clients=clients.__getitem__,
        out=out,
        err=io.StringIO(),
        now=T0 + 10,
    )
    assert code == 0, out.getvalue()
    # The record has not reached EAST: EAST still places; WEST fences (no ack).
    assert verdict(clients, EAST, T0 + 11) is Verdict.PLACE
    assert verdict(clients, WEST, T0 + 11) is Verdict.FENCING

    # The record arrives in EAST: EAST stops at once, before acknowledging.
    replicate(clients, WEST, writer.writer_key("europe"))
    replicate(clients, WEST, writer.registry_key(WEST))
    assert verdict(clients, EAST, T0 + 20) is Verdict.NOT_WRITER
    beat(monkeypatch, EAST, WEST, T0 + 30)  # acknowledges epoch 1 since T0+30
    assert verdict(clients, WEST, T0 + 31) is Verdict.FENCING  # ack not replicated yet
    replicate(clients, EAST, writer.heartbeat_key(EAST))
    assert verdict(clients, WEST, T0 + 89) is Verdict.FENCING  # ack + 60 s not over
    assert verdict(clients, WEST, T0 + 90) is Verdict.PLACE
    assert verdict(clients, EAST, T0 + 90) is Verdict.NOT_WRITER

    beat(monkeypatch, WEST, EAST, T0 + 90)  # WEST's own beat now holds epoch 1 too
    out = io.StringIO()
    main(
        ["--outputs", outputs, "--json", "writers", "--market", "europe"],
        clients=clients.__getitem__,
        out=out,
        now=T0 + 90,
    )
    rows = {row["region"]: row for row in json.loads(out.getvalue())}
    assert rows[WEST]["verdict"] == "place" and rows[WEST]["epoch"] == 1
    assert rows[EAST]["verdict"] == "not-writer" and rows[EAST]["writerRegion"] == WEST
    assert rows[WEST]["seenEpochs"] == {EAST: 1, WEST: 1}
