"""The one way every function builds its boto3 clients: lazily, once per
container and (service, region, botocore config).

A client comes from boto3's default session, so it honours the standard
environment when it is created (``AWS_ENDPOINT_URL`` for the tests and the
drill, ``AWS_REGION`` in Lambda), and it copies the session's event hooks
then: the tests and the drill stand in for Lex V2 runtime (which moto lacks)
by a ``before-send`` hook registered on that session. Creating clients
concurrently is not thread-safe in boto3 (the Lex health check probes both
regions from two threads; the tests run many handlers at once), hence the
lock. Each family names its clients and their
timeouts in its own module (``handlers/lex_dr/aws_clients.py``,
``handlers/cell_router/aws_clients.py``) and builds them here.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

_lock = threading.Lock()


def client(service: str, *, region: str | None = None, config: Config | None = None) -> Any:
    """The container's client for ``service`` in ``region`` (None: the
    environment's region) with ``config``; the same object on every call with
    equal arguments until :func:`reset`. ``Config`` compares by identity, so
    callers keep theirs in a module constant (or a cache of their own)."""
    return _client(service, region, config)


def fresh_client(service: str, *, region: str | None = None, config: Config | None = None) -> Any:
    """A new client on every call, for a function that calls AWS rarely (the
    router authorizer reads its keys at most once a minute): it never outlives
    a change of environment, and costs nothing there."""
    with _lock:
        return boto3.client(service, region_name=region, config=config)


@functools.cache
def _client(service: str, region: str | None, config: Config | None) -> Any:
    return fresh_client(service, region=region, config=config)


def own_region() -> str | None:
    """The region the function runs in (``AWS_REGION`` in Lambda)."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def error_code(exc: Exception) -> str:
    """What failed, for logs and results: the AWS error code, else the
    exception's class name (a timeout, a refused connection)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


def reset() -> None:
    """Forget every client (tests call this after changing the environment
    or starting a new moto)."""
    _client.cache_clear()
