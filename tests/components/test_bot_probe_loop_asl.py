"""The health check's probe loop: static checks, then executions on moto's
interpreter with an in-process counting probe. moto really sleeps on Wait
states, so executions use a short window (interval 1 s, window 3 s).

No test here bounds how fast anything runs: a Wait cannot end early, so
"round k starts no sooner than k s after the execution" is a lower bound load
cannot break, and "rounds overlap" is proven with a barrier every round must
reach while the others are still in flight."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from statelint.linter import Linter

from components.bot_probe_loop_asl import (
    MAX_INLINE_MAP_CONCURRENCY,
    PROBE_ROUND,
    RECORD_FAILED_ROUND,
    RUN_ROUNDS,
    SCHEDULE_ROUNDS,
    WAIT_FOR_OFFSET,
    build_bot_probe_loop_definition,
    probe_offsets,
    to_json,
)
from components.orchestrator_asl import LAMBDA_INVOKE, LAMBDA_SERVICE_ERRORS
from handlers.lex_dr.health_check import round_slot
from support.sfn import LambdaServiceError, LocalStepFunctions

PROBE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:health-check"
#: Margin under each round's offset: Wait states sleep at least their
#: seconds, so only rounding inside moto's interpreter can eat into it.
WAIT_MARGIN = 0.1
#: How long a round waits at the overlap barrier before calling the loop
#: sequential. Only a loop that waits for each round ever reaches it.
BARRIER_SECONDS = 60.0
#: Longest a hung round stays hung if nothing releases it: it only ends a
#: stray thread, never decides an outcome (the round times out after 1 s).
HUNG_SECONDS = 60.0


def _iteration_states(definition: dict) -> dict:
    return definition["States"][RUN_ROUNDS]["ItemProcessor"]["States"]


# --------------------------------------------------------------------------
# Static checks
# --------------------------------------------------------------------------


def test_statelint_accepts_the_definition() -> None:
    assert Linter.validate(build_bot_probe_loop_definition(probe_function_arn=PROBE_ARN)) == []


def test_statelint_catches_a_transition_to_a_missing_state() -> None:
    broken = build_bot_probe_loop_definition(probe_function_arn=PROBE_ARN)
    _iteration_states(broken)[WAIT_FOR_OFFSET]["Next"] = "NoSuchState"
    problems = Linter.validate(broken)
    assert any("NoSuchState" in p for p in problems), problems


def test_to_json_round_trips() -> None:
    definition = build_bot_probe_loop_definition(probe_function_arn=PROBE_ARN)
    assert json.loads(to_json(definition)) == definition


def test_defaults_probe_every_ten_seconds_for_a_minute() -> None:
    definition = build_bot_probe_loop_definition(probe_function_arn=PROBE_ARN)
    assert definition["States"][SCHEDULE_ROUNDS]["Result"] == {"offsets": [0, 10, 20, 30, 40, 50]}
    run = definition["States"][RUN_ROUNDS]
    assert run["Type"] == "Map"
    assert run["MaxConcurrency"] == 0
    assert run["ItemsPath"] == "$.offsets"
    assert run["ItemSelector"] == {"offset.$": "$$.Map.Item.Value"}
    assert run["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}


def test_each_round_waits_for_its_offset_then_probes_with_its_slot() -> None:
    states = _iteration_states(build_bot_probe_loop_definition(probe_function_arn=PROBE_ARN))
    assert states[WAIT_FOR_OFFSET]["SecondsPath"] == "$.offset"
    assert states[WAIT_FOR_OFFSET]["Next"] == PROBE_ROUND
    probe = states[PROBE_ROUND]
    assert probe["Resource"] == LAMBDA_INVOKE
    # Changed by issue 12 / 11.6: the round's slot travels with the invocation.
    assert probe["Parameters"] == {
        "FunctionName": PROBE_ARN,
        "Payload": {"executionStartTime.$": "$$.Execution.StartTime", "offset.$": "$.offset"},
    }
    assert probe["TimeoutSeconds"] == 15


def test_a_failed_round_is_caught_and_only_service_errors_are_retried_once() -> None:
    states = _iteration_states(build_bot_probe_loop_definition(probe_function_arn=PROBE_ARN))
    probe = states[PROBE_ROUND]
    (retrier,) = probe["Retry"]
    assert retrier["ErrorEquals"] == list(LAMBDA_SERVICE_ERRORS)
    assert retrier["MaxAttempts"] == 1
    assert retrier["IntervalSeconds"] == 1
    assert retrier["JitterStrategy"] == "FULL"
    (catcher,) = probe["Catch"]
    assert catcher["ErrorEquals"] == ["States.ALL"]
    assert catcher["Next"] == RECORD_FAILED_ROUND
    assert states[RECORD_FAILED_ROUND]["Type"] == "Pass"


@pytest.mark.parametrize(
    ("interval", "window", "offsets"),
    [
        (10, 60, [0, 10, 20, 30, 40, 50]),
        (15, 60, [0, 15, 30, 45]),
        (60, 60, [0]),
        (2, 60, list(range(0, 60, 2))),
        (1, 3, [0, 1, 2]),
    ],
)
def test_offsets_tile_the_window(interval: int, window: int, offsets: list[int]) -> None:
    assert probe_offsets(interval, window) == offsets


@pytest.mark.parametrize(
    ("interval", "window", "message"),
    [
        (0, 60, "interval_seconds must be between 1 and 60"),
        (61, 60, "interval_seconds must be between 1 and 60"),
        (-10, 60, "interval_seconds must be between 1 and 60"),
        (7, 60, "must divide window_seconds"),
        (10, 0, "window_seconds must be between 1 and 60"),
        (10, 120, "window_seconds must be between 1 and 60"),
        (1, 60, "60 rounds per window exceed the 40"),
        (2.5, 60, "interval_seconds must be an integer"),
        (True, 60, "interval_seconds must be an integer"),
        (10, "60", "window_seconds must be an integer"),
    ],
)
def test_interval_validation(interval: Any, window: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_bot_probe_loop_definition(
            probe_function_arn=PROBE_ARN, interval_seconds=interval, window_seconds=window
        )


def test_round_count_limit_is_the_inline_map_concurrency() -> None:
    assert MAX_INLINE_MAP_CONCURRENCY == 40
    assert len(probe_offsets(3, 60)) == 20
    with pytest.raises(ValueError, match="41 rounds"):
        probe_offsets(1, 41)


@pytest.mark.parametrize("bad", [0, -5, 1.5, False])
def test_round_timeout_validation(bad: Any) -> None:
    with pytest.raises(ValueError, match="round_timeout_seconds"):
        build_bot_probe_loop_definition(probe_function_arn=PROBE_ARN, round_timeout_seconds=bad)


def test_blank_probe_arn_is_rejected() -> None:
    with pytest.raises(ValueError, match="probe_function_arn"):
        build_bot_probe_loop_definition(probe_function_arn="")


# --------------------------------------------------------------------------
# Executions on moto's interpreter
# --------------------------------------------------------------------------


class Probe:
    """A counting stand-in for ``handlers/lex_dr/health_check.handler``.

    Faults are keyed by the round's ``offset`` (which the loop passes in),
    never by call order, so no outcome depends on which thread ran first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.attempts: Counter[int] = Counter()  # per offset
        self.fail_offsets: set[int] = set()  # rounds that raise
        #: offset -> how many of that round's first attempts are service errors
        self.service_errors: dict[int, int] = {}
        #: When set, every round waits here until all rounds are in flight.
        self.barrier: threading.Barrier | None = None

    def __call__(self, event: dict, context: Any) -> dict:
        offset = event["offset"]
        with self.lock:
            self.calls += 1
            self.attempts[offset] += 1
            attempt = self.attempts[offset]
        if attempt <= self.service_errors.get(offset, 0):
            raise LambdaServiceError("ServiceException")
        if self.barrier is not None:
            self.barrier.wait()
        if offset in self.fail_offsets:
            raise RuntimeError(f"round {offset} broke")
        return {"activeRegion": "us-east-1", "healthy": {"us-east-1": True}, "switched": False}


@contextmanager
def _running_loop(
    probe: Callable[[dict, Any], dict], **schedule: int
) -> Iterator[LocalStepFunctions]:
    """The probe loop deployed on moto, its rounds routed to ``probe``."""
    with LocalStepFunctions({"health-check": probe}) as local:
        local.deploy(
            build_bot_probe_loop_definition(
                probe_function_arn=local.function_arns["health-check"], **schedule
            )
        )
        yield local


@pytest.fixture
def probe_loop() -> Iterator[tuple[LocalStepFunctions, Probe]]:
    probe = Probe()
    with _running_loop(
        probe, interval_seconds=1, window_seconds=3, round_timeout_seconds=5
    ) as local:
        yield local, probe


def _start_offsets(local: LocalStepFunctions) -> list[float]:
    starts = sorted(i.started_at for i in local.invocations.of("health-check"))
    return [s - starts[0] for s in starts]


def test_one_round_per_interval_each_with_its_slot(probe_loop) -> None:
    local, probe = probe_loop

    result = local.run({})

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert probe.calls == 3
    # Changed by issue 12 / 11.6: each round carries the execution's start
    # and its own offset, from which the checker derives one slot per round.
    events = [i.event for i in local.invocations.of("health-check")]
    assert sorted(e["offset"] for e in events) == [0, 1, 2]
    assert len({e["executionStartTime"] for e in events}) == 1
    slots = {round_slot(e, 1) for e in events}
    assert len(slots) == 3, "three distinct slots, one per round"
    assert [r["offset"] for r in result.output["rounds"]] == [0, 1, 2]
    assert all(r["outcome"]["ok"] for r in result.output["rounds"])
    assert result.output["rounds"][0]["outcome"]["result"]["activeRegion"] == "us-east-1"
    # moto really sleeps in Wait states: the round of offset k cannot start
    # before k seconds after the execution did, however loaded the machine.
    # (A loop that ran every round at once would start them all near 0 s.)
    for invocation in local.invocations.of("health-check"):
        offset = invocation.event["offset"]
        assert invocation.started_at - result.started_at >= offset - WAIT_MARGIN, offset


def test_slow_rounds_do_not_push_later_rounds_back() -> None:
    # Every round blocks until all three are in flight at once: only a loop
    # that starts each round on its own offset, without waiting for the round
    # before to finish, gets past the barrier. A sequential loop breaks it
    # (BrokenBarrierError after BARRIER_SECONDS) and its rounds fail.
    probe = Probe()
    probe.barrier = threading.Barrier(3, timeout=BARRIER_SECONDS)
    with _running_loop(
        probe,
        interval_seconds=1,
        window_seconds=3,
        # Longer than the barrier, so the task timeout never decides.
        round_timeout_seconds=int(BARRIER_SECONDS) + 30,
    ) as local:
        result = local.run({}, timeout_seconds=3 * BARRIER_SECONDS)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert probe.calls == 3
    assert [r["outcome"]["ok"] for r in result.output["rounds"]] == [True, True, True]
    assert not probe.barrier.broken


def test_a_failing_round_does_not_stop_the_others(probe_loop) -> None:
    local, probe = probe_loop
    probe.fail_offsets = {1}

    result = local.run({})

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert probe.calls == 3
    outcomes = [r["outcome"] for r in result.output["rounds"]]
    assert [o["ok"] for o in outcomes] == [True, False, True]
    assert outcomes[1]["error"] == "RuntimeError"
    assert "round 1 broke" in outcomes[1]["cause"]


def test_a_lambda_service_error_is_retried_once_within_the_round(probe_loop) -> None:
    local, probe = probe_loop
    probe.service_errors = {0: 1}

    result = local.run({})

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert probe.calls == 4
    assert all(r["outcome"]["ok"] for r in result.output["rounds"])


def test_a_round_that_keeps_hitting_service_errors_is_recorded_not_fatal() -> None:
    probe = Probe()
    probe.service_errors = {0: 2}  # round 0 and its one retry
    with _running_loop(probe, interval_seconds=2, window_seconds=4) as local:
        result = local.run({})

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert probe.calls == 3
    outcomes = [r["outcome"] for r in result.output["rounds"]]
    assert [o["ok"] for o in outcomes] == [False, True]
    assert outcomes[0]["error"] == "Lambda.ServiceException"


def test_a_hung_round_times_out_and_the_rest_still_run() -> None:
    probe = Probe()
    hung = threading.Event()

    def hanging_first_round(event: dict, context: Any) -> dict:
        result = probe(event, context)
        if event["offset"] == 0:
            hung.wait(HUNG_SECONDS)  # released once the execution has ended
        return result

    with _running_loop(
        hanging_first_round, interval_seconds=1, window_seconds=3, round_timeout_seconds=1
    ) as local:
        try:
            result = local.run({})
        finally:
            hung.set()

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    outcomes = [r["outcome"] for r in result.output["rounds"]]
    assert [o["ok"] for o in outcomes] == [False, True, True]
    assert outcomes[0]["error"] == "States.Timeout"
