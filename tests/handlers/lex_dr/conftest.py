"""Fixtures for the Lex failover handlers: environment, a moto state table,
and a fake Lex V2 runtime at the botocore level.

How the fake reaches the handler's clients: the handlers create their clients
lazily from boto3's default session, and a client copies the session's event
hooks when it is created. The ``fake_lex`` fixture therefore installs a fresh
default session, registers the fake on it with ``register_first`` for
``before-send.lex-runtime-v2`` (so it answers before moto's own ``before-send``
stubber, which would reply "404 Not yet implemented" for a service moto lacks),
and clears the handler's client cache so the next client picks the hook up.
DynamoDB requests never match that event and go to moto as usual.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from handlers.lex_dr import aws_clients
from support.lex_sim import install_hook
from tests.handlers.lex_dr.lex_fakes import (
    ALIAS_ARNS,
    BOTS,
    EXPECTED,
    PRIMARY,
    SECONDARY,
    TABLE_NAME,
    UTTERANCE,
    FakeLex,
    StateTable,
)


@pytest.fixture
def lex_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "TABLE_NAME": TABLE_NAME,
        "PRIMARY_REGION": PRIMARY,
        "SECONDARY_REGION": SECONDARY,
        "BOTS": json.dumps(BOTS),
        "BOT_ALIAS_ARNS": json.dumps(ALIAS_ARNS),
        "TEST_METHOD": "recognize_text",
        "SAMPLE_UTTERANCE": UTTERANCE,
        "EXPECTED_RESPONSE": EXPECTED,
        "TEST_USER": "health-check",
        "PROBE_BACKOFF_MS": "0",
    }
    for name in ("FAILOVER_THRESHOLD", "FAILBACK_THRESHOLD", "AUTO_FAILBACK", "PROBE_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _install_fake_lex() -> FakeLex:
    # Runs after the AWS backend is up: mock_aws swaps boto3.DEFAULT_SESSION
    # for the duration of the mock, so a hook registered earlier would be lost.
    fake = FakeLex()
    install_hook(fake)
    aws_clients.reset()
    return fake


@pytest.fixture
def fake_lex(state_table: StateTable) -> Iterator[FakeLex]:
    """The fake Lex runtime next to a moto (in-process) state table."""
    yield _install_fake_lex()
    aws_clients.reset()


@pytest.fixture
def serial_fake_lex(lex_env: dict[str, str], serial_moto) -> Iterator[FakeLex]:
    """The fake Lex runtime next to the one-request-at-a-time moto server."""
    yield _install_fake_lex()
    aws_clients.reset()
    boto3.DEFAULT_SESSION = None


@pytest.fixture
def state_table(lex_env: dict[str, str]) -> Iterator[StateTable]:
    with mock_aws():
        aws_clients.reset()
        yield StateTable(boto3.client("dynamodb", region_name=PRIMARY), TABLE_NAME)
    aws_clients.reset()


@pytest.fixture
def seeded(state_table: StateTable) -> StateTable:
    """The item as ``pulumi up`` seeds it: the primary, nothing else."""
    state_table.seed(lexRegion=PRIMARY)
    return state_table
