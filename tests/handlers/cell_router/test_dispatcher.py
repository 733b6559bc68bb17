"""Dispatcher (/cells) on moto: contract, placement rules, idempotency."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from handlers.cell_router import aws_clients, budget, dispatcher, store
from handlers.cell_router.errors import InvalidRequest, NoCapacity
from handlers.cell_router.model import Cell
from support.faults import FaultInjector
from tests.handlers.cell_router.support import TABLE, request, user_key


def test_new_user_gets_the_contract_shape(router, lambda_context) -> None:
    router.put_cell("c1", urls=("https://one.example.com", "https://two.example.com"))
    result = dispatcher.handler(request(), lambda_context)
    assert result == {
        "cellId": "c1",
        "marketId": "europe",
        "endpoints": [
            {"url": "https://one.example.com", "region": "eu-west-1"},
            {"url": "https://two.example.com", "region": "eu-central-1"},
        ],
        "ttlSeconds": 300,
        "newAssignment": True,
        "cellLoad": {"currentCapacity": 1, "maxCapacity": 50},
    }
    assert router.load("c1") == 1
    (mapping,) = router.mappings()
    assert mapping["marketId"]["S"] == "USER#" + user_key("ada")
    assert mapping["assignedCellId"]["S"] == "c1"
    assert mapping["assignedMarketId"]["S"] == "europe"
    assert "currentCapacity" not in mapping
    assert "ada" not in router.snapshot().lower()


def test_ttl_and_default_market_come_from_the_environment(
    router, lambda_context, monkeypatch
) -> None:
    monkeypatch.setenv("ENDPOINT_TTL_SECONDS", "45")
    monkeypatch.setenv("DEFAULT_MARKET", "asia")
    router.put_cell("e1")
    router.put_cell("a1", market="asia")
    result = dispatcher.handler(request(), lambda_context)
    assert (result["marketId"], result["cellId"], result["ttlSeconds"]) == ("asia", "a1", 45)


def test_market_from_the_body(router, lambda_context) -> None:
    router.put_cell("e1")
    router.put_cell("u1", market="us-east")
    result = dispatcher.handler(request(body={"marketId": "us-east"}), lambda_context)
    assert (result["marketId"], result["cellId"]) == ("us-east", "u1")
    assert router.load("e1") == 0


def test_repeated_sign_up_returns_the_same_cell_and_counts_once(router, lambda_context) -> None:
    for i in range(3):
        router.put_cell(f"c{i}")
    first = dispatcher.handler(request("ada"), lambda_context)
    before = router.snapshot()
    for _ in range(3):
        again = dispatcher.handler(request("ada", {"marketId": "asia"}), lambda_context)
        assert again["newAssignment"] is False
        assert (again["cellId"], again["marketId"]) == (first["cellId"], "europe")
        assert again["endpoints"] == first["endpoints"]
    assert router.snapshot() == before
    assert sum(router.load(f"c{i}") for i in range(3)) == 1


def test_identity_in_the_body_is_ignored(router, lambda_context) -> None:
    router.put_cell("c1")
    dispatcher.handler(request("ada"), lambda_context)
    result = dispatcher.handler(request("bob", {"userId": "ada"}), lambda_context)
    assert result["newAssignment"] is True
    assert len(router.mappings()) == 2


def test_clearly_least_loaded_cell_is_chosen(router, lambda_context) -> None:
    router.put_cell("busy", current=30)
    router.put_cell("mid", current=20)
    router.put_cell("fresh", current=3)
    for i in range(5):
        result = dispatcher.handler(request(f"u{i}"), lambda_context)
        assert result["cellId"] == "fresh"
    assert (router.load("busy"), router.load("mid"), router.load("fresh")) == (30, 20, 8)


def test_unhealthy_inactive_and_foreign_cells_are_never_chosen(router, lambda_context) -> None:
    router.put_cell("sick", healthy=False)
    router.put_cell("draining", status="DRAINING")
    router.put_cell("disabled", status="DISABLED")
    router.put_cell("elsewhere", market="asia")
    router.put_cell("ok", current=38, status="ACTIVE")
    untouched = {c: router.cell(c) for c in ("sick", "draining", "disabled")}
    untouched["elsewhere"] = router.cell("elsewhere", "asia")
    placed = [dispatcher.handler(request(f"u{i}"), lambda_context) for i in range(2)]
    assert {p["cellId"] for p in placed} == {"ok"}
    with pytest.raises(NoCapacity):
        dispatcher.handler(request("late"), lambda_context)
    assert router.load("ok") == 40
    assert {c: router.cell(c) for c in ("sick", "draining", "disabled")} == {
        c: untouched[c] for c in ("sick", "draining", "disabled")
    }
    assert router.cell("elsewhere", "asia") == untouched["elsewhere"]


def _without_scale_out(items: list[dict]) -> list[dict]:
    """Items other than the scale-out episode and the known-market item,
    which a refused sign-up writes when it asks for capacity (#11)."""
    return [i for i in items if not i["marketId"]["S"].startswith(("SCALE#", "MARKET#"))]


def test_buffer_caps_a_cell_at_forty_of_fifty(router, lambda_context) -> None:
    router.put_cell("c1")
    for i in range(40):
        dispatcher.handler(request(f"u{i}"), lambda_context)
    before = _without_scale_out(router.items())
    with pytest.raises(NoCapacity):
        dispatcher.handler(request("u40"), lambda_context)
    assert _without_scale_out(router.items()) == before
    assert router.load("c1") == 40


def test_buffer_is_configurable(router, lambda_context, monkeypatch) -> None:
    monkeypatch.setenv("CAPACITY_BUFFER", "0")
    router.put_cell("c1", current=49)
    dispatcher.handler(request(), lambda_context)
    with pytest.raises(NoCapacity):
        dispatcher.handler(request("bob"), lambda_context)
    assert router.load("c1") == 50


def test_no_cells_means_no_capacity_and_no_user_write(router, lambda_context) -> None:
    """The default market with no cells refuses, and (#11) asks for a cell."""
    router.put_cell("elsewhere", market="asia")
    before = _without_scale_out(router.items())
    with pytest.raises(NoCapacity):
        dispatcher.handler(request(), lambda_context)
    assert _without_scale_out(router.items()) == before
    (message,) = router.messages()
    assert (message["marketId"], message["reason"]) == ("europe", "no-capacity")


def test_a_full_page_of_unplaceable_cells_is_paged_past(router, lambda_context) -> None:
    for i in range(store.QUERY_PAGE_SIZE + 2):
        router.put_cell(f"sick{i:02}", healthy=False)
    router.put_cell("ok", current=20)
    assert dispatcher.handler(request(), lambda_context)["cellId"] == "ok"


@pytest.mark.parametrize(
    "event",
    [
        request(user_id=None),
        request(user_id=""),
        request(user_id="  "),
        request(user_id="a" * 129),
        request(user_id="ada@example.com"),
        request(user_id="ada bob"),
        request(user_id="USER#ada"),
        request(user_id="\u212aate"),
        request(user_id=["ada"]),
        {**request(), "body": "marketId=europe"},
        {**request(), "body": ["europe"]},
        request(body={"marketId": ""}),
        request(body={"marketId": None}),
        request(body={"marketId": "x" * 65}),
        request(body={"marketId": "europe; DROP"}),
        request(body={"marketId": "USER#abc"}),
        request(body={"marketId": 42}),
        "not-an-object",
    ],
)
def test_bad_input_is_rejected_and_writes_nothing(router, lambda_context, event) -> None:
    router.put_cell("c1")
    before = router.snapshot()
    with pytest.raises(InvalidRequest):
        dispatcher.handler(event, lambda_context)
    assert router.snapshot() == before


def test_lost_race_for_a_cell_moves_to_the_next_candidate(
    router, lambda_context, monkeypatch
) -> None:
    """The index is eventually consistent: a cell it shows as empty may be
    full. The transaction's condition must refuse it."""
    router.put_cell("stale", current=40)
    router.put_cell("next", current=5)
    stale_view = [
        Cell("europe", "stale", 0, 50, True),
        Cell("europe", "next", 5, 50, True),
    ]
    monkeypatch.setattr(store.RouterStore, "least_loaded_cells", lambda *_: stale_view)
    result = dispatcher.handler(request(), lambda_context)
    assert result["cellId"] == "next"
    assert (router.load("stale"), router.load("next")) == (40, 6)


def test_resized_cell_is_refused_until_reread(router, lambda_context, monkeypatch) -> None:
    router.put_cell("shrunk", current=45, maximum=50)
    seen_as_bigger = [Cell("europe", "shrunk", 45, 100, True)]
    monkeypatch.setattr(store.RouterStore, "least_loaded_cells", lambda *_: seen_as_bigger)
    before = _without_scale_out(router.items())
    with pytest.raises(NoCapacity):
        dispatcher.handler(request(), lambda_context)
    assert _without_scale_out(router.items()) == before


def test_concurrent_sign_up_of_the_same_user_returns_the_winner(
    router, lambda_context, monkeypatch
) -> None:
    """Both requests missed the mapping; the second's transaction must fail
    on the mapping and return the first's cell without counting twice."""
    router.put_cell("c1")
    router.put_cell("c2", current=10)
    first = dispatcher.handler(request(), lambda_context)
    assert first["cellId"] == "c1"
    monkeypatch.setattr(store.RouterStore, "get_mapping", lambda *_: None)
    monkeypatch.setattr(
        store.RouterStore,
        "least_loaded_cells",
        lambda *_: [Cell("europe", "c2", 10, 50, True)],
    )
    before = router.snapshot()
    again = dispatcher.handler(request(), lambda_context)
    assert (again["cellId"], again["newAssignment"]) == ("c1", False)
    assert router.snapshot() == before


def test_mapping_to_a_deleted_cell_is_repaired(router, lambda_context) -> None:
    """#11: a user whose cell item was deleted used to get CellUnavailable
    "retry later" forever; the dangling mapping is replaced by a new one."""
    router.put_cell("c1")
    dispatcher.handler(request(), lambda_context)
    router.ddb.delete_item(
        TableName=TABLE, Key={"marketId": {"S": "europe"}, "cellId": {"S": "c1"}}
    )
    router.put_cell("c2")
    again = dispatcher.handler(request(), lambda_context)
    assert (again["cellId"], again["newAssignment"]) == ("c2", True)
    (mapping,) = router.mappings()
    assert mapping["assignedCellId"]["S"] == "c2"
    assert router.load("c2") == 1


def test_moto_reports_cancellation_reasons_with_the_old_item(router) -> None:
    """The dispatcher's race handling depends on this moto behaviour (and
    DynamoDB's): one reason per item, in order, with ALL_OLD on failure."""
    router.put_cell("c1", current=40)
    client = boto3.client("dynamodb")
    put = {
        "TableName": TABLE,
        "Item": {"marketId": {"S": "USER#x"}, "cellId": {"S": "MAPPING"}},
        "ConditionExpression": "attribute_not_exists(marketId)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    update = {
        "TableName": TABLE,
        "Key": {"marketId": {"S": "europe"}, "cellId": {"S": "c1"}},
        "UpdateExpression": "ADD currentCapacity :one",
        "ConditionExpression": "currentCapacity < :limit",
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": "40"}},
    }
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=[{"Put": put}, {"Update": update}])
    reasons = caught.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    client.put_item(TableName=TABLE, Item=put["Item"])
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=[{"Put": put}, {"Update": update}])
    reasons = caught.value.response["CancellationReasons"]
    assert reasons[0]["Code"] == "ConditionalCheckFailed"
    assert reasons[0]["Item"]["marketId"] == {"S": "USER#x"}


def _cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


def test_cancellation_reasons_are_read_per_item() -> None:
    outcome = store.AssignOutcome
    cell = Cell("europe", "c1", 0, 50, True)
    assert store._cancelled(_cancelled("None", "ConditionalCheckFailed"), cell, 40).outcome is (
        outcome.CELL_REJECTED
    )
    result = store._cancelled(
        _cancelled("ConditionalCheckFailed", "ConditionalCheckFailed"), cell, 40
    )
    assert (result.outcome, result.mapping) == (outcome.ALREADY_MAPPED, None)
    # Lost races and throttling are not answers: budget.retrying retries them
    # (with backoff, inside the deadline) and they never reach _cancelled.
    for reasons in (("None", "TransactionConflict"), ("TransactionConflict", "None")):
        assert budget.is_retryable(_cancelled(*reasons))
    assert budget.is_retryable(_cancelled("None", "ThrottlingError"))
    assert not budget.is_retryable(_cancelled("TransactionConflict", "ConditionalCheckFailed"))


def test_mapping_conflict_is_retried_and_returns_the_winner(
    router, lambda_context, monkeypatch
) -> None:
    """DynamoDB reports TransactionConflict when a same-user transaction is
    in flight; the transaction is retried after a backoff, fails on the
    winner's mapping and returns it."""
    router.put_cell("c1")
    router.put_cell("c2", current=10)
    dispatcher.handler(request(), lambda_context)
    monkeypatch.setattr(store.RouterStore, "get_mapping", lambda *_: None)
    injector = FaultInjector("dynamodb:TransactWriteItems=cancel:TransactionConflict:0*1")
    before = router.snapshot()
    with injector.active():
        aws_clients.reset()
        result = dispatcher.handler(request(), lambda_context)
    assert (result["cellId"], result["newAssignment"]) == ("c1", False)
    assert injector.total_injected == 1
    assert router.snapshot() == before
