"""The Lex failover functions' clients and their timeouts.

Built by :mod:`handlers.common.clients` (lazily, once per container, from the
standard environment: ``AWS_ENDPOINT_URL`` for local runs, ``AWS_REGION`` in
Lambda); this module only says which clients, with which timeouts.
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config

from handlers.common import clients
from handlers.common.clients import error_code, own_region

__all__ = [
    "LEX_CALL_TIMEOUT_SECONDS",
    "LEX_CLIENT_CONFIG",
    "LOOKUP_DYNAMODB_CONFIG",
    "PEER_LOOKUP_DYNAMODB_CONFIG",
    "dynamodb",
    "error_code",
    "last_decision",
    "lex_runtime",
    "lookup_dynamodb",
    "own_region",
    "peer_lookup_dynamodb",
    "reset",
]

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

#: The state table's client: botocore's standard retries.
DYNAMODB_CONFIG = Config(retries={"mode": "standard"})


def lex_runtime(region: str) -> Any:
    """Lex V2 runtime in ``region``: one quick attempt per call."""
    return clients.client("lexv2-runtime", region=region, config=LEX_CLIENT_CONFIG)


# The lookup's second chance: the other region's replica, one quick attempt.
PEER_LOOKUP_DYNAMODB_CONFIG = Config(
    connect_timeout=0.5,
    read_timeout=0.5,
    retries={"total_max_attempts": 1},
)


def dynamodb() -> Any:
    """DynamoDB in the function's own region (standard retries)."""
    return clients.client("dynamodb", region=own_region(), config=DYNAMODB_CONFIG)


def lookup_dynamodb() -> Any:
    """DynamoDB for the latency-sensitive region lookup (its own region)."""
    return clients.client("dynamodb", region=own_region(), config=LOOKUP_DYNAMODB_CONFIG)


def peer_lookup_dynamodb(region: str) -> Any:
    """DynamoDB of another region's replica, for a lookup whose own replica
    cannot be read."""
    return clients.client("dynamodb", region=region, config=PEER_LOOKUP_DYNAMODB_CONFIG)


#: The last decision the lookup read in this container: (region, epoch,
#: when read). It lives and dies with the clients: a new container, or a
#: test's ``reset()``, starts without one.
last_decision: dict[str, tuple[str, int, float]] = {}


def reset() -> None:
    """Forget every client and the lookup's last decision (tests call this
    after changing the environment)."""
    clients.reset()
    last_decision.clear()
