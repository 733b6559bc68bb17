"""The real cell-router handlers, run through the Orchestrator definition on
moto's Step Functions interpreter: every path and every error mapping, from
the state machine's input to its output or error name.

The table comes from the shared schema, the handlers read the same
environment the component sets, and each Lambda task calls the real
``handler(event, context)`` in-process (``support.sfn``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from components.orchestrator_asl import (
    DISPATCHER_RESPONSE_FIELDS,
    FUNCTION_ERRORS,
    build_orchestrator_definition,
)
from handlers.cell_router import (
    aws_clients,
    budget,
    dispatcher,
    errors,
    identity,
    mapper,
    scaler,
    validator,
)
from support.cell_network import simulated_cells
from support.faults import FaultInjector
from support.sfn import ExecutionResult, LocalStepFunctions
from tests.handlers.cell_router.support import Router, SimulatedClock, build_router, request

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")

TABLE = "tbl_router_e2e"
QUEUE = "CellProvisioning-e2e"
ROUTER_ENV = (
    "DEFAULT_MARKET",
    "CAPACITY_BUFFER",
    "SCALE_OUT_THRESHOLD",
    "ENDPOINT_TTL_SECONDS",
    "VALIDATOR_DEEP_CHECK",
    "VALIDATOR_TIMEOUT_SECONDS",
    "SCALE_OUT_EPISODE_TIMEOUT_SECONDS",
)


@dataclass
class CellRouter(Router):
    """The router test table and queue, plus the Orchestrator to call."""

    local: LocalStepFunctions | None = None

    def put_cell(self, cell_id: str, *, maximum: int = 10, **kwargs: Any) -> tuple[str, str]:
        return super().put_cell(cell_id, maximum=maximum, **kwargs)

    def call(self, path: str, user_id: Any = "ada", body: Any = None) -> ExecutionResult:
        assert self.local is not None
        return self.local.run(request(user_id, body, path))


@contextmanager
def _orchestrator(handlers: dict[str, Any]) -> Iterator[LocalStepFunctions]:
    """The Orchestrator deployed on the active moto, its tasks routed to ``handlers``."""
    with LocalStepFunctions(handlers, start_moto=False) as local:
        arns = local.function_arns
        local.deploy(
            build_orchestrator_definition(
                dispatcher_arn=arns["dispatcher"],
                scaler_arn=arns["scaler"],
                mapper_arn=arns["mapper"],
                validator_arn=arns["validator"],
            )
        )
        yield local


@pytest.fixture
def cell_router(monkeypatch: pytest.MonkeyPatch) -> Iterator[CellRouter]:
    for name in ROUTER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VALIDATOR_DEEP_CHECK", "false")
    aws_clients.reset()
    identity.reset()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        router = build_router(TABLE, QUEUE)
        monkeypatch.setenv("TABLE_NAME", TABLE)
        monkeypatch.setenv("PROVISIONING_QUEUE_URL", router.queue_url)
        monkeypatch.setenv("USER_KEY_SECRET_ARN", router.secret_arn)
        handlers = {
            "dispatcher": dispatcher.handler,
            "scaler": scaler.handler,
            "mapper": mapper.handler,
            "validator": validator.handler,
        }
        with _orchestrator(handlers) as local:
            yield CellRouter(**vars(router), local=local)
    aws_clients.reset()
    identity.reset()


def _succeeded(result: ExecutionResult) -> Any:
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output


def _outcome(result: ExecutionResult) -> tuple[str, str | None]:
    """How an execution ended: ("FAILED", <error name>) for a failure."""
    return result.status, result.error


# --------------------------------------------------------------------------
# /cells
# --------------------------------------------------------------------------


def test_new_user_gets_the_least_loaded_cell_and_only_contract_fields(
    cell_router: CellRouter,
) -> None:
    cell_router.put_cell("cell-busy", current=5)
    urls = cell_router.put_cell("cell-quiet", current=1)

    output = _succeeded(cell_router.call("/cells", body={"marketId": "europe"}))

    assert set(output) == set(DISPATCHER_RESPONSE_FIELDS)  # cellLoad stripped
    assert output["cellId"] == "cell-quiet"
    assert output["marketId"] == "europe"
    assert output["newAssignment"] is True
    assert [e["url"] for e in output["endpoints"]] == list(urls)  # endPoint_1 first
    assert isinstance(output["ttlSeconds"], int)
    assert cell_router.load("cell-quiet") == 2
    # The scaler saw the full dispatcher result, cellLoad included.
    (scaler_call,) = cell_router.local.invocations.of("scaler")
    assert scaler_call.event["cellLoad"] == {"currentCapacity": 2, "maxCapacity": 10}


def test_repeated_sign_up_returns_the_same_cell_without_counting_twice(
    cell_router: CellRouter,
) -> None:
    cell_router.put_cell("cell-1")
    cell_router.put_cell("cell-2")

    first = _succeeded(cell_router.call("/cells"))
    second = _succeeded(cell_router.call("/cells"))

    assert second["cellId"] == first["cellId"]
    assert (first["newAssignment"], second["newAssignment"]) == (True, False)
    assert cell_router.load("cell-1") + cell_router.load("cell-2") == 1


def test_market_defaults_to_europe(cell_router: CellRouter) -> None:
    cell_router.put_cell("eu-1")
    cell_router.put_cell("us-1", market="americas")

    assert _succeeded(cell_router.call("/cells"))["cellId"] == "eu-1"
    other = _succeeded(cell_router.call("/cells", "bob", {"marketId": "americas"}))
    assert other["cellId"] == "us-1"


def test_crossing_the_threshold_requests_a_cell_once(cell_router: CellRouter) -> None:
    cell_router.put_cell("cell-1", current=6, maximum=10)  # 7th user reaches 70 %

    _succeeded(cell_router.call("/cells", "u1"))
    _succeeded(cell_router.call("/cells", "u2"))

    messages = cell_router.messages()
    assert len(messages) == 1
    assert "europe" in json.dumps(messages[0])


def test_a_scaler_failure_does_not_fail_the_sign_up(
    cell_router: CellRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    cell_router.put_cell("cell-1", current=6, maximum=10)
    missing_queue = cell_router.queue_url.rsplit("/", 1)[0] + "/no-such-queue"
    monkeypatch.setenv("PROVISIONING_QUEUE_URL", missing_queue)

    output = _succeeded(cell_router.call("/cells"))

    assert output["cellId"] == "cell-1"
    assert output["newAssignment"] is True
    (scaler_call,) = cell_router.local.invocations.of("scaler")
    assert scaler_call.error_type == "ProvisioningUnavailable"
    assert cell_router.load("cell-1") == 7


def test_no_placeable_cell_is_no_capacity(cell_router: CellRouter) -> None:
    cell_router.put_cell("full", current=8, maximum=10)  # assignable limit is 8
    cell_router.put_cell("sick", healthy=False)
    before = cell_router.snapshot()

    result = cell_router.call("/cells")
    assert _outcome(result) == ("FAILED", "NoCapacity"), result.cause
    message = result.error_message or ""

    assert "europe" in message
    # #11: nothing of the user or the cells changes, but the refusal asks
    # for capacity (episode + known-market item + one message).
    assert cell_router.mappings() == []
    assert (cell_router.load("full"), cell_router.load("sick")) == (8, 0)
    assert len(before) < len(cell_router.snapshot())
    (request_message,) = cell_router.messages()
    assert request_message["reason"] == "no-capacity"
    assert cell_router.local.invocations.count("scaler") == 0


def test_the_default_market_without_cells_is_no_capacity(cell_router: CellRouter) -> None:
    cell_router.put_cell("asia-1", market="asia")
    result = cell_router.call("/cells")
    assert _outcome(result) == ("FAILED", "NoCapacity"), result.cause


def test_an_unknown_market_is_unknown_market(cell_router: CellRouter) -> None:
    """#11: an unknown or miscased market used to be NoCapacity "retry later"."""
    cell_router.put_cell("eu-1")
    before = cell_router.snapshot()
    result = cell_router.call("/cells", body={"marketId": "mars"})
    assert _outcome(result) == ("FAILED", "UnknownMarket"), result.cause
    result = cell_router.call("/cells", body={"marketId": "Europe"})
    assert _outcome(result) == ("FAILED", "UnknownMarket"), result.cause
    assert "did you mean 'europe'" in (result.error_message or "")
    assert cell_router.snapshot() == before
    assert cell_router.messages() == []


def test_aws_throttling_past_the_deadline_is_service_unavailable(
    cell_router: CellRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#11: a throttled GetItem used to fail the execution with an unnamed
    error (a 500). It is retried with backoff until the function's deadline,
    then named ServiceUnavailable (503 with a retry hint)."""
    clock = SimulatedClock()
    monkeypatch.setattr(budget, "CLOCK", clock)
    cell_router.put_cell("cell-1")
    injector = FaultInjector("dynamodb:GetItem=ThrottlingException")
    with injector.active():
        aws_clients.reset()
        result = cell_router.call("/cells")
    aws_clients.reset()
    assert _outcome(result) == ("FAILED", "ServiceUnavailable"), result.cause
    assert "retry in 1 s" in (result.error_message or "")
    assert injector.total_injected > 3  # retried, not given up at once
    assert clock.now() <= 10.0  # the in-process functions have 10 s: never past them


# --------------------------------------------------------------------------
# /mapper
# --------------------------------------------------------------------------


def test_mapper_returns_the_callers_cell(cell_router: CellRouter) -> None:
    cell_router.put_cell("cell-1")
    assigned = _succeeded(cell_router.call("/cells"))

    output = _succeeded(cell_router.call("/mapper"))

    assert output["cellId"] == assigned["cellId"]
    assert output["endpoints"] == assigned["endpoints"]
    assert output["newAssignment"] is False
    assert "cellLoad" not in output


def test_mapper_for_an_unknown_user_is_user_not_found(cell_router: CellRouter) -> None:
    cell_router.put_cell("cell-1")
    _succeeded(cell_router.call("/cells", "ada"))

    result = cell_router.call("/mapper", "eve")
    assert _outcome(result) == ("FAILED", "UserNotFound"), result.cause


def test_a_mapping_to_a_vanished_cell_says_what_to_do_and_is_repaired(
    cell_router: CellRouter,
) -> None:
    """#11: it used to be CellUnavailable "retry later" forever."""
    cell_router.put_cell("cell-1")
    _succeeded(cell_router.call("/cells"))
    cell_router.ddb.delete_item(
        TableName=TABLE, Key={"marketId": {"S": "europe"}, "cellId": {"S": "cell-1"}}
    )
    cell_router.put_cell("cell-2")

    result = cell_router.call("/mapper")
    assert _outcome(result) == ("FAILED", "UserNotFound")
    assert "sign up again through /cells" in (result.error_message or "")
    repaired = _succeeded(cell_router.call("/cells"))
    assert (repaired["cellId"], repaired["newAssignment"]) == ("cell-2", True)
    assert _succeeded(cell_router.call("/mapper"))["cellId"] == "cell-2"


def test_every_error_name_the_definition_documents_is_a_handler_exception() -> None:
    for name in FUNCTION_ERRORS:
        assert issubclass(getattr(errors, name), errors.CellRouterError), name


# --------------------------------------------------------------------------
# /validate
# --------------------------------------------------------------------------


def test_validate_accepts_current_endpoints_and_flags_stale_ones(
    cell_router: CellRouter,
) -> None:
    urls = cell_router.put_cell("cell-1")
    _succeeded(cell_router.call("/cells"))

    current = _succeeded(
        cell_router.call(
            "/validate", body={"cellId": "cell-1", "cellUrl": urls[0], "cellUrl2": urls[1]}
        )
    )
    stale = _succeeded(
        cell_router.call(
            "/validate",
            body={"cellId": "cell-1", "cellUrl": "https://old.example.com", "cellUrl2": urls[1]},
        )
    )

    assert (current["valid"], current["healthy"], current["remediation"]) == (True, True, None)
    assert current["cellId"] == "cell-1"
    assert [e["url"] for e in current["endpoints"]] == list(urls)
    assert stale["valid"] is False
    assert stale["remediation"] is not None


def test_validate_deep_check_probes_the_cells_endpoints(
    cell_router: CellRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HTTPS cells on 127.0.0.1 behind the probe's simulated network: the
    # probe refuses loopback URLs themselves (issue #10).
    with simulated_cells() as cells:
        urls = cell_router.put_cell(
            "cell-1", urls=(cells.url("cell-1-a", "cell-1/a"), cells.url("cell-1-b", "cell-1/b"))
        )
        _succeeded(cell_router.call("/cells"))
        monkeypatch.setenv("VALIDATOR_DEEP_CHECK", "true")
        body = {"cellId": "cell-1", "cellUrl": urls[0], "cellUrl2": urls[1]}

        up = _succeeded(cell_router.call("/validate", body=body))
        cells.server.impaired.add("cell-1")  # the cell now answers 503
        down = _succeeded(cell_router.call("/validate", body=body))

    assert (up["valid"], up["healthy"]) == (True, True)
    assert (down["valid"], down["healthy"]) == (True, False)
    assert down["remediation"] is not None


def test_validate_for_an_unknown_user_is_user_not_found(cell_router: CellRouter) -> None:
    cell_router.put_cell("cell-1")
    body = {
        "cellId": "cell-1",
        "cellUrl": "https://cell-1-a.example.com",
        "cellUrl2": "https://cell-1-b.example.com",
    }
    result = cell_router.call("/validate", "nobody", body)
    assert _outcome(result) == ("FAILED", "UserNotFound"), result.cause


# --------------------------------------------------------------------------
# Bad input: InvalidRequest, and nothing written
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "user_id", "body"),
    [
        ("/cells", None, {}),
        ("/cells", "", {}),
        ("/cells", "   ", {}),
        ("/cells", "a" * 129, {}),
        ("/cells", "ada@example.com", {}),
        ("/cells", "ada", ["not", "an", "object"]),
        ("/cells", "ada", {"marketId": "eu rope"}),
        ("/cells", "ada", {"marketId": "x" * 65}),
        ("/cells", "ada", {"marketId": None}),
        ("/mapper", "", {}),
        ("/validate", "ada", {"cellId": "cell-1", "cellUrl": "https://a.example"}),
        (
            "/validate",
            "ada",
            {"cellId": "cell 1", "cellUrl": "https://a.example", "cellUrl2": "https://b.example"},
        ),
        (
            "/validate",
            "ada",
            {"cellId": "cell-1", "cellUrl": "ftp://a.example", "cellUrl2": "https://b.example"},
        ),
        ("/nowhere", "ada", {}),
    ],
    ids=[
        "no-user-id",
        "empty-user-id",
        "blank-user-id",
        "long-user-id",
        "address-as-user-id",
        "body-not-object",
        "market-space",
        "market-too-long",
        "market-null",
        "mapper-empty-user-id",
        "validate-missing-url",
        "validate-bad-cell-id",
        "validate-bad-scheme",
        "unknown-path",
    ],
)
def test_bad_input_is_invalid_request_and_writes_nothing(
    cell_router: CellRouter, path: str, user_id: Any, body: Any
) -> None:
    cell_router.put_cell("cell-1")
    before = cell_router.snapshot()

    result = cell_router.call(path, user_id, body)
    assert _outcome(result) == ("FAILED", "InvalidRequest"), result.cause
    message = result.error_message or ""

    assert message
    assert cell_router.snapshot() == before
    assert cell_router.local.invocations.count("scaler") == 0


def test_wrong_region_keeps_its_name_through_the_state_machine_and_is_421() -> None:
    """#11 defines WrongRegion (the two-region work raises it later): the
    Orchestrator must neither retry nor rename it, and the API answers 421
    with the handler's message (which names the region and router URL)."""
    from components.api_templates import ERROR_STATUS

    def wrong_region(event: Any, context: Any) -> Any:
        raise errors.WrongRegion(
            "market europe is written in eu-central-1: call https://router.eu-central-1.example",
            region="eu-central-1",
            router_url="https://router.eu-central-1.example",
        )

    def unused(event: Any, context: Any) -> Any:
        raise AssertionError("not on this path")

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        handlers = {"dispatcher": wrong_region, "scaler": unused, "mapper": unused,
                    "validator": unused}  # fmt: skip
        with _orchestrator(handlers) as local:
            result = local.run(request())
            assert _outcome(result) == ("FAILED", "WrongRegion"), result.cause
            assert "eu-central-1" in (result.error_message or "")
            assert local.invocations.count("dispatcher") == 1
    assert ERROR_STATUS["WrongRegion"] == 421
