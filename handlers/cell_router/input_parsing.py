"""Parsing and checking every handler's input (pure). Anything malformed raises
``InvalidRequest`` before a single AWS call is made, so bad input never writes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from handlers.cell_router import cached_endpoints, endpoint_policy, events, identity
from handlers.cell_router.endpoint_policy import MAX_URL_LENGTH
from handlers.cell_router.errors import InvalidRequest
from handlers.cell_router.model import MARKET_ID_PATTERN, Endpoint
from handlers.common import contract

MAX_CAPACITY = 1_000_000
MAX_REVISION = 2**53
CELL_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
EPISODE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The house's one region pattern (handlers/common/contract.py).
REGION_PATTERN = contract.REGION_PATTERN


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: only the keyed hash of the subject is kept
    (see ``identity``)."""

    user_key: str


@dataclass(frozen=True)
class RouterEvent:
    """The orchestrator input, checked: the token's subject and the body."""

    user_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class RouterRequest:
    caller: Caller
    body: dict[str, Any]


@dataclass(frozen=True)
class CachedEndpoints:
    cell_id: str
    urls: tuple[str, str]


@dataclass(frozen=True)
class ScaleRequest:
    market_id: str
    cell_id: str
    new_assignment: bool
    current_capacity: int | None
    max_capacity: int | None


@dataclass(frozen=True)
class CellReady:
    market_id: str
    cell_id: str
    max_capacity: int
    endpoints: tuple[Endpoint, Endpoint]
    episode_id: str | None
    #: Provisioning's version of this cell's description; ``None`` means the
    #: event may only create the cell, never change an existing one.
    revision: int | None = None
    router_id: str | None = None


def parse_router_event(event: Any) -> RouterEvent:
    """The orchestrator input ``{"path", "httpMethod", "userId", "body"}`` (pure).

    ``userId`` is filled by the API from the token's ``sub`` claim; an
    identity in the body is ignored -- a caller can only act as themselves.
    """
    if not isinstance(event, dict):
        raise InvalidRequest("event must be a JSON object")
    user_id = identity.require_user_id(event.get("userId"))
    body = event.get("body")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    return RouterEvent(user_id=user_id, body=body)


def parse_router_request(event: Any) -> RouterRequest:
    """``parse_router_event``, then the caller's user key (the first call in
    a container reads the key's secret: after every check, so bad input
    still fails before any AWS call)."""
    parsed = parse_router_event(event)
    return RouterRequest(caller=Caller(identity.user_key(parsed.user_id)), body=parsed.body)


def market_id(body: dict[str, Any], default: str) -> str:
    # Absent means the default market; present-but-null or empty is a mistake.
    value = body.get("marketId", default)
    return require_market_id(value, "marketId")


def require_market_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not MARKET_ID_PATTERN.fullmatch(value):
        raise InvalidRequest(f"{field} must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    return value


def require_cell_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not CELL_ID_PATTERN.fullmatch(value):
        raise InvalidRequest(
            f"{field} must be 1-128 characters of A-Z, a-z, 0-9, '_', '.', ':' or '-'"
        )
    return value


def require_url(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{field} must be a non-empty string")
    if len(value) > MAX_URL_LENGTH:
        raise InvalidRequest(f"{field} is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidRequest(f"{field} must not contain whitespace or control characters")
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise InvalidRequest(f"{field} is not a valid URL") from None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname or not port_ok:
        raise InvalidRequest(f"{field} must be an absolute http(s) URL")
    return value


def require_count(value: Any, field: str, *, low: int) -> int:
    # bool is an int subclass; true is not a capacity.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_CAPACITY:
        raise InvalidRequest(f"{field} must be an integer between {low} and {MAX_CAPACITY}")
    return value


def parse_cached_endpoints(body: dict[str, Any]) -> CachedEndpoints:
    """The validator body ``{"cellId", "cellUrl", "cellUrl2"}``."""
    return CachedEndpoints(
        cell_id=require_cell_id(body.get("cellId"), "cellId"),
        urls=(
            require_url(body.get("cellUrl"), "cellUrl"),
            require_url(body.get("cellUrl2"), "cellUrl2"),
        ),
    )


def parse_scale_request(event: Any) -> ScaleRequest:
    """The dispatcher's result, as the state machine hands it to the scaler."""
    if not isinstance(event, dict):
        raise InvalidRequest("scaler input must be the dispatcher's result object")
    new_assignment = event.get("newAssignment")
    if not isinstance(new_assignment, bool):
        raise InvalidRequest("newAssignment must be a boolean")
    market = require_market_id(event.get("marketId"), "marketId")
    cell = require_cell_id(event.get("cellId"), "cellId")
    current = maximum = None
    load = event.get("cellLoad")
    if load is not None:
        if not isinstance(load, dict):
            raise InvalidRequest("cellLoad must be an object")
        current = require_count(load.get("currentCapacity"), "cellLoad.currentCapacity", low=0)
        maximum = require_count(load.get("maxCapacity"), "cellLoad.maxCapacity", low=0)
    return ScaleRequest(market, cell, new_assignment, current, maximum)


def parse_cell_ready(
    event: Any, allowed_domains: Sequence[str] = (), router_id: str | None = None
) -> CellReady:
    """An EventBridge CellReady event (see ``events``).

    Endpoints must pass ``endpoint_policy.check_endpoint_url`` against
    ``allowed_domains`` and be two distinct URLs; with ``router_id`` the
    event must name that router (``detail.routerId``).
    """
    if not isinstance(event, dict):
        raise InvalidRequest("event must be an EventBridge event object")
    if event.get("source") != events.CELL_READY_SOURCE:
        raise InvalidRequest(f"source must be {events.CELL_READY_SOURCE!r}")
    if event.get("detail-type") != events.CELL_READY_DETAIL_TYPE:
        raise InvalidRequest(f"detail-type must be {events.CELL_READY_DETAIL_TYPE!r}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidRequest("detail must be an object")
    raw_endpoints = detail.get("endpoints")
    if not isinstance(raw_endpoints, list) or len(raw_endpoints) != 2:
        raise InvalidRequest("detail.endpoints must be a list of exactly two endpoints")
    endpoints = []
    for index, raw in enumerate(raw_endpoints):
        field = f"detail.endpoints[{index}]"
        if not isinstance(raw, dict):
            raise InvalidRequest(f"{field} must be an object with url and region")
        region = raw.get("region")
        if not isinstance(region, str) or not REGION_PATTERN.fullmatch(region):
            raise InvalidRequest(f"{field}.region must be an AWS region code")
        url = endpoint_policy.check_endpoint_url(raw.get("url"), f"{field}.url", allowed_domains)
        endpoints.append(Endpoint(url, region))
    if cached_endpoints.normalise_url(endpoints[0].url) == cached_endpoints.normalise_url(
        endpoints[1].url
    ):
        raise InvalidRequest("detail.endpoints must be two distinct URLs")
    revision = detail.get("revision")
    if revision is not None and (
        isinstance(revision, bool)
        or not isinstance(revision, int)
        or not 1 <= revision <= MAX_REVISION
    ):
        # Epoch seconds or milliseconds are fine revisions; JSON numbers stay
        # exact up to 2**53.
        raise InvalidRequest(f"detail.revision must be an integer between 1 and {MAX_REVISION}")
    named_router = detail.get("routerId")
    if router_id is not None and named_router != router_id:
        raise InvalidRequest(f"detail.routerId must be {router_id!r}: this event is not for us")
    episode_id = detail.get("episodeId")
    if episode_id is not None and (
        not isinstance(episode_id, str) or not EPISODE_ID_PATTERN.fullmatch(episode_id)
    ):
        raise InvalidRequest("detail.episodeId must be 1-64 characters of A-Z, a-z, 0-9, _ or -")
    return CellReady(
        market_id=require_market_id(detail.get("marketId"), "detail.marketId"),
        cell_id=require_cell_id(detail.get("cellId"), "detail.cellId"),
        max_capacity=require_count(detail.get("maxCapacity"), "detail.maxCapacity", low=1),
        endpoints=(endpoints[0], endpoints[1]),
        episode_id=episode_id,
        revision=revision,
        router_id=named_router if isinstance(named_router, str) else None,
    )
