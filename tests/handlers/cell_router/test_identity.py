"""Identity is the token's subject, keyed with the stack's secret (issue #10).

Demonstrations from the review, as they read with the new contract:

* a token carrying someone else's e-mail address: the address is not read
  at all, so it cannot select that person's cell;
* one subject changing its address eight times held eight cell slots: the
  subject is the identity, so it holds one.
"""

from __future__ import annotations

import json

import pytest

from handlers.cell_router import aws_clients, dispatcher, identity, mapper
from handlers.cell_router.errors import ConfigurationError, InvalidRequest, UserNotFound
from handlers.cell_router.observability import logger
from tests.handlers.cell_router.support import create_user_key_secret, request, user_key

ADA = "3f2b8c1e-7d4a-4e59-9c0b-1a2b3c4d5e6f"
EVE = "c0ffee00-1111-4222-8333-444455556666"


def with_claims(user_id: str, email: str, path: str = "/cells") -> dict:
    """An execution input as a template that still forwarded the e-mail
    claim would have written it: the handlers must ignore ``email``."""
    return {**request(user_id, path=path), "email": email, "email_verified": "false"}


def test_another_users_address_does_not_select_their_cell(router, lambda_context) -> None:
    router.put_cell("c1")
    router.put_cell("c2", current=10)
    ada = dispatcher.handler(with_claims(ADA, "ada@example.com"), lambda_context)
    # Eve changed her address to Ada's (Cognito applies it before verifying).
    with pytest.raises(UserNotFound):
        mapper.handler(with_claims(EVE, "ada@example.com", "/mapper"), lambda_context)
    eve = dispatcher.handler(with_claims(EVE, "ada@example.com"), lambda_context)
    assert eve["newAssignment"] is True
    assert len(router.mappings()) == 2
    assert mapper.handler(request(ADA, path="/mapper"), lambda_context)["cellId"] == ada["cellId"]


def test_changing_the_address_eight_times_holds_one_slot(router, lambda_context) -> None:
    router.put_cell("c1")
    answers = [
        dispatcher.handler(with_claims(ADA, f"ada+{n}@example.com"), lambda_context)
        for n in range(8)
    ]
    assert [a["newAssignment"] for a in answers] == [True] + [False] * 7
    assert router.load("c1") == 1
    (mapping,) = router.mappings()
    assert mapping["marketId"]["S"] == "USER#" + user_key(ADA)


def test_subjects_are_not_normalised(router, lambda_context) -> None:
    # Two spellings are two subjects (the old e-mail handling folded case and
    # Unicode, so distinct addresses shared one key).
    router.put_cell("c1")
    dispatcher.handler(request("AbC"), lambda_context)
    dispatcher.handler(request("abc"), lambda_context)
    assert router.load("c1") == 2


def test_logs_carry_only_the_keyed_form(router, lambda_context, caplog) -> None:
    router.put_cell("c1")
    caplog.set_level("INFO", logger=logger.name)
    dispatcher.handler(with_claims(ADA, "ada@example.com"), lambda_context)
    mapper.handler(request(ADA, path="/mapper"), lambda_context)
    # Each record as the function's JSON formatter writes it to CloudWatch.
    lines = [logger.registered_formatter.format(r) for r in caplog.records]
    assert lines
    assert not [line for line in lines if ADA in line or "ada@example.com" in line]
    assert {json.loads(line).get("userHash") for line in lines} == {user_key(ADA)}


def test_the_key_is_read_once_per_container(router, lambda_context) -> None:
    router.put_cell("c1")
    dispatcher.handler(request("u0"), lambda_context)
    reads: list[str] = []
    aws_clients.secretsmanager().meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **kw: reads.append("read")
    )
    for n in range(1, 5):
        dispatcher.handler(request(f"u{n}"), lambda_context)
    assert reads == []
    assert router.load("c1") == 5


def test_another_stack_key_gives_other_user_keys(router, lambda_context, monkeypatch) -> None:
    router.put_cell("c1")
    dispatcher.handler(request(ADA), lambda_context)
    other = create_user_key_secret("other-stack-user-key", "another-key-of-32-characters-xx")
    monkeypatch.setenv("USER_KEY_SECRET_ARN", other)
    dispatcher.handler(request(ADA), lambda_context)
    keys = {m["marketId"]["S"] for m in router.mappings()}
    assert keys == {
        "USER#" + user_key(ADA),
        "USER#" + user_key(ADA, "another-key-of-32-characters-xx"),
    }


def test_without_the_secret_setting_nothing_is_written(router, lambda_context, monkeypatch):
    router.put_cell("c1")
    monkeypatch.delenv("USER_KEY_SECRET_ARN")
    before = router.snapshot()
    with pytest.raises(ConfigurationError, match="USER_KEY_SECRET_ARN"):
        dispatcher.handler(request(ADA), lambda_context)
    assert router.snapshot() == before


def test_bad_subject_fails_before_the_secret_is_read(monkeypatch, lambda_context) -> None:
    # No AWS at all here: a malformed userId never reaches the secret.
    monkeypatch.setenv("USER_KEY_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x")
    identity.reset()
    with pytest.raises(InvalidRequest, match="userId"):
        dispatcher.handler(request("ada@example.com"), lambda_context)
