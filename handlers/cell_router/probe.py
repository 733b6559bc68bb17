"""HTTP reachability probe of a cell's endpoints (standard library only).

Only URLs read from the router table are probed — never URLs a caller sent —
so the validator cannot be used to make requests to arbitrary hosts.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect already proves the endpoint answers; do not follow it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def is_up(url: str, timeout: float) -> bool:
    """GET the URL; 2xx and 3xx count as up, anything else (4xx, 5xx,
    refused, timeout, TLS error) as down."""
    request = urllib.request.Request(
        url, method="GET", headers={"User-Agent": "resilient-routing-validator/1"}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return 200 <= response.status < 400
    except urllib.error.HTTPError as error:
        error.close()
        return 300 <= error.code < 400
    except (OSError, ValueError):
        return False


def probe_all(urls: Sequence[str], timeout: float) -> dict[str, bool]:
    """Probe every URL concurrently, so the wait is one timeout, not two."""
    if not urls:
        return {}
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        results = list(pool.map(lambda url: is_up(url, timeout), urls))
    return dict(zip(urls, results, strict=True))
