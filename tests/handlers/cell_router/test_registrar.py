"""Registrar: CellReady events become healthy, active cells."""

from __future__ import annotations

import pytest

from handlers.cell_router import dispatcher, registrar, scaler
from handlers.cell_router.errors import InvalidRequest
from tests.handlers.cell_router.support import cell_ready, request


def test_new_cell_is_created_empty_healthy_and_active(router, lambda_context) -> None:
    result = registrar.handler(cell_ready("c9", maximum=500), lambda_context)
    assert result == {
        "marketId": "europe",
        "cellId": "c9",
        "created": True,
        "episodeClosed": False,
    }
    cell = router.cell("c9")
    assert cell["currentCapacity"] == {"N": "0"}
    assert cell["maxCapacity"] == {"N": "500"}
    assert cell["IsHealthy"] == {"BOOL": True}
    assert cell["status"] == {"S": "ACTIVE"}
    assert (cell["endPoint_1"]["S"], cell["regionCode_1"]["S"]) == (
        "https://c9-a.example.com",
        "eu-west-1",
    )
    assert (cell["endPoint_2"]["S"], cell["regionCode_2"]["S"]) == (
        "https://c9-b.example.com",
        "eu-central-1",
    )
    # ...and it takes sign-ups straight away.
    assert dispatcher.handler(request(), lambda_context)["cellId"] == "c9"


def test_existing_cell_keeps_its_users(router, lambda_context) -> None:
    router.put_cell("c1", current=17, healthy=False, status="DRAINING")
    result = registrar.handler(cell_ready("c1", maximum=80), lambda_context)
    assert result["created"] is False
    cell = router.cell("c1")
    assert cell["currentCapacity"] == {"N": "17"}
    assert cell["maxCapacity"] == {"N": "80"}
    assert (cell["IsHealthy"], cell["status"]) == ({"BOOL": True}, {"S": "ACTIVE"})


def test_ends_only_the_named_episode(router, lambda_context) -> None:
    scaler_input = {
        "cellId": "c1",
        "marketId": "europe",
        "newAssignment": True,
        "cellLoad": {"currentCapacity": 40, "maxCapacity": 50},
    }
    assert scaler.handler(scaler_input, lambda_context)["provisioningRequested"] is True
    episode = router.marker()["episodeId"]["S"]
    stale = registrar.handler(cell_ready("c8", episode_id="someother"), lambda_context)
    assert stale["episodeClosed"] is False
    assert router.marker()["status"]["S"] == "OPEN"
    done = registrar.handler(cell_ready("c9", episode_id=episode), lambda_context)
    assert done["episodeClosed"] is True
    marker = router.marker()
    assert (marker["status"]["S"], marker["closedByCellId"]["S"]) == ("CLOSED", "c9")


def _without(key: str) -> dict:
    event = cell_ready()
    del event["detail"][key]
    return event


@pytest.mark.parametrize(
    "event",
    [
        "nope",
        {**cell_ready(), "source": "someone.else"},
        {**cell_ready(), "detail-type": "CellGone"},
        {**cell_ready(), "detail": "{}"},
        _without("marketId"),
        _without("cellId"),
        _without("maxCapacity"),
        _without("endpoints"),
        cell_ready(market="USER#x"),
        cell_ready(maximum=0),
        cell_ready(maximum=True),
        cell_ready(maximum="500"),
        cell_ready(episode_id="bad id!"),
        cell_ready(endpoints=[{"url": "https://a.example.com", "region": "eu-west-1"}]),
        cell_ready(
            endpoints=[
                {"url": "https://a.example.com", "region": "eu-west-1"},
                {"url": "ftp://b.example.com", "region": "eu-west-1"},
            ]
        ),
        cell_ready(
            endpoints=[
                {"url": "https://a.example.com", "region": "eu-west-1"},
                {"url": "https://b.example.com", "region": "Europe"},
            ]
        ),
        cell_ready(endpoints=["https://a.example.com", "https://b.example.com"]),
    ],
)
def test_invalid_events_write_nothing(router, lambda_context, event) -> None:
    router.put_cell("c1", current=3)
    before = router.snapshot()
    with pytest.raises(InvalidRequest):
        registrar.handler(event, lambda_context)
    assert router.snapshot() == before
