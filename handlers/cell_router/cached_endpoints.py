"""Judging a client's cached endpoints and choosing remediation (pure).

Cached URLs are compared with the cell's current endpoints **as a set**:
clients legitimately swap the two after failing over to the second one, and
what matters for routing is that both URLs they hold are still the cell's.
URLs are compared after normalising what does not change where a request
goes: scheme and host case, a default port, and a trailing slash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from handlers.cell_router.model import Cell

ACTION_REFRESH = "refresh"
ACTION_WAIT = "wait"
ACTION_CONTACT_SUPPORT = "contact-support"

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_url(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def same_endpoints(cached: Iterable[str], current: Iterable[str]) -> bool:
    """True when the cached URLs and the current ones are the same set."""
    cached_set = {normalise_url(url) for url in cached}
    current_set = {normalise_url(url) for url in current}
    return bool(current_set) and cached_set == current_set


def cache_is_valid(
    cached_cell_id: str, cached_urls: Iterable[str], mapped_cell: Cell | None
) -> bool:
    if mapped_cell is None or cached_cell_id != mapped_cell.cell_id:
        return False
    return same_endpoints(cached_urls, (endpoint.url for endpoint in mapped_cell.endpoints))


@dataclass(frozen=True)
class RemediationTexts:
    support_contact: str
    incident_notice: str
    expected_wait_minutes: int


def remediation(
    *,
    valid: bool,
    healthy: bool,
    cell: Cell | None,
    texts: RemediationTexts,
    endpoint_up: Mapping[str, bool] | None = None,
) -> dict[str, Any] | None:
    """What the client should do, or ``None`` when nothing is wrong.

    Precedence: a cell that is gone, draining or disabled needs a human
    (contact-support); an impaired cell is transient (wait — refreshing would
    return the same cell); otherwise stale cached URLs just need a refresh.
    """
    if valid and healthy:
        return None
    if cell is None or not cell.active:
        reason = "no longer exists" if cell is None else f"is {cell.status.lower()}"
        return _remediation(
            ACTION_CONTACT_SUPPORT,
            f"Your cell {reason}; it cannot serve you. Contact {texts.support_contact}.",
            None,
            None,
            texts,
        )
    if not healthy:
        # Positions, not URLs: a URL that failed the probe's policy must not
        # be echoed back to the caller.
        order = [endpoint.url for endpoint in cell.endpoints]
        down = [
            str(order.index(url) + 1)
            for url, up in (endpoint_up or {}).items()
            if not up and url in order
        ]
        detail = f" Unreachable: endpoint {' and '.join(sorted(down))}." if down else ""
        refresh = "" if valid else " Your cached endpoints are also out of date; refresh them."
        return _remediation(
            ACTION_WAIT,
            f"Your cell is impaired.{detail} Retry after the expected wait.{refresh}",
            texts.incident_notice,
            texts.expected_wait_minutes,
            texts,
        )
    return _remediation(
        ACTION_REFRESH,
        "Your cached cell endpoints are out of date. Use the endpoints returned here, "
        "or call /mapper again.",
        None,
        None,
        texts,
    )


def _remediation(
    action: str,
    message: str,
    incident_notice: str | None,
    expected_wait_minutes: int | None,
    texts: RemediationTexts,
) -> dict[str, Any]:
    return {
        "action": action,
        "message": message,
        "incidentNotice": incident_notice,
        "expectedWaitMinutes": expected_wait_minutes,
        "supportContact": texts.support_contact,
    }
