"""Amazon States Language for the cell router's EXPRESS state machine "Orchestrator".

A pure builder: ARNs and numbers in, a definition ``dict`` out. The
``Orchestrator`` component serialises it with :func:`to_json`; the tests and
the offline drill execute the very same dict on moto's Step Functions
interpreter (``support.sfn``).

Input (from the API's request template)::

    {"path": "/cells" | "/mapper" | "/validate", "httpMethod": ...,
     "userId": <the token's sub>, "body": {...}}

Routing: ``/cells`` runs the Dispatcher, then the Scaler; ``/mapper`` the
Mapper; ``/validate`` the Validator; any other (or a missing) path ends in a
Fail state with Error ``InvalidRequest``.

Which Lambda task form, and why
-------------------------------
Tasks use the optimised integration ``arn:aws:states:::lambda:invoke`` with
``Parameters {"FunctionName", "Payload.$"}`` and a ``ResultSelector`` /
``OutputPath`` on ``$.Payload`` rather than the bare function ARN as
``Resource``:

* Real Step Functions names the error of a failed function after the
  function's ``errorType`` in both forms (a Python handler raising
  ``NoCapacity`` fails the task with Error ``NoCapacity``), and names
  failures of the Lambda service itself ``Lambda.<Code>`` (e.g.
  ``Lambda.ServiceException``), which is what the retriers match. The
  optimised form is the one AWS documents and generates today.
* moto's interpreter (``moto/stepfunctions/parser``, from LocalStack)
  implements both forms, but only the optimised one maps a Lambda service
  failure to ``Lambda.<Code>`` (``StateTaskServiceLambda._from_error``); the
  legacy ARN form (``StateTaskLambda._from_error``) reports every client
  error as ``Exception``. Both keep ``errorType`` of a function error. So only
  ``lambda:invoke`` lets the offline tests prove the retriers fire on
  ``Lambda.ServiceException`` and on nothing else.

The price is the invocation envelope (``StatusCode``, ``ExecutedVersion``,
``Payload``) around the function's result, which each task unwraps.

Errors and retries
------------------
Only Lambda service errors are retried (:data:`LAMBDA_SERVICE_ERRORS`, with
exponential backoff, a cap and full jitter). Function errors
(``InvalidRequest``, ``NoCapacity``, ``UserNotFound``, ...) are neither
retried nor caught on the request paths, so the execution fails with the
function's error name and the API maps it to a status code. The Scaler is
the exception: a scale-out request is best effort, so any Scaler failure
(``States.ALL``: ``ProvisioningUnavailable``, timeouts, exhausted retries)
is caught and the user still gets their cell.

Every task has ``TimeoutSeconds``, and :func:`worst_case_duration_seconds`
bounds a whole execution from the definition itself; the builder refuses
settings whose worst case does not fit inside API Gateway's 29 s
integration timeout, so a synchronous request always ends with the state
machine's own answer rather than a gateway timeout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Errors raised by the Lambda service (not by our code): transient, safe to retry.
LAMBDA_SERVICE_ERRORS: tuple[str, ...] = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)

#: Error names the cell-router handlers raise on purpose
#: (``handlers/cell_router/errors.py``); the execution fails with these names.
FUNCTION_ERRORS: tuple[str, ...] = (
    "InvalidRequest",
    "NoCapacity",
    "UserNotFound",
    "CellUnavailable",
    "ProvisioningUnavailable",
    "UnknownMarket",
    "ServiceUnavailable",
    "WrongRegion",
)

#: API Gateway REST integrations give up after 29 s.
API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29

#: The paths the API exposes, in the order the Choice state tests them.
ROUTED_PATHS: tuple[str, ...] = ("/cells", "/mapper", "/validate")

#: Fields of the Dispatcher's contract; anything else it returns (``cellLoad``
#: for the Scaler) stays inside the state machine.
DISPATCHER_RESPONSE_FIELDS: tuple[str, ...] = (
    "cellId",
    "marketId",
    "endpoints",
    "ttlSeconds",
    "newAssignment",
)

DEFAULT_TASK_TIMEOUT_SECONDS = 5
DEFAULT_SCALER_TIMEOUT_SECONDS = 3

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"

# State names (stable: they appear in execution history and metrics).
ROUTE = "RouteByPath"
ASSIGN_CELL = "AssignCell"
REQUEST_CAPACITY = "RequestCapacity"
RETURN_CELL = "ReturnCell"
LOOK_UP_CELL = "LookUpCell"
VALIDATE_ENDPOINTS = "ValidateEndpoints"
REJECT_REQUEST = "RejectRequest"


@dataclass(frozen=True)
class RetryPolicy:
    """One retrier for Lambda service errors: exponential backoff, capped,
    full jitter (``JitterStrategy: FULL``: each delay is uniform in
    ``[0, min(interval * rate**n, max_delay)]``, so concurrent executions
    that failed together do not retry together)."""

    interval_seconds: int = 1
    max_attempts: int = 2
    backoff_rate: float = 2.0
    max_delay_seconds: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.interval_seconds, bool) or not isinstance(self.interval_seconds, int):
            raise ValueError("RetryPolicy.interval_seconds must be an integer")
        if self.interval_seconds < 1:
            raise ValueError("RetryPolicy.interval_seconds must be at least 1")
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError("RetryPolicy.max_attempts must be an integer")
        if self.max_attempts < 0:
            raise ValueError("RetryPolicy.max_attempts must be 0 or more")
        if self.backoff_rate < 1.0:
            raise ValueError("RetryPolicy.backoff_rate must be at least 1.0")
        if isinstance(self.max_delay_seconds, bool) or not isinstance(self.max_delay_seconds, int):
            raise ValueError("RetryPolicy.max_delay_seconds must be an integer")
        if self.max_delay_seconds < 1:
            raise ValueError("RetryPolicy.max_delay_seconds must be at least 1")

    def retriers(self, comment: str) -> list[dict[str, Any]]:
        """The ``Retry`` field of a task (empty when retries are off)."""
        if self.max_attempts == 0:
            return []
        return [
            {
                "Comment": comment,
                "ErrorEquals": list(LAMBDA_SERVICE_ERRORS),
                "IntervalSeconds": self.interval_seconds,
                "MaxAttempts": self.max_attempts,
                "BackoffRate": self.backoff_rate,
                "MaxDelaySeconds": self.max_delay_seconds,
                "JitterStrategy": "FULL",
            }
        ]


def build_orchestrator_definition(
    *,
    dispatcher_arn: str,
    scaler_arn: str,
    mapper_arn: str,
    validator_arn: str,
    retry: RetryPolicy = RetryPolicy(),
    task_timeout_seconds: int = DEFAULT_TASK_TIMEOUT_SECONDS,
    scaler_retry: RetryPolicy = RetryPolicy(max_attempts=1),
    scaler_timeout_seconds: int = DEFAULT_SCALER_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """The Orchestrator's definition.

    ``retry``/``task_timeout_seconds`` apply to the request-path tasks
    (Dispatcher, Mapper, Validator); the Scaler, which the user never waits
    on for an answer, gets a smaller budget of its own. Raises ``ValueError``
    for a blank ARN, a non-positive timeout, or settings whose worst case
    (:func:`worst_case_duration_seconds`) reaches API Gateway's 29 s.
    """
    _check_arns(
        dispatcher_arn=dispatcher_arn,
        scaler_arn=scaler_arn,
        mapper_arn=mapper_arn,
        validator_arn=validator_arn,
    )
    _check_timeouts(
        task_timeout_seconds=task_timeout_seconds, scaler_timeout_seconds=scaler_timeout_seconds
    )
    definition: dict[str, Any] = {
        "Comment": (
            "Cell router: routes an authenticated API request by path to the "
            "dispatcher (+ scaler), mapper or validator. Runs as an EXPRESS "
            "workflow started synchronously by API Gateway, so every path is "
            "bounded well inside the 29 s integration timeout."
        ),
        "StartAt": ROUTE,
        "States": {
            ROUTE: _route_by_path(),
            ASSIGN_CELL: _assign_cell(dispatcher_arn, retry, task_timeout_seconds),
            REQUEST_CAPACITY: _request_capacity(scaler_arn, scaler_retry, scaler_timeout_seconds),
            RETURN_CELL: {
                "Type": "Succeed",
                "Comment": "Answer with the dispatcher's contract fields only.",
                "OutputPath": "$.response",
            },
            LOOK_UP_CELL: _look_up_cell(mapper_arn, retry, task_timeout_seconds),
            VALIDATE_ENDPOINTS: _validate_endpoints(validator_arn, retry, task_timeout_seconds),
            REJECT_REQUEST: _reject_request(),
        },
    }
    _check_fits_api_gateway(definition)
    return definition


#: Why the request-path tasks retry only Lambda service errors.
_NO_RETRY_OF_FUNCTION_ERRORS = (
    "Only Lambda service errors are transient; function errors "
    "(InvalidRequest, NoCapacity, UserNotFound, UnknownMarket, WrongRegion, "
    "ServiceUnavailable -- the function already retried inside its deadline) "
    "are answers and keep their name."
)


def _check_arns(**arns: str) -> None:
    for label, arn in arns.items():
        if not isinstance(arn, str) or not arn.strip():
            raise ValueError(f"{label} must be a non-empty Lambda function ARN")


def _check_timeouts(**timeouts: int) -> None:
    for label, seconds in timeouts.items():
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
            raise ValueError(f"{label} must be a positive integer, got {seconds!r}")


def _check_fits_api_gateway(definition: Mapping[str, Any]) -> None:
    worst = worst_case_duration_seconds(definition)
    if worst >= API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS:
        raise ValueError(
            f"worst-case execution time {worst:g} s does not fit inside API Gateway's "
            f"{API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS} s integration timeout; lower the "
            "task timeouts or the retry attempts"
        )


def _route_by_path() -> dict[str, Any]:
    """The Choice on ``$.path``: ``/cells``, ``/mapper``, ``/validate``, else reject."""
    return {
        "Type": "Choice",
        "Comment": (
            "Reject a missing or non-string path first: a Choice rule on an "
            "absent field would fail the execution with States.Runtime "
            "instead of a clean InvalidRequest."
        ),
        "Choices": [
            {
                "Or": [
                    {"Not": {"Variable": "$.path", "IsPresent": True}},
                    {"Not": {"Variable": "$.path", "IsString": True}},
                ],
                "Next": REJECT_REQUEST,
            },
            {"Variable": "$.path", "StringEquals": "/cells", "Next": ASSIGN_CELL},
            {"Variable": "$.path", "StringEquals": "/mapper", "Next": LOOK_UP_CELL},
            {
                "Variable": "$.path",
                "StringEquals": "/validate",
                "Next": VALIDATE_ENDPOINTS,
            },
        ],
        "Default": REJECT_REQUEST,
    }


def _assign_cell(dispatcher_arn: str, retry: RetryPolicy, timeout_seconds: int) -> dict[str, Any]:
    """``/cells``: the Dispatcher; its full result travels on to the Scaler."""
    return _lambda_task(
        comment=(
            "Dispatcher: assigns (or returns) the caller's cell. The response "
            "keeps only the contract fields; the full result, including "
            "cellLoad, travels on to the scaler only. " + _NO_RETRY_OF_FUNCTION_ERRORS
        ),
        function_arn=dispatcher_arn,
        payload_path="$",
        timeout_seconds=timeout_seconds,
        retry=retry,
        retry_comment=(
            "Lambda service hiccups only; the assignment is idempotent, so a "
            "retry after an unseen success returns the same cell."
        ),
        ResultSelector={
            "response": {
                f"{field}.$": f"$.Payload.{field}" for field in DISPATCHER_RESPONSE_FIELDS
            },
            "dispatcherResult.$": "$.Payload",
        },
        Next=REQUEST_CAPACITY,
    )


def _request_capacity(scaler_arn: str, retry: RetryPolicy, timeout_seconds: int) -> dict[str, Any]:
    """After ``/cells``: the Scaler, best effort (every failure is caught)."""
    return _lambda_task(
        comment=(
            "Scaler: asks for a new cell when this one nears capacity. Best "
            "effort: the user already has a cell, so any failure is caught and "
            "the request still succeeds; the scaler's answer is discarded."
        ),
        function_arn=scaler_arn,
        payload_path="$.dispatcherResult",
        timeout_seconds=timeout_seconds,
        retry=retry,
        retry_comment="A quick retry on Lambda service errors only; the user is waiting.",
        ResultPath=None,
        Catch=[
            {
                "Comment": (
                    "Never fail a sign-up because scale-out failed "
                    "(ProvisioningUnavailable, timeout, exhausted retries)."
                ),
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.scalerError",
                "Next": RETURN_CELL,
            }
        ],
        Next=RETURN_CELL,
    )


def _look_up_cell(mapper_arn: str, retry: RetryPolicy, timeout_seconds: int) -> dict[str, Any]:
    """``/mapper``: the Mapper's answer is the response."""
    return _lambda_task(
        comment="Mapper: the caller's own cell. " + _NO_RETRY_OF_FUNCTION_ERRORS,
        function_arn=mapper_arn,
        payload_path="$",
        timeout_seconds=timeout_seconds,
        retry=retry,
        retry_comment="Lambda service hiccups only; the lookup is a read.",
        OutputPath="$.Payload",
        End=True,
    )


def _validate_endpoints(
    validator_arn: str, retry: RetryPolicy, timeout_seconds: int
) -> dict[str, Any]:
    """``/validate``: the Validator's answer is the response."""
    return _lambda_task(
        comment="Validator: checks the caller's cached endpoints. " + _NO_RETRY_OF_FUNCTION_ERRORS,
        function_arn=validator_arn,
        payload_path="$",
        timeout_seconds=timeout_seconds,
        retry=retry,
        retry_comment="Lambda service hiccups only; validation is a read.",
        OutputPath="$.Payload",
        End=True,
    )


def _reject_request() -> dict[str, Any]:
    """Any other path: fail with the handlers' ``InvalidRequest`` (400)."""
    return {
        "Type": "Fail",
        "Comment": "Same error name the handlers use, so the API maps it to 400.",
        "Error": "InvalidRequest",
        "Cause": ("Unsupported request path: expected one of " + ", ".join(ROUTED_PATHS) + "."),
    }


def to_json(definition: Mapping[str, Any]) -> str:
    """Deterministic JSON for ``aws.sfn.StateMachine(definition=...)``."""
    return json.dumps(definition, indent=2, sort_keys=False)


def worst_case_retry_delays(retrier: Mapping[str, Any]) -> list[float]:
    """Upper bound of each wait a retrier can insert (ASL defaults applied).

    With ``JitterStrategy: FULL`` the real wait is uniform below this bound.
    """
    interval = float(retrier.get("IntervalSeconds", 1))
    attempts = int(retrier.get("MaxAttempts", 3))
    rate = float(retrier.get("BackoffRate", 2.0))
    cap = retrier.get("MaxDelaySeconds")
    delays = []
    for n in range(attempts):
        delay = interval * rate**n
        if cap is not None:
            delay = min(delay, float(cap))
        delays.append(delay)
    return delays


def task_worst_case_seconds(
    state: Mapping[str, Any], function_timeouts: Mapping[str, float] | None = None
) -> float:
    """Longest a Task state can take: every attempt runs to its time limit and
    every retrier is exhausted in turn (each retrier keeps its own count).

    An attempt is bounded by the state's ``TimeoutSeconds`` and, when known,
    the function's own timeout (``function_timeouts`` keyed by function ARN).
    """
    function = _task_function(state)
    limits = []
    if "TimeoutSeconds" in state:
        limits.append(float(state["TimeoutSeconds"]))
    if function_timeouts and function in function_timeouts:
        limits.append(float(function_timeouts[function]))
    if not limits:
        raise ValueError(
            f"task invoking {function!r} has no TimeoutSeconds and no known function "
            "timeout: its duration is unbounded"
        )
    per_attempt = min(limits)
    retriers = state.get("Retry", [])
    retries = sum(int(r.get("MaxAttempts", 3)) for r in retriers)
    delays = sum(sum(worst_case_retry_delays(r)) for r in retriers)
    return (1 + retries) * per_attempt + delays


def worst_case_duration_seconds(
    definition: Mapping[str, Any], function_timeouts: Mapping[str, float] | None = None
) -> float:
    """Upper bound of one execution's duration, read from the definition.

    The longest path from ``StartAt`` through Choice branches, ``Next`` and
    ``Catch`` edges, adding :func:`task_worst_case_seconds` per Task and the
    ``Seconds`` of Wait states. Raises ``ValueError`` for a cycle or a state
    whose duration cannot be bounded statically (Map, Parallel, dynamic Wait).
    """
    states: Mapping[str, Mapping[str, Any]] = definition["States"]
    memo: dict[str, float] = {}
    visiting: set[str] = set()

    def longest_from(name: str) -> float:
        if name in memo:
            return memo[name]
        if name in visiting:
            raise ValueError(f"state {name!r} is part of a loop: no finite worst case")
        if name not in states:
            raise ValueError(f"transition to unknown state {name!r}")
        visiting.add(name)
        state = states[name]
        kind = state["Type"]
        if kind == "Task":
            own = task_worst_case_seconds(state, function_timeouts)
            successors = [c["Next"] for c in state.get("Catch", [])]
        elif kind == "Wait":
            if "Seconds" not in state:
                raise ValueError(f"Wait state {name!r} has no static Seconds")
            own = float(state["Seconds"])
            successors = []
        elif kind == "Choice":
            own = 0.0
            successors = [c["Next"] for c in state["Choices"]]
            if "Default" in state:
                successors.append(state["Default"])
        elif kind in ("Pass", "Succeed", "Fail"):
            own = 0.0
            successors = []
        else:
            raise ValueError(f"cannot bound the duration of a {kind} state ({name!r})")
        if "Next" in state:
            successors.append(state["Next"])
        result = own + max((longest_from(s) for s in successors), default=0.0)
        visiting.discard(name)
        memo[name] = result
        return result

    return longest_from(definition["StartAt"])


def _lambda_task(
    *,
    comment: str,
    function_arn: str,
    payload_path: str,
    timeout_seconds: int,
    retry: RetryPolicy,
    retry_comment: str,
    **fields: Any,
) -> dict[str, Any]:
    """A Task invoking a function through the optimised Lambda integration."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Comment": comment,
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function_arn, "Payload.$": payload_path},
        "TimeoutSeconds": timeout_seconds,
    }
    retriers = retry.retriers(retry_comment)
    if retriers:
        state["Retry"] = retriers
    state.update(fields)
    return state


def _task_function(state: Mapping[str, Any]) -> str:
    parameters = state.get("Parameters", {})
    return str(parameters.get("FunctionName", state.get("Resource", "")))
