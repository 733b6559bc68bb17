"""Scaler on moto: threshold, one request per market per episode, failures."""

from __future__ import annotations

import boto3
import pytest

from handlers.cell_router import aws_clients, dispatcher, registrar, scaleout, scaler
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


def test_crossing_sends_one_documented_message(router, lambda_context, monkeypatch) -> None:
    # Opening the episode and sending its message each read the wall clock;
    # a frozen clock keeps the two reads in the same second, so the
    # message's requestedAt is comparable with the marker's openedAt.
    monkeypatch.setattr(scaleout, "wall_clock", lambda: 1_767_225_600.0)
    assert scaler.handler(placed(current=35), lambda_context) == {"provisioningRequested": True}
    (message,) = router.messages()
    marker = router.marker()
    assert marker is not None and marker["status"]["S"] == "OPEN"
    assert message == {
        "type": "CellRequested",
        "version": 1,
        "marketId": "europe",
        "episodeId": marker["episodeId"]["S"],
        "reason": "threshold",
        "triggeringCellId": "c1",
        "triggeringCellLoad": {"currentCapacity": 35, "maxCapacity": 50},
        "requestedAt": "2026-01-01T00:00:00Z",
    }
    assert marker["openedAt"]["S"] == "2026-01-01T00:00:00Z"
    assert marker["sent"] == {"BOOL": True}


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


def test_an_episode_open_too_long_is_resent_with_its_own_id(
    router, lambda_context, monkeypatch
) -> None:
    """#11 changes the takeover: a sent episode whose cell never came is
    resent with the same episodeId (the provisioning layer deduplicates)."""
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
    (message,) = router.messages()
    assert message["episodeId"] == "lost"
    assert router.marker()["episodeId"]["S"] == "lost"
    # Resent just now: the next crossing is deduplicated again.
    assert scaler.handler(placed(), lambda_context)["provisioningRequested"] is False
    assert router.messages() == []


def test_failed_send_keeps_the_user_placed_and_the_episode_due(
    router, lambda_context, monkeypatch
) -> None:
    """#11: the episode is no longer released (a release that also failed
    left it OPEN for two hours with nothing sent); it stays open and unsent,
    and the first crossing after the resend delay sends it, same id."""
    clock = [2_000_000_000.0]
    monkeypatch.setattr(scaleout, "wall_clock", lambda: clock[0])
    router.put_cell("c1", current=34)
    good_queue = router.queue_url
    monkeypatch.setenv("PROVISIONING_QUEUE_URL", good_queue.rsplit("/", 1)[0] + "/missing")
    result = dispatcher.handler(request(), lambda_context)
    with pytest.raises(ProvisioningUnavailable):
        scaler.handler(result, lambda_context)
    marker = router.marker()
    assert (marker["status"]["S"], marker["sent"]["BOOL"]) == ("OPEN", False)
    assert router.load("c1") == 35
    assert len(router.mappings()) == 1
    monkeypatch.setenv("PROVISIONING_QUEUE_URL", good_queue)
    # Within the resend delay the episode's first sender may still be at it.
    clock[0] += 30
    second = dispatcher.handler(request("bob"), lambda_context)
    assert scaler.handler(second, lambda_context)["provisioningRequested"] is False
    clock[0] += 31
    third = dispatcher.handler(request("cy"), lambda_context)
    assert scaler.handler(third, lambda_context)["provisioningRequested"] is True
    (message,) = router.messages()
    assert message["episodeId"] == marker["episodeId"]["S"]
    assert router.marker()["sent"] == {"BOOL": True}


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


def test_only_one_caller_claims_a_due_resend(router) -> None:
    from handlers.cell_router.store import RouterStore

    repository = RouterStore(TABLE)
    opened = repository.open_episode(
        market_id="europe",
        episode_id="mine",
        triggering_cell_id="c1",
        opened_at="2025-01-01T00:00:00Z",
        opened_at_epoch=1_000,
    )
    assert opened is True
    episode = repository.get_episode("europe")
    assert episode is not None and not episode.sent
    assert repository.claim_resend(episode, now_epoch=2_000, due_before_epoch=1_500) is True
    assert repository.claim_resend(episode, now_epoch=2_000, due_before_epoch=1_500) is False
