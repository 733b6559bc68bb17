"""AWS clients, created lazily and once per container.

Clients come from a fresh ``boto3`` session so they pick up the standard
environment at creation time (``AWS_ENDPOINT_URL``, region, credentials),
which is what lets tests and the local drill point them at moto.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

# Short timeouts: these functions sit behind a synchronous API call, so a slow
# dependency should fail fast and let the state machine's retry decide.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=32,
)


@functools.cache
def dynamodb() -> Any:
    return boto3.session.Session().client("dynamodb", config=_CONFIG)


@functools.cache
def sqs() -> Any:
    return boto3.session.Session().client("sqs", config=_CONFIG)


@functools.cache
def secretsmanager() -> Any:
    return boto3.session.Session().client("secretsmanager", config=_CONFIG)


def reset() -> None:
    """Forget cached clients (tests start a new moto per test)."""
    dynamodb.cache_clear()
    sqs.cache_clear()
    secretsmanager.cache_clear()
