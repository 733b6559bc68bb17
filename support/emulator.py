"""An in-process moto server that handles one request at a time.

Real DynamoDB applies each write atomically; moto's threaded server does not
lock its in-memory tables, so concurrent requests against it can interleave in
ways AWS never would. Serving requests strictly one after another restores the
atomicity that our concurrency claims rely on, while clients still race for
real (many threads, many connections, arbitrary interleaving between calls).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from werkzeug.serving import BaseWSGIServer

from support.private_apis import moto_wsgi_server

#: Each invocation gets this many times its deployed timeout: the emulator
#: serves one request at a time, orders of magnitude slower than DynamoDB, so
#: the deployed budgets would measure the emulator, not the router. (The time
#: budgets themselves are tested on a simulated clock.)
EMULATOR_TIME_SCALE = 10

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class SerialMotoServer:
    """moto on 127.0.0.1, an ephemeral port, and a single serving thread.

    ``threaded=True`` serves each request on its own thread instead (moto's
    usual mode). Every server started in one process shares moto's in-memory
    backends, so a threaded server can take the requests that must not wait
    behind another one -- e.g. the Lambda ``Invoke`` calls of moto's Step
    Functions interpreter, whose in-process handlers then call the serial
    server (see ``drill.cells``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, threaded: bool = False) -> None:
        self._host = host
        self._port = port
        self._threaded = threaded
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SerialMotoServer:
        # threaded=False, processes=1: the WSGI server handles one request,
        # start to finish, before it accepts the next.
        self._server = moto_wsgi_server(self._host, self._port, threaded=self._threaded)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


@contextmanager
def serial_moto_server(region: str = "us-east-1") -> Iterator[SerialMotoServer]:
    """Start a serial moto server and point every new boto3 client at it.

    Sets ``AWS_ENDPOINT_URL`` (honoured by boto3 >= 1.28) and fake credentials
    for the duration, restoring the previous environment afterwards.
    """
    server = SerialMotoServer().start()
    try:
        with scoped_environ(
            {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": server.endpoint_url,
             "AWS_DEFAULT_REGION": region}
        ):  # fmt: skip
            yield server
    finally:
        server.stop()


@contextmanager
def scoped_environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for ``None``, remove) variables; restore them all on exit."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
