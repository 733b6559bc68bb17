"""The cross-region token authorizer: RS256 verification against keys made
here with ``cryptography`` (test-only), claim checks, and the handler on moto
reading the JWKS copy from the local table, with every network call to the
pool's region made impossible (it must not need one)."""

from __future__ import annotations

import base64
import json
import socket
import time

import boto3
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto import mock_aws

from components.schemas import ROUTER_TABLE
from handlers.router_auth import authorizer, jwks_refresher, jwks_store, tokens
from handlers.router_auth.tokens import TokenRejected

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool1"
CLIENT = "client-1"
TABLE = "tbl_router-x"
SUB = "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def int_b64(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks(signing_key) -> dict:
    numbers = signing_key.public_key().public_numbers()
    return {
        "keys": [
            {
                "kid": "k1",
                "kty": "RSA",
                "alg": "RS256",
                "use": "sig",
                "n": int_b64(numbers.n),
                "e": int_b64(numbers.e),
            }
        ]
    }


def make_token(key, *, header=None, **claims) -> str:
    now = int(time.time())
    body = {"sub": SUB, "iss": ISSUER, "token_use": "id", "aud": CLIENT, "exp": now + 3600}
    body.update(claims)
    head = {"alg": "RS256", "kid": "k1", **(header or {})}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def check(token: str, jwks: dict, now: float | None = None) -> dict:
    return tokens.verify(
        token,
        tokens.keys_from_jwks(jwks),
        issuer=ISSUER,
        client_ids=[CLIENT],
        now=time.time() if now is None else now,
    )


def test_valid_id_and_access_tokens(signing_key, jwks) -> None:
    assert check(make_token(signing_key), jwks)["sub"] == SUB
    access = make_token(signing_key, token_use="access", aud=None, client_id=CLIENT)
    assert check(access, jwks)["sub"] == SUB


@pytest.mark.parametrize(
    ("claims", "header", "reason"),
    [
        ({"exp": 1}, None, "expired"),
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/other"}, None, "wrong issuer"),
        ({"aud": "client-2"}, None, "another app client"),
        ({"token_use": "refresh"}, None, "neither id nor access"),
        ({"sub": ""}, None, "no subject"),
        ({}, {"kid": "k9"}, "unknown signing key"),
        ({}, {"alg": "HS256"}, "not RS256"),
    ],
)
def test_rejections_name_the_reason(signing_key, jwks, claims, header, reason) -> None:
    with pytest.raises(TokenRejected, match=reason):
        check(make_token(signing_key, header=header, **claims), jwks)


def test_tampered_payload_and_other_key_fail_the_signature(signing_key, jwks) -> None:
    head, _, signature = make_token(signing_key).split(".")
    forged = b64(
        json.dumps(
            {
                "sub": "someone-else",
                "iss": ISSUER,
                "token_use": "id",
                "aud": CLIENT,
                "exp": int(time.time()) + 60,
            }
        ).encode()
    )
    with pytest.raises(TokenRejected, match="bad signature"):
        check(f"{head}.{forged}.{signature}", jwks)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(TokenRejected, match="bad signature"):
        check(make_token(other), jwks)


@pytest.mark.parametrize("token", ["", "a.b", "a..c", "x" * 20000, "e30.e30.e30"])
def test_malformed_tokens(jwks, token) -> None:
    with pytest.raises(TokenRejected):
        check(token, jwks)


# -- handler on moto: local replica only ------------------------------------------


@pytest.fixture
def region_without_pool(monkeypatch, jwks):
    """moto for DynamoDB; any other socket connection raises, so a call to
    the pool's region (or anywhere) would fail the test."""
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("USER_POOL_ISSUER", ISSUER)
    monkeypatch.setenv("USER_POOL_CLIENT_IDS", json.dumps([CLIENT]))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    authorizer.reset()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-west-2")
        client.create_table(**ROUTER_TABLE.create_table_request(TABLE))
        jwks_store.store(TABLE, ISSUER, jwks, "2026-01-01T00:00:00Z", client=client)

        def no_network(*args, **kwargs):
            raise AssertionError("the authorizer opened a network connection")

        monkeypatch.setattr(socket, "create_connection", no_network)
        yield client
    authorizer.reset()


ARN = "arn:aws:execute-api:us-west-2:123456789012:abc123/prod/POST/cells"


def test_handler_allows_valid_token_from_local_copy(region_without_pool, signing_key) -> None:
    event = {
        "type": "TOKEN",
        "authorizationToken": "Bearer " + make_token(signing_key),
        "methodArn": ARN,
    }
    result = authorizer.handler(event, None)
    assert result["principalId"] == SUB and result["context"] == {"sub": SUB}
    statement = result["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:us-west-2:123456789012:abc123/prod/*"


@pytest.mark.parametrize("value", ["", "Bearer nope", "Bearer a.b.c"])
def test_handler_answers_unauthorized(region_without_pool, value) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler({"authorizationToken": value, "methodArn": ARN}, None)


def test_handler_without_stored_jwks_refuses(region_without_pool, signing_key) -> None:
    region_without_pool.delete_item(TableName=TABLE, Key=jwks_store.key(ISSUER))
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler({"authorizationToken": make_token(signing_key), "methodArn": ARN}, None)


def test_refresher_writes_once_and_keeps_copy_on_bad_fetch(monkeypatch, jwks) -> None:
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("USER_POOL_ISSUER", ISSUER)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**ROUTER_TABLE.create_table_request(TABLE))
        urls = []

        def fetcher(url):
            urls.append(url)
            return jwks

        assert jwks_refresher.handler({}, None, fetcher=fetcher) == {"written": True, "keys": 1}
        assert jwks_refresher.handler({}, None, fetcher=fetcher) == {"written": False, "keys": 1}
        assert urls[0] == ISSUER + "/.well-known/jwks.json"
        with pytest.raises(ValueError, match="no RS256 signing key"):
            jwks_refresher.handler({}, None, fetcher=lambda url: {"keys": []})
        assert jwks_store.load(TABLE, ISSUER, client=client) == jwks
