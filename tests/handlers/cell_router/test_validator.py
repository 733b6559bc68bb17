"""Validator (/validate): cached endpoints, cell health, remediation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from handlers.cell_router import dispatcher, validator
from handlers.cell_router.errors import InvalidRequest, UserNotFound
from support.cell_network import simulated_cells
from tests.handlers.cell_router.support import request

A, B = "https://c1-a.example.com", "https://c1-b.example.com"


def validate(user_id: str = "ada", **body) -> dict:
    return request(user_id, body, path="/validate")


def cached(cell_id: str = "c1", url1: str = A, url2: str = B) -> dict:
    return {"cellId": cell_id, "cellUrl": url1, "cellUrl2": url2}


@pytest.fixture
def placed(router, lambda_context, monkeypatch):
    """ada is placed on c1 (with unreachable example.com URLs, so the deep
    check is off unless a test turns it on against a local server)."""
    monkeypatch.setenv("VALIDATOR_DEEP_CHECK", "false")
    router.put_cell("c1")
    dispatcher.handler(request("ada"), lambda_context)
    return router


@pytest.fixture
def cells() -> Iterator[Any]:
    """HTTPS cells on 127.0.0.1 behind the probe's simulated network
    (``support.cell_network``): names resolve to public stand-ins, TLS is
    verified against a throw-away CA."""
    with simulated_cells() as simulated:
        yield simulated


def test_current_cache_is_valid_in_either_order(placed, lambda_context) -> None:
    before = placed.snapshot()
    for body in (cached(), cached(url1=B, url2=A), cached(url1=A.upper() + "/", url2=B)):
        result = validator.handler(validate(**body), lambda_context)
        assert result == {
            "cellId": "c1",
            "valid": True,
            "healthy": True,
            "endpoints": [
                {"url": A, "region": "eu-west-1"},
                {"url": B, "region": "eu-central-1"},
            ],
            "remediation": None,
        }
    assert placed.snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        cached(url2="https://old.example.com"),
        cached(url1=A, url2=A),
        cached(cell_id="c2"),
    ],
)
def test_stale_cache_gets_a_refresh(placed, lambda_context, body) -> None:
    result = validator.handler(validate(**body), lambda_context)
    assert (result["cellId"], result["valid"], result["healthy"]) == ("c1", False, True)
    assert result["remediation"]["action"] == "refresh"
    assert [e["url"] for e in result["endpoints"]] == [A, B]


def test_unhealthy_cell_means_wait_with_configured_texts(
    placed, lambda_context, monkeypatch
) -> None:
    monkeypatch.setenv("REMEDIATION_INCIDENT_NOTICE", "INC-7: eu-west-1 degraded")
    monkeypatch.setenv("REMEDIATION_EXPECTED_WAIT_MINUTES", "30")
    monkeypatch.setenv("REMEDIATION_SUPPORT_CONTACT", "+44 20 0000 0000")
    placed.put_cell("c1", current=1, healthy=False)
    result = validator.handler(validate(**cached()), lambda_context)
    assert (result["valid"], result["healthy"]) == (True, False)
    assert result["remediation"] == {
        "action": "wait",
        "message": result["remediation"]["message"],
        "incidentNotice": "INC-7: eu-west-1 degraded",
        "expectedWaitMinutes": 30,
        "supportContact": "+44 20 0000 0000",
    }


@pytest.mark.parametrize("status", ["DISABLED", "DRAINING"])
def test_inactive_cell_means_contact_support(placed, lambda_context, status) -> None:
    placed.put_cell("c1", current=1, status=status)
    result = validator.handler(validate(**cached()), lambda_context)
    assert result["healthy"] is False
    assert result["remediation"]["action"] == "contact-support"
    assert result["remediation"]["supportContact"]


def test_deep_check_probes_each_endpoint(router, lambda_context, monkeypatch, cells) -> None:
    monkeypatch.setenv("VALIDATOR_DEEP_CHECK", "true")
    up, moved, down = cells.url("a", "up"), cells.url("b", "moved"), cells.url("c", "down")
    router.put_cell("c1", urls=(up, moved))
    router.put_cell("c2", urls=(up, down), current=30)
    dispatcher.handler(request("ada"), lambda_context)
    router.put_cell("c1", urls=(up, moved), current=35)
    dispatcher.handler(request("bob"), lambda_context)

    healthy = validator.handler(validate("ada", **cached("c1", up, moved)), lambda_context)
    assert (healthy["valid"], healthy["healthy"], healthy["remediation"]) == (True, True, None)

    impaired = validator.handler(validate("bob", **cached("c2", up, down)), lambda_context)
    assert (impaired["valid"], impaired["healthy"]) == (True, False)
    assert impaired["remediation"]["action"] == "wait"
    # Which endpoint failed, by position: the URL itself is not echoed.
    assert "endpoint 2" in impaired["remediation"]["message"]
    assert "https://" not in impaired["remediation"]["message"]

    monkeypatch.setenv("VALIDATOR_DEEP_CHECK", "false")
    shallow = validator.handler(validate("bob", **cached("c2", up, down)), lambda_context)
    assert shallow["healthy"] is True


def test_probes_run_concurrently_within_the_timeout(
    router, lambda_context, monkeypatch, cells
) -> None:
    # The barrier proves the overlap; its timeout (and the probes' deadline
    # above it) only ends a sequential run, so both are far beyond any
    # scheduling delay (the drill server's own 2 s barrier is not).
    monkeypatch.setenv("VALIDATOR_TIMEOUT_SECONDS", "25")
    cells.server.pair = threading.Barrier(2, timeout=20.0)
    pair = cells.url("a", "pair")
    router.put_cell("c1", urls=(pair, pair + "?2"))
    dispatcher.handler(request(), lambda_context)
    result = validator.handler(validate(**cached("c1", pair, pair + "?2")), lambda_context)
    # Both endpoints answered 200 only because both probes were in flight together.
    assert result["healthy"] is True


def test_timeout_counts_as_down(router, lambda_context, monkeypatch, cells) -> None:
    monkeypatch.setenv("VALIDATOR_TIMEOUT_SECONDS", "0.2")
    slow, up = cells.url("a", "slow"), cells.url("b", "up")
    router.put_cell("c1", urls=(slow, up))
    dispatcher.handler(request(), lambda_context)
    result = validator.handler(validate(**cached("c1", slow, up)), lambda_context)
    assert result["healthy"] is False


def test_callers_are_judged_against_their_own_mapping(placed, lambda_context) -> None:
    placed.put_cell("c2", current=20, urls=("https://b1.example.com", "https://b2.example.com"))
    dispatcher.handler(request("bob"), lambda_context)
    # ada presents bob's cell and URLs: not valid for her, and she learns
    # nothing about bob's cell beyond what she sent.
    result = validator.handler(
        validate("ada", **cached("c2", "https://b1.example.com", "https://b2.example.com")),
        lambda_context,
    )
    assert (result["cellId"], result["valid"]) == ("c1", False)
    assert [e["url"] for e in result["endpoints"]] == [A, B]


def test_unknown_user(placed, lambda_context) -> None:
    with pytest.raises(UserNotFound):
        validator.handler(validate("eve", **cached()), lambda_context)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"cellUrl": A, "cellUrl2": B},
        cached(cell_id=""),
        cached(cell_id=7),
        cached(cell_id="c" * 129),
        {**cached(), "cellUrl": None},
        {**cached(), "cellUrl": ["https://a"]},
        cached(url1="javascript:alert(1)"),
        cached(url2="file:///etc/passwd"),
        cached(url2="https://" + "x" * 2050),
        cached(url1="https://exa mple.com"),
    ],
)
def test_malformed_fields(placed, lambda_context, body) -> None:
    before = placed.snapshot()
    with pytest.raises(InvalidRequest):
        validator.handler(validate(**body), lambda_context)
    assert placed.snapshot() == before


def test_body_must_be_an_object(placed, lambda_context) -> None:
    with pytest.raises(InvalidRequest):
        validator.handler({**validate(), "body": "cellId=c1"}, lambda_context)
