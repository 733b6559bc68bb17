"""Each drill check can fail: the scenarios' pure ``invariants(result)`` on
results built by hand -- one that passes every check, then, per check, the
same result with the one fact that check guards broken."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from drill import cells, failover
from drill.cells import ApiCall, CellRow, CellsResult, SignUp
from drill.failover import (
    FailoverResult,
    PartitionResult,
    RegionLossResult,
    ReplicaFacts,
    Round,
    Story,
)
from handlers.cell_router.identity import keyed_user_key

P, S = "us-east-1", "us-west-2"
ARNS = {P: "arn:aws:lex:us-east-1:123456789012:bot-alias/B1/A1", S: "arn:aws:lex:us-west-2:x"}


# --------------------------------------------------------------------------- #
# Failover
# --------------------------------------------------------------------------- #
def _round(n: int, active: str, *, healthy=(True, True), reason=None, ok_streak=0) -> Round:
    return Round(
        number=n,
        t=10.0 * (n - 1),
        healthy={P: healthy[0], S: healthy[1]},
        streaks={P: (ok_streak, 0), S: (0, 0)},
        active=active,
        switched=reason is not None,
        reason=reason,
        version=n,
        lookup_region=active,
        lookup_arn=ARNS[active],
        lookup_status="200",
    )


def _replicas(**changes) -> ReplicaFacts:
    return dataclasses.replace(ReplicaFacts(writes=20, items_written=2, diverged=[]), **changes)


def passing_failover() -> FailoverResult:
    """The dev stack's story (thresholds 2 and 3, 10 s rounds), told well."""
    rounds = [
        _round(1, P),
        _round(2, P),
        _round(3, P, healthy=(False, True)),  # outage at t=11
        _round(4, S, healthy=(False, True), reason="failover"),
        *(_round(n, S, healthy=(False, False)) for n in (5, 6, 7)),
        _round(8, S, ok_streak=1),
        _round(9, S, ok_streak=2),
        _round(10, P, reason="failback", ok_streak=3),
        _round(11, S, reason="override"),
        _round(12, P, reason="failback"),
    ]
    result = FailoverResult(
        stack="dev",
        primary=P,
        secondary=S,
        interval_seconds=10,
        offsets=[0, 10, 20, 30, 40, 50],
        failover_threshold=2,
        failback_threshold=3,
        auto_failback=True,
        probe_attempts=3,
        rounds=rounds,
        detection_seconds=rounds[3].t - 11.0,
        failback_seconds=rounds[9].t - 61.0,
        alias_arns=dict(ARNS),
        sessions_answered=30,
        replicas=_replicas(),
    )
    result.story = Story(
        steady=rounds[:2],
        outage_at=11.0,
        failover_round=rounds[3],
        failing_rounds=rounds[2:4],
        both_down=rounds[4:7],
        recovered_at=61.0,
        failback_round=rounds[9],
        after_recovery=rounds[7:10],
        override_target=S,
        override_lookup=S,
        override_round=rounds[10],
        after_override=rounds[11],
    )
    return result


def _story(result: FailoverResult) -> Story:
    assert result.story is not None
    return result.story


def _break_round(result: FailoverResult, index: int, **changes) -> None:
    result.rounds[index] = dataclasses.replace(result.rounds[index], **changes)


FAILOVER_BREAKS: dict[str, tuple[str, Callable[[FailoverResult], None]]] = {
    "steady": (
        "steady state: callers on the primary",
        lambda r: _story(r).steady.__setitem__(0, dataclasses.replace(r.rounds[0], active=S)),
    ),
    "slow failover": (
        "failover after exactly 2 failed rounds of the primary",
        lambda r: _story(r).failing_rounds.append(r.rounds[1]),
    ),
    "no failover": (
        "failover after exactly 2 failed rounds of the primary",
        lambda r: setattr(_story(r), "failover_round", None),
    ),
    "late detection": (
        "detection within 2 x 10 s of simulated time",
        lambda r: setattr(r, "detection_seconds", 21.0),
    ),
    "lookup stays": (
        "lookup sends callers to the secondary once switched",
        lambda r: setattr(
            _story(r), "failover_round", dataclasses.replace(r.rounds[3], lookup_arn=ARNS[P])
        ),
    ),
    "flap while both down": (
        "both regions down: lexRegion kept (fail open)",
        lambda r: _story(r).both_down.__setitem__(
            1, dataclasses.replace(r.rounds[5], switched=True, active=P)
        ),
    ),
    "early failback": (
        "failback after 3 good rounds of the primary",
        lambda r: setattr(
            _story(r), "failback_round", dataclasses.replace(r.rounds[9], streaks={P: (2, 0)})
        ),
    ),
    "failback with autoFailback off": (
        "autoFailback off: stays on the secondary after recovery",
        lambda r: setattr(r, "auto_failback", False),
    ),
    "override ignored by the lookup": (
        "overrideRegion: lookup follows it at once, the next round records it",
        lambda r: setattr(_story(r), "override_lookup", P),
    ),
    "override not recorded": (
        "overrideRegion: lookup follows it at once, the next round records it",
        lambda r: setattr(
            _story(r), "override_round", dataclasses.replace(r.rounds[10], reason="failover")
        ),
    ),
    "override sticks": (
        "override removed: callers back on the primary",
        lambda r: setattr(_story(r), "after_override", r.rounds[10]),
    ),
    "lookup error": (
        "every lookup answered 200 with the alias ARN of the region it named",
        lambda r: _break_round(r, 6, lookup_status="500"),
    ),
    "lookup names the wrong alias": (
        "every lookup answered 200 with the alias ARN of the region it named",
        lambda r: _break_round(r, 0, lookup_arn=ARNS[S]),
    ),
    "session left behind": (
        "every test session Lex answered was deleted",
        lambda r: setattr(r, "sessions_left", 1),
    ),
    "round wrote no version": (
        "every round wrote one new state version",
        lambda r: _break_round(r, 5, version=5),
    ),
    "item written from both regions": (
        "no item written from both regions (single writer), no lost update",
        lambda r: setattr(r, "replicas", _replicas(multi_writer=[P])),
    ),
    "item written by the wrong region": (
        "no item written from both regions (single writer), no lost update",
        lambda r: setattr(r, "replicas", _replicas(wrong_writer=[S])),
    ),
    "lost update": (
        "no item written from both regions (single writer), no lost update",
        lambda r: setattr(r, "replicas", _replicas(lost_updates=1)),
    ),
    "nothing written": (
        "no item written from both regions (single writer), no lost update",
        lambda r: setattr(r, "replicas", _replicas(writes=0, items_written=0)),
    ),
    "replicas differ": (
        "replicas converge at the end",
        lambda r: setattr(r, "replicas", _replicas(diverged=[P])),
    ),
    "replication pending": (
        "replicas converge at the end",
        lambda r: setattr(r, "replicas", _replicas(pending=1)),
    ),
}


def test_the_hand_built_story_passes_every_check():
    checks = failover.invariants(passing_failover())
    assert [c.name for c in checks if not c.ok] == []
    assert len(checks) == 13


@pytest.mark.parametrize("case", FAILOVER_BREAKS, ids=str)
def test_each_failover_check_can_fail(case):
    name, breaks = FAILOVER_BREAKS[case]
    result = passing_failover()
    breaks(result)
    failed = [c for c in failover.invariants(result) if not c.ok]
    assert name in {c.name for c in failed}


def test_every_story_check_is_broken_by_some_case():
    names = {c.name for c in failover.story_invariants(passing_failover())}
    broken = {name for name, _ in FAILOVER_BREAKS.values()}
    off = passing_failover()
    off.auto_failback = False
    off.story.after_recovery = off.rounds[4:7]  # stayed on the secondary
    names |= {c.name for c in failover.story_invariants(off)}
    assert names == broken


def test_a_story_never_told_cannot_be_checked():
    result = passing_failover()
    result.story = None
    with pytest.raises(ValueError, match="not told"):
        failover.invariants(result)


def passing_region_loss() -> RegionLossResult:
    return RegionLossResult(
        "primary region lost",
        stack="dev",
        primary=P,
        secondary=S,
        takeover_seconds=29.0,
        convergence_seconds=10.0,
        vetoed_rounds=2,
        replicas=_replicas(),
    )


REGION_LOSS_BREAKS = {
    "no takeover": (
        f"the secondary decides alone and its lookup answers {S} within 40 s",
        {"takeover_seconds": None},
    ),
    "slow takeover": (
        f"the secondary decides alone and its lookup answers {S} within 40 s",
        {"takeover_seconds": 41.0},
    ),
    "takeover while fresh": (
        "no takeover while the lost checker's last round was fresh",
        {"vetoed_rounds": 0},
    ),
    "lost region wrote": (
        "the lost region wrote nothing while lost",
        {"writes_while_lost": [(31.0, "PutItem", P)]},
    ),
    "no agreement after the return": (
        "after the return both lookups agree (failback to the primary)",
        {"convergence_seconds": None},
    ),
    "two writers": (
        "no item written from both regions (single writer), no lost update",
        {"replicas": _replicas(multi_writer=[P])},
    ),
    "replicas differ": (
        "replicas converge after the region returns",
        {"replicas": _replicas(diverged=[S])},
    ),
}


def test_the_hand_built_region_loss_passes():
    checks = failover.region_loss_invariants(passing_region_loss())
    assert [c.name for c in checks if not c.ok] == []
    assert {c.name for c in checks} == {name for name, _ in REGION_LOSS_BREAKS.values()}


@pytest.mark.parametrize("case", REGION_LOSS_BREAKS, ids=str)
def test_each_region_loss_check_can_fail(case):
    name, changes = REGION_LOSS_BREAKS[case]
    result = dataclasses.replace(passing_region_loss(), **changes)
    assert name in {c.name for c in failover.region_loss_invariants(result) if not c.ok}


def passing_partition() -> PartitionResult:
    return PartitionResult(
        "partitioned checker",
        stack="dev",
        primary=P,
        secondary=S,
        switches=0,
        lookups_seen=[P],
        replicas=_replicas(diverged=None),
    )


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("a checker that reaches neither bot causes no failover", {"switches": 1}),
        ("a checker that reaches neither bot causes no failover", {"lookups_seen": [P, S]}),
        (
            "no item written from both regions (single writer), no lost update",
            {"replicas": _replicas(lost_updates=2)},
        ),
    ],
)
def test_each_partition_check_can_fail(name, changes):
    assert all(c.ok for c in failover.partition_invariants(passing_partition()))
    result = dataclasses.replace(passing_partition(), **changes)
    assert name in {c.name for c in failover.partition_invariants(result) if not c.ok}


def test_the_scenarios_checks_join_the_story_s_named_for_their_scenario():
    result = passing_failover()
    result.scenarios = [
        dataclasses.replace(passing_region_loss(), vetoed_rounds=0),
        passing_partition(),
    ]
    checks = failover.invariants(result)
    assert len(checks) == 13 + 6 + 2
    failed = [c.name for c in checks if not c.ok]
    assert failed == [
        "primary region lost: no takeover while the lost checker's last round was fresh"
    ]


# --------------------------------------------------------------------------- #
# Cells
# --------------------------------------------------------------------------- #
KEY = b"user-key-secret"


def _mapping(user: str, cell: str) -> tuple[str, dict]:
    return keyed_user_key(user, KEY), {"assignedCellId": cell, "assignedMarketId": "europe"}


def passing_cells() -> CellsResult:
    """One cell of 5 (4 assignable, scale-out at 4): four users fill it, the
    fifth is refused, a new cell takes them through the Orchestrator."""
    direct = [SignUp(n, f"u{n}", "direct", "europe-1", True) for n in range(1, 5)]
    refused = SignUp(5, "u5", "direct", None)
    retried = ApiCall(
        "sign-up u5 (refused before)",
        "/cells",
        200,
        200,
        {"cellId": "europe-2", "newAssignment": True},
    )
    repeat = {"cellId": "europe-1", "newAssignment": False}
    episode = {"episodeId": "e1", "marketId": "europe", "type": "CellRequested"}
    impaired = {"europe-impaired": {"marketId": "europe", "IsHealthy": False}}
    return CellsResult(
        stack="dev",
        market="europe",
        users=5,
        cells=1,
        capacity=5,
        threads=2,
        assignable_limit=4,
        scale_out_at=4,
        sign_ups=[
            *direct,
            refused,
            SignUp(6, "u5", "api", "europe-2", True),
            SignUp(7, "u1", "api", "europe-1", False),
        ],
        placed_direct=4,
        refused_direct=1,
        occupancy_after_burst=[CellRow("europe-1", "europe", True, 4, 4, 4, 5)],
        occupancy_final=[
            CellRow("europe-1", "europe", True, 4, 4, 4, 5),
            CellRow("europe-2", "europe", True, 1, 1, 4, 5),
        ],
        messages=[episode],
        burst_messages=[episode],
        new_cell="europe-2",
        registrar_answer={"cellId": "europe-2", "created": True, "episodeClosed": True},
        marker={"status": "CLOSED", "closedByCellId": "europe-2"},
        api_calls=[
            retried,
            ApiCall("repeat sign-up u1", "/cells", 200, 200, repeat),
            ApiCall("unknown path", "/cellz", 400, 400, {"error": "InvalidRequest"}),
        ],
        repeat_sign_up=("europe-1", repeat),
        cell_ids=["europe-1"],
        untouched_before=dict(impaired),
        untouched_after=dict(impaired),
        mappings=dict(
            _mapping(user, cell)
            for user, cell in {
                **dict.fromkeys(["u1", "u2", "u3", "u4"], "europe-1"),
                "u5": "europe-2",
            }.items()
        ),
        user_key=KEY,
        same_definition=True,
    )


def _cell(result: CellsResult, index: int, **changes) -> None:
    result.occupancy_final[index] = dataclasses.replace(result.occupancy_final[index], **changes)


CELLS_BREAKS: dict[str, tuple[str, Callable[[CellsResult], None]]] = {
    "another definition": (
        "the Orchestrator definition run here is the one the stack deploys",
        lambda r: setattr(r, "same_definition", False),
    ),
    "counter drifts": (
        "placed == sum(currentCapacity) == mapping items",
        lambda r: _cell(r, 1, users=2),
    ),
    "mapping without a placement": (
        "placed == sum(currentCapacity) == mapping items",
        lambda r: r.mappings.update([_mapping("ghost", "europe-2")]),
    ),
    "cell miscounts": (
        "every cell counts exactly the users mapped to it",
        lambda r: _cell(r, 0, users=3),
    ),
    "over the limit": (
        "no cell above its assignable limit",
        lambda r: _cell(r, 0, mappings=5),
    ),
    "two cells": (
        "nobody in two cells; each mapping is the cell the user was told",
        lambda r: r.sign_ups.append(SignUp(8, "u2", "api", "europe-2", False)),
    ),
    "mapping elsewhere": (
        "nobody in two cells; each mapping is the cell the user was told",
        lambda r: r.mappings.update([_mapping("u3", "europe-2")]),
    ),
    "refused with room": (
        "refusals only once every healthy cell was full",
        lambda r: r.occupancy_after_burst.__setitem__(
            0, dataclasses.replace(r.occupancy_after_burst[0], users=3)
        ),
    ),
    "two requests for one episode": (
        "exactly one provisioning request per scale-out episode",
        lambda r: (r.burst_messages.append(r.messages[0]), r.messages.append(r.messages[0])),
    ),
    "no request": (
        "exactly one provisioning request per scale-out episode",
        lambda r: (r.burst_messages.clear(), r.messages.clear()),
    ),
    "episode left open": (
        "CellReady closed the episode (the next crossing asks again)",
        lambda r: r.marker.update(status="OPEN"),
    ),
    "retry lands elsewhere": (
        "sign-ups after CellReady land in the new cell europe-2",
        lambda r: r.api_calls.__setitem__(
            0, dataclasses.replace(r.api_calls[0], body={"cellId": "europe-1"})
        ),
    ),
    "repeat gets a new cell": (
        "a repeated sign-up returns the same cell, not a new assignment",
        lambda r: setattr(
            r, "repeat_sign_up", ("europe-1", {"cellId": "europe-2", "newAssignment": True})
        ),
    ),
    "wrong status": (
        "API answers carry the status ERROR_STATUS maps them to",
        lambda r: r.api_calls.__setitem__(2, dataclasses.replace(r.api_calls[2], status=500)),
    ),
    "no API calls": (
        "API answers carry the status ERROR_STATUS maps them to",
        lambda r: (r.api_calls.clear(), setattr(r, "repeat_sign_up", None)),
    ),
    "impaired cell touched": (
        "impaired and other-market cells untouched",
        lambda r: setattr(r, "untouched_after", {"europe-impaired": {"currentCapacity": 1}}),
    ),
    "faults asked, none injected": (
        "the AWS faults asked for were injected",
        lambda r: setattr(r, "fault_rules", ["dynamodb=ThrottlingException@0.1"]),
    ),
    "handler error": (
        "no unexpected handler errors",
        lambda r: r.sign_ups.append(SignUp(9, "u9", "direct", None, error="KeyError")),
    ),
}


def test_the_hand_built_cells_story_passes_every_check():
    checks = cells.invariants(passing_cells())
    assert [c.line() for c in checks if not c.ok] == []
    assert len(checks) == 13


@pytest.mark.parametrize("case", CELLS_BREAKS, ids=str)
def test_each_cells_check_can_fail(case):
    name, breaks = CELLS_BREAKS[case]
    result = passing_cells()
    breaks(result)
    assert name in {c.name for c in cells.invariants(result) if not c.ok}


def test_every_cells_check_is_broken_by_some_case():
    with_faults = passing_cells()
    with_faults.fault_rules, with_faults.faults_injected = ["dynamodb=ThrottlingException@1"], 3
    names = {c.name for c in cells.invariants(with_faults)}
    assert names == {name for name, _ in CELLS_BREAKS.values()}
