"""Scenario "router home region lost": the cell router in two regions, on moto.

Both regions' routing tables are moto tables kept in step by
``drill.replication.GlobalTableEmulator`` (lag, per-item last-writer-wins,
every write recorded with its region). The real handlers -- dispatcher and
scaler for ``/cells``, mapper, validator, registrar, heartbeat -- run "in"
each region with that region's environment, clients and cached writer
decision (``drill.regional_containers``), concurrently on many threads,
against the serial emulator (one request at a time, as DynamoDB applies each
write atomically). Clients hold both router URLs and follow the README's
client guidance: a read that fails (5xx, no answer) is retried once on the
other URL; a sign-up follows a 421 ``WrongRegion`` to the ``routerUrl`` it
names, once, and tries the other URL when a region does not answer.

The story, on a simulated clock (seconds):

1. cells registered in the primary (the writer of every market without a
   writer record); heartbeats; a planned promotion of one market (americas)
   to the secondary through ``ops.commands.promote`` -- its fence waits for
   the primary's acknowledgement, then ``WRITER_FENCE_SECONDS``;
2. ``steady``: sign-ups in both regions (each market placed by its writer;
   the other region answers 421 and the client follows);
3. ``reads``: more sign-ups, and known users' ``/mapper`` and ``/validate``;
4. ``loss``: half the phase's requests run, then the primary fails (every
   call to its DynamoDB, SQS and Secrets Manager endpoints times out:
   ``drill.faults``), and the other half run: known users are answered by
   the secondary after the client's retry; sign-ups of the primary's markets
   are refused (no writer answers), the secondary's market keeps placing;
5. the operator promotes the primary's markets to the secondary: without
   ``--force`` the tool refuses (the primary does not answer); with it, the
   secondary fences (a sign-up during the fence gets 503) and then places;
6. ``promoted``: sign-ups (new users and those refused during the loss) are
   placed by the secondary; reads go on;
7. the primary recovers; its heartbeat acknowledges the new epochs;
   ``recovered``: both regions answer reads, the primary sends sign-ups to
   the secondary (421); the operator heals the fenced markets;
8. replication drains and the invariants are checked on both replicas.

The checks are a pure function of the result (``invariants``), printed by
``print_result``. ``--inject-fault two-writers`` bypasses the secondary's
gate for one market during the steady phases: two regions place into the
same cells, and the checks must fail.

What the loss is: the primary's endpoints fail, while writes it accepted
before the failure still replicate, ``REPLICATION_BACKLOG_SECONDS`` late (a
backlog, as an impaired region's replication latency grows), as when a
region's front door fails but its storage does not: they are in flight when
the operator promotes, and the forced fence must wait them out (with
``fence_seconds`` shorter than the backlog, the checks fail). ``replication_cut=True`` also cuts
replication both ways until the primary returns (the global table's
replication itself is impaired): the primary's last writes then meet the
secondary's writes to the same cell items when it returns, and
last-writer-wins drops increments -- the risk the README describes for a
forced promotion; the checks catch it.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from components.api_templates import ERROR_STATUS
from components.schemas import ROUTER_TABLE
from drill.environment import handler_environment
from drill.regional_containers import RegionalContainers
from drill.replication import GlobalTableEmulator
from drill.report import Check, Checked, Report
from drill.router_invariants import Acknowledged, check_converged, check_placement
from drill.session import DrillSession

DEFAULT_USERS = 12
#: Fewest new sign-ups a phase for every phase to exercise what it checks.
MIN_USERS = 4
DEFAULT_THREADS = 8
DEFAULT_SEED = 13
#: Emulated replication lag: AWS's "usually within one second".
REPLICATION_LAG_SECONDS = 1.0
#: At the loss, the primary's outbound replication falls this far behind (an
#: impaired region's ReplicationLatency grows; the figure is illustrative): its
#: last writes are still in flight when the operator promotes, and the fence
#: must wait them out.
REPLICATION_BACKLOG_SECONDS = 40.0
#: Simulated wall-clock time of t = 0 (epoch seconds the handlers see).
EPOCH_BASE = 1_800_000_000.0
#: Each invocation gets this many times its deployed timeout: the emulator
#: serves one request at a time, far slower than DynamoDB (as drill.cells).
EMULATOR_TIME_SCALE = 10

#: The self-test of the drill's own checks (``--inject-fault``).
FAULT_TWO_WRITERS = "two-writers"
FAULTS = (FAULT_TWO_WRITERS,)

#: market -> (cells, maxCapacity of each); the last market starts written by
#: the secondary (a planned promotion at setup) and fills to its limit.
MARKETS: dict[str, tuple[int, int]] = {"europe": (2, 50), "asia": (1, 50), "americas": (1, 20)}
SECONDARY_MARKET = "americas"
#: New users' markets, in turn (their home region alternates): any two
#: consecutive users include one of the primary's markets, and every
#: (market, home region) pair recurs every ten users.
MARKET_CYCLE = ("europe", "americas", "asia", "europe", "americas")
#: The market whose gate the self-test bypasses in the secondary: one cell,
#: so both regions' placements in one phase write the same cell item.
TWO_WRITERS_MARKET = "asia"

PHASES = ("steady", "reads", "loss", "fence", "promoted", "recovered")
ROUTER_FUNCTIONS = ("dispatcher", "scaler", "mapper", "validator", "registrar")
#: AWS services of the primary that fail when it is lost.
LOST_SERVICES = ("dynamodb", "sqs", "secretsmanager")


# --------------------------------------------------------------------------- #
# What happened
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Attempt:
    """One call of a client to one region's router."""

    region: str
    status: int
    error: str = ""
    message: str = ""
    cell_id: str | None = None
    new_assignment: bool = False
    #: DynamoDB operation -> calls the answering function made (round trips)
    calls: tuple[tuple[str, int], ...] = ()
    #: a 421's writer region
    writer_region: str = ""
    endpoints: tuple[str, ...] = ()
    valid: bool | None = None

    @property
    def round_trips(self) -> int:
        return sum(n for _, n in self.calls)

    def count(self, operation: str) -> int:
        return dict(self.calls).get(operation, 0)


@dataclass(frozen=True)
class Request:
    """One client request (sign-up, /mapper or /validate) and its attempts."""

    phase: str
    kind: str  # "sign-up" (a new user) | "cells" (a known user's) | "mapper" | "validate"
    user_id: str
    market: str
    first: str  # the region the client called first
    after_loss: bool
    attempts: tuple[Attempt, ...]
    #: for reads: the cell the user was acknowledged in
    expected_cell: str | None = None

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]

    @property
    def ok(self) -> bool:
        return self.final.status == 200

    @property
    def placed(self) -> bool:
        return self.kind == "sign-up" and self.ok and self.final.new_assignment


@dataclass
class RouterRegionResult(Checked):
    stack: str
    primary: str
    secondary: str
    users: int
    threads: int
    seed: int
    fault: str | None
    replication_cut: bool
    capacity_buffer: Decimal = Decimal("0.2")
    fence_seconds: int = 0
    lease_seconds: int = 0
    requests: list[Request] = field(default_factory=list)
    #: (simulated t, what happened)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    #: phase -> market -> the region that should be placing its users
    writers: dict[str, dict[str, str]] = field(default_factory=dict)
    planned_promotion: str = ""
    unforced_refusal: str = ""
    promotions: list[str] = field(default_factory=list)
    heals: list[str] = field(default_factory=list)
    #: ops writer_status rows at a few moments: label -> rows
    operator_views: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    user_key_secret: str = ""
    #: region -> every item of its replica after replication drained
    copies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lost_updates: list[str] = field(default_factory=list)
    pending_from_primary_at_promotion: int = 0
    pending_from_primary_before_placing: int = 0
    heartbeat_failures: list[str] = field(default_factory=list)
    faults_injected: int = 0
    checks: list[Check] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def phase(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.phase == name]

    def acknowledged(self) -> list[Acknowledged]:
        from handlers.cell_router.identity import keyed_user_key

        key = self.user_key_secret.encode()
        return [
            Acknowledged(keyed_user_key(r.user_id, key), r.market, r.final.cell_id or "")
            for r in self.requests
            if r.kind == "sign-up" and r.ok
        ]


# --------------------------------------------------------------------------- #
# The two-region plane
# --------------------------------------------------------------------------- #
class TwoRegionRouter:
    """Both regions' router on the emulator: tables, queues, secrets, the
    handlers with each region's environment, the simulated clock."""

    def __init__(
        self, session: DrillSession, *, seed: int, overrides: dict[str, str] | None = None
    ) -> None:
        stack = session.stack
        self.session = session
        self.primary, self.secondary = stack.primary, stack.secondary
        self.regions = (self.primary, self.secondary)
        self.t = 0.0
        self.rng = random.Random(seed)
        self._exit = ExitStack()
        functions = {m: stack.function("cell_router", m) for m in ROUTER_FUNCTIONS}
        self.functions = functions
        self.table = functions["dispatcher"].environment["TABLE_NAME"]
        self.urls = {r: f"https://router.{r}.drill.test/prod" for r in self.regions}
        self.user_key_secret = f"drill-user-key-{seed}-" + "k" * 24
        self.overrides = dict(overrides or {})
        self.derived_environment = False
        environments = {}
        for region in self.regions:
            ddb = session.client("dynamodb", region)
            ddb.create_table(**ROUTER_TABLE.create_table_request(self.table))
            queue = session.client("sqs", region).create_queue(
                QueueName=f"{self.table}-CellProvisioning"
            )["QueueUrl"]
            # The user-key secret must be the same key in both regions (a
            # replicated secret), or a user would be two users.
            secret = session.client("secretsmanager", region).create_secret(
                Name=f"{self.table}-user-key", SecretString=self.user_key_secret
            )["ARN"]
            environments[region] = self._environment(region, queue, secret)
        unhooked = {r: session.client("dynamodb", r) for r in self.regions}
        self.replication = GlobalTableEmulator(
            regions=self.regions,
            key_attributes={
                self.table: (ROUTER_TABLE.hash_key.name, ROUTER_TABLE.range_key.name)  # type: ignore[union-attr]
            },
            client_for=unhooked.__getitem__,
            clock=self.now,
            lag_seconds=REPLICATION_LAG_SECONDS,
        )
        self.unhooked = unhooked
        self.containers = RegionalContainers(
            environments, session_hooks=self.replication.attach, clock=self.now
        )
        self.environments = environments

    def _environment(self, region: str, queue_url: str, secret_arn: str) -> dict[str, str]:
        """The router functions' environment in ``region``: the stack's (its
        functions in that region when it declares them; else the primary's,
        with the region's own names) plus the two-region settings."""
        stack = self.session.stack
        declared = [
            f
            for f in stack.functions.values()
            if f.region == region and f.module.startswith("handlers.cell_router.")
        ]
        if not declared:
            self.derived_environment = True
            declared = list(self.functions.values())
        env = handler_environment(*(f.environment for f in declared))
        env.setdefault("ROUTER_PRIMARY_REGION", self.primary)
        env.update(
            {
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "ROUTER_REGION": region,
                "ROUTER_PEER_REGION": self.secondary if region == self.primary else self.primary,
                "ROUTER_URLS": json.dumps(self.urls),
                "PROVISIONING_QUEUE_URL": queue_url,
                "USER_KEY_SECRET_ARN": secret_arn,
                # The cells' endpoints are not what this scenario is about.
                "VALIDATOR_DEEP_CHECK": "false",
            }
        )
        env.update(self.overrides)
        return env

    def __enter__(self) -> TwoRegionRouter:
        self.containers.install()
        self._exit.callback(self.containers.close)
        self._exit.callback(self.replication.detach)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exit.close()

    # -- time ---------------------------------------------------------------------

    def now(self) -> float:
        return EPOCH_BASE + self.t

    def advance_to(self, t: float) -> None:
        self.t = max(self.t, t)
        self.replication.pump()

    # -- invocations -----------------------------------------------------------------

    @staticmethod
    def _context(function: Any) -> Any:
        context = function.context()
        context.timeout_seconds *= EMULATOR_TIME_SCALE
        return context

    def invoke(self, region: str, module: str, event: Any) -> Any:
        """Call one of the router's functions in ``region``'s container."""
        function = self.functions[module]
        with self.containers.in_region(region):
            return function.load()(event, self._context(function))

    def call(self, region: str, path: str, user_id: str, body: dict[str, Any]) -> Attempt:
        """One API request to ``region``'s router, as the Orchestrator runs it
        (``/cells``: dispatcher then scaler), with the status the API maps the
        answer to (``ERROR_STATUS``)."""
        from handlers.cell_router.errors import CellRouterError, WrongRegion

        event = {"path": path, "httpMethod": "POST", "userId": user_id, "body": body}
        module = {"/cells": "dispatcher", "/mapper": "mapper", "/validate": "validator"}[path]
        calls: Counter[str] = Counter()
        try:
            with self.containers.in_region(region) as calls:
                function = self.functions[module]
                answer = function.load()(event, self._context(function))
                counted = tuple(sorted(calls.items()))
                if path == "/cells":
                    scaler = self.functions["scaler"]
                    # The state machine catches every scaler failure.
                    with contextlib.suppress(Exception):
                        scaler.load()(answer, self._context(scaler))
        except WrongRegion as error:
            return Attempt(
                region,
                ERROR_STATUS["WrongRegion"],
                "WrongRegion",
                str(error),
                writer_region=error.region,
                calls=tuple(sorted(calls.items())),
            )
        except CellRouterError as error:
            name = type(error).__name__
            return Attempt(region, ERROR_STATUS.get(name, 500), name, str(error))
        except Exception as error:  # an unhandled error is the API's 500
            return Attempt(region, 500, type(error).__name__, str(error))
        if path == "/validate":
            return Attempt(
                region, 200, cell_id=answer["cellId"], calls=counted, valid=bool(answer["valid"])
            )
        return Attempt(
            region,
            200,
            cell_id=answer["cellId"],
            new_assignment=bool(answer.get("newAssignment")),
            calls=counted,
            endpoints=tuple(e["url"] for e in answer.get("endpoints", [])),
        )

    def other(self, region: str) -> str:
        return self.secondary if region == self.primary else self.primary

    def sign_up(self, first: str, user_id: str, market: str) -> tuple[Attempt, ...]:
        """The client's sign-up: follow a 421 to the region it names (once);
        when a region does not answer (5xx but a true NoCapacity), try the
        other URL. At most three calls."""
        attempts = [self.call(first, "/cells", user_id, {"marketId": market})]
        tried_other = False
        while len(attempts) < 3:
            last = attempts[-1]
            if last.status == ERROR_STATUS["WrongRegion"] and last.writer_region:
                if any(a.status == 421 for a in attempts[:-1]):
                    break  # follow a 421 once
                target = last.writer_region
            elif last.status >= 500 and last.error != "NoCapacity" and not tried_other:
                target = self.other(last.region)
                tried_other = True
            else:
                break
            attempts.append(self.call(target, "/cells", user_id, {"marketId": market}))
        return tuple(attempts)

    def read(
        self, first: str, path: str, user_id: str, body: dict[str, Any]
    ) -> tuple[Attempt, ...]:
        """A read: on 429 or 5xx, once more on the other URL."""
        attempt = self.call(first, path, user_id, body)
        if attempt.status == 429 or attempt.status >= 500:
            return attempt, self.call(self.other(first), path, user_id, body)
        return (attempt,)

    # -- operations ---------------------------------------------------------------

    def register_cells(self) -> list[str]:
        from handlers.cell_router import events

        registered = []
        router_id = self.functions["registrar"].environment.get("CELL_READY_ROUTER_ID")
        for market, (count, capacity) in MARKETS.items():
            for n in range(1, count + 1):
                cell_id = f"{market}-{n}"
                detail = events.cell_ready_detail(
                    market_id=market,
                    cell_id=cell_id,
                    max_capacity=capacity,
                    endpoints=[
                        {"url": f"https://{cell_id}-a.cells.drill.test/", "region": self.primary},
                        {"url": f"https://{cell_id}-b.cells.drill.test/", "region": self.secondary},
                    ],
                    router_id=router_id,
                )
                entry = events.cell_ready_entry(detail)
                event = {
                    "version": "0",
                    "id": str(uuid.UUID(int=self.rng.getrandbits(128))),
                    "detail-type": entry["DetailType"],
                    "source": entry["Source"],
                    "account": "123456789012",
                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now())),
                    "region": self.primary,
                    "resources": [],
                    "detail": detail,
                }
                self.invoke(self.primary, "registrar", event)
                registered.append(cell_id)
        return registered

    def beat(self, region: str) -> str | None:
        """The region's scheduled heartbeat; the error's name if it failed."""
        from handlers.cell_router import heartbeat

        with self.containers.in_region(region):
            try:
                heartbeat.handler({}, None, now=self.now())
            except Exception as error:
                return type(error).__name__
        return None

    def outputs(self) -> Any:
        from ops.outputs import StackOutputs

        return StackOutputs(
            primary_region=self.primary,
            secondary_region=self.secondary,
            router_table_name=self.table,
            lex_state_table_name=None,
            router_urls=dict(self.urls),
        )

    def operator(self, region: str) -> Any:
        return self.containers.operator_client(region)

    def scan(self, region: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        items = []
        pages = (
            self.unhooked[region]
            .get_paginator("scan")
            .paginate(TableName=self.table, ConsistentRead=True)
        )
        for page in pages:
            items.extend(
                {k: deserializer.deserialize(v) for k, v in i.items()} for i in page["Items"]
            )
        return sorted(items, key=lambda i: (str(i["marketId"]), str(i["cellId"])))


# --------------------------------------------------------------------------- #
# Steps
# --------------------------------------------------------------------------- #
def run(
    session: DrillSession,
    *,
    users: int = DEFAULT_USERS,
    threads: int = DEFAULT_THREADS,
    seed: int = DEFAULT_SEED,
    fault: str | None = None,
    replication_cut: bool = False,
    fence_seconds: int | None = None,
    report: Report | None = None,
) -> RouterRegionResult:
    """Run the story (module docstring) on ``session``'s emulator, check it
    (``invariants``) and print it. ``users``: new sign-ups per phase;
    ``fence_seconds``: ``WRITER_FENCE_SECONDS`` in both regions instead of
    the stack's (a fence shorter than the backlog must fail the checks)."""
    from drill.faults import FaultInjector
    from handlers.cell_router import budget, writer_gate
    from ops import commands
    from ops.outputs import OpsError

    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown router-region fault {fault!r}")
    if users < MIN_USERS or threads < 1:
        raise ValueError(f"users must be at least {MIN_USERS} and threads at least 1")
    out = report or session.report
    started = time.monotonic()
    stack = session.stack
    buffer = Decimal(str(stack.settings.cell_router.capacity_buffer))
    result = RouterRegionResult(
        stack=stack.name,
        primary=stack.primary,
        secondary=stack.secondary,
        users=users,
        threads=threads,
        seed=seed,
        fault=fault,
        replication_cut=replication_cut,
        capacity_buffer=buffer,
    )
    primary, secondary = stack.primary, stack.secondary
    overrides = {} if fence_seconds is None else {"WRITER_FENCE_SECONDS": str(fence_seconds)}
    plane = TwoRegionRouter(session, seed=seed, overrides=overrides)
    result.user_key_secret = plane.user_key_secret
    policy = writer_gate.policy_from_env(plane.environments[secondary])
    result.fence_seconds, result.lease_seconds = policy.fence_seconds, policy.lease_seconds
    note = result.timeline.append
    rng = random.Random(seed)
    outputs = plane.outputs()
    clients = plane.operator
    markets = list(MARKETS)
    primary_markets = [m for m in markets if m != SECONDARY_MARKET]
    user_numbers = iter(range(1, 1_000_000))
    known: list[tuple[str, str, str, Attempt]] = []  # (user, market, home, answer)
    refused: list[tuple[str, str, str]] = []

    def beat_all(regions: Iterable[str] = plane.regions) -> None:
        for region in regions:
            failed = plane.beat(region)
            if failed:
                result.heartbeat_failures.append(f"t={plane.t:.0f} {region}: {failed}")

    def settle(t: float) -> None:
        """Replication delivers, heartbeats beat, replication delivers."""
        plane.advance_to(t)
        beat_all()
        plane.advance_to(t + 2 * REPLICATION_LAG_SECONDS)

    def writers_now(label: str) -> None:
        result.operator_views[label] = commands.writer_status(
            clients, outputs, markets, plane.now()
        )

    def new_users(count: int) -> list[tuple[str, str, str]]:
        made = []
        for _ in range(count):
            n = next(user_numbers)
            market = MARKET_CYCLE[n % len(MARKET_CYCLE)]
            home = plane.regions[n % 2]
            made.append((f"user{n:04d}", market, home))
        return made

    def run_phase(
        phase: str,
        sign_ups: list[tuple[str, str, str]],
        lookups: int,
        *,
        after_loss: bool = False,
        readable: list[tuple[str, str, str, Attempt]] | None = None,
    ) -> list[Request]:
        # Known users whose sign-up has replicated (the phase starts after a
        # settle), unless the caller says which.
        pool_of = known if readable is None else readable
        # As many clients that call the primary first as the secondary first.
        readers = []
        for n, region in enumerate(plane.regions):
            homed = [u for u in pool_of if u[2] == region]
            wanted = (lookups + 1 - n) // 2
            readers += rng.sample(homed, min(wanted, len(homed)))
        work: list[Callable[[], list[Request]]] = []
        for user_id, market, home in sign_ups:

            def signing(user_id: str = user_id, market: str = market, home: str = home) -> list:
                attempts = plane.sign_up(home, user_id, market)
                return [Request(phase, "sign-up", user_id, market, home, after_loss, attempts)]

            work.append(signing)
        for user_id, market, home, answer in readers:

            def reading(
                user_id: str = user_id,
                market: str = market,
                home: str = home,
                answer: Attempt = answer,
            ) -> list:
                mapper = plane.read(home, "/mapper", user_id, {})
                body = {
                    "cellId": answer.cell_id,
                    "cellUrl": answer.endpoints[0],
                    "cellUrl2": answer.endpoints[1],
                }
                validate = plane.read(home, "/validate", user_id, body)
                again = plane.read(home, "/cells", user_id, {"marketId": market})
                return [
                    Request(
                        phase, "cells", user_id, market, home, after_loss, again, answer.cell_id
                    ),
                    Request(
                        phase, "mapper", user_id, market, home, after_loss, mapper, answer.cell_id
                    ),
                    Request(
                        phase,
                        "validate",
                        user_id,
                        market,
                        home,
                        after_loss,
                        validate,
                        answer.cell_id,
                    ),
                ]

            work.append(reading)
        rng.shuffle(work)
        with ThreadPoolExecutor(threads, thread_name_prefix=f"router-{phase}") as pool:
            done = [r for batch in pool.map(lambda job: job(), work) for r in batch]
        result.requests.extend(done)
        return done

    def learn(requests: list[Request]) -> None:
        """Placed users become known users; refused ones retry later."""
        for r in requests:
            if r.kind != "sign-up":
                continue
            if r.ok and len(r.final.endpoints) == 2:
                known.append((r.user_id, r.market, r.first, r.final))
            elif r.final.error != "NoCapacity":
                refused.append((r.user_id, r.market, r.first))

    expected = {m: primary for m in markets} | {SECONDARY_MARKET: secondary}
    with plane, ExitStack() as outage:
        # 1. cells, heartbeats, the planned promotion of one market
        cells = plane.register_cells()
        note((plane.t, f"cells registered in {primary} (registrar): {', '.join(cells)}"))
        settle(1)
        plan = commands.promote(clients, outputs, SECONDARY_MARKET, secondary, now=plane.now())
        result.planned_promotion = plan.summary
        note((plane.t, f"ops promote (planned): {plan.summary}"))
        settle(plane.t + 1)
        writers_now(f"t={plane.t:.0f}: during the planned promotion's fence")
        settle(plane.t + policy.fence_seconds + 1)
        note((plane.t, f"fence of the planned promotion over ({policy.fence_seconds} s)"))

        # 2. steady
        extra = []
        if fault == FAULT_TWO_WRITERS:
            plane.containers.bypass.add((secondary, TWO_WRITERS_MARKET))
            # One sign-up of that market sent to each region, in one phase.
            extra = [(f"selftest{n}", TWO_WRITERS_MARKET, r) for n, r in enumerate(plane.regions)]
            note(
                (
                    plane.t,
                    f"SELF-TEST: {secondary}'s gate bypassed for {TWO_WRITERS_MARKET!r} "
                    "(two writers)",
                )
            )
        result.writers["steady"] = dict(expected)
        learn(run_phase("steady", new_users(users) + extra, 0))
        settle(plane.t + 5)
        result.writers["reads"] = dict(expected)
        learn(run_phase("reads", new_users(users), users))
        plane.containers.bypass.clear()
        settle(plane.t + 5)

        # 3. the primary is lost between the two halves of a phase
        result.writers["loss"] = dict(expected)
        half = users // 2
        batch = new_users(users)
        replicated = list(known)
        learn(run_phase("loss", batch[:half], half))
        spec = ",".join(f"{service}[{primary}]=connect-timeout" for service in LOST_SERVICES)
        # A timeout costs its connect timeout on the invocation's budget clock
        # (drill.regional_containers skips it instead of waiting).
        injector = FaultInjector(spec, seed=seed, sleep=lambda s: budget.CLOCK.sleep(s))
        outage.enter_context(injector.active())
        plane.containers.reset_clients()  # clients made from now on carry the fault
        if replication_cut:
            plane.replication.isolate(primary)
        else:
            plane.replication.delay_from(primary, REPLICATION_BACKLOG_SECONDS)
        in_flight = plane.replication.pending_from(primary)
        note(
            (
                plane.t,
                f">> {primary} lost: every call to its {', '.join(LOST_SERVICES)} endpoints "
                "times out; "
                + (
                    f"replication to and from it cut ({in_flight} of its writes in flight)"
                    if replication_cut
                    else f"its last {in_flight} writes replicate "
                    f"{REPLICATION_BACKLOG_SECONDS:g} s late"
                ),
            )
        )
        # Existing users: those whose sign-up replicated before the phase. A
        # user placed in the primary in the last lag before the loss is not
        # known to the secondary until that write arrives.
        learn(run_phase("loss", batch[half:], users - half, after_loss=True, readable=replicated))
        settle(plane.t + 10)
        writers_now(f"t={plane.t:.0f}: {primary} lost")

        # 4. promotion through the operator tool
        plane.advance_to(plane.t + 20)
        try:
            commands.promote(clients, outputs, primary_markets[0], secondary, now=plane.now())
        except OpsError as error:
            result.unforced_refusal = str(error)
            first_sentence = str(error).split(". ")[0]
            note((plane.t, f"ops promote without --force: refused ({first_sentence})"))
        promoted_at = plane.t
        result.pending_from_primary_at_promotion = plane.replication.pending_from(primary)
        for market in primary_markets:
            plan = commands.promote(
                clients, outputs, market, secondary, now=plane.now(), force=True
            )
            result.promotions.append(plan.summary)
            note((plane.t, f"ops promote --force: {plan.summary}"))
            expected[market] = secondary
        plane.advance_to(plane.t + REPLICATION_LAG_SECONDS)
        # A sign-up during the fence: the new writer refuses with a retry hint.
        result.writers["fence"] = dict(expected)
        run_phase("fence", [(f"fence{n}", m, secondary) for n, m in enumerate(primary_markets)], 0)
        settle(promoted_at + policy.fence_seconds + 1)
        result.pending_from_primary_before_placing = plane.replication.pending_from(primary)
        writers_now(f"t={plane.t:.0f}: after the fence")

        # 5. the secondary places the promoted markets
        result.writers["promoted"] = dict(expected)
        retrying = list(refused)
        refused.clear()
        learn(run_phase("promoted", retrying + new_users(users), users))
        settle(plane.t + 5)

        # 6. recovery and heal
        outage.close()
        plane.containers.reset_clients()
        result.faults_injected = injector.total_injected
        if replication_cut:
            plane.replication.restore(primary)
        note(
            (
                plane.t,
                f">> {primary} recovers" + (", replication resumes" if replication_cut else ""),
            )
        )
        recovered_at = plane.t + 1
        settle(recovered_at)
        settle(plane.t + 1)  # the primary's acknowledgement reaches the secondary
        result.writers["recovered"] = dict(expected)
        learn(run_phase("recovered", new_users(users), users))
        settle(plane.t + 5)
        for market in primary_markets:
            try:
                healed = commands.heal(clients, outputs, market)
                result.heals.append(healed.summary)
                note((plane.t, f"ops heal: {healed.summary}"))
            except OpsError as error:
                result.heals.append(f"{market}: refused ({error})")
                note((plane.t, f"ops heal {market}: refused ({error})"))
        settle(plane.t + 5)
        writers_now(f"t={plane.t:.0f}: healed")
        # Healing clears fencedRegion, so the new writer's fence is judged by
        # the old writer's acknowledgement again: it ends fence seconds after
        # the primary first held the new epoch.
        settle(recovered_at + policy.fence_seconds + 3)
        writers_now(f"t={plane.t:.0f}: fence after the heal over")

        # 7. replication drains; both replicas are read
        plane.replication.flush()
        result.copies = {region: plane.scan(region) for region in plane.regions}
        result.lost_updates = [
            f"{u.key[0][2]}/{u.key[1][2]}: {u.lost_region}'s write lost to {u.winning_region}'s"
            for u in plane.replication.lost_updates
        ]
    result.checks = invariants(result)
    result.elapsed_seconds = time.monotonic() - started
    print_result(out, result, plane.derived_environment)
    return result


# --------------------------------------------------------------------------- #
# Invariants (pure)
# --------------------------------------------------------------------------- #
def invariants(result: RouterRegionResult) -> list[Check]:
    """Every check of the scenario, from its result alone."""
    checks: list[Check] = []
    primary, secondary = result.primary, result.secondary
    reads = [r for r in result.requests if r.kind != "sign-up"]
    after_loss = [r for r in reads if r.after_loss and r.phase == "loss"]
    failed_reads = [
        r for r in reads if not r.ok or r.final.cell_id != r.expected_cell or r.final.new_assignment
    ]
    invalid = [r for r in reads if r.kind == "validate" and r.ok and r.final.valid is not True]
    retried = sum(1 for r in reads if len(r.attempts) > 1)
    checks.append(
        Check(
            "existing users' /mapper, /validate and /cells answered in either region, no "
            "error beyond the client's retry",
            bool(reads) and not failed_reads and not invalid,
            f"{len(reads)} reads, {retried} retried on the other URL"
            + "".join(
                f"; {r.phase} {r.kind} {r.user_id}: {r.final.status} {r.final.error}"
                for r in (failed_reads + invalid)[:3]
            ),
        )
    )
    checks.append(
        Check(
            f"after {primary} was lost, the reads were answered by {secondary}",
            bool(after_loss) and all(r.ok and r.final.region == secondary for r in after_loss),
            f"{len(after_loss)} reads after the loss, "
            f"{sum(1 for r in after_loss if r.first == primary)} of them first sent to {primary}",
        )
    )
    sign_ups = [r for r in result.requests if r.kind == "sign-up"]
    errors = [r for r in sign_ups if r.final.status == 500]
    checks.append(
        Check(
            "no sign-up ended in an error (500)",
            not errors,
            ", ".join(f"{r.user_id}: {r.final.error}" for r in errors[:3]) or "none",
        )
    )
    wrong_writer = [
        r
        for r in sign_ups
        if r.placed and r.final.region != result.writers.get(r.phase, {}).get(r.market)
    ]
    placed_by = Counter((r.market, r.final.region) for r in sign_ups if r.placed)
    checks.append(
        Check(
            "one writer per market: every placement made by the market's writer region",
            bool(placed_by) and not wrong_writer,
            ", ".join(f"{m} by {g}: {n}" for (m, g), n in sorted(placed_by.items()))
            + "".join(
                f"; {r.phase}: {r.user_id} ({r.market}) placed by {r.final.region}"
                for r in wrong_writer[:3]
            ),
        )
    )
    promoted_markets = {
        m
        for m, region in result.writers.get("promoted", {}).items()
        if result.writers.get("loss", {}).get(m) == primary and region == secondary
    }
    lost_window = [r for r in sign_ups if r.after_loss and r.market in promoted_markets]
    checks.append(
        Check(
            f"while {primary} was lost and before promotion, its markets' sign-ups were "
            "refused, never placed elsewhere",
            bool(lost_window) and all(not r.ok for r in lost_window),
            f"{len(lost_window)} refused: "
            + ", ".join(
                f"{k} x{n}" for k, n in sorted(Counter(_outcome(r) for r in lost_window).items())
            ),
        )
    )
    checks.append(
        Check(
            "the operator tool refused to promote without --force while the primary was lost",
            bool(result.unforced_refusal),
            result.unforced_refusal[:100] or "it did not refuse",
        )
    )
    fence = result.phase("fence")
    fencing = [
        r for r in fence if any(a.region == secondary and a.status == 503 for a in r.attempts)
    ]
    checks.append(
        Check(
            f"the new writer {secondary} refused sign-ups during the fence (503, retry hint)",
            bool(fence) and len(fencing) == len(fence) and not any(r.ok for r in fence),
            "; ".join(
                next(a.message for a in r.attempts if a.region == secondary)[:90]
                for r in fencing[:1]
            )
            or "no fencing answer",
        )
    )
    promoted = [
        r for r in result.phase("promoted") if r.kind == "sign-up" and r.market in promoted_markets
    ]
    checks.append(
        Check(
            f"after promotion, sign-ups for {', '.join(sorted(promoted_markets)) or '-'} "
            f"succeed in {secondary}",
            bool(promoted) and all(r.ok and r.final.region == secondary for r in promoted),
            f"{sum(1 for r in promoted if r.ok)} of {len(promoted)} placed by {secondary} "
            f"({sum(1 for r in promoted if r.first == primary)} sent to {primary} first)",
        )
    )
    checks.append(
        Check(
            "the fence waited out replication: the primary's writes had all arrived before "
            "the new writer placed anyone",
            result.pending_from_primary_before_placing == 0,
            f"{result.pending_from_primary_at_promotion} of the primary's writes in flight at "
            f"the promotion, {result.pending_from_primary_before_placing} when the fence ended",
        )
    )
    recovered = [r for r in result.phase("recovered") if r.kind != "sign-up" and r.first == primary]
    checks.append(
        Check(
            f"after recovery {primary} answers reads again",
            bool(recovered) and all(r.ok and r.final.region == primary for r in recovered),
            f"{sum(1 for r in recovered if r.ok and r.final.region == primary)} of "
            f"{len(recovered)} reads sent to {primary} answered there",
        )
    )
    healed = [h for h in result.heals if "refused" not in h]
    final_view = list(result.operator_views.values())[-1] if result.operator_views else []
    agreed = {
        (row["marketId"], row["region"]): (row.get("writerRegion"), row.get("fencedRegion"))
        for row in final_view
    }
    verdicts = {(row["marketId"], row["region"]): row.get("verdict") for row in final_view}
    heal_ok = (
        len(healed) == len(promoted_markets)
        and bool(agreed)
        and all(
            agreed.get((m, r)) == (secondary, None)
            and verdicts.get((m, r)) == ("place" if r == secondary else "not-writer")
            for m in promoted_markets
            for r in (primary, secondary)
        )
    )
    checks.append(
        Check(
            "heal: fencedRegion cleared; both regions agree the secondary writes and it places",
            heal_ok,
            "; ".join(result.heals) or "no heal",
        )
    )
    copies = result.copies
    checks.append(
        Check(
            "replicas converged after replication drained",
            bool(copies) and not check_converged(copies),
            "; ".join(check_converged(copies)[:3]) if copies else "no copies",
        )
    )
    checks.append(
        Check(
            "no lost increment (no write lost to last-writer-wins)",
            not result.lost_updates,
            "; ".join(result.lost_updates[:3])
            + (f" ({len(result.lost_updates)} in all)" if result.lost_updates else "none"),
        )
    )
    items = copies.get(secondary, [])
    violations = check_placement(
        items, result.acknowledged(), capacity_buffer=result.capacity_buffer
    )
    placed = len({a.user_key for a in result.acknowledged()})
    total = sum(int(i.get("currentCapacity", 0)) for i in items if "maxCapacity" in i)
    mappings = sum(1 for i in items if str(i["marketId"]).startswith("USER#"))
    checks.append(
        Check(
            "placed == sum(currentCapacity) == mapping items; every cell counts its mappings; "
            "no cell over its assignable limit; nobody in two cells",
            bool(items) and not violations,
            f"{placed} / {total} / {mappings}" + "".join(f"; {v}" for v in violations[:3]),
        )
    )
    ok_reads = [a for r in reads if r.ok for a in r.attempts if a.status == 200]
    placements = [r.final for r in sign_ups if r.placed]
    # The steady path: one index page, one transaction, no index repair. The
    # others lost a race (another transaction) or listed a new cell in the
    # placeable index (the registrar leaves that to the first sign-up).
    steady = [
        a
        for a in placements
        if a.count("TransactWriteItems") == 1
        and a.count("Query") == 1
        and not a.count("UpdateItem")
    ]
    over_reads = [a for a in ok_reads if a.round_trips > 2]
    over_sign_ups = [
        a
        for a in steady
        if a.round_trips - a.count("BatchGetItem") > 3 or a.count("BatchGetItem") > 1
    ]
    cold = sum(1 for a in steady if a.count("BatchGetItem"))
    others = [a for a in placements if a not in steady]
    checks.append(
        Check(
            "reads <= 2 round trips; sign-ups <= 3 plus the writer check (cached, or 1 read)",
            bool(ok_reads) and bool(steady) and not over_reads and not over_sign_ups,
            f"reads: max {max((a.round_trips for a in ok_reads), default=0)}; "
            f"{len(steady)} sign-ups on the steady path: max "
            f"{max((a.round_trips for a in steady), default=0)} ({cold} with the writer check "
            f"read, {len(steady) - cold} cached); {len(others)} lost a race or repaired the "
            f"index (max {max((a.round_trips for a in others), default=0)})",
        )
    )
    return checks


def _outcome(request: Request) -> str:
    return "-".join(f"{a.status}" for a in request.attempts)


# --------------------------------------------------------------------------- #
# Printing
# --------------------------------------------------------------------------- #
def print_result(out: Report, result: RouterRegionResult, derived_environment: bool) -> None:
    primary, secondary = result.primary, result.secondary
    out.heading(f"Cell router -- home region {primary} lost (stack {result.stack})")
    out.line(
        f"Routing table replicas in {primary} and {secondary} (global table emulated: "
        f"{REPLICATION_LAG_SECONDS:g} s lag, per-item last-writer-wins, drill/replication.py); "
        "the real handlers of both regions on threads (drill/regional_containers.py)."
    )
    if derived_environment:
        out.line(
            f"The stack declares its router functions in {primary} only: {secondary}'s "
            "environment is the same with its own region, peer, table replica, queue and secret."
        )
    out.line(
        f"Writer settings: fence {result.fence_seconds} s, lease {result.lease_seconds} s. "
        f"{result.users} new sign-ups a phase on {result.threads} threads, seed {result.seed}."
    )
    if result.fault:
        out.line(f"SELF-TEST: fault {result.fault!r} injected -- the checks below must fail.")
    out.line()
    out.timeline(("t (s)", "what"), [(f"{t:6.0f}", text) for t, text in result.timeline])
    out.line()
    rows = []
    for phase in PHASES:
        requests = result.phase(phase)
        if not requests:
            continue
        sign_ups = [r for r in requests if r.kind == "sign-up"]
        reads = [r for r in requests if r.kind != "sign-up"]
        placed = Counter(r.final.region for r in sign_ups if r.placed)
        rows.append(
            (
                phase,
                len(sign_ups),
                placed.get(primary, 0),
                placed.get(secondary, 0),
                sum(1 for r in sign_ups if r.final.error == "NoCapacity"),
                sum(1 for r in sign_ups if not r.ok and r.final.error != "NoCapacity"),
                len(reads),
                sum(1 for r in reads if r.ok and r.final.region == primary),
                sum(1 for r in reads if r.ok and r.final.region == secondary),
                sum(1 for r in requests if len(r.attempts) > 1),
                sum(
                    1
                    for r in requests
                    if r.final.status == 500 or (r.kind != "sign-up" and not r.ok)
                ),
            )
        )
    out.table(
        (
            "phase",
            "sign-ups",
            f"placed {primary}",
            f"placed {secondary}",
            "no capacity",
            "no writer",
            "reads",
            f"read {primary}",
            f"read {secondary}",
            "client retries",
            "errors",
        ),
        rows,
    )
    for label, view in result.operator_views.items():
        out.line()
        out.line(f"python -m ops writers -- {label}:")
        out.table(
            ("market", "region", "writer", "epoch", "fenced", "verdict"),
            [
                (
                    row["marketId"],
                    row["region"],
                    row.get("writerRegion", "-") if row.get("reachable") else "unreachable",
                    row.get("epoch", "-"),
                    row.get("fencedRegion") or "-",
                    row.get("verdict", "-"),
                )
                for row in view
            ],
        )
    if result.heartbeat_failures:
        out.line()
        out.line(f"Heartbeats that failed: {', '.join(result.heartbeat_failures)}")
    out.line()
    out.checks(result.checks)
