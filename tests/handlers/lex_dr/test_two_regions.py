"""Both regions serve: a checker and a lookup per region, two moto replicas of
the state table kept in step by the global-table emulator (lag, per-item
last-writer-wins), a simulated clock. Every DynamoDB write is recorded with
its region, and the single-writer rule is asserted on all of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handlers.lex_dr import aws_clients, clock, get_region, health_check, layout, telemetry
from support.emulator import scoped_environ
from support.lex_sim import install_hook
from support.replication import GlobalTableEmulator
from tests.handlers.lex_dr.lex_fakes import (
    ERROR,
    OK,
    PRIMARY,
    SECONDARY,
    TABLE_NAME,
    TIMEOUT,
    FakeLex,
    StateTable,
    emitted_metrics,
)

INTERVAL = 10.0
PEER_KEY = layout.checker_key(PRIMARY, SECONDARY)


def connect_event() -> dict[str, Any]:
    return {"Name": "ContactFlowEvent", "Details": {"Parameters": {"region": PRIMARY}}}


def _unhooked(region: str) -> Any:
    return boto3.session.Session().client("dynamodb", region_name=region)


@dataclass
class World:
    tables: dict[str, StateTable]
    fake: FakeLex
    replication: GlobalTableEmulator
    context: Any
    now: list[float] = field(default_factory=lambda: [1_000_000.0])
    #: Lex behaviour per checker region: {checker: {target region: mode}}
    view: dict[str, dict[str, str]] = field(default_factory=dict)

    def run_checker(self, region: str, event: dict | None = None) -> dict[str, Any]:
        for target, mode in self.view.get(region, {PRIMARY: OK, SECONDARY: OK}).items():
            self.fake.set(target, mode)
        env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, "CHECKER_REGION": region}
        with scoped_environ(env):
            return health_check.handler(event or {}, self.context)

    def lookup(self, region: str) -> str:
        env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
        with scoped_environ(env):
            return get_region.handler(connect_event(), self.context)["primaryCode"]

    def advance(self, seconds: float) -> None:
        self.now[0] += seconds
        self.replication.pump()

    def round(self, *checkers: str) -> dict[str, dict[str, Any]]:
        """One probe slot: every listed checker runs, then time moves on."""
        out = {region: self.run_checker(region) for region in checkers}
        self.advance(INTERVAL)
        return out

    def operator(self, region: str) -> Any:
        """An operator's client in ``region`` (its writes are recorded)."""
        return boto3.client("dynamodb", region_name=region)


@pytest.fixture
def world(lex_env, lambda_context) -> Iterator[World]:
    with mock_aws():
        aws_clients.reset()
        tables = {r: StateTable(_unhooked(r), TABLE_NAME) for r in (PRIMARY, SECONDARY)}
        for table in tables.values():  # the stack's seed, replicated
            table.seed(lexRegion=PRIMARY)
        fake = FakeLex()
        session = install_hook(fake)
        now = [1_000_000.0]
        replication = GlobalTableEmulator(
            regions=(PRIMARY, SECONDARY),
            key_attributes={TABLE_NAME: (layout.KEY_ATTRIBUTE,)},
            client_for=_unhooked,
            clock=lambda: now[0],
            lag_seconds=1.0,
        ).attach(session)
        aws_clients.reset()
        with clock.simulated(lambda: now[0]):
            yield World(tables, fake, replication, lambda_context, now)
        replication.detach()
        aws_clients.reset()
        boto3.DEFAULT_SESSION = None


def assert_single_writer(world: World) -> None:
    assert world.replication.writes, "no write was recorded: the check saw nothing"
    assert world.replication.multi_writer_items() == {}
    assert world.replication.lost_updates == []
    for (_, key), regions in world.replication.writers().items():
        assert regions == {layout.writer_region(key[0][2])}


def test_each_checker_writes_only_its_own_item(world):
    for _ in range(4):
        world.round(PRIMARY, SECONDARY)
    world.replication.flush()

    writers = {key[0][2]: regions for (_, key), regions in world.replication.writers().items()}
    assert writers == {PRIMARY: {PRIMARY}, PEER_KEY: {SECONDARY}}
    assert_single_writer(world)
    assert world.replication.divergence(TABLE_NAME) == []
    # the SPEC's item is still the primary checker's, with the SPEC's lexRegion
    assert world.tables[SECONDARY].lex_region(PRIMARY) == PRIMARY


def test_both_checkers_agree_on_a_primary_bot_outage(world):
    world.round(PRIMARY, SECONDARY)
    world.view = {r: {PRIMARY: ERROR, SECONDARY: OK} for r in (PRIMARY, SECONDARY)}
    results = [world.round(PRIMARY, SECONDARY) for _ in range(2)]

    assert [r[PRIMARY]["switched"] for r in results] == [False, True]
    assert results[-1][SECONDARY]["activeRegion"] == SECONDARY
    assert world.lookup(PRIMARY) == SECONDARY
    assert world.lookup(SECONDARY) == SECONDARY
    assert_single_writer(world)


def test_partitioned_checker_never_fails_over(world):
    """The secondary's checker reaches neither bot; the primary's sees both."""
    world.round(PRIMARY, SECONDARY)
    world.view = {
        PRIMARY: {PRIMARY: OK, SECONDARY: OK},
        SECONDARY: {PRIMARY: TIMEOUT, SECONDARY: TIMEOUT},
    }
    for _ in range(8):
        out = world.round(PRIMARY, SECONDARY)
        assert not out[PRIMARY]["switched"] and not out[SECONDARY]["switched"]
    assert world.lookup(PRIMARY) == PRIMARY
    assert world.lookup(SECONDARY) == PRIMARY


def test_checker_cut_off_from_the_primary_bot_only_is_vetoed(world, capsys):
    world.round(PRIMARY, SECONDARY)
    world.view = {
        PRIMARY: {PRIMARY: OK, SECONDARY: OK},
        SECONDARY: {PRIMARY: ERROR, SECONDARY: OK},
    }
    capsys.readouterr()
    for _ in range(5):
        out = world.round(SECONDARY, PRIMARY)
        assert out[SECONDARY]["activeRegion"] == PRIMARY
    vetoes = [
        m["value"]
        for m in emitted_metrics(capsys.readouterr().out)
        if m["name"] == telemetry.METRIC_SWITCH_VETOED
    ]
    assert sum(vetoes) >= 4


def test_primary_region_lost_secondary_decides_alone_after_staleness(world):
    world.round(PRIMARY, SECONDARY)
    world.round(PRIMARY, SECONDARY)
    # the whole primary region goes: its bot, its checker, its replica
    lost_at = world.now[0]
    world.replication.isolate(PRIMARY)
    world.view = {SECONDARY: {PRIMARY: TIMEOUT, SECONDARY: OK}}
    answers = []
    for _ in range(6):
        out = world.run_checker(SECONDARY)
        answers.append((world.now[0] - lost_at, out["activeRegion"], world.lookup(SECONDARY)))
        world.advance(INTERVAL)

    switched = [t for t, active, looked_up in answers if active == SECONDARY == looked_up]
    assert switched, answers
    # while the lost checker's last round (primary healthy) was fresh, it vetoed
    assert answers[0][1] == answers[1][1] == PRIMARY
    assert switched[0] <= 40.0
    assert_single_writer(world)

    # the region returns: replication catches up, both replicas converge and
    # the primary's checker adopts the secondary's decision (higher epoch)
    world.replication.restore(PRIMARY)
    world.view = {r: {PRIMARY: OK, SECONDARY: OK} for r in (PRIMARY, SECONDARY)}
    world.replication.flush()
    out = world.round(PRIMARY, SECONDARY)
    assert out[PRIMARY]["activeRegion"] == SECONDARY
    for _ in range(4):
        world.round(PRIMARY, SECONDARY)
    world.replication.flush()
    assert world.lookup(PRIMARY) == world.lookup(SECONDARY) == PRIMARY  # failed back
    assert world.replication.divergence(TABLE_NAME) == []
    assert_single_writer(world)


@pytest.mark.parametrize("operator_region", [PRIMARY, SECONDARY])
def test_override_from_either_region_wins_in_both_lookups(world, operator_region):
    world.round(PRIMARY, SECONDARY)
    world.operator(operator_region).put_item(
        TableName=TABLE_NAME,
        Item={
            layout.KEY_ATTRIBUTE: {"S": layout.override_key(PRIMARY, operator_region)},
            "overrideRegion": {"S": SECONDARY},
            "setAt": {"S": clock.iso()},
        },
    )
    assert world.lookup(operator_region) == SECONDARY  # at once, locally
    world.advance(1.0)  # one replication lag, well inside one round
    assert world.lookup(PRIMARY) == world.lookup(SECONDARY) == SECONDARY
    out = world.round(PRIMARY, SECONDARY)
    assert out[PRIMARY]["activeRegion"] == out[SECONDARY]["activeRegion"] == SECONDARY
    assert_single_writer(world)


def test_lookup_answers_the_last_decision_when_no_replica_can_be_read(world, capsys, caplog):
    world.view = {r: {PRIMARY: ERROR, SECONDARY: OK} for r in (PRIMARY, SECONDARY)}
    for _ in range(3):
        world.round(PRIMARY, SECONDARY)
    assert world.lookup(SECONDARY) == SECONDARY
    for region in (PRIMARY, SECONDARY):
        _unhooked(region).delete_table(TableName=TABLE_NAME)
    world.advance(30.0)
    capsys.readouterr()

    assert world.lookup(SECONDARY) == SECONDARY  # not blindly the primary
    metrics = {m["name"]: m["value"] for m in emitted_metrics(capsys.readouterr().out)}
    assert metrics[telemetry.METRIC_LOOKUP_SERVED_LAST_KNOWN] == 1
    assert metrics[telemetry.METRIC_LOOKUP_FAILED_OPEN] == 0
    assert any(getattr(r, "ageSeconds", None) == 30.0 for r in caplog.records)

    aws_clients.reset()  # a new container has seen nothing: the configured primary
    assert world.lookup(SECONDARY) == PRIMARY


def test_lookup_reads_the_other_replica_when_its_own_is_unreadable(world):
    world.view = {r: {PRIMARY: ERROR, SECONDARY: OK} for r in (PRIMARY, SECONDARY)}
    for _ in range(3):
        world.round(PRIMARY, SECONDARY)
    world.replication.flush()
    _unhooked(PRIMARY).delete_table(TableName=TABLE_NAME)
    aws_clients.reset()  # a cold container: no last decision to fall back to
    assert world.lookup(PRIMARY) == SECONDARY


def test_single_region_env_keeps_the_specs_item(world, lambda_context):
    """Only the SPEC's environment: the checker owns the lexDR item."""
    world.fake.set(PRIMARY, ERROR)
    with scoped_environ({"AWS_REGION": PRIMARY, "CHECKER_REGION": None}):
        for _ in range(2):
            result = health_check.handler({}, lambda_context)
    assert result["activeRegion"] == SECONDARY
    item = world.tables[PRIMARY].item(PRIMARY)
    assert item["lexRegion"]["S"] == SECONDARY
    assert json.loads(json.dumps(item["epoch"])) == {"N": "1"}
    assert world.tables[PRIMARY].item(PEER_KEY) is None


# --- item 6 of issue 11: a slot is applied once, in order ---------------------------------


def test_two_rounds_of_one_slot_count_one_blip_once(world, lambda_context):
    """Before: both overlapping rounds counted the blip, failStreak 0 -> 2,
    and the second one failed over."""
    world.fake.script(PRIMARY, ERROR, ERROR, ERROR, ERROR, ERROR, ERROR)
    world.fake.set(PRIMARY, OK)
    slot = {"slot": 4242}
    with scoped_environ({"AWS_REGION": PRIMARY, "CHECKER_REGION": None}):
        first = health_check.handler(slot, lambda_context)
        second = health_check.handler(slot, lambda_context)
    assert first["healthy"][PRIMARY] is False
    assert not second["switched"] and second["activeRegion"] == PRIMARY
    assert world.tables[PRIMARY].streak(PRIMARY) == (0, 1)
    assert world.tables[PRIMARY].version() == 1


def test_an_older_slot_after_a_newer_one_is_dropped(world, lambda_context):
    """Before: an older "fail" written after a newer "ok" left the region failed."""
    with scoped_environ({"AWS_REGION": PRIMARY, "CHECKER_REGION": None}):
        health_check.handler({"slot": 101}, lambda_context)  # ok
        world.fake.set(PRIMARY, ERROR)
        late = health_check.handler({"slot": 100}, lambda_context)  # the late round
    assert late["switched"] is False
    assert world.tables[PRIMARY].streak(PRIMARY) == (1, 0)
    assert world.tables[PRIMARY].item(PRIMARY)["lastSlot"]["N"] == "101"


def test_slot_from_the_probe_loop_payload():
    event = {"executionStartTime": "2026-11-29T20:00:03.250Z", "offset": 20}
    slot = health_check.round_slot(event, 10)
    started = datetime(2026, 11, 29, 20, 0, 3, 250_000, tzinfo=UTC).timestamp()
    assert slot == int((started + 20) // 10)
    retried = health_check.round_slot(dict(event), 10)
    assert retried == slot
    assert health_check.round_slot({}, 10) is None
    with pytest.raises(ValueError, match="executionStartTime"):
        health_check.round_slot({"executionStartTime": "soon", "offset": 0}, 10)
    with pytest.raises(ValueError, match="slot"):
        health_check.round_slot({"slot": -1}, 10)
