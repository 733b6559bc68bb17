"""The router authorizer's and JWKS refresher's environment, declared once.

``authorizer.py`` and ``jwks_refresher.py`` parse these through
``AUTHORIZER.parse`` / ``JWKS_REFRESHER.parse``; the component that deploys
them renders their environment from the same contracts. The keys live in the
router table (``handlers/cell_router/contract.py`` declares its schema; this
family is packaged on its own, so it names only the item it owns:
``jwks_store``).

Pure: no boto3, Powertools or Pulumi (packaged with ``handlers/router_auth``).
"""

from __future__ import annotations

from handlers.common.contract import Contract, EnvField

#: A user pool's issuer: https://cognito-idp.<region>.amazonaws.com/<pool id>
ISSUER_PREFIX = "https://cognito-idp."


def _issuer(value: str) -> str | None:
    if not value.startswith(ISSUER_PREFIX):
        return f"is not a Cognito user pool issuer ({ISSUER_PREFIX}<region>.amazonaws.com/<pool>)"
    return None


def _client_ids(value: object) -> str | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return "must be a non-empty JSON list of app client ids"
    return None


TABLE_NAME = EnvField(
    "TABLE_NAME", "str", "Name of the router table (this region's replica) holding the JWKS copy."
)
USER_POOL_ISSUER = EnvField(
    "USER_POOL_ISSUER",
    "str",
    "Issuer of the Cognito user pool (https://cognito-idp.<region>.amazonaws.com/<pool id>).",
    check=_issuer,
)
USER_POOL_CLIENT_IDS = EnvField(
    "USER_POOL_CLIENT_IDS",
    "json",
    "JSON list of the app client ids whose tokens the API accepts.",
    check=_client_ids,
)

AUTHORIZER = Contract("authorizer", (TABLE_NAME, USER_POOL_ISSUER, USER_POOL_CLIENT_IDS))
JWKS_REFRESHER = Contract("jwks_refresher", (TABLE_NAME, USER_POOL_ISSUER))

CONTRACTS = {c.function: c for c in (AUTHORIZER, JWKS_REFRESHER)}
