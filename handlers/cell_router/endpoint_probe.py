"""HTTPS reachability probe of a cell's endpoints (standard library only).

Only URLs read from the router table are probed -- never URLs a caller sent --
and each is checked again before it is fetched, because the table is only
as trustworthy as whoever last wrote it (``endpoint_policy``):

1. the URL must pass ``check_endpoint_url`` (https, a DNS name inside
   ``CELL_ENDPOINT_DOMAINS``, no IP literal, no credentials);
2. the name is resolved and **every** address must be public -- a name that
   resolves to 127.0.0.1, 10/8, 169.254.169.254 or ``fd00:ec2::254`` is
   refused without a connection;
3. the probe connects to the address it checked (not to the name again, so a
   second DNS answer cannot swap in an internal address), verifies the TLS
   certificate for the name, sends one ``GET`` and reads only the status
   line. Redirects are not followed: a 3xx already proves the cell answers.

**One total deadline** bounds each probe -- DNS, connect, TLS and every read
together -- and the probes of one call run concurrently under the same
deadline (``ProbeDeadline``). A per-read timeout is not enough: an endpoint
dripping one byte a second never lets a read time out. A probe that runs
out of time is simply *down*.

``network`` is the one adapter to the outside world (name resolution and
TCP connect). Tests and the local drill swap it for a simulated network that
maps names to local servers; everything above -- the policy, TLS, the
deadline -- runs unchanged.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from handlers.cell_router import endpoint_policy
from handlers.cell_router.errors import InvalidRequest

USER_AGENT = "resilient-routing-validator/2"
#: A status line longer than this is not HTTP.
MAX_STATUS_LINE_BYTES = 1024


@dataclass(frozen=True)
class ProbeDeadline:
    """A point in time on ``clock`` (seconds) that every step must beat."""

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> ProbeDeadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return self.at - self.clock()


class ProbeRefused(Exception):
    """The endpoint may not be fetched (policy) -- reported as down."""


class DeadlineExceeded(Exception):
    """The probe ran out of its total time -- reported as down."""


class Network:
    """Name resolution and TCP connect: the probe's only I/O adapter."""

    def resolve(self, host: str, port: int) -> list[str]:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [str(info[4][0]) for info in infos]

    def connect(self, address: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((address, port), timeout=timeout)


network = Network()


@dataclass(frozen=True)
class EndpointProbeResult:
    up: bool
    #: ``"ok"``, ``"http 503"``, ``"refused: ..."``, ``"deadline"``, ``"error: ..."``.
    reason: str


def probe_all(
    urls: Sequence[str], deadline: ProbeDeadline, allowed_domains: Sequence[str] = ()
) -> dict[str, bool]:
    """Probe every URL concurrently under one deadline: ``{url: up}``."""
    return {url: r.up for url, r in probe_all_results(urls, deadline, allowed_domains).items()}


def probe_all_results(
    urls: Sequence[str], deadline: ProbeDeadline, allowed_domains: Sequence[str] = ()
) -> dict[str, EndpointProbeResult]:
    if not urls:
        return {}
    context = tls_context()
    # Worker threads are not joined past the deadline: a probe stuck in a
    # resolver call the OS will not interrupt is abandoned, not waited for.
    pool = ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="probe")
    futures = {url: pool.submit(probe, url, deadline, allowed_domains, context) for url in urls}
    pool.shutdown(wait=False)
    results: dict[str, EndpointProbeResult] = {}
    for url, future in futures.items():
        try:
            results[url] = future.result(timeout=max(deadline.remaining(), 0) + 0.05)
        except Exception:  # a stuck or failed probe is "down"
            results[url] = EndpointProbeResult(False, "deadline")
    return results


def tls_context() -> ssl.SSLContext:
    """Certificate and host name verified; the platform's trust store (which
    honours ``SSL_CERT_FILE``)."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def probe(
    url: str,
    deadline: ProbeDeadline,
    allowed_domains: Sequence[str] = (),
    context: ssl.SSLContext | None = None,
) -> EndpointProbeResult:
    """One endpoint: policy, resolution, TLS, status line -- all by ``deadline``."""
    try:
        host, port, target = _destination(url, allowed_domains)
        addresses = _resolve(host, port, deadline)
        status = fetch_status(addresses[0], port, host, target, deadline, context or tls_context())
    except ProbeRefused as refused:
        return EndpointProbeResult(False, f"refused: {refused}")
    except DeadlineExceeded:
        return EndpointProbeResult(False, "deadline")
    except (OSError, ValueError) as error:
        return EndpointProbeResult(False, f"error: {type(error).__name__}")
    return EndpointProbeResult(
        200 <= status < 400, "ok" if 200 <= status < 400 else f"http {status}"
    )


def _destination(url: str, allowed_domains: Sequence[str]) -> tuple[str, int, str]:
    try:
        endpoint_policy.check_endpoint_url(url, "endpoint", allowed_domains)
    except InvalidRequest as error:
        raise ProbeRefused(str(error)) from None
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, parts.port or 443, target


def _resolve(host: str, port: int, deadline: ProbeDeadline) -> list[str]:
    """``network.resolve`` within the deadline (the OS resolver has no
    timeout of its own, so it runs in a thread we stop waiting for)."""
    outcome: dict[str, object] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome["addresses"] = network.resolve(host, port)
        except Exception as error:  # handed to the caller below
            outcome["error"] = error
        finally:
            done.set()

    threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True).start()
    if not done.wait(max(deadline.remaining(), 0)):
        raise DeadlineExceeded()
    if "error" in outcome:
        raise OSError(f"cannot resolve {host}") from outcome["error"]  # type: ignore[arg-type]
    addresses = list(outcome.get("addresses") or [])  # type: ignore[call-overload]
    if not addresses:
        raise OSError(f"{host} has no address")
    private = [a for a in addresses if not endpoint_policy.is_public_address(a)]
    if private:
        raise ProbeRefused(f"{host} resolves to a non-public address")
    return addresses


def fetch_status(
    address: str,
    port: int,
    host: str,
    target: str,
    deadline: ProbeDeadline,
    context: ssl.SSLContext | None,
) -> int:
    """Connect to ``address`` (already checked), TLS for ``host`` when
    ``context`` is given, ``GET target`` and return the status code -- or
    raise ``DeadlineExceeded`` the moment the deadline passes, however slowly
    the peer trickles bytes."""
    sock = network.connect(address, port, _left(deadline))
    try:
        if context is not None:
            sock.settimeout(_left(deadline))
            sock = context.wrap_socket(sock, server_hostname=host)
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
        sock.settimeout(_left(deadline))
        sock.sendall(request)
        received = b""
        while b"\r\n" not in received:
            if len(received) > MAX_STATUS_LINE_BYTES:
                raise ValueError("status line too long")
            sock.settimeout(_left(deadline))
            try:
                chunk = sock.recv(256)
            except TimeoutError:
                raise DeadlineExceeded() from None
            if not chunk:
                raise ConnectionError("closed before a status line")
            received += chunk
            _left(deadline)
        return _status_code(received.split(b"\r\n", 1)[0])
    finally:
        sock.close()


def _left(deadline: ProbeDeadline) -> float:
    remaining = deadline.remaining()
    if remaining <= 0:
        raise DeadlineExceeded()
    return remaining


def _status_code(line: bytes) -> int:
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ValueError("not an HTTP status line")
    return int(parts[1])
