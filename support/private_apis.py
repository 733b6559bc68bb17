"""Every private Pulumi and moto API the test support uses, behind one adapter.

The mock engine (``support.mock_engine``) and the emulators (``support.sfn``,
``support.emulator``) need a few things neither library offers publicly:

Pulumi (``pulumi.runtime``, read from pulumi 3.272's source):

* ``settings.ROOT`` / ``settings.SETTINGS.rpc_manager`` / ``SETTINGS.outputs``:
  module-level runtime state that outlives a program run; a second run in the
  same process must start without the first one's root resource and pending
  work (``forget_root_resource``, ``forget_pending_work``);
* ``mocks._sync_await`` and ``stack.run_pulumi_func``: run a program to the
  end on the current event loop, as ``@pulumi.runtime.test`` does
  (``run_mocked``);
* ``mocks.MockMonitor``: subclassed to see each registration's URN, parent URN
  and ``retainOnDelete``, which ``Mocks.new_resource`` is not given
  (``urn_recording_monitor``, ``current_registration``).

moto (read from moto 5.2's source):

* ``moto.awslambda.models.LambdaFunction._invoke_lambda(self, event) ->
  (payload, errored, logs)``: replaced to run a Lambda function in-process
  instead of in Docker (``route_lambda_invocations``);
* ``moto.awslambda.exceptions.LambdaClientError``: how a Lambda *service*
  error is raised from there (``lambda_service_error``);
* ``moto.moto_server.werkzeug_app``: moto's WSGI application and request
  handler, served by our own werkzeug server (``moto_wsgi_server``);
* ``moto.core.config.default_user_config``: the switch that makes moto's Step
  Functions execute ASL, flipped for a server (``executing_state_machines``).

Each function checks first that the installed version is one this module was
written for (``WRITTEN_FOR``: the ranges ``requirements.txt`` and
``requirements-dev.txt`` pin) and raises ``UnsupportedVersion`` naming the
installed version and what to do otherwise. Private modules are imported only
after that check (and only when used: importing this module loads neither
moto nor Pulumi's runtime), so an unsupported version fails with that message,
not an ``ImportError`` or ``AttributeError`` from deep inside a test.

Nothing here may be imported by the Pulumi program or the handlers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

#: The versions this adapter was written for: the requirement files' pins.
#: Written against and run with pulumi 3.272.0 and moto 5.2.5.
WRITTEN_FOR: dict[str, SpecifierSet] = {
    "pulumi": SpecifierSet(">=3.200,<4"),
    "moto": SpecifierSet(">=5.1,<6"),
}
#: The versions the adapter was last run with (the suite passed on them).
LAST_VERIFIED = {"pulumi": "3.272.0", "moto": "5.2.5"}


class UnsupportedVersion(RuntimeError):
    """The installed pulumi or moto is outside the range this adapter was
    written for: its private APIs may have changed."""


def installed_version(package: str) -> str:
    """The installed distribution's version (``importlib.metadata``)."""
    return metadata.version(package)


def require(package: str) -> None:
    """Raise ``UnsupportedVersion`` unless the installed ``package`` is one
    ``WRITTEN_FOR`` covers. ``package``: ``"pulumi"`` or ``"moto"``."""
    _check(package, installed_version(package))


@functools.cache
def _check(package: str, installed: str) -> None:
    supported = WRITTEN_FOR[package]
    try:
        ok = Version(installed) in supported
    except InvalidVersion:
        ok = False
    if not ok:
        requirements = "requirements.txt" if package == "pulumi" else "requirements-dev.txt"
        raise UnsupportedVersion(
            f"{package} {installed} is installed, but support/private_apis.py uses {package}'s "
            f"private API and was written for {package}{supported} (last verified with "
            f"{LAST_VERIFIED[package]}). Install a supported version "
            f"(pip install '{package}{supported}', as {requirements} pins), or port "
            f"support/private_apis.py to {package} {installed} and widen WRITTEN_FOR there."
        )


# --------------------------------------------------------------------------- #
# Pulumi's runtime
# --------------------------------------------------------------------------- #
def forget_root_resource() -> None:
    """Drop the previous run's root stack resource (before ``set_mocks``,
    which creates a new one only when there is none)."""
    require("pulumi")
    from pulumi.runtime import settings

    settings.ROOT.set(None)


def forget_pending_work() -> None:
    """Drop RPCs and Output tasks a previous run left pending (after
    ``set_mocks``): when that run raised, its loop is closed, and awaiting its
    tasks would fail this run with "Event loop is closed"."""
    require("pulumi")
    from pulumi.runtime import settings

    # ``set_mocks`` replaced ``settings.SETTINGS``: read it now, not at import.
    current = settings.SETTINGS
    current.rpc_manager.clear()
    with current.lock:
        current.outputs.clear()


def run_mocked(body: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``body`` as a Pulumi program to its end on the current event loop
    (what ``@pulumi.runtime.test`` does), returning what ``body``'s awaitable
    resolves to. Exceptions of the program propagate."""
    require("pulumi")
    from pulumi.runtime import mocks
    from pulumi.runtime.stack import run_pulumi_func

    return mocks._sync_await(run_pulumi_func(lambda: mocks._sync_await(body())))


@dataclass(frozen=True)
class Registration:
    """What the monitor knew of the registration being served on this thread."""

    urn: str | None = None
    parent: str | None = None
    retain_on_delete: bool = False
    #: The resource's ``aliases`` as plain dicts (protobuf ``Alias`` messages).
    aliases: tuple[dict[str, Any], ...] = ()


_NO_REGISTRATION = Registration()
#: The registration being served on this thread: the mock monitor serves each
#: ``RegisterResource`` on an executor thread and calls ``Mocks.new_resource``
#: synchronously from it.
_registration = threading.local()


def current_registration() -> Registration:
    """For ``Mocks.new_resource``: the URN, parent URN, ``retainOnDelete`` and
    ``aliases`` of the resource being registered (all empty outside a registration)."""
    return getattr(_registration, "current", _NO_REGISTRATION)


def urn_recording_monitor(mocks: Any) -> Any:
    """A ``MockMonitor`` for ``mocks`` (a ``pulumi.runtime.Mocks``) that makes
    ``current_registration()`` answer during each ``RegisterResource`` and
    ``ReadResource`` (a ``StackReference``). Pass it to ``set_mocks(monitor=)``."""
    require("pulumi")
    return _monitor_class()(mocks)


@functools.cache
def _monitor_class() -> type:
    from pulumi.runtime.mocks import MockMonitor

    class UrnRecordingMonitor(MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            from google.protobuf import json_format

            registration = Registration(
                self.make_urn(request.parent, request.type, request.name),
                request.parent or None,
                bool(getattr(request, "retainOnDelete", False)),
                tuple(json_format.MessageToDict(a) for a in getattr(request, "aliases", ())),
            )
            with _serving(registration):
                return super().RegisterResource(request)

        def ReadResource(self, request: Any) -> Any:
            urn = self.make_urn(request.parent, request.type, request.name)
            with _serving(Registration(urn, request.parent or None)):
                return super().ReadResource(request)

    return UrnRecordingMonitor


@contextmanager
def _serving(registration: Registration) -> Iterator[None]:
    _registration.current = registration
    try:
        yield
    finally:
        _registration.current = _NO_REGISTRATION


# --------------------------------------------------------------------------- #
# moto
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class LambdaFunctionView:
    """What an in-process route needs of moto's Lambda function model."""

    name: str
    arn: str
    memory_size: int
    timeout_seconds: float


#: ``invoke(function, event) -> (json_payload, errored, logs)``, the contract
#: of moto's ``LambdaFunction._invoke_lambda``.
LambdaInvoke = Callable[[LambdaFunctionView, Any], tuple[str, bool, str]]


@contextmanager
def route_lambda_invocations(invoke: LambdaInvoke) -> Iterator[None]:
    """While active, moto runs every Lambda invocation as ``invoke(function,
    event)`` in this process instead of in Docker. ``event`` is what moto
    hands over: the decoded payload, or the raw string ``"{}"`` for an empty
    request body. Needs an active moto (``mock_aws`` or an in-process server)."""
    require("moto")
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._invoke_lambda

    def replacement(self: Any, event: Any = None) -> tuple[str, bool, str]:
        view = LambdaFunctionView(
            name=self.function_name,
            arn=self.function_arn,
            memory_size=int(self.memory_size or 128),
            timeout_seconds=float(self.timeout or 3),
        )
        return invoke(view, event)

    LambdaFunction._invoke_lambda = replacement  # type: ignore[method-assign]
    try:
        yield
    finally:
        LambdaFunction._invoke_lambda = original  # type: ignore[method-assign]


def lambda_service_error(code: str, message: str, status: int) -> Exception:
    """The exception that, raised from a routed invocation, makes moto fail
    the ``Invoke`` call itself with ``code`` and HTTP ``status``."""
    require("moto")
    from moto.awslambda.exceptions import LambdaClientError

    error = LambdaClientError(code, message)
    error.code = status
    return error


def moto_wsgi_server(host: str, port: int, *, threaded: bool) -> Any:
    """A werkzeug ``BaseWSGIServer`` serving moto's application (every
    service, dispatched by host and path) with moto's request handler; not yet
    serving. ``threaded=False``: one request at a time."""
    require("moto")
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    return make_server(host, port, app, threaded=threaded, request_handler=MotoRequestHandler)


@contextmanager
def executing_state_machines() -> Iterator[None]:
    """Make moto's Step Functions execute ASL for the duration (what
    ``mock_aws(config={"stepfunctions": {"execute_state_machine": True}})``
    sets), also for requests served by an in-process moto server."""
    require("moto")
    from moto.core.config import default_user_config

    config = default_user_config.setdefault("stepfunctions", {})
    previous = config.get("execute_state_machine", False)
    config["execute_state_machine"] = True
    try:
        yield
    finally:
        config["execute_state_machine"] = previous
