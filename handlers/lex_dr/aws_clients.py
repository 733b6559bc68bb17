"""boto3 clients, created lazily and once per container.

Clients come from boto3's default session, so they honour the standard
environment (``AWS_ENDPOINT_URL`` for local runs, ``AWS_REGION`` in Lambda).
Creating clients from one session concurrently is not thread-safe, and the
health check probes both regions from two threads, hence the lock.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import boto3
from botocore.config import Config

# Lex calls fail fast; the health check retries inside the round itself
# (PROBE_ATTEMPTS), so botocore must not retry on top of that.
LEX_CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"total_max_attempts": 1},
)
#: Worst case of one Lex call with the settings above (connect + read timeout).
LEX_CALL_TIMEOUT_SECONDS = float(LEX_CLIENT_CONFIG.connect_timeout + LEX_CLIENT_CONFIG.read_timeout)

# Amazon Connect waits at most 8 s for the lookup; fail open well before that.
LOOKUP_DYNAMODB_CONFIG = Config(
    connect_timeout=1,
    read_timeout=1,
    retries={"mode": "standard", "total_max_attempts": 2},
)

_lock = threading.Lock()


@functools.cache
def lex_runtime(region: str) -> Any:
    with _lock:
        return boto3.client("lexv2-runtime", region_name=region, config=LEX_CLIENT_CONFIG)


@functools.cache
def dynamodb() -> Any:
    """DynamoDB in the function's own region (standard retries)."""
    with _lock:
        return boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))


@functools.cache
def lookup_dynamodb() -> Any:
    """DynamoDB for the latency-sensitive region lookup."""
    with _lock:
        return boto3.client("dynamodb", config=LOOKUP_DYNAMODB_CONFIG)


def reset() -> None:
    """Forget every client (tests call this after changing the environment)."""
    lex_runtime.cache_clear()
    dynamodb.cache_clear()
    lookup_dynamodb.cache_clear()
