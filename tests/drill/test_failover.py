"""The failover scenario through its Python API, on the embedded emulator."""

from __future__ import annotations

import io

import pytest

from drill import failover
from drill.report import Report
from drill.session import DrillSession


def run(stack, fault: str | None = None) -> tuple[failover.FailoverResult, str]:
    out = io.StringIO()
    with DrillSession.open(stack, report=Report(out)) as session:
        result = failover.run(session, fault=fault)
    return result, out.getvalue()


def test_dev_stack_detects_fails_back_and_honours_the_override(dev_stack) -> None:
    result, text = run(dev_stack)

    assert result.ok, [c.line() for c in result.failed]
    assert (result.interval_seconds, result.failover_threshold) == (10, 2)
    # Outage 1 s after a round: the next two rounds fail, the second switches.
    assert result.detection_seconds == pytest.approx(19.0)
    assert result.detection_seconds <= 30
    assert result.worst_case_detection_seconds <= 30
    reasons = [r.reason for r in result.rounds if r.switched]
    assert reasons == ["failover", "failback", "override", "failback"]
    failback = next(r for r in result.rounds if r.reason == "failback")
    assert failback.streaks[result.primary][0] == result.failback_threshold == 3
    assert result.rounds[-1].active == result.rounds[-1].lookup_region == result.primary
    # Both regions down: three rounds, nothing moved.
    both_down = [r for r in result.rounds if not any(r.healthy.values())]
    assert len(both_down) == 3 and not any(r.switched for r in both_down)
    assert result.lex_calls[result.primary] > 0 and result.lex_calls[result.secondary] > 0
    assert "SIMULATED at the botocore level" in text
    assert "Detection: 19.0 s" in text


def test_config_changes_show_up_eu_fails_back_after_five_rounds(eu_stack) -> None:
    result, text = run(eu_stack)

    assert result.ok, [c.line() for c in result.failed]
    assert (result.primary, result.secondary) == ("eu-west-2", "eu-central-1")
    assert result.failback_threshold == 5
    failback = next(r for r in result.rounds if r.reason == "failback")
    assert failback.streaks["eu-west-2"][0] == 5
    assert result.failback_seconds == pytest.approx(49.0)
    assert "fail back after 5 good rounds" in text


def test_slow_failover_fault_breaks_the_detection_checks(dev_stack) -> None:
    result, text = run(dev_stack, fault=failover.FAULT_SLOW_FAILOVER)

    assert not result.ok
    failed = {c.name for c in result.failed}
    assert "failover after exactly 2 failed rounds of the primary" in failed
    assert "detection within 2 x 10 s of simulated time" in failed
    assert result.detection_seconds == pytest.approx(39.0)
    assert "SELF-TEST" in text and "[FAIL]" in text


def test_round_clock_repeats_the_probe_loop_offsets() -> None:
    clock = failover.RoundClock([0, 20, 40])
    assert [clock.next() for _ in range(5)] == [0.0, 20.0, 40.0, 60.0, 80.0]


def test_worst_case_detection_with_defaults_is_under_30_seconds() -> None:
    # Changed by issue 12: Lex calls time out after 0.5 + 1.5 s (was 1 + 2 s).
    assert failover.worst_case_detection(10, 2, 3) == pytest.approx(26.3)


def test_both_regions_serve_region_loss_and_partition(dev_stack) -> None:
    result, text = run(dev_stack)

    assert result.ok, [c.line() for c in result.failed]
    loss, partition = result.scenarios
    assert loss.name == "primary region lost" and loss.ok
    # Outage 1 s after a round; the lost checker's last round (primary healthy)
    # stays fresh for 25 s, then the secondary decides alone.
    assert loss.takeover_seconds is not None and loss.takeover_seconds <= 40
    assert loss.convergence_seconds is not None
    assert partition.name == "partitioned checker" and partition.ok
    assert "us-east-1 region lost: every service fails" in text
    assert "support/faults.py" in text and "support/replication.py" in text
    single_writer = [c for c in result.checks if "single writer" in c.name]
    assert len(single_writer) == 3 and all(c.ok for c in single_writer)


def test_a_shared_item_design_breaks_the_single_writer_check(dev_stack) -> None:
    """Both checkers writing the SPEC's one item (the design the issue rules
    out) is caught: the item is written from both regions and updates are lost."""
    result, _ = run(dev_stack, fault=failover.FAULT_SHARED_ITEM)

    failed = {c.name for c in result.failed}
    assert "no item written from both regions (single writer), no lost update" in failed
