"""Verify a Cognito user pool token (RS256 JWT) against a JWKS (pure, stdlib).

Why by hand: the Lambda package is the handler folder with no build step, and
RS256 verification is small: RSA PKCS#1 v1.5 with SHA-256 (RFC 8017 §8.2.2,
EMSA-PKCS1-v1_5 §9.2) plus the claim checks Cognito documents for tokens
(``exp``, ``iss``, ``token_use``, ``aud`` for ID tokens, ``client_id`` for
access tokens). Only verification, with public keys; no secrets here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
#: Clock skew allowed on ``exp``, seconds.
DEFAULT_LEEWAY_SECONDS = 60
#: A JWT longer than this is refused before any parsing (Cognito's are ~1 KB).
MAX_TOKEN_LENGTH = 16_384


class TokenRejected(Exception):
    """The token is not valid here; the message says why (never logged with
    the token itself)."""


@dataclass(frozen=True)
class PublicKey:
    kid: str
    n: int
    e: int


def _b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as error:
        raise TokenRejected(f"not base64url: {error}") from None


def _b64url_int(text: str) -> int:
    return int.from_bytes(_b64url(text), "big")


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, PublicKey]:
    """``kid`` -> RSA public key, from a JWKS document (RS256 signing keys only)."""
    keys: dict[str, PublicKey] = {}
    for entry in jwks.get("keys", []):
        if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", "RS256") != "RS256":
            continue
        keys[str(entry["kid"])] = PublicKey(
            str(entry["kid"]), _b64url_int(entry["n"]), _b64url_int(entry["e"])
        )
    return keys


def rs256_valid(signing_input: bytes, signature: bytes, key: PublicKey) -> bool:
    """RSASSA-PKCS1-v1_5 verification with SHA-256 (RFC 8017 §8.2.2)."""
    size = (key.n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    s = int.from_bytes(signature, "big")
    if s >= key.n:
        return False
    encoded = pow(s, key.e, key.n).to_bytes(size, "big")
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    padding = size - len(digest_info) - 3
    if padding < 8:
        return False
    expected = b"\x00\x01" + b"\xff" * padding + b"\x00" + digest_info
    return hmac.compare_digest(encoded, expected)


def unverified_kid(token: str) -> str:
    """The ``kid`` a token names (to decide whether to re-read the keys)."""
    header = _json(_b64url(_parts(token)[0]))
    return str(header.get("kid", ""))


def verify(
    token: str,
    keys: Mapping[str, PublicKey],
    *,
    issuer: str,
    client_ids: Iterable[str],
    now: float,
    leeway: int = DEFAULT_LEEWAY_SECONDS,
) -> dict[str, Any]:
    """The token's claims if it is a valid, unexpired ID or access token of
    ``issuer`` for one of ``client_ids``; raises ``TokenRejected`` otherwise."""
    header_text, payload_text, signature_text = _parts(token)
    header = _json(_b64url(header_text))
    if header.get("alg") != "RS256":
        raise TokenRejected(f"algorithm {header.get('alg')!r} is not RS256")
    key = keys.get(str(header.get("kid", "")))
    if key is None:
        raise TokenRejected("unknown signing key")
    signing_input = f"{header_text}.{payload_text}".encode("ascii")
    if not rs256_valid(signing_input, _b64url(signature_text), key):
        raise TokenRejected("bad signature")
    claims = _json(_b64url(payload_text))
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + leeway < now:
        raise TokenRejected("expired")
    if claims.get("iss") != issuer:
        raise TokenRejected("wrong issuer")
    allowed = set(client_ids)
    use = claims.get("token_use")
    if use == "id":
        audience = claims.get("aud")
    elif use == "access":
        audience = claims.get("client_id")
    else:
        raise TokenRejected(f"token_use {use!r} is neither id nor access")
    if audience not in allowed:
        raise TokenRejected("token is for another app client")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenRejected("no subject")
    return claims


def _parts(token: str) -> tuple[str, str, str]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenRejected("not a token")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenRejected("not a JWS compact token")
    return parts[0], parts[1], parts[2]


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise TokenRejected("segment is not JSON") from None
    if not isinstance(value, dict):
        raise TokenRejected("segment is not a JSON object")
    return value
