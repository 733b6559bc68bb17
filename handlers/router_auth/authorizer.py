"""API Gateway ``TOKEN`` authorizer for the router API, in either region.

Verifies the bearer token against the user pool's JWKS as copied into the
LOCAL replica of the router table (item ``marketId="JWKS#<pool id>"``,
``cellId="KEYS"``, written by ``jwks_refresher`` in the pool's region), so a
valid, unexpired token is accepted with no call to the pool's region.

Env: ``TABLE_NAME``, ``USER_POOL_ISSUER`` (``https://cognito-idp.<region>.
amazonaws.com/<pool id>``), ``USER_POOL_CLIENT_IDS`` (JSON list).
Result: an IAM policy allowing the API's stage, ``principalId`` = the token's
``sub`` and context ``{"sub": ...}`` (the request template passes it as
``userId``). Any invalid token: ``Exception("Unauthorized")``, which API
Gateway turns into 401.
"""

from __future__ import annotations

import time
from typing import Any

from handlers.common.contract import ConfigurationError as ConfigurationError
from handlers.common.observability import Observability
from handlers.router_auth import contract, jwks_store, tokens
from handlers.router_auth.tokens import TokenRejected

#: The house shape; only its logger is used. The entry point is not wrapped by
#: ``instrument_handler``: it records no metrics, and API Gateway's contract
#: (an exception named exactly "Unauthorized" means 401) is kept plain.
observability = Observability(default_service="cell-router-authorizer", namespace=None)
logger = observability.logger

#: keys per issuer, loaded once per container and re-read on an unknown kid
#: (at most once per ``_RELOAD_INTERVAL_SECONDS``, so forged kids cannot make
#: every request read the table).
_RELOAD_INTERVAL_SECONDS = 60
_cache: dict[str, Any] = {"keys": None, "loaded_at": 0.0}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    issuer, client_ids, table = _settings()
    raw = str(event.get("authorizationToken") or "")
    token = raw[7:].strip() if raw[:7].lower() == "bearer " else raw.strip()
    now = time.time()
    try:
        keys = _keys(table, issuer, now, need=tokens.unverified_kid(token))
        claims = tokens.verify(token, keys, issuer=issuer, client_ids=client_ids, now=now)
    except TokenRejected as error:
        logger.info("token rejected", extra={"reason": str(error)})
        raise Exception("Unauthorized") from None  # API Gateway's 401 contract
    return _allow(str(claims["sub"]), str(event.get("methodArn", "")))


def reset() -> None:
    _cache.update(keys=None, loaded_at=0.0)


def _keys(table: str, issuer: str, now: float, need: str) -> dict[str, tokens.PublicKey]:
    keys = _cache["keys"]
    stale = now - _cache["loaded_at"] >= _RELOAD_INTERVAL_SECONDS
    if keys is None or (need not in keys and stale):
        keys = tokens.keys_from_jwks(jwks_store.load(table, issuer) or {})
        _cache.update(keys=keys, loaded_at=now)
    return keys


def _allow(subject: str, method_arn: str) -> dict[str, Any]:
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/path -> allow the
    # whole stage, so API Gateway's cached answer serves every route.
    prefix, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0] if path else "*"
    resource = f"{prefix}/{stage}/*" if prefix else "*"
    return {
        "principalId": subject,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
            ],
        },
        "context": {"sub": subject},
    }


def _settings() -> tuple[str, list[str], str]:
    env = contract.AUTHORIZER.parse()
    return env.user_pool_issuer, [str(c) for c in env.user_pool_client_ids], env.table_name
