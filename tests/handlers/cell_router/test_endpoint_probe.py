"""The validator's outbound probe: no fetches to where a table row points
unless it is a public https endpoint, and one total deadline (issue #10).

Local servers listen on 127.0.0.1 only. Deadlines are proved by outcome
(down, the drip cut short), never by measuring elapsed time.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from handlers.cell_router import dispatcher, endpoint_policy, endpoint_probe, validator
from support.cell_network import simulated_cells
from tests.handlers.cell_router.support import request

STATUS_LINE = b"HTTP/1.1 200 OK\r\n\r\n"


class PlainServer:
    """Plain HTTP on 127.0.0.1 that records requests; ``/drip`` trickles its
    status line one byte per ``drip_seconds``."""

    def __init__(self, drip_seconds: float = 0.5) -> None:
        self.requests: list[str] = []
        self.drip_bytes_sent = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                if self.path.startswith("/drip"):
                    for byte in STATUS_LINE:
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                        owner.drip_bytes_sent += 1
                        threading.Event().wait(drip_seconds)
                    return
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def plain() -> Iterator[PlainServer]:
    server = PlainServer()
    yield server
    server.close()


@pytest.fixture
def cells() -> Iterator[Any]:
    with simulated_cells(drip_seconds=0.5) as simulated:
        yield simulated


def _place(router, lambda_context, urls: tuple[str, str]) -> None:
    router.put_cell("c1", urls=urls)
    dispatcher.handler(request("ada"), lambda_context)


def _validate(lambda_context, urls: tuple[str, str]) -> dict:
    body = {"cellId": "c1", "cellUrl": urls[0], "cellUrl2": urls[1]}
    return validator.handler(request("ada", body, "/validate"), lambda_context)


# --- destinations --------------------------------------------------------------


def test_a_local_server_named_in_the_table_is_never_fetched(router, lambda_context, plain):
    # The review's demonstration: a table row naming 127.0.0.1 was fetched.
    urls = (f"http://127.0.0.1:{plain.port}/up", f"http://127.0.0.1:{plain.port}/up?2")
    _place(router, lambda_context, urls)
    result = _validate(lambda_context, urls)
    assert result["healthy"] is False
    assert result["remediation"]["action"] == "wait"
    assert plain.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://127.0.0.1/",
        "https://0x7f000001/",
        "https://2130706433/",
        "https://10.1.2.3/",
        "https://user:pass@c1-a.cells.test/up",
        "http://c1-a.cells.test/up",
    ],
)
def test_addresses_and_credentials_in_urls_are_refused_without_a_connection(url, cells):
    cells.url("c1-a", "up")  # the name would resolve; the URL is still refused
    results = endpoint_probe.probe_all_results([url], endpoint_probe.ProbeDeadline.after(2.0))
    assert results[url].up is False
    assert results[url].reason.startswith("refused")
    assert cells.network.connects == []
    assert cells.server.requests == []


@pytest.mark.parametrize(
    "addresses",
    [
        ("169.254.169.254",),
        ("fd00:ec2::254",),
        ("127.0.0.1",),
        ("10.0.0.5",),
        ("100.64.0.1",),
        ("::ffff:169.254.169.254",),
        ("64:ff9b::a9fe:a9fe",),
        # One good answer does not launder a bad one (rebinding-style).
        ("52.94.0.1", "169.254.169.254"),
    ],
)
def test_names_that_resolve_inside_are_refused_without_a_connection(
    router, lambda_context, cells, addresses
):
    bad = "https://metadata.cells.test/latest/meta-data/"
    cells.network.point("metadata.cells.test", *addresses)
    good = cells.url("c1-b", "up")
    _place(router, lambda_context, (bad, good))
    result = _validate(lambda_context, (bad, good))
    assert (result["valid"], result["healthy"]) == (True, False)
    assert "endpoint 1" in result["remediation"]["message"]
    assert all(address != a for address, _ in cells.network.connects for a in addresses[-1:])
    assert cells.server.requests == ["/up"]  # only the good endpoint


def test_allowed_domains_are_enforced_when_fetching(router, lambda_context, cells, monkeypatch):
    # A row written before the setting existed (or by hand) is checked again.
    outside = cells.url("c1-a", "up").replace("cells.test", "cells.test.evil.example")
    cells.network.serve("c1-a.cells.test.evil.example")
    inside = cells.url("c1-b", "up")
    _place(router, lambda_context, (outside, inside))
    monkeypatch.setenv("VALIDATOR_DEEP_CHECK", "true")
    monkeypatch.setenv("CELL_ENDPOINT_DOMAINS", '["cells.test"]')
    result = _validate(lambda_context, (outside, inside))
    assert result["healthy"] is False
    assert cells.server.requests == ["/up"]


def test_a_certificate_for_another_name_is_down(cells):
    url = "https://cell.other.example/up"
    cells.network.serve("cell.other.example")  # served, but the cert says *.cells.test
    result = endpoint_probe.probe_all_results([url], endpoint_probe.ProbeDeadline.after(2.0))[url]
    assert (result.up, result.reason) == (False, "error: SSLCertVerificationError")


def test_redirects_count_as_up_and_are_not_followed(cells):
    url = cells.url("c1-a", "moved")
    assert endpoint_probe.probe_all([url], endpoint_probe.ProbeDeadline.after(2.0)) == {url: True}
    assert cells.server.requests == ["/moved"]


# --- one total deadline -------------------------------------------------------


def test_a_dripping_endpoint_is_cut_off_by_the_deadline(plain):
    # 19 bytes at 0.5 s each would take 9.5 s; every read returns a byte, so
    # a per-read timeout never fires. The deadline is 0.3 s.
    deadline = endpoint_probe.ProbeDeadline.after(0.3)
    with pytest.raises(endpoint_probe.DeadlineExceeded):
        endpoint_probe.fetch_status("127.0.0.1", plain.port, "cell", "/drip", deadline, None)
    assert plain.drip_bytes_sent < len(STATUS_LINE)


def test_the_deadline_holds_on_a_fake_clock(plain):
    # Each deadline check advances the clock by one unit: after at most five
    # checks the probe stops, however fast or slow the machine is.
    ticks = itertools.count()
    deadline = endpoint_probe.ProbeDeadline(at=5, clock=lambda: next(ticks))
    with pytest.raises(endpoint_probe.DeadlineExceeded):
        endpoint_probe.fetch_status("127.0.0.1", plain.port, "cell", "/drip", deadline, None)
    assert plain.drip_bytes_sent < len(STATUS_LINE)


def test_a_dripping_cell_is_unhealthy_with_remediation(router, lambda_context, cells, monkeypatch):
    monkeypatch.setenv("VALIDATOR_TIMEOUT_SECONDS", "0.5")
    urls = (cells.url("c1-a", "drip"), cells.url("c1-b", "up"))
    _place(router, lambda_context, urls)
    result = _validate(lambda_context, urls)
    assert (result["valid"], result["healthy"]) == (True, False)
    assert result["remediation"]["action"] == "wait"
    assert cells.server.drip_bytes_sent < len(STATUS_LINE)


def test_name_resolution_is_inside_the_deadline(cells):
    url = cells.url("c1-a", "up")
    cells.network.resolve_blocks.clear()  # a resolver that never answers
    try:
        deadline = endpoint_probe.ProbeDeadline.after(0.2)
        result = endpoint_probe.probe_all_results([url], deadline)[url]
    finally:
        cells.network.resolve_blocks.set()
    assert (result.up, result.reason) == (False, "deadline")
    assert cells.network.connects == []


def test_the_budget_comes_from_the_invocations_remaining_time():
    class Context:
        def __init__(self, millis: int) -> None:
            self.millis = millis

        def get_remaining_time_in_millis(self) -> int:
            return self.millis

    assert validator.probe_budget(2.0, Context(10_000)) == 2.0
    assert validator.probe_budget(2.0, Context(1_500)) == pytest.approx(1.0)
    assert validator.probe_budget(2.0, Context(300)) == 0.0
    assert validator.probe_budget(2.0, object()) == 2.0


def test_no_time_left_means_down_not_a_timeout(router, lambda_context, cells, monkeypatch):
    urls = (cells.url("c1-a", "up"), cells.url("c1-b", "up"))
    _place(router, lambda_context, urls)
    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: 400)
    result = _validate(lambda_context, urls)
    assert result["healthy"] is False
    assert cells.server.requests == []


# --- the policy itself (pure) -------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("52.94.0.1", True),
        ("2600:1f18::1", True),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("fd00:ec2::254", False),
        ("::1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("192.168.1.1", False),
        ("172.16.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:a9fe:a9fe::1", False),
        ("not-an-address", False),
    ],
)
def test_public_addresses(address, public):
    assert endpoint_policy.is_public_address(address) is public
