"""RouterAlarms (#11): an alarm on the stack's topic for every failure the
router absorbs, on the metric names the handlers emit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from components.router_alarms import RouterAlarmsArgs, router_alarm_specs
from handlers.cell_router import model
from tests.pulumi_harness import ProgramRun

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FUNCTIONS = ("dispatcher", "scaler", "mapper", "validator", "registrar", "sweeper")
HANDLERS = Path(__file__).resolve().parents[2] / "handlers" / "cell_router"


def _alarm(run: ProgramRun, key: str):
    return run.one(ALARM, lambda a: a.name == f"cell-router-{key}")


def _topic(run: ProgramRun) -> str:
    # The router runs in the primary: its alarms go to the primary's topic.
    return run.named("lex-failover-alarms").outputs["arn"]


@pytest.mark.parametrize(
    ("key", "metric"),
    [
        ("router-no-capacity", model.METRIC_NO_CAPACITY),
        ("router-provisioning-failed", model.METRIC_PROVISIONING_FAILED),
        ("router-scale-out-resent", model.METRIC_SCALE_OUT_RESENT),
        ("router-unexpected-errors", model.METRIC_UNEXPECTED_ERROR),
        ("router-service-unavailable", model.METRIC_SERVICE_UNAVAILABLE),
    ],
)
def test_handler_metric_alarms_go_to_the_stack_topic(dev_run: ProgramRun, key, metric) -> None:
    alarm = _alarm(dev_run, key).inputs
    assert alarm["namespace"] == model.METRICS_NAMESPACE
    assert alarm["metricName"] == metric
    assert alarm["dimensions"] == {"service": model.SERVICE_NAME}
    assert alarm["alarmActions"] == alarm["okActions"] == [_topic(dev_run)]
    assert alarm["treatMissingData"] == "notBreaching"


def test_every_alarmed_metric_is_emitted_by_a_handler() -> None:
    """A renamed metric would silence its alarm: each name the alarms read
    is passed to ``count(model.METRIC_...)`` somewhere in the handlers."""
    emitted = set()
    for path in HANDLERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "count":
                arg = node.args[0] if node.args else None
                if isinstance(arg, ast.Attribute) and getattr(arg.value, "id", "") == "model":
                    emitted.add(getattr(model, arg.attr))
    specs = router_alarm_specs(dict.fromkeys(FUNCTIONS, "fn"), "arn:sm")
    alarmed = {s.metric_name for s in specs if s.namespace == model.METRICS_NAMESPACE}
    assert alarmed <= emitted, alarmed - emitted


def test_each_router_function_has_error_and_throttle_alarms(dev_run: ProgramRun) -> None:
    for module in FUNCTIONS:
        name = dev_run.one(
            "aws:lambda/function:Function", lambda r, m=module: r.name == f"cell-router-{m}"
        ).outputs["name"]
        errors = _alarm(dev_run, f"{module}-errors").inputs
        throttles = _alarm(dev_run, f"{module}-throttles").inputs
        assert (errors["namespace"], errors["metricName"]) == ("AWS/Lambda", "Errors")
        assert (throttles["metricName"], throttles["threshold"]) == ("Throttles", 1)
        assert errors["dimensions"] == throttles["dimensions"] == {"FunctionName": name}
        # Request-path functions raise named answers: only a rate pages.
        assert errors["threshold"] == (50 if module in ("dispatcher", "mapper", "validator") else 1)


def test_orchestrator_failed_and_timed_out_executions(dev_run: ProgramRun) -> None:
    arn = dev_run.one(
        "aws:sfn/stateMachine:StateMachine", lambda r: r.name == "cell-router-Orchestrator"
    ).outputs["arn"]
    timed_out = _alarm(dev_run, "orchestrator-timed-out").inputs
    failed = _alarm(dev_run, "orchestrator-failed").inputs
    assert (timed_out["metricName"], timed_out["threshold"]) == ("ExecutionsTimedOut", 1)
    assert (failed["metricName"], failed["threshold"]) == ("ExecutionsFailed", 50)
    assert timed_out["dimensions"] == failed["dimensions"] == {"StateMachineArn": arn}


def test_thresholds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RouterAlarmsArgs(
            function_names={},
            state_machine_arn="a",
            alarm_topic_arn="t",
            request_errors_threshold=0,
        )
