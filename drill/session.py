"""One drill run: the stack model, an offline environment and the emulator.

::

    with DrillSession.open("dev") as session:
        failover.run(session)
        cells.run(session)

``open`` reads the stack (mock engine), sets fake credentials and an empty
AWS config (``~/.aws`` is never read), starts the serial moto server on
127.0.0.1 with fresh backends, and points every boto3 client at it through
``AWS_ENDPOINT_URL``. Everything is undone on exit.
"""

from __future__ import annotations

import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import boto3

from drill.report import Report
from drill.stack import StackModel, load_stack
from support.emulator import SerialMotoServer
from support.environment import (
    handler_stdout,
    offline_environment,
    quiet_libraries,
    scoped_environ,
)


@dataclass
class DrillSession:
    stack: StackModel
    server: SerialMotoServer
    report: Report
    started_at: float = field(default_factory=time.monotonic)
    _exit: ExitStack = field(default_factory=ExitStack, repr=False)

    @classmethod
    def open(
        cls, stack: str | StackModel | None = None, *, report: Report | None = None
    ) -> DrillSession:
        report = report or Report()
        model = stack if isinstance(stack, StackModel) else load_stack(stack)
        exit_stack = ExitStack()
        try:
            region = model.primary
            exit_stack.enter_context(scoped_environ(offline_environment(region)))
            exit_stack.enter_context(quiet_libraries())
            exit_stack.enter_context(handler_stdout())
            server = SerialMotoServer().start()
            exit_stack.callback(server.stop)
            exit_stack.enter_context(scoped_environ({"AWS_ENDPOINT_URL": server.endpoint_url}))
            reset_emulator(server.endpoint_url)
            exit_stack.callback(_forget_clients)
            _forget_clients()
        except BaseException:
            exit_stack.close()
            raise
        return cls(stack=model, server=server, report=report, _exit=exit_stack)

    def __enter__(self) -> DrillSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._exit.close()

    def client(self, service: str, region: str | None = None) -> Any:
        """A client of the drill's own (for arranging and checking), on the emulator."""
        return boto3.session.Session().client(
            service, region_name=region or self.stack.primary, endpoint_url=self.server.endpoint_url
        )


def reset_emulator(endpoint_url: str) -> None:
    """Empty every moto backend (they are process-wide, shared by all servers)."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _forget_clients() -> None:
    """Handlers cache their clients per container; a new emulator needs new ones."""
    from handlers.cell_router import aws_clients as router_clients
    from handlers.cell_router import identity as router_identity
    from handlers.lex_dr import aws_clients as lex_clients

    router_clients.reset()
    router_identity.reset()
    lex_clients.reset()
    boto3.DEFAULT_SESSION = None
