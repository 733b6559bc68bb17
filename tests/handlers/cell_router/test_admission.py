"""Admission control for a public sign-up (issue #10): the sign-up flood,
the cap on cells per market, and the allowed-domains sign-up gate.

The review's demonstration: 34 throw-away identities filled cell after cell
and each wave made the scaler ask for another cell, without end. With
``MAX_CELLS_PER_MARKET`` the registrar records no cell past the cap (the
event lands in ``CellReady-failed``, the ``CellLimitReached`` alarm fires),
so a flood ends in ``NoCapacity`` instead of an ever-growing bill.
"""

from __future__ import annotations

import pytest

from handlers.cell_router import dispatcher, registrar, scaler, sign_up_gate
from handlers.cell_router.errors import CellLimitReached, ConfigurationError, NoCapacity
from tests.handlers.cell_router.support import cell_ready, request


def _flood(router, lambda_context, identities: int) -> tuple[int, int, int]:
    """Sign up ``identities`` users through Dispatcher then Scaler; play the
    provisioning layer (each request answered with a CellReady). Returns
    (placed, refused, cells refused by the cap)."""
    placed = refused = capped = 0
    next_cell = 2
    for n in range(identities):
        try:
            result = dispatcher.handler(request(f"throwaway-{n}"), lambda_context)
        except NoCapacity:
            refused += 1
            continue
        placed += 1
        scaler.handler(result, lambda_context)
        for message in router.messages():
            event = cell_ready(f"c{next_cell}", maximum=10, episode_id=message["episodeId"])
            next_cell += 1
            try:
                registrar.handler(event, lambda_context)
            except CellLimitReached:
                capped += 1
    return placed, refused, capped


def test_a_sign_up_flood_stops_at_the_market_cap(router, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_CELLS_PER_MARKET", "3")
    router.put_cell("c1", maximum=10)
    placed, refused, capped = _flood(router, lambda_context, 34)
    cells = [i for i in router.items() if i["marketId"]["S"] == "europe"]
    assert len(cells) == 3
    # 3 cells of 10 with a 20% buffer: 8 assignable each.
    assert placed == 24
    assert refused == 34 - 24
    # The scaler stops asking once the market is at its cap, so the
    # provisioning layer never deploys a cell the registrar would refuse.
    assert capped == 0


def test_the_registrar_still_refuses_past_the_cap(router, lambda_context, monkeypatch):
    # A provisioning layer that deploys anyway (or an older scaler) is
    # refused at registration.
    monkeypatch.setenv("MAX_CELLS_PER_MARKET", "1")
    router.put_cell("c1", maximum=10)
    with pytest.raises(CellLimitReached):
        registrar.handler(cell_ready("c2"), lambda_context)
    assert [i["cellId"]["S"] for i in router.items()] == ["c1"]


def test_without_a_cap_the_flood_keeps_buying_cells(router, lambda_context):
    # The behaviour the cap exists for (and the default stack setting, 20,
    # bounds): every wave of throw-away identities gets another cell.
    router.put_cell("c1", maximum=10)
    placed, refused, capped = _flood(router, lambda_context, 34)
    assert (placed, refused, capped) == (34, 0, 0)
    assert len([i for i in router.items() if i["marketId"]["S"] == "europe"]) >= 5


@pytest.mark.parametrize(
    ("email", "allowed"),
    [
        ("ada@example.com", True),
        ("ada@EU.Example.com", True),
        ("ada@example.com.evil.net", False),
        ("ada@notexample.com", False),
        ("ada@", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_domain_rule(email, allowed):
    assert sign_up_gate.domain_allowed(email, ("example.com",)) is allowed


def _pre_sign_up(email: str, source: str = "PreSignUp_SignUp") -> dict:
    return {
        "version": "1",
        "triggerSource": source,
        "region": "us-east-1",
        "userPoolId": "us-east-1_abc",
        "userName": "3f2b8c1e-7d4a-4e59-9c0b-1a2b3c4d5e6f",
        "callerContext": {"awsSdkVersion": "x", "clientId": "c"},
        "request": {"userAttributes": {"email": email}},
        "response": {"autoConfirmUser": False, "autoVerifyEmail": False, "autoVerifyPhone": False},
    }


def test_the_gate_refuses_other_domains_and_lets_admins_create(monkeypatch, lambda_context):
    monkeypatch.setenv("SIGN_UP_ALLOWED_DOMAINS", '["example.com"]')
    ok = _pre_sign_up("ada@example.com")
    assert sign_up_gate.handler(ok, lambda_context) == ok
    with pytest.raises(sign_up_gate.SignUpRefused):
        sign_up_gate.handler(_pre_sign_up("bot1@mailinator.com"), lambda_context)
    admin = _pre_sign_up("contractor@partner.org", "PreSignUp_AdminCreateUser")
    assert sign_up_gate.handler(admin, lambda_context) == admin


def test_the_gate_without_domains_is_a_configuration_error(monkeypatch, lambda_context):
    monkeypatch.setenv("SIGN_UP_ALLOWED_DOMAINS", "[]")
    with pytest.raises(ConfigurationError, match="SIGN_UP_ALLOWED_DOMAINS"):
        sign_up_gate.handler(_pre_sign_up("ada@example.com"), lambda_context)
