"""The JWKS copy in the router table: one item per user pool, written only in
the pool's region (by ``jwks_refresher``) and read in both (global table)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from handlers.common import clients

JWKS_PREFIX = "JWKS#"
JWKS_SORT_KEY = "KEYS"


def pool_id(issuer: str) -> str:
    return issuer.rstrip("/").rsplit("/", 1)[-1]


def key(issuer: str) -> dict[str, Any]:
    return {"marketId": {"S": JWKS_PREFIX + pool_id(issuer)}, "cellId": {"S": JWKS_SORT_KEY}}


def _client() -> Any:
    return clients.fresh_client("dynamodb")


def load(table: str, issuer: str, client: Any | None = None) -> dict[str, Any] | None:
    """The stored JWKS document, or None. Eventually consistent on purpose:
    a replica's copy is what this region has."""
    item = (client or _client()).get_item(TableName=table, Key=key(issuer)).get("Item")
    if not item:
        return None
    return json.loads(item["jwks"]["S"])


def store(
    table: str, issuer: str, jwks: dict[str, Any], now: str, client: Any | None = None
) -> bool:
    """Write the JWKS unless the stored copy is identical. True when written."""
    text = json.dumps(jwks, sort_keys=True, separators=(",", ":"))
    try:
        (client or _client()).put_item(
            TableName=table,
            Item={**key(issuer), "jwks": {"S": text}, "fetchedAt": {"S": now}},
            ConditionExpression="attribute_not_exists(jwks) OR jwks <> :jwks",
            ExpressionAttributeValues={":jwks": {"S": text}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
