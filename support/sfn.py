"""Run state machine definitions on moto's Step Functions interpreter, with
their Lambda tasks executed in-process by plain Python callables.

moto executes ASL when started with
``mock_aws(config={"stepfunctions": {"execute_state_machine": True}})``. Its
Lambda tasks call moto's Lambda backend, which would run the function in
Docker (``moto.awslambda.models.LambdaFunction._invoke_lambda``). Here that
one private method is replaced (``support.private_apis.route_lambda_invocations``)
so that the function registered under the Lambda function's name is called
in this process instead, the way the Lambda Python runtime would call ``handler(event, context)``:

* the return value becomes the JSON payload (a value ``json`` cannot encode
  fails like the real runtime: ``Runtime.MarshalError``);
* an exception becomes the error payload ``{"errorType": <class name>,
  "errorMessage": str(exc), ...}`` with ``errored`` True; moto answers the
  invoke with ``X-Amz-Function-Error`` and its interpreter fails the task with
  Error = ``errorType`` (``StateTaskServiceLambda._from_error``), so a handler
  raising ``NoCapacity`` fails the execution with Error ``NoCapacity``;
* :class:`LambdaServiceError` simulates a failure of the Lambda *service*
  (not of the function): the invoke call itself fails with that error code,
  which the optimised integration reports as ``Lambda.<code>`` (e.g.
  ``Lambda.ServiceException``), exactly what the retriers match.

The contract of the replaced method, read from moto 5.2's source:
``_invoke_lambda(self, event) -> (payload: str, errored: bool, logs: str)``
where ``event`` is the already-decoded request payload (``"{}"`` as a string
when the request had none).

Nothing here depends on pytest. Under ``mock_aws`` everything runs in one
process. With moto in server mode in the same process the patch works too,
but the interpreter then calls Lambda at ``localhost:$MOTO_PORT``, and a
handler called from inside the server's request for ``Invoke`` that itself
calls that server needs a server that serves requests concurrently (a
one-request-at-a-time server would deadlock).
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws

from support.private_apis import (
    LambdaFunctionView,
    lambda_service_error,
    route_lambda_invocations,
)

Handler = Callable[[Any, Any], Any]

DEFAULT_REGION = "us-east-1"
#: HTTP status of each Lambda service error a test may want to simulate.
_SERVICE_ERROR_STATUS = {
    "ServiceException": 500,
    "AWSLambdaException": 500,
    "SdkClientException": 500,
    "TooManyRequestsException": 429,
    "ResourceNotReadyException": 502,
}
_FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
#: Logs every failed state at ERROR with a dump of its parsed AST; the
#: execution's error and cause already say what happened.
_INTERPRETER_LOGGER = "moto.stepfunctions.parser"


class LambdaServiceError(Exception):
    """Raise from a routed function to make the Lambda *service* fail the
    invocation (Step Functions then reports ``Lambda.<code>``)."""

    def __init__(self, code: str = "ServiceException", message: str = "simulated") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class FakeLambdaContext:
    """What the Python runtime hands a handler; enough for Powertools'
    ``inject_lambda_context`` (function_name, memory_limit_in_mb,
    invoked_function_arn, aws_request_id)."""

    function_name: str = "test-function"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "inprocess"
    timeout_seconds: float = 30.0
    started_at: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


@dataclass(frozen=True)
class Invocation:
    """One routed invocation, as recorded by :func:`inprocess_lambdas`."""

    function_name: str
    event: Any
    started_at: float  # time.monotonic()
    ended_at: float
    outcome: str  # "ok" | "error" | "service_error"
    error_type: str | None = None
    result: Any = None


class InvocationLog:
    """Thread-safe record of routed invocations (Map iterations run in parallel)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Invocation] = []

    def add(self, invocation: Invocation) -> None:
        with self._lock:
            self._items.append(invocation)

    def all(self) -> list[Invocation]:
        with self._lock:
            return list(self._items)

    def of(self, function_name: str) -> list[Invocation]:
        return [i for i in self.all() if i.function_name == function_name]

    def count(self, function_name: str) -> int:
        return len(self.of(function_name))


def _error_payload(
    error_type: str, exc: BaseException, request_id: str, message: str | None = None
) -> dict[str, Any]:
    """The payload the Python runtime returns for a failed invocation."""
    return {
        "errorType": error_type,
        "errorMessage": str(exc) if message is None else message,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


@contextmanager
def inprocess_lambdas(functions: Mapping[str, Handler]) -> Iterator[InvocationLog]:
    """While active, invoking a moto Lambda function named ``name`` calls
    ``functions[name](event, context)`` in this process.

    Needs an active moto (``mock_aws`` or an in-process server). Yields the
    :class:`InvocationLog`. Invoking a function without a route fails the
    invocation with errorType ``UnroutedFunction``.
    """
    routes = dict(functions)
    log = InvocationLog()

    def invoke(function: LambdaFunctionView, event: Any) -> tuple[str, bool, str]:
        # moto hands over the decoded payload, except for an empty request
        # body, which arrives as the raw string "{}".
        if event is None or event == "" or event == "{}":
            event = {}
        elif isinstance(event, bytes):
            event = json.loads(event)
        name = function.name
        context = FakeLambdaContext(
            function_name=name,
            invoked_function_arn=function.arn,
            memory_limit_in_mb=function.memory_size,
            log_group_name=f"/aws/lambda/{name}",
            timeout_seconds=function.timeout_seconds,
        )
        request_id = context.aws_request_id
        logs = f"START RequestId: {request_id}\n"
        started = time.monotonic()
        handler = routes.get(name)
        if handler is None:
            payload = {
                "errorType": "UnroutedFunction",
                "errorMessage": f"no in-process handler for {name!r}; routed: {sorted(routes)}",
            }
            log.add(Invocation(name, event, started, time.monotonic(), "error", "UnroutedFunction"))
            return json.dumps(payload), True, logs
        try:
            result = handler(event, context)
        except LambdaServiceError as exc:
            log.add(Invocation(name, event, started, time.monotonic(), "service_error", exc.code))
            status = _SERVICE_ERROR_STATUS.get(exc.code, 500)
            raise lambda_service_error(exc.code, exc.message, status) from exc
        except Exception as exc:
            payload = _error_payload(type(exc).__name__, exc, request_id)
            return _failed(log, name, event, started, payload, logs)
        try:
            body = json.dumps(result)
        except (TypeError, ValueError) as exc:
            # Like the Python runtime: a result JSON cannot encode (e.g. a
            # DynamoDB Decimal) fails the invocation, not silently succeeds.
            message = f"Unable to marshal response: {exc}"
            payload = _error_payload("Runtime.MarshalError", exc, request_id, message)
            return _failed(log, name, event, started, payload, logs)
        log.add(Invocation(name, event, started, time.monotonic(), "ok", result=result))
        return body, False, logs + f"END RequestId: {request_id}\n"

    with route_lambda_invocations(invoke):
        yield log


def _failed(
    log: InvocationLog,
    name: str,
    event: Any,
    started: float,
    payload: dict[str, Any],
    logs: str,
) -> tuple[str, bool, str]:
    log.add(Invocation(name, event, started, time.monotonic(), "error", payload["errorType"]))
    return json.dumps(payload), True, logs + f"{payload['errorType']}: {payload['errorMessage']}\n"


def lambda_zip() -> bytes:
    """A tiny deployment package: moto stores it, the in-process route runs instead."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def ensure_role(name: str = "inprocess-lambda-role", *, region: str = DEFAULT_REGION) -> str:
    """An IAM role ARN for moto's Lambda and Step Functions resources."""
    iam = boto3.client("iam", region_name=region)
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]


def create_functions(
    names: Mapping[str, float] | list[str],
    *,
    role_arn: str,
    region: str = DEFAULT_REGION,
) -> dict[str, str]:
    """Create moto Lambda functions; ``names`` may map name -> timeout seconds
    (a list: 10 s each). Returns name -> function ARN."""
    timeouts = dict(names) if isinstance(names, Mapping) else dict.fromkeys(names, 10)
    client = boto3.client("lambda", region_name=region)
    package = lambda_zip()
    arns = {}
    for name, timeout in timeouts.items():
        arns[name] = client.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role_arn,
            Handler="index.handler",
            Code={"ZipFile": package},
            Timeout=int(timeout),
        )["FunctionArn"]
    return arns


def create_state_machine(
    definition: Mapping[str, Any] | str,
    *,
    name: str,
    role_arn: str,
    region: str = DEFAULT_REGION,
) -> str:
    """Create an Express state machine (moto validates the definition with its parser)."""
    body = definition if isinstance(definition, str) else json.dumps(definition)
    client = boto3.client("stepfunctions", region_name=region)
    return client.create_state_machine(
        name=name, definition=body, roleArn=role_arn, type="EXPRESS"
    )["stateMachineArn"]


@dataclass(frozen=True)
class ExecutionResult:
    status: str
    output: Any
    error: str | None
    cause: str | None
    execution_arn: str
    duration_seconds: float
    #: ``time.monotonic()`` just before StartExecution (the clock of
    #: ``Invocation.started_at``), so a test can bound when a task began.
    started_at: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def error_message(self) -> str | None:
        """``errorMessage`` of a function error (its Cause is the error payload)."""
        if self.cause is None:
            return None
        try:
            return json.loads(self.cause).get("errorMessage")
        except (ValueError, AttributeError):
            return self.cause


def run_execution(
    state_machine_arn: str,
    execution_input: Any,
    *,
    region: str = DEFAULT_REGION,
    timeout_seconds: float = 60.0,
    poll_seconds: float = 0.02,
) -> ExecutionResult:
    """Start an execution and wait for its end: moto has no
    ``StartSyncExecution``, so start with a unique name and poll
    ``DescribeExecution``. Raises ``TimeoutError`` past ``timeout_seconds``."""
    client = boto3.client("stepfunctions", region_name=region)
    started = time.monotonic()
    arn = client.start_execution(
        stateMachineArn=state_machine_arn,
        name=f"run-{uuid.uuid4()}",
        input=json.dumps(execution_input),
    )["executionArn"]
    deadline = started + timeout_seconds
    while True:
        described = client.describe_execution(executionArn=arn)
        if described["status"] in _FINAL_STATUSES:
            break
        if time.monotonic() > deadline:
            client.stop_execution(executionArn=arn, error="Harness.Timeout")
            raise TimeoutError(f"execution {arn} still RUNNING after {timeout_seconds} s")
        time.sleep(poll_seconds)
    output = described.get("output")
    return ExecutionResult(
        status=described["status"],
        output=json.loads(output) if output is not None else None,
        error=described.get("error"),
        cause=described.get("cause"),
        execution_arn=arn,
        duration_seconds=time.monotonic() - started,
        started_at=started,
    )


def execution_history(execution_arn: str, *, region: str = DEFAULT_REGION) -> list[dict]:
    """The execution's events (moto keeps them even for EXPRESS machines)."""
    client = boto3.client("stepfunctions", region_name=region)
    return client.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


@contextmanager
def _silenced(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


class LocalStepFunctions:
    """moto with ASL execution, in-process Lambda routes, functions and one
    state machine at a time.

    ::

        with LocalStepFunctions({"dispatcher": handler, ...}) as local:
            arns = local.function_arns          # build the definition from these
            local.deploy(definition)
            result = local.run({"path": "/cells", ...})

    ``start_moto=False`` reuses a moto already started by the caller (tables
    created before stay visible); otherwise a ``mock_aws`` is started, nested
    mocks keep the outer one's data. The moto functions' Timeout (what
    ``context.get_remaining_time_in_millis`` counts down from) is 10 s. The
    interpreter's own ERROR logs (an AST dump per failed state) are silenced
    while active.
    """

    def __init__(
        self,
        functions: Mapping[str, Handler],
        *,
        region: str = DEFAULT_REGION,
        start_moto: bool = True,
    ) -> None:
        self._functions = dict(functions)
        self.region = region
        self._start_moto = start_moto
        self._stack = ExitStack()
        self.function_arns: dict[str, str] = {}
        self.role_arn = ""
        self.state_machine_arn: str | None = None
        self.invocations = InvocationLog()

    def __enter__(self) -> LocalStepFunctions:
        try:
            if self._start_moto:
                self._stack.enter_context(
                    mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
                )
            self._stack.enter_context(_silenced(_INTERPRETER_LOGGER))
            self.invocations = self._stack.enter_context(inprocess_lambdas(self._functions))
            self.role_arn = ensure_role(region=self.region)
            self.function_arns = create_functions(
                list(self._functions), role_arn=self.role_arn, region=self.region
            )
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def deploy(self, definition: Mapping[str, Any] | str, *, name: str | None = None) -> str:
        self.state_machine_arn = create_state_machine(
            definition,
            name=name or f"sm-{uuid.uuid4().hex[:12]}",
            role_arn=self.role_arn,
            region=self.region,
        )
        return self.state_machine_arn

    def run(self, execution_input: Any, *, timeout_seconds: float = 60.0) -> ExecutionResult:
        if self.state_machine_arn is None:
            raise RuntimeError("deploy() a definition before run()")
        return run_execution(
            self.state_machine_arn,
            execution_input,
            region=self.region,
            timeout_seconds=timeout_seconds,
        )

    def history(self, result: ExecutionResult) -> list[dict]:
        return execution_history(result.execution_arn, region=self.region)
