"""Scheduled in the user pool's region only: copy the pool's JWKS into the
router table so both regions' authorizers can verify tokens locally.

Env: ``TABLE_NAME``, ``USER_POOL_ISSUER``. Returns ``{"written": bool,
"keys": int}``. A fetch that fails or returns no RS256 key raises (the
schedule retries; the stored copy stays, so validation is unaffected).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from handlers.router_auth import contract, jwks_store, tokens

FETCH_TIMEOUT_SECONDS = 5
MAX_JWKS_BYTES = 65_536


def fetch(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
        return json.loads(response.read(MAX_JWKS_BYTES + 1)[:MAX_JWKS_BYTES])


def handler(
    event: dict[str, Any], context: Any, fetcher: Callable[[str], dict[str, Any]] = fetch
) -> dict[str, Any]:
    env = contract.JWKS_REFRESHER.parse()
    issuer, table = env.user_pool_issuer.rstrip("/"), env.table_name
    jwks = fetcher(f"{issuer}/.well-known/jwks.json")
    keys = tokens.keys_from_jwks(jwks)
    if not keys:
        raise ValueError("the pool's JWKS holds no RS256 signing key; stored copy kept")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"written": jwks_store.store(table, issuer, jwks, now), "keys": len(keys)}
