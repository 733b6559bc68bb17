"""Mapper (/mapper): the caller's own cell, nobody else's."""

from __future__ import annotations

import pytest

from handlers.cell_router import dispatcher, mapper
from handlers.cell_router.errors import InvalidRequest, UserNotFound
from tests.handlers.cell_router.support import request


def test_returns_the_callers_cell_in_the_dispatcher_shape(router, lambda_context) -> None:
    router.put_cell("c1")
    placed = dispatcher.handler(request(), lambda_context)
    before = router.snapshot()
    result = mapper.handler(request(path="/mapper"), lambda_context)
    expected = {k: v for k, v in placed.items() if k != "cellLoad"}
    assert result == {**expected, "newAssignment": False}
    assert router.snapshot() == before


def test_endpoints_are_read_fresh_from_the_cell(router, lambda_context, monkeypatch) -> None:
    monkeypatch.setenv("ENDPOINT_TTL_SECONDS", "60")
    router.put_cell("c1")
    dispatcher.handler(request(), lambda_context)
    router.put_cell("c1", current=1, urls=("https://moved-1.example.com", "https://m2.example.com"))
    result = mapper.handler(request(path="/mapper"), lambda_context)
    assert [e["url"] for e in result["endpoints"]] == [
        "https://moved-1.example.com",
        "https://m2.example.com",
    ]
    assert result["ttlSeconds"] == 60


def test_callers_only_see_their_own_mapping(router, lambda_context) -> None:
    router.put_cell("c1")
    router.put_cell("c2", current=20)
    dispatcher.handler(request("ada"), lambda_context)
    router.put_cell("c1", current=30)
    dispatcher.handler(request("bob"), lambda_context)
    ada = mapper.handler(request("ada", {"userId": "bob"}), lambda_context)
    bob = mapper.handler(request("bob", {"userId": "ada"}), lambda_context)
    assert (ada["cellId"], bob["cellId"]) == ("c1", "c2")
    with pytest.raises(UserNotFound):
        mapper.handler(request("eve", {"userId": "ada"}), lambda_context)


def test_unknown_user(router, lambda_context) -> None:
    router.put_cell("c1")
    with pytest.raises(UserNotFound):
        mapper.handler(request(), lambda_context)


@pytest.mark.parametrize(
    "event",
    [
        request(user_id=None),
        request(user_id=""),
        request(user_id="x" * 129),
        request(user_id="ada/../bob"),
        {**request(), "body": 1},
    ],
)
def test_bad_input(router, lambda_context, event) -> None:
    with pytest.raises(InvalidRequest):
        mapper.handler(event, lambda_context)


def test_mapped_cell_that_vanished_tells_the_user_what_to_do(router, lambda_context) -> None:
    """#11: not CellUnavailable "retry later" (retrying never helps) but
    UserNotFound saying to sign up again, which repairs the mapping."""
    from handlers.cell_router.errors import UserNotFound
    from tests.handlers.cell_router.support import TABLE

    router.put_cell("c1")
    dispatcher.handler(request(), lambda_context)
    router.ddb.delete_item(
        TableName=TABLE, Key={"marketId": {"S": "europe"}, "cellId": {"S": "c1"}}
    )
    with pytest.raises(UserNotFound, match="sign up again through /cells"):
        mapper.handler(request(path="/mapper"), lambda_context)
