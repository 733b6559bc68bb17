"""The cell router's clients, one per service and time budget.

Built by :mod:`handlers.common.clients` (lazily, once per container, from the
standard environment at creation time: ``AWS_ENDPOINT_URL``, region,
credentials, which is what lets tests and the local drill point them at moto).

A call must fit in the time its function has left (``budget``): each client
is made for one (connect, read) timeout pair of
``budget.ATTEMPT_TIMEOUTS`` and never retries by itself (one attempt);
``budget.retrying`` decides whether another attempt fits. Without a budget
the longest pair is used. There are at most six clients per service.
"""

from __future__ import annotations

import functools
from typing import Any

from botocore.config import Config

from handlers.cell_router.budget import ATTEMPT_TIMEOUTS, call_timeouts
from handlers.common import clients


@functools.cache
def client_config(connect_timeout: float, read_timeout: float) -> Config:
    """One attempt per call: retries are ``budget.retrying``'s, deadline-aware."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=32,
    )


def _timeouts(seconds_left: float | None) -> tuple[float, float]:
    if seconds_left is None:
        return ATTEMPT_TIMEOUTS[0]
    # The shortest pair when nothing fits: the caller's deadline check
    # (budget.retrying) refuses before that can matter.
    return call_timeouts(seconds_left) or ATTEMPT_TIMEOUTS[-1]


def dynamodb(seconds_left: float | None = None) -> Any:
    """A DynamoDB client whose one attempt ends within ``seconds_left``."""
    return _client("dynamodb", *_timeouts(seconds_left))


def sqs(seconds_left: float | None = None) -> Any:
    """An SQS client whose one attempt ends within ``seconds_left``."""
    return _client("sqs", *_timeouts(seconds_left))


@functools.cache
def _client(service: str, connect_timeout: float, read_timeout: float) -> Any:
    return clients.client(service, config=client_config(connect_timeout, read_timeout))


def secretsmanager(seconds_left: float | None = None) -> Any:
    """A Secrets Manager client whose one attempt ends within ``seconds_left``."""
    return _client("secretsmanager", *_timeouts(seconds_left))


def reset() -> None:
    """Forget cached clients (tests start a new moto per test)."""
    _client.cache_clear()
    clients.reset()
