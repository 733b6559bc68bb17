"""What the handlers really emit: run them on moto and keep their EMF output.

``python -m tests.offline.emf_capture OUT.json`` runs, in a fresh process
(module-level Powertools objects read the environment once, at import):

* both drill scenarios (``drill.failover``, ``drill.cells``): every handler
  with the environment the stack declares for it, on the embedded moto
  server, through failover, failback, an operator override, both regions
  failing, a market filling up, scale-out, CellReady and the API paths;
* a few extra invocations for paths the drill does not take (a provisioning
  request that cannot be sent, a caller whose cell turned unhealthy).

Powertools writes each flush as one embedded-metric-format JSON document on
stdout -- exactly what CloudWatch Logs turns into metrics in Lambda -- and
this module parses those documents (several threads may interleave them).
OUT.json gets one record per distinct (namespace, metric, dimension names)
with the dimension values seen.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout, suppress
from pathlib import Path
from typing import Any


class _Capture(io.TextIOBase):
    """A thread-safe text sink for everything the handlers print."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


def emf_documents(text: str) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``text`` that carries an ``_aws`` EMF directive,
    even when documents printed by different threads are glued together."""
    decoder = json.JSONDecoder()
    index = 0
    while True:
        start = text.find("{", index)
        if start < 0:
            return
        try:
            document, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        index = end
        if isinstance(document, dict) and "_aws" in document:
            yield document


def metric_identities(documents: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (namespace, metric, dimension names), as CloudWatch
    extracts them: every metric of a directive under each dimension set."""
    seen: dict[tuple[str, str, tuple[str, ...]], dict[str, Any]] = {}
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            namespace = directive["Namespace"]
            for dimension_set in directive["Dimensions"]:
                names = tuple(sorted(dimension_set))
                values = {name: str(document[name]) for name in names}
                for definition in directive["Metrics"]:
                    key = (namespace, definition["Name"], names)
                    record = seen.setdefault(
                        key,
                        {
                            "namespace": namespace,
                            "metric": definition["Name"],
                            "dimensions": list(names),
                            "unit": definition.get("Unit"),
                            "values": [],
                        },
                    )
                    if values not in record["values"] and len(record["values"]) < 50:
                        record["values"].append(values)
    return sorted(seen.values(), key=lambda r: (r["namespace"], r["metric"], r["dimensions"]))


@contextmanager
def _captured(sink: _Capture) -> Iterator[None]:
    with redirect_stdout(sink):  # type: ignore[type-var]
        yield


def _put_cell(ddb: Any, table: str, stack: Any, market: str, cell_id: str, load: int) -> None:
    """A healthy cell of 10 with an endpoint in each of the stack's regions and
    no placeable-index entry (``listed=False``): the item the capture wrote."""
    from tests.handlers.cell_router.support import Router

    router = Router(ddb=ddb, sqs=None, queue_url="", table=table)
    router.put_cell(
        cell_id,
        market=market,
        current=load,
        maximum=10,
        regions=(stack.primary, stack.secondary),
        listed=False,
    )


def _extra_paths(session: Any) -> None:
    """Paths the drill does not take, driven through the real handlers."""
    from support.environment import handler_environment, one_region, scoped_environ

    stack = session.stack
    modules = ("dispatcher", "scaler", "validator", "mapper", "sweeper", "registrar")
    functions = {m: stack.function("cell_router", m) for m in modules}
    environment = one_region(handler_environment(*(f.environment for f in functions.values())))
    # A queue that does not exist: the send fails (ProvisioningFailed) and
    # the scaler raises ProvisioningUnavailable, as it would in Lambda.
    environment["PROVISIONING_QUEUE_URL"] = (
        f"{session.server.endpoint_url}/123456789012/no-such-queue"
    )
    # The stack's user-key secret, as the drill creates it.
    environment["USER_KEY_SECRET_ARN"] = session.client("secretsmanager").create_secret(
        Name="capture-user-key", SecretString="capture-user-key-0123456789"
    )["ARN"]
    ddb = session.client("dynamodb")
    table = environment["TABLE_NAME"]
    for cell_id, load in (("capture-1", 9), ("capture-2", 0)):
        _put_cell(ddb, table, stack, "capture", cell_id, load)

    def call(module: str, event: dict[str, Any]) -> Any:
        return functions[module].load()(event, functions[module].context())

    with scoped_environ(environment):
        try:
            call(
                "scaler",
                {
                    "cellId": "capture-1",
                    "marketId": "capture",
                    "newAssignment": True,
                    "cellLoad": {"currentCapacity": 9, "maxCapacity": 10},
                },
            )
        except Exception as error:  # the failure is the path under test
            if type(error).__name__ != "ProvisioningUnavailable":
                raise
        # A caller whose cell turns unhealthy asks /validate (CellUnhealthy).
        caller = {"path": "/cells", "httpMethod": "POST", "userId": "capture-user"}
        placed = call("dispatcher", {**caller, "body": {"marketId": "capture"}})
        ddb.update_item(
            TableName=table,
            Key={"marketId": {"S": "capture"}, "cellId": {"S": placed["cellId"]}},
            UpdateExpression="SET IsHealthy = :false",
            ExpressionAttributeValues={":false": {"BOOL": False}},
        )
        urls = [endpoint["url"] for endpoint in placed["endpoints"]]
        call(
            "validator",
            {
                **caller,
                "path": "/validate",
                "body": {"cellId": placed["cellId"], "cellUrl": urls[0], "cellUrl2": urls[1]},
            },
        )
        _lost_race_path(call, ddb, table, stack)
        _trust_boundary_paths(call, session.client("dynamodb"), table, placed, caller, environment)
        _failure_mode_paths(session, call, caller, placed["cellId"], table, environment)


def _lost_race_path(call: Any, ddb: Any, table: str, stack: Any) -> None:
    """AssignmentRetry: the dispatcher loses the race for a cell and places
    the caller on the next one.

    The drill's threads lose such races only when they happen to collide;
    here one injected cancellation -- the cell's condition failed, as when
    another sign-up took its last seat -- makes the first assignment
    transaction lose, every run.
    """
    from handlers.cell_router import aws_clients
    from support.faults import FaultInjector

    for cell_id in ("race-1", "race-2"):
        _put_cell(ddb, table, stack, "capture-race", cell_id, 0)
    # Item 1 of the assignment transaction is the cell (item 0 the mapping).
    injector = FaultInjector("dynamodb:TransactWriteItems=cancel:ConditionalCheckFailed:1*1")
    aws_clients.reset()
    try:
        with injector.active():
            placed = call(
                "dispatcher",
                {
                    "path": "/cells",
                    "httpMethod": "POST",
                    "userId": "capture-racer",
                    "body": {"marketId": "capture-race"},
                },
            )
    finally:
        aws_clients.reset()
    if injector.total_injected != 1 or placed.get("newAssignment") is not True:
        raise AssertionError(f"the lost race was not taken: {injector.injected}, {placed}")


def _failure_mode_paths(
    session: Any,
    call: Any,
    caller: dict[str, Any],
    cell_id: str,
    table: str,
    environment: dict[str, str],
) -> None:
    """The failure-mode metrics of #11, each through its real path."""
    from handlers.cell_router import aws_clients, budget, scaleout
    from support.environment import scoped_environ
    from support.faults import FaultInjector
    from tests.handlers.cell_router.support import SimulatedClock

    def expect(error_name: str, module: str, event: dict[str, Any]) -> None:
        try:
            call(module, event)
        except Exception as error:
            if type(error).__name__ != error_name:
                raise
        else:
            raise AssertionError(f"{module} did not raise {error_name}")

    ddb = session.client("dynamodb")
    # A caller with no cell yet (a placed one keeps their cell, whatever market).
    stranger = {**caller, "userId": "stranger"}
    # UnknownMarket: a market with no cells that the router does not know.
    expect("UnknownMarket", "dispatcher", {**stranger, "body": {"marketId": "nowhere"}})
    # DanglingMapping, then DanglingMappingRepaired: the caller's cell is deleted.
    ddb.delete_item(TableName=table, Key={"marketId": {"S": "capture"}, "cellId": {"S": cell_id}})
    expect("UserNotFound", "mapper", {**caller, "path": "/mapper", "body": {}})
    # (The market has no other placeable cell: the repaired caller is refused.)
    expect("NoCapacity", "dispatcher", {**caller, "body": {"marketId": "capture"}})
    # ScaleOutResent: the scaler's unsent request (above), one resend delay later.
    sqs = session.client("sqs")
    queue = sqs.create_queue(QueueName="capture-provisioning")["QueueUrl"]
    real_clock = scaleout.wall_clock
    scaleout.wall_clock = lambda: real_clock() + 3600
    try:
        with scoped_environ({"PROVISIONING_QUEUE_URL": queue}):
            call("sweeper", {})
    finally:
        scaleout.wall_clock = real_clock

    # ServiceUnavailable: DynamoDB throttles every read until the deadline
    # (simulated time, so the backoff costs nothing).
    real_budget_clock = budget.CLOCK
    budget.CLOCK = SimulatedClock()  # type: ignore[assignment]
    aws_clients.reset()
    try:
        with FaultInjector("dynamodb:GetItem=ThrottlingException").active():
            expect("ServiceUnavailable", "dispatcher", {**stranger, "body": {}})
    finally:
        budget.CLOCK = real_budget_clock
        aws_clients.reset()
    # UnexpectedError: a setting the function cannot use.
    with scoped_environ({"CAPACITY_BUFFER": "lots"}):
        expect("ConfigurationError", "dispatcher", {**stranger, "body": {}})


def _trust_boundary_paths(
    call: Any, ddb: Any, table: str, placed: dict[str, Any], caller: dict[str, Any], env: Any
) -> None:
    """Issue #10's paths: endpoints the probe refuses or cannot reach, a
    replayed CellReady, a market at its cell cap, the sign-up gate."""
    from handlers.cell_router import events, sign_up_gate
    from support.cell_network import simulated_cells
    from support.environment import scoped_environ
    from support.sfn import FakeLambdaContext

    # The caller's cell healthy again, with one endpoint the fetch policy
    # refuses (loopback) and one no resolver knows (down).
    ddb.update_item(
        TableName=table,
        Key={"marketId": {"S": "capture"}, "cellId": {"S": placed["cellId"]}},
        UpdateExpression="SET IsHealthy = :true, endPoint_1 = :refused, endPoint_2 = :down",
        ExpressionAttributeValues={
            ":true": {"BOOL": True},
            ":refused": {"S": "http://127.0.0.1:9/health"},
            ":down": {"S": "https://nowhere.cells.test/health"},
        },
    )
    with simulated_cells(), scoped_environ({"VALIDATOR_DEEP_CHECK": "true"}):
        body = {
            "cellId": placed["cellId"],
            "cellUrl": "http://127.0.0.1:9/health",
            "cellUrl2": "https://nowhere.cells.test/health",
        }
        call("validator", {**caller, "path": "/validate", "body": body})

    def ready(cell_id: str) -> dict[str, Any]:
        detail = events.cell_ready_detail(
            market_id="capture",
            cell_id=cell_id,
            max_capacity=10,
            endpoints=[
                {"url": f"https://{cell_id}-a.example.com", "region": "us-east-1"},
                {"url": f"https://{cell_id}-b.example.com", "region": "us-west-2"},
            ],
            router_id=env.get("CELL_READY_ROUTER_ID"),
        )
        return {"source": events.CELL_READY_SOURCE, "detail-type": "CellReady", "detail": detail}

    call("registrar", ready("capture-1"))  # exists: a replay changes nothing
    with scoped_environ({"MAX_CELLS_PER_MARKET": "2"}):
        try:
            call("registrar", ready("capture-3"))  # a third cell past the cap
        except Exception as error:  # the refusal is the path under test
            if type(error).__name__ != "CellLimitReached":
                raise

    context = FakeLambdaContext(function_name="sign-up-gate")
    with scoped_environ({"SIGN_UP_ALLOWED_DOMAINS": '["example.com"]'}):
        for email in ("ada@example.com", "bot@elsewhere.test"):
            event = {
                "triggerSource": "PreSignUp_SignUp",
                "request": {"userAttributes": {"email": email}},
                "response": {},
            }
            with suppress(sign_up_gate.SignUpRefused):
                sign_up_gate.handler(event, context)


def capture(stack: str | None = None) -> list[dict[str, Any]]:
    from drill import cells, failover
    from drill.report import Report
    from drill.session import DrillSession

    sink = _Capture()
    report = Report(io.StringIO())
    with DrillSession.open(stack, report=report) as session, _captured(sink):
        failover.run(session, report=report)
        cells.run(session, users=60, cells=3, capacity=20, threads=8, report=report)
        _extra_paths(session)
    return metric_identities(emf_documents(sink.text()))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.offline.emf_capture OUT.json", file=sys.stderr)
        return 2
    records = capture()
    Path(argv[0]).write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
