"""A simulated internet for the validator's endpoint probe: local HTTPS cells.

The validator only fetches ``https`` URLs whose names resolve to public
addresses (``handlers/cell_router/endpoint_probe.py``), so a server on 127.0.0.1 is,
rightly, out of its reach. To exercise the real probe without a network,
this module provides what the world would:

* ``LocalCA`` -- a throw-away certificate authority (``cryptography``) and a
  server certificate for ``*.<domain>``; point ``SSL_CERT_FILE`` at
  ``ca_file`` and the probe's normal, verifying TLS context trusts it;
* ``CellServer`` -- a threaded HTTPS server on 127.0.0.1 whose paths choose
  an answer (``/up``, ``/down``, ``/moved``, ``/slow``, ``/drip``), counting
  the requests it receives;
* ``SimulatedNetwork`` -- the probe's ``network`` adapter: names resolve to
  the addresses given (a public stand-in that routes to the local server, or
  any address at all, such as 169.254.169.254, to show it is refused), and
  every connect is recorded.

Only the adapter is replaced: the URL policy, the address check, TLS
verification and the deadline run as in Lambda. Used by the handler tests
and by ``python -m drill``.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from handlers.cell_router import endpoint_probe

#: Stand-in public addresses (TEST-NET ranges are not global, so the probe
#: would refuse them); they are never dialled -- connects are routed locally.
PUBLIC_STAND_IN = "52.94.{}.{}"


class LocalCA:
    """A CA and one wildcard server certificate, written to a temp folder."""

    def __init__(self, domain: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.domain = domain
        self._folder = tempfile.TemporaryDirectory(prefix="cell-ca-")
        folder = Path(self._folder.name)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "resilient-routing drill CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.{domain}")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(f"*.{domain}")]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(ca_cert.public_bytes(pem))
        self.cert_file = folder / "server.pem"
        self.cert_file.write_bytes(cert.public_bytes(pem))
        self.key_file = folder / "server.key"
        self.key_file.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def close(self) -> None:
        self._folder.cleanup()


class CellServer:
    """HTTPS on 127.0.0.1. The first path segment picks the answer:
    ``up`` 200, ``moved`` 302, ``down`` 503, ``slow`` 200 after
    ``slow_seconds``, ``drip`` a status line one byte every ``drip_seconds``,
    ``pair`` 200 only when two ``pair`` requests are in flight together (a
    barrier: proves probes overlap without timing them), else 503;
    anything else 200, or 503 when its first segment is in ``impaired``."""

    def __init__(self, ca: LocalCA, *, slow_seconds: float = 1.0, drip_seconds: float = 1.0):
        self.requests: list[str] = []
        self.impaired: set[str] = set()
        self.drip_bytes_sent = 0
        self.slow_seconds = slow_seconds
        self.drip_seconds = drip_seconds
        self.pair = threading.Barrier(2, timeout=2.0)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                first = self.path.split("?")[0].strip("/").split("/")[0]
                if first == "drip":
                    for byte in b"HTTP/1.1 200 OK\r\n\r\n":
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                        owner.drip_bytes_sent += 1
                        time.sleep(owner.drip_seconds)
                    return
                if first == "slow":
                    time.sleep(owner.slow_seconds)
                status = {"up": 200, "moved": 302, "down": 503}.get(
                    first, 503 if first in owner.impaired else 200
                )
                if first == "pair":
                    try:
                        owner.pair.wait()
                    except threading.BrokenBarrierError:
                        status = 503
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "https://elsewhere.invalid/")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        context = ca.server_context()
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> CellServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class SimulatedNetwork(endpoint_probe.Network):
    """Resolves names from a table; routes stand-in public addresses to the
    local server; records every connect (address, port)."""

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.names: dict[str, list[str]] = {}
        self.connects: list[tuple[str, int]] = []
        self._routes: dict[str, int] = {}
        self.resolve_blocks = threading.Event()
        self.resolve_blocks.set()

    def serve(self, host: str) -> str:
        """Make ``host`` a public name of the local server; returns its address."""
        n = len(self._routes) + 1
        address = PUBLIC_STAND_IN.format(n // 256, n % 256)
        assert ipaddress.ip_address(address).is_global
        self._routes[address] = self.server_port
        self.names[host.lower()] = [address]
        return address

    def point(self, host: str, *addresses: str) -> None:
        """Make ``host`` resolve to ``addresses`` (e.g. an internal one)."""
        self.names[host.lower()] = list(addresses)

    def resolve(self, host: str, port: int) -> list[str]:
        self.resolve_blocks.wait()
        if host.lower() not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} not found")
        return list(self.names[host.lower()])

    def connect(self, address: str, port: int, timeout: float) -> socket.socket:
        self.connects.append((address, port))
        if address in self._routes:
            return socket.create_connection(("127.0.0.1", self._routes[address]), timeout=timeout)
        # Anything else would leave the machine: a real probe never gets here
        # for a non-public address, and the simulation has no internet.
        raise ConnectionRefusedError(f"no route to {address} in the simulation")


@contextmanager
def simulated_cells(domain: str = "cells.test", **server_options: Any) -> Iterator[Any]:
    """A CA, a cell server and the simulated network installed as the
    probe's adapter, with ``SSL_CERT_FILE`` trusting the CA; all undone on
    exit. Yields an object with ``ca``, ``server``, ``network`` and ``url()``."""
    import os

    ca = LocalCA(domain)
    previous_network = endpoint_probe.network
    previous_cert_file = os.environ.get("SSL_CERT_FILE")
    try:
        with CellServer(ca, **server_options) as server:
            network = SimulatedNetwork(server.port)
            endpoint_probe.network = network
            os.environ["SSL_CERT_FILE"] = str(ca.ca_file)
            yield _Cells(ca, server, network, domain)
    finally:
        endpoint_probe.network = previous_network
        if previous_cert_file is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous_cert_file
        ca.close()


class _Cells:
    def __init__(self, ca: LocalCA, server: CellServer, network: SimulatedNetwork, domain: str):
        self.ca, self.server, self.network, self.domain = ca, server, network, domain

    def url(self, name: str, path: str = "") -> str:
        """``https://<name>.<domain>/<path>``, served by the local cell server."""
        host = f"{name}.{self.domain}"
        if host.lower() not in self.network.names:
            self.network.serve(host)
        return f"https://{host}/{path}"
