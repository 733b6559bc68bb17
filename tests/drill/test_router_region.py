"""The "router home region lost" scenario (issue #13) at a small size, its
self-tests (two writers for one market; a loss that also cuts replication),
the pure invariants on hand-made results, and the per-thread environment
the scenario runs both regions' handlers with."""

from __future__ import annotations

import io
import os
import threading

import pytest

from drill import cli, router_region
from drill.regional_containers import ThreadEnviron
from drill.report import Report
from drill.router_region import Attempt, Request, RouterRegionResult
from drill.session import DrillSession

SMALL = dict(users=4, threads=4)
EAST, WEST = "us-east-1", "us-west-2"


def run(stack, **options) -> tuple[RouterRegionResult, str]:
    out = io.StringIO()
    with DrillSession.open(stack, report=Report(out)) as session:
        result = router_region.run(session, **SMALL, **options)
    return result, out.getvalue()


@pytest.mark.slow
def test_home_region_lost_keeps_every_invariant(dev_stack) -> None:
    result, text = run(dev_stack)

    assert result.ok, [c.line() for c in result.failed]
    assert len(result.checks) == 15
    primary, secondary = result.primary, result.secondary
    # Reads after the loss: the clients that called the primary first got
    # their answer from the secondary on their one retry.
    lost = [r for r in result.phase("loss") if r.kind != "sign-up" and r.after_loss]
    retried = [r for r in lost if r.first == primary]
    assert retried and all(
        [a.region for a in r.attempts] == [primary, secondary] and r.ok for r in retried
    )
    # The primary's markets: refused while it was lost, placed by the
    # secondary once promoted, by nobody else.
    promoted = [
        r for r in result.phase("promoted") if r.kind == "sign-up" and r.market != "americas"
    ]
    assert promoted and all(r.placed and r.final.region == secondary for r in promoted)
    assert "--force" in result.unforced_refusal
    assert [p.split(":")[0] for p in result.promotions] == [
        f"force-promote {secondary} to writer of 'europe'",
        f"force-promote {secondary} to writer of 'asia'",
    ]
    # The fence refused the first sign-ups after the promotion.
    assert all("paused" in r.attempts[0].message for r in result.phase("fence"))
    assert result.lost_updates == []
    # The primary's last writes were in flight at the promotion (a 40 s
    # backlog) and had arrived when the 60 s fence ended.
    assert result.pending_from_primary_at_promotion > 0
    assert result.pending_from_primary_before_placing == 0
    assert "ops promote without --force: refused" in text
    assert "python -m ops writers -- " in text


@pytest.mark.slow
def test_two_writers_self_test_makes_the_drill_fail(capsys) -> None:
    code = cli.main(
        ["router-region", "--users", "4", "--threads", "4", "--inject-fault", "two-writers"]
    )

    captured = capsys.readouterr()
    assert code == 1, captured.out[-2000:]
    assert "SELF-TEST: fault 'two-writers' injected" in captured.out
    broke = [line for line in captured.err.splitlines() if "invariant broke" in line]
    assert any("one writer per market" in line and "placed by us-west-2" in line for line in broke)
    assert any("no lost increment" in line and "asia/asia-1" in line for line in broke)
    assert any("placed == sum(currentCapacity) == mapping items" in line for line in broke)


@pytest.mark.slow
def test_a_loss_that_cuts_replication_is_caught(dev_stack) -> None:
    """The README's forced-promotion risk: the primary's last writes have
    not replicated when the secondary starts placing."""
    result, _ = run(dev_stack, replication_cut=True)

    assert not result.ok
    names = {c.name for c in result.failed}
    assert any(n.startswith("the fence waited out replication") for n in names)
    assert result.pending_from_primary_before_placing > 0
    if result.lost_updates:
        assert any(n.startswith("placed == sum(currentCapacity)") for n in names)


@pytest.mark.slow
def test_a_fence_shorter_than_the_replication_backlog_is_caught(dev_stack) -> None:
    """The primary's last writes replicate 40 s late; a 5 s fence lets the
    new writer place before they arrive."""
    result, _ = run(dev_stack, fence_seconds=5)

    assert result.fence_seconds == 5
    assert result.pending_from_primary_at_promotion > 0
    assert result.pending_from_primary_before_placing > 0
    assert any(c.name.startswith("the fence waited out replication") for c in result.failed)


# -- the command line (usage errors stop before anything runs) ---------------------------


def test_router_region_help_and_usage_errors(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["router-region", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--replication-cut" in text and "home region" in text and "inject" not in text
    assert cli.main(["--inject-fault", "two-writers"]) == 2
    assert "python -m drill router-region --inject-fault two-writers" in capsys.readouterr().err
    assert cli.main(["cells", "--inject-fault", "two-writers"]) == 2
    assert "belongs to the router-region scenario" in capsys.readouterr().err
    assert cli.main(["router-region", "--plot", "x.png"]) == 2
    assert "--plot" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        cli.main(["router-region", "--users", "3"])
    assert done.value.code == 2


# -- the invariants on hand-made results --------------------------------------------


def _result(*requests: Request, **fields) -> RouterRegionResult:
    result = RouterRegionResult(
        stack="t",
        primary=EAST,
        secondary=WEST,
        users=4,
        threads=1,
        seed=0,
        fault=None,
        replication_cut=False,
        **fields,
    )
    result.requests.extend(requests)
    return result


def _check(result: RouterRegionResult, prefix: str):
    (check,) = [c for c in router_region.invariants(result) if c.name.startswith(prefix)]
    return check


def test_a_placement_by_a_region_that_does_not_write_the_market_fails() -> None:
    placed = Attempt(WEST, 200, cell_id="europe-1", new_assignment=True)
    result = _result(
        Request("steady", "sign-up", "u1", "europe", WEST, False, (placed,)),
        writers={"steady": {"europe": EAST}},
    )
    check = _check(result, "one writer per market")
    assert not check.ok and "u1 (europe) placed by us-west-2" in check.detail
    result.writers["steady"]["europe"] = WEST
    assert _check(result, "one writer per market").ok


def test_a_read_answered_with_another_cell_than_the_users_fails() -> None:
    wrong_cell = Attempt(WEST, 200, cell_id="europe-2")
    result = _result(
        Request(
            "loss",
            "mapper",
            "u1",
            "europe",
            EAST,
            True,
            (Attempt(EAST, 503), wrong_cell),
            "europe-1",
        )
    )
    assert not _check(result, "existing users'").ok
    right = Attempt(WEST, 200, cell_id="europe-1")
    result.requests[0] = Request(
        "loss", "mapper", "u1", "europe", EAST, True, (Attempt(EAST, 503), right), "europe-1"
    )
    assert _check(result, "existing users'").ok
    assert _check(result, "after us-east-1 was lost").ok


def test_round_trips_over_the_budget_fail() -> None:
    read = Attempt(EAST, 200, cell_id="c", calls=(("GetItem", 3),))
    sign_up = Attempt(
        EAST,
        200,
        cell_id="c",
        new_assignment=True,
        calls=(("BatchGetItem", 1), ("GetItem", 1), ("Query", 1), ("TransactWriteItems", 1)),
    )
    result = _result(
        Request("steady", "mapper", "u1", "europe", EAST, False, (read,), "c"),
        Request("steady", "sign-up", "u2", "europe", EAST, False, (sign_up,)),
    )
    check = _check(result, "reads <= 2 round trips")
    assert not check.ok and "reads: max 3" in check.detail
    result.requests[0] = Request(
        "steady",
        "mapper",
        "u1",
        "europe",
        EAST,
        False,
        (Attempt(EAST, 200, cell_id="c", calls=(("GetItem", 2),)),),
        "c",
    )
    assert _check(result, "reads <= 2 round trips").ok


# -- both regions' environments at once ------------------------------------------------


def test_each_thread_reads_its_own_overlay_and_the_rest_the_process_environment() -> None:
    environ = ThreadEnviron(os.environ)
    inside = threading.Barrier(2)
    seen: dict[str, tuple[str | None, str | None]] = {}

    def region(name: str) -> None:
        with environ.overlay({"AWS_REGION": name}):
            inside.wait(timeout=20)  # both overlays are in place at once
            seen[name] = (environ.get("AWS_REGION"), environ.get("PATH"))
            inside.wait(timeout=20)

    threads = [threading.Thread(target=region, args=(r,)) for r in (EAST, WEST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert seen == {EAST: (EAST, os.environ.get("PATH")), WEST: (WEST, os.environ.get("PATH"))}
    assert environ.get("AWS_REGION") == os.environ.get("AWS_REGION")
