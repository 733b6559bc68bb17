"""The Orchestrator definition: static checks, then executions on moto's
interpreter with the Lambda tasks routed to small in-test functions that keep
the handler contracts (``handlers/cell_router``)."""

from __future__ import annotations

import copy
import decimal
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from statelint.linter import Linter

from components.orchestrator_asl import (
    API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS,
    ASSIGN_CELL,
    DISPATCHER_RESPONSE_FIELDS,
    LAMBDA_INVOKE,
    LAMBDA_SERVICE_ERRORS,
    LOOK_UP_CELL,
    REJECT_REQUEST,
    REQUEST_CAPACITY,
    RETURN_CELL,
    ROUTE,
    VALIDATE_ENDPOINTS,
    RetryPolicy,
    build_orchestrator_definition,
    task_worst_case_seconds,
    to_json,
    worst_case_duration_seconds,
    worst_case_retry_delays,
)
from support.sfn import LambdaServiceError, LocalStepFunctions, create_functions

ARNS = {
    "dispatcher_arn": "arn:aws:lambda:us-east-1:123456789012:function:dispatcher",
    "scaler_arn": "arn:aws:lambda:us-east-1:123456789012:function:scaler",
    "mapper_arn": "arn:aws:lambda:us-east-1:123456789012:function:mapper",
    "validator_arn": "arn:aws:lambda:us-east-1:123456789012:function:validator",
}
TASKS = (ASSIGN_CELL, REQUEST_CAPACITY, LOOK_UP_CELL, VALIDATE_ENDPOINTS)
#: Longest a held task waits to be released: only ends a thread the test
#: forgot, never decides an outcome (the executions time out after 1 s).
HELD_TASK_SECONDS = 60.0


def _definition(**overrides: Any) -> dict[str, Any]:
    return build_orchestrator_definition(**ARNS, **overrides)


# --------------------------------------------------------------------------
# Static checks
# --------------------------------------------------------------------------


def test_statelint_accepts_the_definition() -> None:
    assert Linter.validate(_definition()) == []


def test_statelint_catches_a_transition_to_a_missing_state() -> None:
    broken = _definition()
    broken["States"][ASSIGN_CELL]["Next"] = "NoSuchState"
    problems = Linter.validate(broken)
    assert any("NoSuchState" in p for p in problems), problems


def test_to_json_round_trips() -> None:
    definition = _definition()
    assert json.loads(to_json(definition)) == definition


def test_every_task_invokes_lambda_through_the_optimised_integration() -> None:
    states = _definition()["States"]
    expected_function = {
        ASSIGN_CELL: ARNS["dispatcher_arn"],
        REQUEST_CAPACITY: ARNS["scaler_arn"],
        LOOK_UP_CELL: ARNS["mapper_arn"],
        VALIDATE_ENDPOINTS: ARNS["validator_arn"],
    }
    tasks = {name for name, s in states.items() if s["Type"] == "Task"}
    assert tasks == set(TASKS)
    for name, function_arn in expected_function.items():
        state = states[name]
        assert state["Resource"] == LAMBDA_INVOKE
        assert state["Parameters"]["FunctionName"] == function_arn
        assert isinstance(state["TimeoutSeconds"], int) and state["TimeoutSeconds"] >= 1
        assert state["Comment"]


def test_choice_routes_each_path_and_rejects_everything_else() -> None:
    states = _definition()["States"]
    choice = states[ROUTE]
    routes = {c["StringEquals"]: c["Next"] for c in choice["Choices"] if "StringEquals" in c}
    assert routes == {
        "/cells": ASSIGN_CELL,
        "/mapper": LOOK_UP_CELL,
        "/validate": VALIDATE_ENDPOINTS,
    }
    assert choice["Default"] == REJECT_REQUEST
    assert choice["Choices"][0]["Next"] == REJECT_REQUEST  # missing / non-string path
    reject = states[REJECT_REQUEST]
    assert reject["Type"] == "Fail"
    assert reject["Error"] == "InvalidRequest"
    assert "/cells" in reject["Cause"]


def test_retries_only_lambda_service_errors_with_capped_jittered_backoff() -> None:
    policy = RetryPolicy(interval_seconds=1, max_attempts=2, backoff_rate=2.0, max_delay_seconds=2)
    states = _definition(retry=policy)["States"]
    for name in TASKS:
        retriers = states[name]["Retry"]
        assert len(retriers) == 1
        (retrier,) = retriers
        assert retrier["ErrorEquals"] == list(LAMBDA_SERVICE_ERRORS)
        assert retrier["JitterStrategy"] == "FULL"
        assert retrier["BackoffRate"] >= 1.0
        assert retrier["MaxDelaySeconds"] >= retrier["IntervalSeconds"]
    for name in (ASSIGN_CELL, LOOK_UP_CELL, VALIDATE_ENDPOINTS):
        assert states[name]["Retry"][0]["MaxAttempts"] == 2
        assert states[name]["Retry"][0]["IntervalSeconds"] == 1
    assert states[REQUEST_CAPACITY]["Retry"][0]["MaxAttempts"] == 1


def test_function_errors_are_never_retried_or_caught_on_request_paths() -> None:
    states = _definition()["States"]
    for name in (ASSIGN_CELL, LOOK_UP_CELL, VALIDATE_ENDPOINTS):
        assert "Catch" not in states[name]
        for retrier in states[name]["Retry"]:
            assert all(e.startswith("Lambda.") for e in retrier["ErrorEquals"])


def test_only_the_scaler_catches_and_it_catches_everything() -> None:
    states = _definition()["States"]
    (catcher,) = states[REQUEST_CAPACITY]["Catch"]
    assert catcher["ErrorEquals"] == ["States.ALL"]
    assert catcher["Next"] == RETURN_CELL
    assert catcher["ResultPath"] == "$.scalerError"  # keeps the response beside the error
    assert states[REQUEST_CAPACITY]["ResultPath"] is None
    assert states[REQUEST_CAPACITY]["Parameters"]["Payload.$"] == "$.dispatcherResult"


def test_cells_response_selects_exactly_the_dispatcher_contract_fields() -> None:
    states = _definition()["States"]
    selector = states[ASSIGN_CELL]["ResultSelector"]
    assert set(selector["response"]) == {f"{f}.$" for f in DISPATCHER_RESPONSE_FIELDS}
    assert selector["dispatcherResult.$"] == "$.Payload"
    assert states[RETURN_CELL] == {
        "Type": "Succeed",
        "Comment": states[RETURN_CELL]["Comment"],
        "OutputPath": "$.response",
    }


def test_max_attempts_zero_leaves_out_the_retrier() -> None:
    states = _definition(retry=RetryPolicy(max_attempts=0))["States"]
    assert "Retry" not in states[LOOK_UP_CELL]
    assert "Retry" in states[REQUEST_CAPACITY]  # scaler has its own policy


# --------------------------------------------------------------------------
# Worst-case duration
# --------------------------------------------------------------------------


def test_worst_case_with_defaults_fits_api_gateway_timeout() -> None:
    definition = _definition()
    worst = worst_case_duration_seconds(definition)
    # /cells: dispatcher 3 attempts x 5 s + delays 1 + 2; scaler 2 x 3 s + 1.
    assert worst == pytest.approx(3 * 5 + 1 + 2 + 2 * 3 + 1)
    assert worst < API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS


def test_worst_case_uses_the_shorter_of_task_and_function_timeout() -> None:
    definition = _definition()
    shorter = {arn: 2 for arn in ARNS.values()} | {ARNS["scaler_arn"]: 1}
    # /cells is now the longest path again: 3 x 2 + 3, then 2 x 1 + 1.
    assert worst_case_duration_seconds(definition, shorter) == pytest.approx(
        3 * 2 + 1 + 2 + 2 * 1 + 1
    )
    longer = {ARNS["dispatcher_arn"]: 900}
    assert worst_case_duration_seconds(definition, longer) == worst_case_duration_seconds(
        definition
    )


def test_retry_delays_grow_by_backoff_rate_and_stop_at_the_cap() -> None:
    retrier = {"IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 3.0, "MaxDelaySeconds": 10}
    assert worst_case_retry_delays(retrier) == [1, 3, 9, 10, 10]
    # ASL defaults: IntervalSeconds 1, MaxAttempts 3, BackoffRate 2.0, no cap.
    assert worst_case_retry_delays({"ErrorEquals": ["States.ALL"]}) == [1, 2, 4]


def test_each_retrier_adds_its_own_attempts() -> None:
    state = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": "f"},
        "TimeoutSeconds": 2,
        "Retry": [
            {"ErrorEquals": ["A"], "IntervalSeconds": 1, "MaxAttempts": 1},
            {"ErrorEquals": ["B"], "IntervalSeconds": 2, "MaxAttempts": 2, "BackoffRate": 1.0},
        ],
    }
    assert task_worst_case_seconds(state) == pytest.approx(4 * 2 + 1 + 2 + 2)


def test_worst_case_follows_catch_and_wait_edges() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": LAMBDA_INVOKE,
                "Parameters": {"FunctionName": "f"},
                "TimeoutSeconds": 3,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Slow"}],
                "Next": "Done",
            },
            "Slow": {"Type": "Wait", "Seconds": 7, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    assert worst_case_duration_seconds(definition) == pytest.approx(10)


@pytest.mark.parametrize(
    ("states", "message"),
    [
        (
            {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Pass", "Next": "A"},
            },
            "loop",
        ),
        (
            {"A": {"Type": "Task", "Resource": LAMBDA_INVOKE, "Parameters": {}, "End": True}},
            "unbounded",
        ),
        ({"A": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}, "static Seconds"),
        ({"A": {"Type": "Map", "End": True}}, "Map"),
    ],
)
def test_worst_case_refuses_what_it_cannot_bound(states: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        worst_case_duration_seconds({"StartAt": "A", "States": states})


def test_builder_refuses_settings_that_overrun_api_gateway() -> None:
    with pytest.raises(ValueError, match="29 s"):
        _definition(task_timeout_seconds=10)
    with pytest.raises(ValueError, match="29 s"):
        _definition(retry=RetryPolicy(max_attempts=6, max_delay_seconds=8))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "5"])
def test_builder_rejects_bad_timeouts(bad: Any) -> None:
    with pytest.raises(ValueError, match="task_timeout_seconds"):
        _definition(task_timeout_seconds=bad)
    with pytest.raises(ValueError, match="scaler_timeout_seconds"):
        _definition(scaler_timeout_seconds=bad)


@pytest.mark.parametrize("arg", sorted(ARNS))
def test_builder_rejects_blank_arns(arg: str) -> None:
    with pytest.raises(ValueError, match=arg):
        build_orchestrator_definition(**{**ARNS, arg: " "})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"max_attempts": -1}, "max_attempts"),
        ({"backoff_rate": 0.5}, "backoff_rate"),
        ({"max_delay_seconds": 0}, "max_delay_seconds"),
        ({"interval_seconds": 1.5}, "interval_seconds"),
    ],
)
def test_retry_policy_validation(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**kwargs)


# --------------------------------------------------------------------------
# Executions on moto's interpreter
# --------------------------------------------------------------------------


class InvalidRequest(Exception):
    pass


class NoCapacity(Exception):
    pass


class UserNotFound(Exception):
    pass


class ProvisioningUnavailable(Exception):
    pass


class ServiceException(Exception):
    """A *function* error that merely shares a Lambda service error's code."""


ENDPOINTS = [
    {"url": "https://cell-1a.example.com", "region": "eu-west-1"},
    {"url": "https://cell-1b.example.com", "region": "eu-central-1"},
]


def fake_dispatcher(event: dict, context: Any) -> dict:
    if not event.get("userId"):
        raise InvalidRequest("userId missing")
    return {
        "cellId": "cell-1",
        "marketId": event["body"].get("marketId", "europe"),
        "endpoints": ENDPOINTS,
        "ttlSeconds": 300,
        "newAssignment": True,
        "cellLoad": {"currentCapacity": 351, "maxCapacity": 500},
    }


def fake_scaler(event: dict, context: Any) -> dict:
    return {"provisioningRequested": event["cellLoad"]["currentCapacity"] >= 350}


def fake_mapper(event: dict, context: Any) -> dict:
    if event["userId"] != "known":
        raise UserNotFound("no cell for this user")
    return {
        "cellId": "cell-1",
        "marketId": "europe",
        "endpoints": ENDPOINTS,
        "ttlSeconds": 300,
        "newAssignment": False,
    }


def fake_validator(event: dict, context: Any) -> dict:
    return {
        "cellId": event["body"]["cellId"],
        "valid": event["body"].get("cellUrl") == ENDPOINTS[0]["url"],
        "healthy": True,
        "endpoints": ENDPOINTS,
        "remediation": None,
    }


class Router:
    """In-test stand-ins for the four handlers; a test swaps one behaviour."""

    def __init__(self) -> None:
        self.behaviour: dict[str, Callable[[dict, Any], Any]] = {
            "dispatcher": fake_dispatcher,
            "scaler": fake_scaler,
            "mapper": fake_mapper,
            "validator": fake_validator,
        }
        self.local: LocalStepFunctions

    def routes(self) -> dict[str, Callable[[dict, Any], Any]]:
        return {name: self._route(name) for name in self.behaviour}

    def _route(self, name: str) -> Callable[[dict, Any], Any]:
        return lambda event, context: self.behaviour[name](event, context)

    def deploy(self, **overrides: Any) -> None:
        arns = self.local.function_arns
        self.local.deploy(
            build_orchestrator_definition(
                dispatcher_arn=arns["dispatcher"],
                scaler_arn=arns["scaler"],
                mapper_arn=arns["mapper"],
                validator_arn=arns["validator"],
                **overrides,
            )
        )


@pytest.fixture
def router() -> Iterator[Router]:
    router = Router()
    with LocalStepFunctions(router.routes()) as local:
        router.local = local
        router.deploy()
        yield router


def request(path: Any = "/cells", user_id: str = "known", **body: Any) -> dict:
    return {"path": path, "httpMethod": "POST", "userId": user_id, "body": body}


def fails_once(error: Exception, then: Callable[[dict, Any], Any]) -> Callable[[dict, Any], Any]:
    calls = {"n": 0}

    def behaviour(event: dict, context: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise error
        return then(event, context)

    return behaviour


def always(error: Exception) -> Callable[[dict, Any], Any]:
    def behaviour(event: dict, context: Any) -> Any:
        raise copy.copy(error)

    return behaviour


def test_cells_returns_only_the_contract_fields_and_feeds_the_scaler(router: Router) -> None:
    result = router.local.run(request("/cells", marketId="europe"))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == {
        "cellId": "cell-1",
        "marketId": "europe",
        "endpoints": ENDPOINTS,
        "ttlSeconds": 300,
        "newAssignment": True,
    }
    (scaler_call,) = router.local.invocations.of("scaler")
    assert scaler_call.event["cellLoad"] == {"currentCapacity": 351, "maxCapacity": 500}
    assert scaler_call.event["cellId"] == "cell-1"
    (dispatch_call,) = router.local.invocations.of("dispatcher")
    assert dispatch_call.event == request("/cells", marketId="europe")


def test_mapper_path_runs_only_the_mapper(router: Router) -> None:
    result = router.local.run(request("/mapper"))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["newAssignment"] is False
    assert result.output["cellId"] == "cell-1"
    assert [i.function_name for i in router.local.invocations.all()] == ["mapper"]


def test_validate_path_runs_only_the_validator(router: Router) -> None:
    result = router.local.run(
        request("/validate", cellId="cell-1", cellUrl=ENDPOINTS[0]["url"], cellUrl2="x")
    )

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == {
        "cellId": "cell-1",
        "valid": True,
        "healthy": True,
        "endpoints": ENDPOINTS,
        "remediation": None,
    }
    assert [i.function_name for i in router.local.invocations.all()] == ["validator"]


@pytest.mark.parametrize(
    "execution_input",
    [
        request("/unknown"),
        request("/cells/"),
        request(None),
        request(42),
        {"httpMethod": "POST", "userId": "a", "body": {}},
    ],
    ids=["unknown", "trailing-slash", "null", "number", "missing"],
)
def test_anything_but_the_three_paths_is_an_invalid_request(
    router: Router, execution_input: dict
) -> None:
    result = router.local.run(execution_input)

    assert result.status == "FAILED"
    assert result.error == "InvalidRequest"
    assert "/cells" in result.cause
    assert router.local.invocations.all() == []


@pytest.mark.parametrize(
    ("path", "function", "error"),
    [
        ("/cells", "dispatcher", InvalidRequest("marketId must match [A-Za-z0-9_-]{1,64}")),
        ("/cells", "dispatcher", NoCapacity("no placeable cell in market europe")),
        ("/mapper", "mapper", UserNotFound("no cell for this user")),
        ("/mapper", "mapper", InvalidRequest("userId missing")),
        ("/validate", "validator", InvalidRequest("cellUrl is not a URL")),
        ("/validate", "validator", ValueError("a bug")),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_function_errors_keep_their_name_and_are_not_retried(
    router: Router, path: str, function: str, error: Exception
) -> None:
    router.behaviour[function] = always(error)

    result = router.local.run(request(path))

    assert result.status == "FAILED"
    assert result.error == type(error).__name__
    assert result.error_message == str(error)
    assert router.local.invocations.count(function) == 1
    assert router.local.invocations.count("scaler") == 0


def test_missing_user_id_reaches_the_dispatcher_and_fails_as_invalid_request(
    router: Router,
) -> None:
    result = router.local.run(request("/cells", user_id=""))

    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    assert result.error_message == "userId missing"


@pytest.mark.parametrize(
    "scaler_error",
    [
        ProvisioningUnavailable("queue unavailable"),
        RuntimeError("unexpected bug"),
        LambdaServiceError("ServiceException"),
    ],
    ids=["ProvisioningUnavailable", "RuntimeError", "Lambda.ServiceException"],
)
def test_a_scaler_failure_never_fails_the_sign_up(router: Router, scaler_error: Exception) -> None:
    router.behaviour["scaler"] = always(scaler_error)

    result = router.local.run(request("/cells"))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert set(result.output) == set(DISPATCHER_RESPONSE_FIELDS)
    assert result.output["cellId"] == "cell-1"
    # Service errors get the scaler's one retry; function errors none.
    expected_calls = 2 if isinstance(scaler_error, LambdaServiceError) else 1
    assert router.local.invocations.count("scaler") == expected_calls


@pytest.mark.parametrize("code", ["ServiceException", "TooManyRequestsException"])
def test_a_lambda_service_error_is_retried(router: Router, code: str) -> None:
    router.behaviour["dispatcher"] = fails_once(LambdaServiceError(code), fake_dispatcher)

    result = router.local.run(request("/cells"))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert router.local.invocations.count("dispatcher") == 2
    failures = [
        e["taskFailedEventDetails"]["error"]
        for e in router.local.history(result)
        if e["type"] == "TaskFailed"
    ]
    assert failures == [f"Lambda.{code}"]


def test_service_errors_exhaust_the_retries_then_fail_with_the_service_error_name(
    router: Router,
) -> None:
    router.behaviour["mapper"] = always(LambdaServiceError("ServiceException"))

    result = router.local.run(request("/mapper"))

    assert (result.status, result.error) == ("FAILED", "Lambda.ServiceException")
    assert router.local.invocations.count("mapper") == 1 + 2


def test_a_function_error_named_like_a_service_error_is_not_retried(router: Router) -> None:
    router.behaviour["mapper"] = always(ServiceException("raised by our own code"))

    result = router.local.run(request("/mapper"))

    assert (result.status, result.error) == ("FAILED", "ServiceException")
    assert router.local.invocations.count("mapper") == 1


def test_a_slow_task_times_out(router: Router) -> None:
    router.deploy(task_timeout_seconds=1, scaler_timeout_seconds=1)
    # A slow task is held until the test lets it go, after its execution has
    # ended: only the state's timeout can end it, however loaded the machine.
    released = threading.Event()

    def held(behaviour: Callable[[dict, Any], dict]) -> Callable[[dict, Any], dict]:
        def slow(event: dict, context: Any) -> dict:
            released.wait(HELD_TASK_SECONDS)
            return behaviour(event, context)

        return slow

    try:
        router.behaviour["mapper"] = held(fake_mapper)
        result = router.local.run(request("/mapper"))
        assert (result.status, result.error) == ("FAILED", "States.Timeout")

        router.behaviour["scaler"] = held(fake_scaler)
        result = router.local.run(request("/cells"))
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        assert result.output["cellId"] == "cell-1"
    finally:
        released.set()


# --------------------------------------------------------------------------
# The harness itself (support.sfn), as the tests above rely on it
# --------------------------------------------------------------------------


def test_handlers_get_a_lambda_context_for_their_function(router: Router) -> None:
    seen: list[Any] = []

    def recording_mapper(event: dict, context: Any) -> dict:
        seen.append(context)
        return fake_mapper(event, context)

    router.behaviour["mapper"] = recording_mapper
    router.local.run(request("/mapper"))

    (context,) = seen
    assert context.function_name == "mapper"
    assert context.invoked_function_arn == router.local.function_arns["mapper"]
    assert context.memory_limit_in_mb == 128
    assert len(context.aws_request_id) == 36
    assert 0 < context.get_remaining_time_in_millis() <= 10_000


def test_an_unencodable_result_fails_like_the_lambda_runtime(router: Router) -> None:
    router.behaviour["mapper"] = lambda event, context: {"count": decimal.Decimal("1")}

    result = router.local.run(request("/mapper"))

    assert (result.status, result.error) == ("FAILED", "Runtime.MarshalError")
    assert "Decimal" in result.error_message


def test_an_unrouted_function_fails_loudly() -> None:
    with LocalStepFunctions({"mapper": fake_mapper}) as local:
        orphan = create_functions(["orphan"], role_arn=local.role_arn)["orphan"]
        local.deploy(
            build_orchestrator_definition(
                dispatcher_arn=orphan,
                scaler_arn=local.function_arns["mapper"],
                mapper_arn=local.function_arns["mapper"],
                validator_arn=local.function_arns["mapper"],
            )
        )
        result = local.run(request("/cells"))
    assert (result.status, result.error) == ("FAILED", "UnroutedFunction")
    assert "orphan" in result.error_message
