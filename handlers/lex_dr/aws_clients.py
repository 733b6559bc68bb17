"""boto3 clients, created lazily and once per container.

Clients come from boto3's default session, so they honour the standard
environment (``AWS_ENDPOINT_URL`` for local runs, ``AWS_REGION`` in Lambda).
Creating clients from one session concurrently is not thread-safe, and the
health check probes both regions from two threads, hence the lock.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# Lex calls fail fast; the health check retries inside the round itself
# (PROBE_ATTEMPTS), so botocore must not retry on top of that. 0.5 s + 1.5 s:
# a round that times out in every attempt lasts 3 x 2 s + backoff = 6.3 s, so
# detection including cold start, invoke latency and schedule jitter stays
# under 30 s (bench/failover_sim.py); a healthy Lex answers in well under 1 s.
LEX_CLIENT_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=1.5,
    retries={"total_max_attempts": 1},
)
#: Worst case of one Lex call with the settings above (connect + read timeout).
LEX_CALL_TIMEOUT_SECONDS = float(LEX_CLIENT_CONFIG.connect_timeout + LEX_CLIENT_CONFIG.read_timeout)

# Amazon Connect waits at most 8 s for the lookup; fail open well before that:
# own replica <= 2 x (0.5 + 1) s, the other replica <= 1 s, inside the 5 s timeout.
LOOKUP_DYNAMODB_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=1,
    retries={"mode": "standard", "total_max_attempts": 2},
)

_lock = threading.Lock()


@functools.cache
def lex_runtime(region: str) -> Any:
    with _lock:
        return boto3.client("lexv2-runtime", region_name=region, config=LEX_CLIENT_CONFIG)


# The lookup's second chance: the other region's replica, one quick attempt.
PEER_LOOKUP_DYNAMODB_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=0.5,
    retries={"total_max_attempts": 1},
)


def _own_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def dynamodb() -> Any:
    """DynamoDB in the function's own region (standard retries)."""
    return _dynamodb(_own_region())


@functools.cache
def _dynamodb(region: str | None) -> Any:
    with _lock:
        return boto3.client(
            "dynamodb", region_name=region, config=Config(retries={"mode": "standard"})
        )


def lookup_dynamodb() -> Any:
    """DynamoDB for the latency-sensitive region lookup (its own region)."""
    return _lookup_dynamodb(_own_region())


@functools.cache
def _lookup_dynamodb(region: str | None) -> Any:
    with _lock:
        return boto3.client("dynamodb", region_name=region, config=LOOKUP_DYNAMODB_CONFIG)


@functools.cache
def peer_lookup_dynamodb(region: str) -> Any:
    """DynamoDB of another region's replica, for a lookup whose own replica
    cannot be read."""
    with _lock:
        return boto3.client("dynamodb", region_name=region, config=PEER_LOOKUP_DYNAMODB_CONFIG)


def error_code(exc: Exception) -> str:
    """What failed, for logs and probe results: the AWS error code, else the
    exception's class name (a timeout, a refused connection)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


def own_region() -> str | None:
    """The region the function runs in (``AWS_REGION`` in Lambda)."""
    return _own_region()


#: The last decision the lookup read in this container: (region, epoch,
#: when read). It lives and dies with the clients: a new container, or a
#: test's ``reset()``, starts without one.
last_decision: dict[str, tuple[str, int, float]] = {}


def reset() -> None:
    """Forget every client and the lookup's last decision (tests call this
    after changing the environment)."""
    lex_runtime.cache_clear()
    _dynamodb.cache_clear()
    _lookup_dynamodb.cache_clear()
    peer_lookup_dynamodb.cache_clear()
    last_decision.clear()
