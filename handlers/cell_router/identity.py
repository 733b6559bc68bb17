"""Who the caller is, and the only form of it the router stores or logs.

The identity is the issuer's immutable subject: the API's request template
passes the Cognito token's ``sub`` claim as ``userId`` (an e-mail address can
be changed by its owner, a ``sub`` cannot). It is checked here (pure) and
turned into the **user key**, ``HMAC-SHA256(key, userId)`` as 64 hex digits,
with a per-stack key held in Secrets Manager (``USER_KEY_SECRET_ARN``; the
SecretString is the key, as UTF-8). Unlike an unsalted hash, the user key
cannot be reversed by hashing candidate identities without that key, so the
table and the logs give nothing away on their own.

The key is read once per container, lazily (on the first request that needs
it), with a client that honours ``AWS_ENDPOINT_URL``. Rotating the secret
re-keys every user: each would be placed anew on their next sign-up, so the
stack creates the secret once and never regenerates it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from typing import Any

from handlers.cell_router import contract
from handlers.cell_router.errors import ConfigurationError, InvalidRequest

#: Cognito user pools issue a UUID as ``sub`` (36 characters of hex digits
#: and hyphens). The router accepts what any OIDC subject it may meet is
#: made of -- letters, digits, ``-`` and ``_`` -- and nothing that could be
#: an address, a path or a key prefix (``@``, ``/``, ``#``, whitespace...).
USER_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
MAX_USER_ID_LENGTH = 128


def require_user_id(value: Any) -> str:
    """The event's ``userId``, unchanged, or ``InvalidRequest``.

    No normalisation: a subject is compared byte for byte, so two spellings
    can never share a key.
    """
    if not isinstance(value, str) or not value:
        raise InvalidRequest("userId is missing or empty: send the ID token of a signed-in user")
    if len(value) > MAX_USER_ID_LENGTH:
        raise InvalidRequest(f"userId is longer than {MAX_USER_ID_LENGTH} characters")
    if not USER_ID_PATTERN.fullmatch(value):
        raise InvalidRequest("userId must be the token's subject: A-Z, a-z, 0-9, '-' or '_' only")
    return value


def keyed_user_key(user_id: str, key: bytes) -> str:
    """``HMAC-SHA256(key, user_id)`` in hex (pure; 64 characters)."""
    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def user_key(user_id: str) -> str:
    """The caller's user key under this stack's secret (reads it once)."""
    return keyed_user_key(user_id, _secret_key(_secret_arn()))


def _secret_arn() -> str:
    return contract.USER_KEY_SECRET_ARN.read()


@functools.cache
def _secret_key(arn: str) -> bytes:
    # Cached per ARN: one read per container (and a test that points the
    # function at another secret gets that secret, not a stale key). boto3 is
    # imported here, not at module level: the Pulumi program imports this
    # package's pure validation, and the deploy venv has no boto3.
    from handlers.cell_router import aws_clients

    value = aws_clients.secretsmanager().get_secret_value(SecretId=arn).get("SecretString")
    if not isinstance(value, str) or len(value) < 16:
        raise ConfigurationError(
            f"secret {arn} must hold the user-key HMAC key as a string of at least 16 characters"
        )
    return value.encode("utf-8")


def reset() -> None:
    """Forget the cached key (tests start a new moto per test)."""
    _secret_key.cache_clear()
