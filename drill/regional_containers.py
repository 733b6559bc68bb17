"""Both regions' cell-router Lambda containers, concurrently, in one process.

In AWS each region's router functions run in their own containers: their own
environment (``AWS_REGION``, ``ROUTER_REGION``, ``ROUTER_PEER_REGION``, the
region's table, queue and secret), their own cached clients and their own
cached writer decision. The "router home region lost" scenario
(``drill/router_region.py``) runs the real handlers of both regions at once,
on many threads, in this process. This module gives every invocation its
region's container for the duration of the call (``RegionalContainers.in_region``):

* **environment**: ``os.environ`` is replaced, while installed, by a mapping
  with a per-thread overlay: a thread inside ``in_region(r)`` reads region
  ``r``'s function environment; every other thread (the moto server, the
  drill itself) reads the process environment as before;
* **clients**: ``handlers.cell_router.aws_clients._client`` is replaced by a
  factory keyed by (region, service, timeouts), so a client made for one
  region is never handed to the other. Each client comes from a fresh boto3
  session carrying the replication emulator's hooks
  (``support.replication``) and a per-invocation round-trip counter;
* **the sign-up gate's cache**: ``handlers.cell_router.writer_gate._cache``
  (per container in AWS) becomes one dict per region, and the gate judges on
  the scenario's simulated clock (``writer_gate.enforce``'s ``now``);
* **time budgets**: ``handlers.cell_router.budget.CLOCK`` becomes a clock
  whose ``sleep`` skips time instead of spending it (per thread), so a call
  to a lost region retries until its deadline without the drill waiting.

Private names replaced here (and only here), as of this checkout:
``aws_clients._client`` (a ``functools.cache`` with ``cache_clear``) and
``writer_gate._cache`` (a dict). Everything is restored by ``close``.

Self-test (``bypass_gate``): the gate of one region answers PLACE for one
market whatever the writer record says, and the placement carries no writer
condition -- two writers for one market, which the scenario's checks must
catch.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import ExitStack, contextmanager
from typing import Any

import boto3
from botocore.config import Config

_ROUND_TRIP_HOOK = "drill-round-trips"


class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` with a per-thread overlay (see the module docstring).

    Writes go to the process environment (``scoped_environ`` in the main
    thread keeps working); reads inside ``overlay`` see the overlay first."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    @contextmanager
    def overlay(self, values: Mapping[str, str]) -> Iterator[None]:
        previous = getattr(self._local, "values", None)
        self._local.values = dict(values)
        try:
            yield
        finally:
            self._local.values = previous

    def _values(self) -> Mapping[str, str]:
        return getattr(self._local, "values", None) or {}

    def __getitem__(self, key: str) -> str:
        values = self._values()
        if key in values:
            return values[key]
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        self.base[key] = value

    def __delitem__(self, key: str) -> None:
        del self.base[key]

    def __iter__(self) -> Iterator[str]:
        return iter(set(self.base) | set(self._values()))

    def __len__(self) -> int:
        return len(set(self.base) | set(self._values()))

    def copy(self) -> dict[str, str]:
        return dict(self)


class _PerRegionCache(MutableMapping[str, Any]):
    """A dict per region, chosen by the calling thread's region."""

    def __init__(self, region: Callable[[], str | None]) -> None:
        self._region = region
        self._dicts: dict[str | None, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _dict(self) -> dict[str, Any]:
        with self._lock:
            return self._dicts.setdefault(self._region(), {})

    def __getitem__(self, key: str) -> Any:
        return self._dict()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._dict()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._dict()))

    def __len__(self) -> int:
        return len(self._dict())

    def clear(self) -> None:
        with self._lock:
            self._dicts.clear()


class _SkippingClock:
    """``budget.Clock``'s shape: monotonic time plus, per thread, the time its
    sleeps skipped. Backoffs cost nothing; deadlines still come due."""

    def __init__(self) -> None:
        self._local = threading.local()

    def now(self) -> float:
        return time.monotonic() + getattr(self._local, "skipped", 0.0)

    def sleep(self, seconds: float) -> None:
        self._local.skipped = getattr(self._local, "skipped", 0.0) + max(0.0, seconds)


class RegionalContainers:
    """Region -> that region's container state, for handlers called in-process.

    ``environments``: region -> the environment its functions run with;
    ``session_hooks``: called with every boto3 session the handlers' clients
    come from (the replication emulator's ``attach``); ``clock``: the
    simulated wall clock (epoch seconds) the sign-up gate judges by.
    """

    def __init__(
        self,
        environments: Mapping[str, Mapping[str, str]],
        *,
        session_hooks: Callable[[Any], Any],
        clock: Callable[[], float],
    ) -> None:
        self.environments = {r: dict(e) for r, e in environments.items()}
        self.session_hooks = session_hooks
        self.clock = clock
        #: (region, market) whose gate is bypassed (self-test only)
        self.bypass: set[tuple[str, str]] = set()
        self._local = threading.local()
        self._clients: dict[tuple[str, str, float, float], Any] = {}
        self._operators: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._exit = ExitStack()
        self._environ: ThreadEnviron | None = None

    # -- installation ------------------------------------------------------------

    def install(self) -> RegionalContainers:
        from handlers.cell_router import aws_clients, budget, writer_gate

        environ = ThreadEnviron(os.environ)
        self._environ = environ
        base = os.environ
        # Replacing (not clearing) the mapping is the point: readers see the overlay.
        os.environ = environ  # type: ignore[assignment]  # noqa: B003
        self._exit.callback(setattr, os, "environ", base)

        factory = self._client_factory()
        self._swap(aws_clients, "_client", factory)
        self._swap(writer_gate, "_cache", _PerRegionCache(self.current_region))
        self._swap(writer_gate, "enforce", self._gate(writer_gate.enforce))
        self._swap(writer_gate, "condition_for", self._condition(writer_gate.condition_for))
        self._swap(budget, "CLOCK", _SkippingClock())
        return self

    def close(self) -> None:
        self._exit.close()
        self._clients.clear()
        self._operators.clear()

    def __enter__(self) -> RegionalContainers:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _swap(self, module: Any, name: str, value: Any) -> None:
        original = getattr(module, name)
        setattr(module, name, value)
        self._exit.callback(setattr, module, name, original)

    # -- invocations ---------------------------------------------------------------

    def current_region(self) -> str | None:
        return getattr(self._local, "region", None)

    @contextmanager
    def in_region(self, region: str) -> Iterator[Counter[str]]:
        """Run the block as ``region``'s container; yields a Counter of the
        DynamoDB operations the block's handler calls made (round trips)."""
        assert self._environ is not None, "install() first"
        calls: Counter[str] = Counter()
        previous = (self.current_region(), getattr(self._local, "calls", None))
        self._local.region = region
        self._local.calls = calls
        try:
            with self._environ.overlay(self.environments[region]):
                yield calls
        finally:
            self._local.region, self._local.calls = previous

    def reset_clients(self) -> None:
        """Forget every client (as new containers would start): clients made
        after a fault injector is activated carry its hook."""
        with self._lock:
            self._clients.clear()
            self._operators.clear()

    def operator_client(self, region: str) -> Any:
        """An operator's DynamoDB client in ``region`` (the ops tool's); its
        writes replicate like the handlers' and are not counted as round trips."""
        with self._lock:
            if region not in self._operators:
                # One attempt, no SDK backoff: a lost region answers at once.
                config = Config(retries={"mode": "standard", "total_max_attempts": 1})
                self._operators[region] = self._new_client("dynamodb", region, config)
            return self._operators[region]

    # -- replacements ----------------------------------------------------------------

    def _client_factory(self) -> Callable[..., Any]:
        from handlers.cell_router import aws_clients

        def _client(service: str, connect_timeout: float, read_timeout: float) -> Any:
            region = self.current_region()
            if region is None:
                raise RuntimeError("a handler client was asked for outside in_region()")
            key = (region, service, connect_timeout, read_timeout)
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    config = aws_clients.client_config(connect_timeout, read_timeout)
                    client = self._new_client(service, region, config)
                    self._clients[key] = client
                return client

        _client.cache_clear = self.reset_clients  # type: ignore[attr-defined]
        return _client

    def _new_client(self, service: str, region: str, config: Any) -> Any:
        session = boto3.session.Session()
        self.session_hooks(session)
        session.events.register("before-call.dynamodb", self._count, unique_id=_ROUND_TRIP_HOOK)
        return session.client(service, region_name=region, config=config)

    def _count(self, model: Any, **_: Any) -> None:
        calls = getattr(self._local, "calls", None)
        if calls is not None:
            calls[model.name] += 1

    def _gate(self, enforce: Callable[..., Any]) -> Callable[..., Any]:
        from handlers.cell_router import writer

        def gated(read: Any, market_id: str, now: float | None = None) -> Any:
            region = self.current_region()
            if (region, market_id) in self.bypass:
                return writer.WriterDecision(writer.Verdict.PLACE, region or "", 0)
            return enforce(read, market_id, self.clock() if now is None else now)

        return gated

    def _condition(self, condition_for: Callable[..., Any]) -> Callable[..., Any]:
        def condition(table: str, market_id: str, decision: Any) -> Any:
            if (self.current_region(), market_id) in self.bypass:
                return None
            return condition_for(table, market_id, decision)

        return condition
