"""``python -m ops`` on moto: both regions' router tables and the Lex state
table, the command line end to end (outputs file, exit codes, messages), and
every conditional write refusing a change that raced it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components.schemas import LEX_STATE_TABLE, ROUTER_TABLE
from handlers.cell_router import writer, writer_store
from handlers.lex_dr import clock, layout
from ops import commands
from ops.cli import main
from ops.outputs import OpsError, load_outputs

EAST, WEST = "us-east-1", "us-west-2"
ROUTER, LEX = "tbl_router-abc", "lexDR-abc"
NOW = 1_800_000_000


@pytest.fixture
def aws(tmp_path: Path):
    with mock_aws():
        clients = {r: boto3.client("dynamodb", region_name=r) for r in (EAST, WEST)}
        for client in clients.values():
            client.create_table(**ROUTER_TABLE.create_table_request(ROUTER))
        # The Lex state table is a global table: a replica in each region
        # (replication itself is not modelled; each test reads the region
        # it wrote).
        for client in clients.values():
            client.create_table(**LEX_STATE_TABLE.create_table_request(LEX))
            client.put_item(
                TableName=LEX,
                Item={
                    "connectRegion": {"S": EAST},
                    "lexRegion": {"S": EAST},
                    "version": {"N": "3"},
                },
            )
        for client in clients.values():
            put_cell(client, "cell-1")
        outputs = tmp_path / "outputs.json"
        outputs.write_text(
            json.dumps(
                {
                    "primaryRegion": EAST,
                    "secondaryRegion": WEST,
                    "routerTableName": ROUTER,
                    "lexStateTableName": LEX,
                    "apiUrl": "https://east.example.com/prod",
                }
            )
        )
        yield clients, str(outputs)


def put_cell(client: Any, cell_id: str, market: str = "europe", **extra: Any) -> None:
    item = {
        "marketId": {"S": market},
        "cellId": {"S": cell_id},
        "currentCapacity": {"N": "3"},
        "maxCapacity": {"N": "50"},
        "IsHealthy": {"BOOL": True},
        **extra,
    }
    client.put_item(TableName=ROUTER, Item=item)


def put_beat(client: Any, region: str, epoch: int, at: float) -> None:
    item = writer.heartbeat_item(region, at, {"europe": (epoch, at)} if epoch else {})
    client.put_item(TableName=ROUTER, Item=writer_store.dump(item))


def run(clients: dict[str, Any], outputs: str, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--outputs", outputs, *argv], clients=clients.__getitem__, out=out, err=err, now=NOW
    )
    return code, out.getvalue(), err.getvalue()


def record(client: Any, market: str = "europe") -> dict[str, Any] | None:
    item = client.get_item(TableName=ROUTER, Key=writer_store.dump(writer.writer_key(market))).get(
        "Item"
    )
    return writer_store.load(item) if item else None


def table_dump(clients: dict[str, Any]) -> str:
    dumps = {}
    for region, client in clients.items():
        tables = [ROUTER, LEX] if region == EAST else [ROUTER]
        dumps[region] = {
            t: sorted(json.dumps(i, sort_keys=True) for i in client.scan(TableName=t)["Items"])
            for t in tables
        }
    return json.dumps(dumps, sort_keys=True)


# -- outputs ---------------------------------------------------------------------


def test_outputs_missing_file_and_env_are_clear(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="pulumi stack output --json"):
        load_outputs(None, environ={})
    with pytest.raises(OpsError, match="does not exist"):
        load_outputs(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"primaryRegion": EAST}))
    with pytest.raises(OpsError, match="lacks secondaryRegion"):
        load_outputs(str(bad))
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"primaryRegion": EAST, "secondaryRegion": WEST}))
    loaded = load_outputs(None, environ={"RESILIENT_ROUTING_OUTPUTS": str(good)})
    with pytest.raises(OpsError, match="no routerTableName"):
        loaded.require_router()


# -- writers ---------------------------------------------------------------------


def test_writers_shows_implicit_primary_and_heartbeat_ages(aws) -> None:
    clients, outputs = aws
    put_beat(clients[EAST], WEST, 0, NOW - 20)
    code, out, _ = run(clients, outputs, "--json", "writers")
    assert code == 0
    rows = json.loads(out)
    assert [(r["marketId"], r["region"]) for r in rows] == [("europe", EAST), ("europe", WEST)]
    east = rows[0]
    assert east["writerRegion"] == EAST and east["epoch"] == 0 and east["implicit"]
    assert east["heartbeatAgeSeconds"] == {WEST: 20}
    assert east["verdict"] == "place"
    west = rows[1]
    assert west["verdict"] == "not-writer"
    code, text, _ = run(clients, outputs, "writers", "--market", "europe")
    assert code == 0 and "us-east-1*" in text and "primary writes by default" in text


# -- promote ---------------------------------------------------------------------


def test_promote_dry_run_writes_nothing_then_promote_writes_epoch_one(aws) -> None:
    clients, outputs = aws
    before = table_dump(clients)
    code, out, _ = run(clients, outputs, "promote", "--market", "europe", "--to", WEST, "--dry-run")
    assert code == 0 and "dry run, nothing written" in out and "epoch 0 -> 1" in out
    assert table_dump(clients) == before
    code, out, _ = run(clients, outputs, "promote", "--market", "europe", "--to", WEST)
    assert code == 0 and out.startswith("done")
    written = record(clients[WEST])
    assert written is not None
    assert (written["writerRegion"], written["epoch"], written["previousRegion"]) == (WEST, 1, EAST)
    assert "fencedRegion" not in written
    assert record(clients[EAST]) is None  # replication carries it; the tool writes one region
    registry = clients[WEST].get_item(
        TableName=ROUTER, Key=writer_store.dump(writer.registry_key(WEST))
    )["Item"]
    assert registry["markets"] == {"SS": ["europe"]}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--to", EAST), "already the writer"),
        (("--to", "eu-west-1"), "not one of the stack's regions"),
    ],
)
def test_promote_refusals_change_nothing(aws, argv, message) -> None:
    clients, outputs = aws
    before = table_dump(clients)
    code, _, err = run(clients, outputs, "promote", "--market", "europe", *argv)
    assert code == 2 and message in err
    assert table_dump(clients) == before


def test_promote_refuses_when_regions_disagree_on_the_epoch(aws) -> None:
    clients, outputs = aws
    item = writer.record_item(writer.WriterRecord("europe", WEST, 1, NOW, previous_region=EAST))
    clients[WEST].put_item(TableName=ROUTER, Item=writer_store.dump(item))
    code, _, err = run(clients, outputs, "promote", "--market", "europe", "--to", EAST)
    assert code == 2 and "disagree" in err and "replication" in err


class Unreachable:
    def __getattr__(self, name: str):
        def fail(**_: Any):
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

        return fail


def test_lost_old_region_needs_force_and_force_fences_it(aws) -> None:
    clients, outputs = aws
    lost = {EAST: Unreachable(), WEST: clients[WEST]}
    code, _, err = run(lost, outputs, "promote", "--market", "europe", "--to", WEST)
    assert code == 2 and "--force" in err and "us-east-1 does not answer" in err
    assert record(clients[WEST]) is None
    code, out, _ = run(lost, outputs, "promote", "--market", "europe", "--to", WEST, "--force")
    assert code == 0 and "force-promote" in out
    written = record(clients[WEST])
    assert written is not None and written["fencedRegion"] == EAST
    # heal refuses until the lost region's heartbeat (replicated to WEST) acknowledges epoch 1
    code, _, err = run(clients, outputs, "heal", "--market", "europe")
    assert code == 2 and "not acknowledged epoch 1" in err
    put_beat(clients[WEST], EAST, 1, NOW)
    code, out, _ = run(clients, outputs, "heal", "--market", "europe")
    assert code == 0 and "rejoins" in out
    healed = record(clients[WEST])
    assert healed is not None and "fencedRegion" not in healed and healed["epoch"] == 1


def test_promote_loses_a_race_cleanly(aws) -> None:
    """Another operator's promotion lands between our read and our write."""
    clients, outputs = aws
    west = clients[WEST]
    sneaky = writer.record_item(writer.WriterRecord("europe", WEST, 1, NOW, previous_region=EAST))
    real_write = west.transact_write_items

    def write_after_race(**request: Any):
        west.put_item(TableName=ROUTER, Item=writer_store.dump(sneaky))
        return real_write(**request)

    west.transact_write_items = write_after_race
    try:
        code, _, err = run(clients, outputs, "promote", "--market", "europe", "--to", WEST)
    finally:
        del west.transact_write_items
    assert code == 2 and "changed since it was read" in err
    assert record(west) == sneaky


# -- drain -------------------------------------------------------------------------


def test_drain_and_undrain_in_the_writer_region(aws) -> None:
    clients, outputs = aws
    code, out, _ = run(clients, outputs, "drain", "--market", "europe", "--cell", "cell-1")
    assert code == 0 and "ACTIVE -> DRAINING (in us-east-1)" in out
    cell = writer_store.load(
        clients[EAST].get_item(
            TableName=ROUTER, Key=writer_store.dump({"marketId": "europe", "cellId": "cell-1"})
        )["Item"]
    )
    assert cell["status"] == "DRAINING" and cell["currentCapacity"] == 3
    code, _, err = run(clients, outputs, "drain", "--market", "europe", "--cell", "cell-1")
    assert code == 2 and "is DRAINING; drain needs it ACTIVE" in err
    code, out, _ = run(clients, outputs, "undrain", "--market", "europe", "--cell", "cell-1")
    assert code == 0 and "DRAINING -> ACTIVE" in out


def test_drain_follows_the_writer_and_names_missing_cells(aws) -> None:
    clients, outputs = aws
    item = writer.record_item(writer.WriterRecord("europe", WEST, 1, NOW, previous_region=EAST))
    for client in clients.values():
        client.put_item(TableName=ROUTER, Item=writer_store.dump(item))
    code, out, _ = run(clients, outputs, "drain", "--market", "europe", "--cell", "cell-1")
    assert code == 0 and "(in us-west-2)" in out
    code, _, err = run(clients, outputs, "drain", "--market", "europe", "--cell", "cell-9")
    assert code == 2 and "has no cell 'cell-9'" in err


def test_bad_market_id_is_refused_by_the_parser(aws) -> None:
    clients, outputs = aws
    with pytest.raises(SystemExit) as exit_info:
        run(clients, outputs, "drain", "--market", "eu#rope", "--cell", "c")
    assert exit_info.value.code == 2


# -- Lex override ------------------------------------------------------------------


def lex_item(clients: dict[str, Any], region: str = EAST, key: str = EAST) -> dict[str, Any]:
    item = clients[region].get_item(TableName=LEX, Key={"connectRegion": {"S": key}}).get("Item")
    return writer_store.load(item) if item else {}


def lookup_view(clients: dict[str, Any], region: str) -> layout.StateView:
    """What the lookup in ``region`` makes of that replica's items."""
    items = [
        clients[region].get_item(TableName=LEX, Key={"connectRegion": {"S": key}}).get("Item")
        for key in layout.state_keys(EAST, (EAST, WEST))
    ]
    return layout.view([i for i in items if i])


def test_lex_override_set_and_clear(aws) -> None:
    clients, outputs = aws
    own = layout.override_key(EAST, EAST)
    before = table_dump(clients)
    code, out, _ = run(clients, outputs, "lex-override", "--set", WEST, "--dry-run")
    assert code == 0 and "(none) -> us-west-2" in out
    assert table_dump(clients) == before
    code, _, _ = run(clients, outputs, "lex-override", "--set", WEST)
    assert code == 0
    # The operator's own override item, not the checker's item.
    assert lex_item(clients, EAST, own) == {
        "connectRegion": own,
        "overrideRegion": WEST,
        "setAt": clock.iso(NOW),
    }
    assert lex_item(clients) == {"connectRegion": EAST, "lexRegion": EAST, "version": 3}
    assert lookup_view(clients, EAST).override.region == WEST
    code, _, _ = run(clients, outputs, "lex-override", "--clear")
    assert code == 0 and lex_item(clients, EAST, own) == {}
    assert lookup_view(clients, EAST).override is None
    code, _, err = run(clients, outputs, "lex-override", "--clear")
    assert code == 2 and "nothing to clear" in err


def test_lex_override_from_each_region_writes_only_its_own_item(aws) -> None:
    clients, outputs = aws
    east_item, west_item = layout.override_key(EAST, EAST), layout.override_key(EAST, WEST)
    code, _, _ = run(clients, outputs, "lex-override", "--set", EAST, "--table-region", EAST)
    assert code == 0
    # Later, an operator in the secondary pins the secondary.
    out, err = io.StringIO(), io.StringIO()
    argv = ["--outputs", outputs, "lex-override", "--set", WEST, "--table-region", WEST]
    code = main(argv, clients=clients.__getitem__, out=out, err=err, now=NOW + 60)
    assert code == 0, err.getvalue()
    assert lex_item(clients, WEST, west_item)["overrideRegion"] == WEST
    assert lex_item(clients, WEST, east_item) == {}  # never written from the secondary
    assert lex_item(clients, EAST, west_item) == {}  # never written from the primary
    # Replication of the primary's override item into the secondary's replica.
    item = clients[EAST].get_item(TableName=LEX, Key={"connectRegion": {"S": east_item}})["Item"]
    clients[WEST].put_item(TableName=LEX, Item=item)
    # Clearing the secondary's item says the primary's override still holds.
    code, out_text, _ = run(clients, outputs, "lex-override", "--clear", "--table-region", WEST)
    assert code == 0 and lex_item(clients, WEST, west_item) == {}
    assert f"still held by item {east_item!r}" in out_text


def test_lex_override_loses_a_race_in_its_region(aws, monkeypatch) -> None:
    clients, outputs = aws
    own = layout.override_key(EAST, EAST)
    assert run(clients, outputs, "lex-override", "--set", WEST)[0] == 0
    real_get = commands.layout.override_of

    def raced(item):
        # Another operator in the same region re-sets the item between our
        # read and our write.
        clients[EAST].put_item(
            TableName=LEX,
            Item={
                "connectRegion": {"S": own},
                "overrideRegion": {"S": EAST},
                "setAt": {"S": clock.iso(NOW + 5)},
            },
        )
        return real_get(item)

    monkeypatch.setattr(commands.layout, "override_of", raced)
    code, _, err = run(clients, outputs, "lex-override", "--clear")
    monkeypatch.undo()
    assert code == 2 and "changed since it was read" in err
    assert lex_item(clients, EAST, own)["overrideRegion"] == EAST  # the winner's write stands


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--set", "eu-west-1"), "not one of the stack's regions"),
        (("--set", WEST, "--connect-region", "ap-south-1"), "no item for Connect region"),
    ],
)
def test_lex_override_refusals(aws, argv, message) -> None:
    clients, outputs = aws
    before = table_dump(clients)
    code, _, err = run(clients, outputs, "lex-override", *argv)
    assert code == 2 and message in err
    assert table_dump(clients) == before
