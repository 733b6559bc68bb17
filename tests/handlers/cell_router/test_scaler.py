"""Scaler on moto: threshold, one request per market per episode, failures."""

from __future__ import annotations

import boto3
import pytest

from handlers.cell_router import aws_clients, dispatcher, registrar, scaler
from handlers.cell_router.errors import InvalidRequest, ProvisioningUnavailable
from tests.handlers.cell_router.support import TABLE, cell_ready, request


def placed(cell_id: str = "c1", current: int = 35, maximum: int = 50, **extra) -> dict:
    result = {
        "cellId": cell_id,
        "marketId": "europe",
        "endpoints": [],
        "ttlSeconds": 300,
        "newAssignment": True,
        "cellLoad": {"currentCapacity": current, "maxCapacity": maximum},
    }
    result.update(extra)
    return result


def test_known_user_makes_no_aws_call(lambda_context, monkeypatch) -> None:
    def forbidden(*_args, **_kwargs):
        raise AssertionError("no AWS client expected")

    aws_clients.reset()
    monkeypatch.setattr(boto3.session.Session, "client", forbidden)
    assert scaler.handler(placed(newAssignment=False), lambda_context) == {
        "provisioningRequested": False
    }


def test_below_threshold_requests_nothing(router, lambda_context) -> None:
    assert scaler.handler(placed(current=34), lambda_context) == {"provisioningRequested": False}
    assert router.marker() is None
    assert router.messages() == []


def test_crossing_sends_one_documented_message(router, lambda_context) -> None:
    assert scaler.handler(placed(current=35), lambda_context) == {"provisioningRequested": True}
    (message,) = router.messages()
    marker = router.marker()
    assert marker is not None and marker["status"]["S"] == "OPEN"
    assert message == {
        "type": "CellRequested",
        "version": 1,
        "marketId": "europe",
        "episodeId": marker["episodeId"]["S"],
        "triggeringCellId": "c1",
        "triggeringCellLoad": {"currentCapacity": 35, "maxCapacity": 50},
        "requestedAt": marker["openedAt"]["S"],
    }


def test_threshold_is_configurable(router, lambda_context, monkeypatch) -> None:
    monkeypatch.setenv("SCALE_OUT_THRESHOLD", "0.5")
    assert scaler.handler(placed(current=25), lambda_context)["provisioningRequested"] is True


def test_reads_the_cell_when_the_load_hint_is_missing(router, lambda_context) -> None:
    router.put_cell("c1", current=36)
    event = placed()
    del event["cellLoad"]
    assert scaler.handler(event, lambda_context)["provisioningRequested"] is True
    event["cellId"] = "gone"
    assert scaler.handler(event, lambda_context)["provisioningRequested"] is False


def test_one_message_per_market_per_episode(router, lambda_context) -> None:
    results = [scaler.handler(placed(f"c{i % 3}", 35 + i % 5), lambda_context) for i in range(20)]
    assert sum(r["provisioningRequested"] for r in results) == 1
    other = placed("a1")
    other["marketId"] = "asia"
    assert scaler.handler(other, lambda_context)["provisioningRequested"] is True
    messages = router.messages()
    assert sorted(m["marketId"] for m in messages) == ["asia", "europe"]

    # The new cell arrives; the episode ends; the next crossing asks again.
    europe = next(m for m in messages if m["marketId"] == "europe")
    outcome = registrar.handler(cell_ready("c9", episode_id=europe["episodeId"]), lambda_context)
    assert outcome["episodeClosed"] is True
    assert scaler.handler(placed("c1", 40), lambda_context)["provisioningRequested"] is True
    assert scaler.handler(placed("c2", 40), lambda_context)["provisioningRequested"] is False
    (again,) = router.messages()
    assert again["episodeId"] != europe["episodeId"]


def test_an_episode_open_too_long_is_taken_over(router, lambda_context, monkeypatch) -> None:
    monkeypatch.setenv("SCALE_OUT_EPISODE_TIMEOUT_SECONDS", "600")
    router.ddb.put_item(
        TableName=TABLE,
        Item={
            "marketId": {"S": "SCALE#europe"},
            "cellId": {"S": "SCALE_OUT"},
            "episodeId": {"S": "lost"},
            "status": {"S": "OPEN"},
            "openedAtEpoch": {"N": "1000"},
        },
    )
    assert scaler.handler(placed(), lambda_context)["provisioningRequested"] is True
    assert router.marker()["episodeId"]["S"] != "lost"


def test_failed_send_keeps_the_user_placed_and_releases_the_episode(
    router, lambda_context, monkeypatch
) -> None:
    router.put_cell("c1", current=34)
    good_queue = router.queue_url
    monkeypatch.setenv("PROVISIONING_QUEUE_URL", good_queue.rsplit("/", 1)[0] + "/missing")
    result = dispatcher.handler(request(), lambda_context)
    with pytest.raises(ProvisioningUnavailable):
        scaler.handler(result, lambda_context)
    assert router.marker() is None
    assert router.load("c1") == 35
    assert len(router.mappings()) == 1
    # The next sign-up past the threshold asks again, and this time it works.
    monkeypatch.setenv("PROVISIONING_QUEUE_URL", good_queue)
    second = dispatcher.handler(request("bob"), lambda_context)
    assert scaler.handler(second, lambda_context)["provisioningRequested"] is True
    assert len(router.messages()) == 1


@pytest.mark.parametrize(
    "event",
    [
        "nope",
        {},
        placed(newAssignment="yes"),
        placed(marketId="SCALE#europe"),
        placed(cellId=""),
        placed(cellLoad=[35, 50]),
        placed(cellLoad={"currentCapacity": -1, "maxCapacity": 50}),
        placed(cellLoad={"currentCapacity": True, "maxCapacity": 50}),
    ],
)
def test_bad_input_is_rejected_and_writes_nothing(router, lambda_context, event) -> None:
    before = router.snapshot()
    with pytest.raises(InvalidRequest):
        scaler.handler(event, lambda_context)
    assert router.snapshot() == before
    assert router.messages() == []


def test_release_only_removes_our_own_episode(router) -> None:
    from handlers.cell_router.store import RouterStore

    repository = RouterStore(TABLE)
    opened = repository.open_episode(
        market_id="europe",
        episode_id="mine",
        triggering_cell_id="c1",
        opened_at="2025-01-01T00:00:00Z",
        opened_at_epoch=2_000_000_000,
        stale_before_epoch=0,
    )
    assert opened is True
    repository.release_episode("europe", "someone-elses")
    assert router.marker()["episodeId"]["S"] == "mine"
    repository.release_episode("europe", "mine")
    assert router.marker() is None
