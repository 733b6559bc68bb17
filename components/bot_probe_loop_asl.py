"""Amazon States Language for the Lex failover health check's probe loop.

EventBridge can fire at most once a minute (``rate(1 minute)``), but the
health check must probe at least every 10 s. Each scheduled EXPRESS execution
therefore runs one minute's worth of probe rounds.

Shape: a Pass state holds the static offsets ``[0, 10, 20, 30, 40, 50]``; an
inline Map state (``MaxConcurrency: 0``) starts one iteration per offset at
once; each iteration waits ``SecondsPath: $.offset`` and then invokes the
probe function with the payload ``{}`` (one invocation == exactly one probe
round, per the handler contract). Because every round waits from the same
start instant rather than after the previous round, a slow round never
pushes the later ones back: rounds start at fixed offsets, without drift, and
a round that outlives the interval simply overlaps the next one (the handler's
writes are conditional and versioned, so overlap is safe).

A failed round (function error, timeout, exhausted retries) is caught
(``States.ALL`` -> a Pass state that records it) so one bad round never
cancels the rest of the minute. Lambda service errors are retried once,
quickly, since a round that starts late is worth less than the next one.

Constraints checked by the builder (``ValueError`` with the reason):

* ``1 <= interval_seconds <= 60`` and ``1 <= window_seconds <= 60``: the
  window is the minute between two EventBridge firings;
* ``interval_seconds`` divides ``window_seconds``, so the rounds tile the
  window evenly and the next execution continues the cadence;
* at most 40 rounds: an inline Map runs at most 40 iterations concurrently,
  and a 41st would wait for a free slot, i.e. start late.

Tested on moto's interpreter (``moto/stepfunctions/parser``): it runs inline
Map iterations on parallel threads (``MaxConcurrency: 0`` = one worker per
item), evaluates ``SecondsPath`` Waits, and really sleeps for them (and for
retry intervals), so the tests shrink the window (e.g. interval 1 s, window
3 s) rather than fake the clock. No construct had to be replaced for moto.
"""

from __future__ import annotations

from typing import Any

from components.orchestrator_asl import LAMBDA_INVOKE, RetryPolicy, to_json  # noqa: F401

#: A failed round is retried once, at once: the next one is an interval away.
ROUND_RETRY = RetryPolicy(interval_seconds=1, max_attempts=1, backoff_rate=1.0, max_delay_seconds=1)

#: EventBridge's finest schedule; the window a single execution covers at most.
SCHEDULE_PERIOD_SECONDS = 60

#: Inline Map concurrency limit in Step Functions.
MAX_INLINE_MAP_CONCURRENCY = 40

DEFAULT_INTERVAL_SECONDS = 10
DEFAULT_WINDOW_SECONDS = 60
#: The original ``lexDRTest`` function had a 15 s timeout.
DEFAULT_ROUND_TIMEOUT_SECONDS = 15

#: What each round passes the probe function (``health_check.round_slot``).
ROUND_PAYLOAD = {"executionStartTime.$": "$$.Execution.StartTime", "offset.$": "$.offset"}

# State names (stable: they appear in execution history).
SCHEDULE_ROUNDS = "ScheduleRounds"
RUN_ROUNDS = "RunRounds"
WAIT_FOR_OFFSET = "WaitForOffset"
PROBE_ROUND = "ProbeRound"
RECORD_FAILED_ROUND = "RecordFailedRound"


def probe_offsets(interval_seconds: int, window_seconds: int) -> list[int]:
    """Start offsets of the rounds within one window, validated."""
    for label, value in (
        ("interval_seconds", interval_seconds),
        ("window_seconds", window_seconds),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{label} must be an integer number of seconds, got {value!r}")
        if not 1 <= value <= SCHEDULE_PERIOD_SECONDS:
            raise ValueError(
                f"{label} must be between 1 and {SCHEDULE_PERIOD_SECONDS} seconds "
                f"(one EventBridge period), got {value}"
            )
    if window_seconds % interval_seconds:
        raise ValueError(
            f"interval_seconds ({interval_seconds}) must divide window_seconds "
            f"({window_seconds}) so that rounds keep an even cadence across executions"
        )
    rounds = window_seconds // interval_seconds
    if rounds > MAX_INLINE_MAP_CONCURRENCY:
        raise ValueError(
            f"{rounds} rounds per window exceed the {MAX_INLINE_MAP_CONCURRENCY} concurrent "
            "iterations of an inline Map state; later rounds would start late. "
            "Use a longer interval."
        )
    return list(range(0, window_seconds, interval_seconds))


def build_bot_probe_loop_definition(
    *,
    probe_function_arn: str,
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
    round_timeout_seconds: int = DEFAULT_ROUND_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """The probe loop's definition: one probe round every ``interval_seconds``
    for ``window_seconds``. The output lists each round's outcome:
    ``{"offsets": [...], "rounds": [{"offset", "outcome": {"ok", ...}}, ...]}``.
    """
    if not isinstance(probe_function_arn, str) or not probe_function_arn.strip():
        raise ValueError("probe_function_arn must be a non-empty Lambda function ARN")
    if (
        isinstance(round_timeout_seconds, bool)
        or not isinstance(round_timeout_seconds, int)
        or round_timeout_seconds < 1
    ):
        raise ValueError(
            f"round_timeout_seconds must be a positive integer, got {round_timeout_seconds!r}"
        )
    offsets = probe_offsets(interval_seconds, window_seconds)

    return {
        "Comment": (
            f"Lex failover health check: {len(offsets)} probe rounds, one every "
            f"{interval_seconds} s, within the {window_seconds} s between two EventBridge "
            "firings. Rounds start at fixed offsets from one instant, so slow rounds "
            "cause no drift."
        ),
        "StartAt": SCHEDULE_ROUNDS,
        "States": {
            SCHEDULE_ROUNDS: {
                "Type": "Pass",
                "Comment": "Static offsets: the schedule is part of the definition, not the input.",
                "Result": {"offsets": offsets},
                "Next": RUN_ROUNDS,
            },
            RUN_ROUNDS: {
                "Type": "Map",
                "Comment": (
                    "All rounds start together and each waits for its own offset; "
                    "MaxConcurrency 0 so no round queues behind another."
                ),
                "ItemsPath": "$.offsets",
                "ItemSelector": {"offset.$": "$$.Map.Item.Value"},
                "MaxConcurrency": 0,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": WAIT_FOR_OFFSET,
                    "States": _round_states(probe_function_arn, round_timeout_seconds),
                },
                "ResultPath": "$.rounds",
                "End": True,
            },
        },
    }


def _round_states(probe_function_arn: str, round_timeout_seconds: int) -> dict[str, Any]:
    """One Map iteration: wait for the offset, probe, record a failure."""
    return {
        WAIT_FOR_OFFSET: {
            "Type": "Wait",
            "Comment": "Offset from the execution's start, not from the previous round.",
            "SecondsPath": "$.offset",
            "Next": PROBE_ROUND,
        },
        PROBE_ROUND: {
            "Type": "Task",
            "Comment": (
                "One invocation performs exactly one probe round. The payload names the "
                "round's scheduled time (execution start + offset): its slot, which the "
                "checker applies once and in order, so a retried or duplicated round "
                "never counts twice."
            ),
            "Resource": LAMBDA_INVOKE,
            "Parameters": {"FunctionName": probe_function_arn, "Payload": ROUND_PAYLOAD},
            "ResultSelector": {"ok": True, "result.$": "$.Payload"},
            "ResultPath": "$.outcome",
            "TimeoutSeconds": round_timeout_seconds,
            "Retry": ROUND_RETRY.retriers(
                "Lambda service errors only, once and quickly: "
                "the next round is never more than one interval away."
            ),
            "Catch": [
                {
                    "Comment": "One bad round must not cancel the rest of the minute.",
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.failure",
                    "Next": RECORD_FAILED_ROUND,
                }
            ],
            "End": True,
        },
        RECORD_FAILED_ROUND: {
            "Type": "Pass",
            "Comment": (
                "Keep the failure in the output; the function's own metrics and "
                "alarms carry the detail."
            ),
            "Parameters": {
                "offset.$": "$.offset",
                "outcome": {
                    "ok": False,
                    "error.$": "$.failure.Error",
                    "cause.$": "$.failure.Cause",
                },
            },
            "End": True,
        },
    }
