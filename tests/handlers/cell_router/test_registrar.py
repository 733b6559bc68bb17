"""Registrar: CellReady events become healthy, active cells."""

from __future__ import annotations

import pytest

from handlers.cell_router import dispatcher, registrar, scaler, store
from handlers.cell_router.errors import CellLimitReached, InvalidRequest
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


def test_a_new_cell_is_in_the_placeable_index_at_once(router, lambda_context) -> None:
    # The first sign-up that should land in a new cell finds it in the index,
    # not on the refusal path's consistent read of the market (which listed
    # it before, at up to 7 round trips for that sign-up).
    registrar.handler(cell_ready("c9", maximum=500), lambda_context)
    registrar.handler(cell_ready("c0", maximum=1), lambda_context)  # limit 0 at a 20 % buffer
    listed = router.ddb.query(
        TableName=router.table,
        IndexName=store.PLACEABLE_INDEX,
        KeyConditionExpression="#pk = :m",
        ExpressionAttributeNames={"#pk": store.PLACEABLE_ATTRIBUTE},
        ExpressionAttributeValues={":m": {"S": "europe"}},
    )["Items"]
    assert [item["cellId"]["S"] for item in listed] == ["c9"]


def test_existing_cell_is_not_overwritten_without_a_newer_revision(router, lambda_context):
    # Issue #10: one CellReady replaced an existing cell's endpoints and
    # re-activated a cell an operator had set to DRAINING. An event without
    # a revision may only create.
    router.put_cell("c1", current=17, healthy=False, status="DRAINING")
    before = router.snapshot()
    result = registrar.handler(cell_ready("c1", maximum=80), lambda_context)
    assert result["created"] is False
    assert router.snapshot() == before


def test_a_newer_revision_changes_only_provisioning_owned_fields(router, lambda_context):
    router.put_cell("c1", current=17, healthy=False, status="DRAINING")
    moved = [
        {"url": "https://c1-a.cells.example.com", "region": "eu-west-1"},
        {"url": "https://c1-b.cells.example.com", "region": "eu-west-3"},
    ]
    event = cell_ready("c1", maximum=80, revision=2, endpoints=moved)
    assert registrar.handler(event, lambda_context)["created"] is False
    cell = router.cell("c1")
    assert cell["maxCapacity"] == {"N": "80"}
    assert (cell["endPoint_1"]["S"], cell["endPoint_2"]["S"]) == (moved[0]["url"], moved[1]["url"])
    assert cell["regionCode_2"] == {"S": "eu-west-3"}
    assert cell["provisioningRevision"] == {"N": "2"}
    # Operator- and router-owned state is untouched.
    assert cell["currentCapacity"] == {"N": "17"}
    assert (cell["IsHealthy"], cell["status"]) == ({"BOOL": False}, {"S": "DRAINING"})


def test_replays_change_nothing(router, lambda_context) -> None:
    # EventBridge retries, Lambda retries and "send it again" all replay.
    first = cell_ready("c9", revision=3)
    assert registrar.handler(first, lambda_context)["created"] is True
    # An operator drains the new cell; the health monitor marks it impaired.
    router.ddb.update_item(
        TableName=router.table,
        Key={"marketId": {"S": "europe"}, "cellId": {"S": "c9"}},
        UpdateExpression="SET #st = :d, IsHealthy = :f",
        ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues={":d": {"S": "DRAINING"}, ":f": {"BOOL": False}},
    )
    decided = router.snapshot()
    older = cell_ready("c9", revision=2, maximum=999)
    for replay in (first, first, older, cell_ready("c9")):
        assert registrar.handler(replay, lambda_context) == {
            "marketId": "europe",
            "cellId": "c9",
            "created": False,
            "episodeClosed": False,
        }
    assert router.snapshot() == decided


def test_a_replay_without_episode_does_not_close_a_newer_episode(router, lambda_context):
    registrar.handler(cell_ready("c9"), lambda_context)
    scaler_input = {
        "cellId": "c9",
        "marketId": "europe",
        "newAssignment": True,
        "cellLoad": {"currentCapacity": 40, "maxCapacity": 50},
    }
    assert scaler.handler(scaler_input, lambda_context)["provisioningRequested"] is True
    assert registrar.handler(cell_ready("c9"), lambda_context)["episodeClosed"] is False
    assert router.marker()["status"]["S"] == "OPEN"


LOCAL = "http://127.0.0.1:8080/"


@pytest.mark.parametrize(
    "url",
    [
        LOCAL,
        "https://127.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://0x7f000001/",
        "https://2130706433/",
        "https://10.0.0.1/",
        "https://user:pass@cell.example.com/",
        "https://cell.example.com@127.0.0.1/",
        "https://localhost/",
        "https://cell.example.com.evil.net/",
        "https://c\u0435ll.example.com/",
    ],
)
def test_endpoints_outside_the_policy_are_refused(router, lambda_context, monkeypatch, url):
    monkeypatch.setenv("CELL_ENDPOINT_DOMAINS", '["example.com"]')
    router.put_cell("c1")
    before = router.snapshot()
    endpoints = [
        {"url": url, "region": "eu-west-1"},
        {"url": "https://c1-b.example.com", "region": "eu-central-1"},
    ]
    for event in (
        cell_ready("c1", endpoints=endpoints, revision=5),
        cell_ready("c2", endpoints=endpoints),
    ):
        with pytest.raises(InvalidRequest, match=r"detail\.endpoints\[0\]\.url"):
            registrar.handler(event, lambda_context)
    assert router.snapshot() == before


def test_allowed_domains_admit_their_subdomains_only(router, lambda_context, monkeypatch):
    monkeypatch.setenv("CELL_ENDPOINT_DOMAINS", '["cells.example.com"]')
    inside = [
        {"url": "https://eu-1.cells.example.com/health", "region": "eu-west-1"},
        {"url": "https://EU-1B.Cells.Example.com:8443", "region": "eu-central-1"},
    ]
    assert registrar.handler(cell_ready("c9", endpoints=inside), lambda_context)["created"]
    outside = [inside[0], {"url": "https://notcells.example.com", "region": "eu-west-1"}]
    with pytest.raises(InvalidRequest, match="outside the allowed cell domains"):
        registrar.handler(cell_ready("c8", endpoints=outside), lambda_context)


def test_the_two_endpoints_must_differ(router, lambda_context) -> None:
    same = [
        {"url": "https://c9.example.com", "region": "eu-west-1"},
        {"url": "https://C9.example.com:443/", "region": "eu-central-1"},
    ]
    with pytest.raises(InvalidRequest, match="distinct"):
        registrar.handler(cell_ready("c9", endpoints=same), lambda_context)
    assert router.items() == []


def test_an_event_for_another_router_is_refused(router, lambda_context, monkeypatch):
    # Two stacks in one account both consumed one event on the default bus.
    monkeypatch.setenv("CELL_READY_ROUTER_ID", "resilient-routing/prod")
    with pytest.raises(InvalidRequest, match="routerId"):
        registrar.handler(cell_ready("c9", routerId="resilient-routing/dev"), lambda_context)
    with pytest.raises(InvalidRequest, match="routerId"):
        registrar.handler(cell_ready("c9"), lambda_context)
    assert router.items() == []
    ok = registrar.handler(cell_ready("c9", routerId="resilient-routing/prod"), lambda_context)
    assert ok["created"] is True


def test_the_market_cell_cap_stops_new_cells_not_refreshes(router, lambda_context, monkeypatch):
    # Issue #10: throw-away identities filled cell after cell; each wave asked
    # for another. The cap bounds what one market can cost.
    monkeypatch.setenv("MAX_CELLS_PER_MARKET", "3")
    for n in range(3):
        registrar.handler(cell_ready(f"c{n}"), lambda_context)
    router.put_cell("asia-1", market="asia")
    with pytest.raises(CellLimitReached, match="3 cells"):
        registrar.handler(cell_ready("c3"), lambda_context)
    assert [i["cellId"]["S"] for i in router.items() if i["marketId"]["S"] == "europe"] == [
        "c0",
        "c1",
        "c2",
    ]
    # An existing cell may still be refreshed, and other markets are apart.
    assert registrar.handler(cell_ready("c2", revision=2, maximum=60), lambda_context)
    assert router.cell("c2")["maxCapacity"] == {"N": "60"}
    assert registrar.handler(cell_ready("asia-2", market="asia"), lambda_context)["created"]


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
