"""Cell-router scenario: concurrent sign-ups, scale-out, a new cell, the API.

1. Cells are registered through the registrar function with ``CellReady``
   events built by ``handlers/cell_router/events.py`` (as EventBridge would
   deliver them), plus an impaired cell and a cell of another market, which
   must never be touched.
2. ``users`` sign-ups race on ``threads`` threads straight through the
   dispatcher and then the scaler (what the Orchestrator runs for ``/cells``),
   against the SERIAL emulator: one request at a time, as DynamoDB applies
   each write atomically, while the threads interleave freely between calls.
   Cells fill to their assignable limit and no further, later sign-ups are
   refused (``NoCapacity``), and the provisioning queue receives one request.
3. The drill plays the provisioning layer: it reads that request and answers
   with a ``CellReady`` event for a new cell through the registrar.
4. A smaller batch goes through the Orchestrator itself -- the definition
   from ``components.orchestrator_asl.build_orchestrator_definition``, run by
   moto's Step Functions interpreter with its Lambda tasks routed in-process
   (``support.sfn``) -- and each answer is shown with the HTTP status the API
   maps it to (``components.api_templates.ERROR_STATUS``): refused users
   retry and land in the new cell, a repeat sign-up, ``/mapper``,
   ``/validate`` (the deep check probes local stand-ins for the cell
   endpoints), an unknown path and a malformed body.
5. Invariants are checked on the table itself.

moto's interpreter calls Lambda at ``localhost:$MOTO_PORT``; the routed
handlers then call DynamoDB. On a single serial server that second call
would wait behind the first forever, so a threaded server on the same moto
backends takes the interpreter's calls while the handlers keep using the
serial one.
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from components.api_templates import ERROR_STATUS
from components.orchestrator_asl import (
    DEFAULT_SCALER_TIMEOUT_SECONDS,
    DEFAULT_TASK_TIMEOUT_SECONDS,
    build_orchestrator_definition,
)
from components.schemas import ROUTER_TABLE
from drill.report import Check, Checked, Report
from drill.session import DrillSession
from drill.stack import DeployedFunction
from handlers.cell_router import contract as router_contract
from support import sfn
from support.cell_network import simulated_cells
from support.emulator import EMULATOR_TIME_SCALE, SerialMotoServer
from support.environment import handler_environment, one_region, scoped_environ
from support.private_apis import executing_state_machines
from support.queues import drain

DEFAULT_USERS = 150
DEFAULT_CELLS = 3
DEFAULT_CAPACITY = 50
DEFAULT_THREADS = 16
DEFAULT_API_USERS = 10

#: Hidden self-tests of the drill's own checks (``--inject-fault``). They
#: replace the store's transactional assignment *in this process only* with a
#: broken one, so the invariants must catch it:
#: ``double-count`` counts every placement twice on the cell (a counter that
#: drifts from the mappings); ``skip-transaction`` writes the mapping without
#: the conditional increment (the original sample's overfilling).
FAULT_DOUBLE_COUNT = "double-count"
FAULT_SKIP_TRANSACTION = "skip-transaction"
FAULTS = (FAULT_DOUBLE_COUNT, FAULT_SKIP_TRANSACTION)

ORCHESTRATOR_SUFFIX = "Orchestrator"
ROUTED_FUNCTIONS = ("dispatcher", "scaler", "mapper", "validator")
_PREFIX_USER = "USER#"


@dataclass(frozen=True)
class SignUp:
    order: int  # completion order, 1-based
    user_id: str  # the token's sub the API would pass
    phase: str  # "direct" | "api"
    cell_id: str | None  # None: refused
    new_assignment: bool = False
    provisioning_requested: bool = False
    error: str | None = None


@dataclass(frozen=True)
class ApiCall:
    label: str
    path: str
    status: int
    expected: int
    body: Any


@dataclass
class CellRow:
    cell_id: str
    market: str
    healthy: bool
    users: int
    mappings: int
    assignable: int
    max_capacity: int


@dataclass
class CellsResult(Checked):
    stack: str
    market: str
    users: int
    cells: int
    capacity: int
    threads: int
    assignable_limit: int
    scale_out_at: int
    sign_ups: list[SignUp] = field(default_factory=list)
    placed_direct: int = 0
    refused_direct: int = 0
    direct_seconds: float = 0.0
    occupancy_after_burst: list[CellRow] = field(default_factory=list)
    occupancy_final: list[CellRow] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    new_cell: str | None = None
    registrar_answer: dict[str, Any] = field(default_factory=dict)
    api_calls: list[ApiCall] = field(default_factory=list)
    #: (cell the user was placed in, the API's answer to their second sign-up)
    repeat_sign_up: tuple[str | None, dict[str, Any]] | None = None
    checks: list[Check] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    faults_injected: int = 0
    unavailable_retries: int = 0
    sweep: dict[str, Any] = field(default_factory=dict)
    # -- what the story saw, for its invariants and its printing --------------
    capacity_buffer: float = 0.0
    scale_out_threshold: float = 0.0
    #: the market's cells registered before the burst, and the two that must
    #: stay untouched (an impaired one, another market's)
    cell_ids: list[str] = field(default_factory=list)
    impaired_cell: str = ""
    other_market: str = ""
    foreign_cell: str = ""
    untouched_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    untouched_after: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: provisioning requests received after the burst, and after the API batch
    burst_messages: list[dict[str, Any]] = field(default_factory=list)
    api_messages: list[dict[str, Any]] = field(default_factory=list)
    #: the market's scale-out marker after CellReady
    marker: dict[str, Any] = field(default_factory=dict)
    #: user key -> mapping item, as the table held them at the end
    mappings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the stack's user-key secret (mapping keys are keyed hashes of user ids)
    user_key: bytes = b""
    #: the Orchestrator run here equals the one the stack deploys (ARNs aside)
    same_definition: bool = False
    table: str = ""
    queue: str = ""
    registrar_path: str = ""
    sweeper_path: str = ""
    fault: str | None = None
    fault_seed: int = 0
    #: ``--faults`` rules (None: none asked) and what was injected, per
    #: (service, operation, label)
    fault_rules: list[str] | None = None
    injected: dict[tuple[str, str, str], int] = field(default_factory=dict)

    @property
    def placed_total(self) -> int:
        return sum(1 for s in self.sign_ups if s.cell_id is not None and s.new_assignment)


class CellEndpoints:
    """Local stand-ins for the cells' HTTPS endpoints, so the validator's deep
    check probes something real without a network (``support.cell_network``:
    names under ``cells.drill.test`` resolve to public stand-in addresses
    routed to one local server, TLS verified against a throw-away CA): 200,
    or 503 for a cell marked impaired."""

    DOMAIN = "cells.drill.test"

    def __init__(self) -> None:
        self._simulated = simulated_cells(self.DOMAIN)
        self._cells: Any = None

    def __enter__(self) -> CellEndpoints:
        self._cells = self._simulated.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._simulated.__exit__(*exc_info)

    @property
    def impaired(self) -> set[str]:
        return self._cells.server.impaired

    def urls(self, cell_id: str) -> tuple[str, str]:
        return (
            self._cells.url(f"{cell_id}-a", f"{cell_id}/a"),
            self._cells.url(f"{cell_id}-b", f"{cell_id}/b"),
        )


def run(
    session: DrillSession,
    *,
    users: int = DEFAULT_USERS,
    cells: int = DEFAULT_CELLS,
    capacity: int = DEFAULT_CAPACITY,
    threads: int = DEFAULT_THREADS,
    api_users: int = DEFAULT_API_USERS,
    fault: str | None = None,
    report: Report | None = None,
    faults: str | None = None,
    fault_seed: int = 0,
) -> CellsResult:
    """Run the cell-router story on ``session``'s emulator, print it as it
    goes and check it (``invariants``).

    ``faults`` (``support.faults`` syntax) puts the burst of sign-ups under
    AWS failure modes -- throttling, cancelled transactions, timeouts -- and
    the checks must hold all the same: every refusal true, nobody placed
    twice, no cell over its limit, every scale-out request sent at least once
    (the sweeper resends what the burst could not send).
    """
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown cells fault {fault!r}")
    if users < 1 or cells < 1 or capacity < 1 or threads < 1 or api_users < 0:
        raise ValueError(
            "users, cells, capacity and threads must be at least 1, api_users at least 0"
        )
    out = report or session.report
    started = time.monotonic()
    story = _CellsStory(session, users, cells, capacity, threads, fault, faults, fault_seed)
    result = story.result
    print_setup(result, out)
    with story.world():
        story.register_cells()
        print_registered(result, out)
        print_burst_start(result, out)
        story.burst(out.progress(users, "sign-ups"))
        print_burst(result, out)
        story.sweep()
        print_sweep(result, out)
        story.provision_a_new_cell()
        print_provisioning(result, out)
        story.through_the_orchestrator(api_users)
        print_api_calls(result, out)
        story.read_the_table()
    out.line()
    _print_occupancy(out, result.occupancy_final, title="Final occupancy")
    result.checks = invariants(result)
    out.checks(result.checks)
    result.elapsed_seconds = time.monotonic() - started
    return result


# --------------------------------------------------------------------------- #
# Steps
# --------------------------------------------------------------------------- #
class _CellsStory:
    """The data plane on the emulator, from the stack's own declarations, and
    the story's steps on it; each step records what it saw in ``result``."""

    def __init__(
        self,
        session: DrillSession,
        users: int,
        cells: int,
        capacity: int,
        threads: int,
        fault: str | None,
        faults: str | None,
        fault_seed: int,
    ) -> None:
        from handlers.cell_router.placement import assignable_limit

        self.session = session
        stack = self.stack = session.stack
        router = stack.settings.cell_router
        market = router.default_market
        self.functions = {
            m: stack.function("cell_router", m) for m in (*ROUTED_FUNCTIONS, "registrar", "sweeper")
        }
        self.injector = None
        if faults:
            from support.faults import FaultInjector

            # Timeouts are raised at once: the drill shows invariants, not time
            # (the time budgets are tested on a simulated clock).
            self.injector = FaultInjector(faults, seed=fault_seed, sleep=lambda _: None)
        # The shares the deployed dispatcher parses (its contract), not the
        # stack settings re-derived: what the functions run with is what counts.
        deployed = router_contract.DISPATCHER.parse(self.functions["dispatcher"].environment)
        buffer, threshold = deployed.capacity_buffer, deployed.scale_out_threshold
        other_market = "asia" if market != "asia" else "americas"
        self.result = result = CellsResult(
            stack=stack.name,
            market=market,
            users=users,
            cells=cells,
            capacity=capacity,
            threads=threads,
            assignable_limit=assignable_limit(capacity, buffer),
            scale_out_at=math.ceil(threshold * capacity),
            capacity_buffer=float(buffer),
            scale_out_threshold=float(threshold),
            fault=fault,
            fault_seed=fault_seed,
            fault_rules=[str(r) for r in self.injector.rules] if self.injector else None,
            cell_ids=[f"{market}-{n}" for n in range(1, cells + 1)],
            impaired_cell=f"{market}-impaired",
            other_market=other_market,
            foreign_cell=f"{other_market}-1",
            registrar_path=self.functions["registrar"].handler_path,
            sweeper_path=self.functions["sweeper"].handler_path,
        )
        self._create_the_data_plane()
        result.table, result.queue = self.table, self.queue_url.rsplit("/", 1)[-1]
        self.handlers = {name: _handler(function) for name, function in self.functions.items()}
        # Sign-up order, shared by the threads (next() on a count is atomic).
        self.order = itertools.count(1)

    def _create_the_data_plane(self) -> None:
        """Table, queues and the user-key secret; the handlers' environment."""
        session, stack = self.session, self.stack
        # The deployed environment, read back through the dispatcher's contract.
        self.table = router_contract.DISPATCHER.parse(
            self.functions["dispatcher"].environment
        ).table_name
        self.ddb = session.client("dynamodb")
        self.sqs = session.client("sqs")
        self.ddb.create_table(**ROUTER_TABLE.create_table_request(self.table))
        self.queue_url = _create_queues(
            self.sqs, stack.queue("CellProvisioning"), stack.queue("dlq")
        )
        # The primary's router on one table: no peer region (support.environment.one_region).
        self.environment = one_region(
            handler_environment(*(f.environment for f in self.functions.values()))
        )
        self.environment[router_contract.PROVISIONING_QUEUE_URL.name] = self.queue_url
        # The stack's user-key secret: Secrets Manager generates it in AWS; here
        # the drill draws a key and stores it the same way.
        user_key_secret = secrets.token_urlsafe(48)
        self.result.user_key = user_key_secret.encode()
        self.environment[router_contract.USER_KEY_SECRET_ARN.name] = session.client(
            "secretsmanager"
        ).create_secret(Name=f"{self.table}-user-key", SecretString=user_key_secret)["ARN"]
        self.router_id = router_contract.REGISTRAR.parse(
            self.functions["registrar"].environment
        ).cell_ready_router_id
        self.rule_pattern = stack.event_pattern("cell-ready")

    @contextmanager
    def world(self) -> Iterator[None]:
        """The handlers' environment, the cells' endpoints, the self-test fault."""
        with (
            scoped_environ(self.environment),
            CellEndpoints() as self.endpoints,
            _injected(self.result.fault),
        ):
            yield

    def register(self, market: str, cell_id: str, episode_id: str | None = None) -> dict:
        """Announce a cell the way the provisioning layer does (CellReady)."""
        return _register(
            self.handlers["registrar"],
            market,
            cell_id,
            self.result.capacity,
            self.endpoints,
            self.stack.primary,
            self.stack.secondary,
            episode_id=episode_id,
            router_id=self.router_id,
            pattern=self.rule_pattern,
        )

    def untouched(self) -> dict[str, dict[str, Any]]:
        result = self.result
        return {
            c: _item(self.ddb, self.table, m, c)
            for m, c in (
                (result.market, result.impaired_cell),
                (result.other_market, result.foreign_cell),
            )
        }

    def register_cells(self) -> None:
        """The market's cells, an impaired one and another market's."""
        result = self.result
        for cell_id in (*result.cell_ids, result.impaired_cell):
            self.register(result.market, cell_id)
        self.register(result.other_market, result.foreign_cell)
        # The cells' own health monitor (outside this project) marks one impaired.
        self.ddb.update_item(
            TableName=self.table,
            Key={"marketId": {"S": result.market}, "cellId": {"S": result.impaired_cell}},
            # As the README runbook says: out of the placeable index too.
            UpdateExpression="SET IsHealthy = :false REMOVE placeableMarketId",
            ExpressionAttributeValues={":false": {"BOOL": False}},
        )
        self.endpoints.impaired.add(result.impaired_cell)
        result.untouched_before = self.untouched()

    def burst(self, progress: Any) -> None:
        """Dispatcher then scaler on many threads, against the serial emulator."""
        result = self.result
        lock = threading.Lock()

        def sign_up(index: int) -> None:
            user_id = f"user{index:04d}"
            record = _sign_up(self.handlers, user_id, self.order, "direct")
            # A client honouring the 503's retry hint tries again.
            for _ in range(5):
                if record.error != "ServiceUnavailable":
                    break
                with lock:
                    result.unavailable_retries += 1
                record = _sign_up(self.handlers, user_id, self.order, "direct")
            with lock:
                result.sign_ups.append(record)
            progress.advance()

        with (
            _faults_active(self.injector),
            ThreadPoolExecutor(result.threads, thread_name_prefix="sign-up") as pool,
        ):
            list(pool.map(sign_up, range(1, result.users + 1)))
        result.direct_seconds = progress.finish()
        direct = [s for s in result.sign_ups if s.phase == "direct"]
        result.placed_direct = sum(1 for s in direct if s.cell_id is not None)
        result.refused_direct = sum(1 for s in direct if s.cell_id is None and s.error is None)
        if self.injector is not None:
            result.faults_injected = self.injector.total_injected
            result.injected = dict(self.injector.injected)
        result.occupancy_after_burst = _occupancy(self.ddb, self.table, result.assignable_limit)

    def sweep(self) -> None:
        """The sweeper, one resend delay later: resends what was not sent."""
        self.result.sweep = _sweep(self.handlers["sweeper"])

    def provision_a_new_cell(self) -> None:
        """Play the provisioning layer: read the request, announce a new cell."""
        result = self.result
        result.burst_messages = drain(self.sqs, self.queue_url)
        result.messages.extend(result.burst_messages)
        episode = result.burst_messages[0]["episodeId"] if result.burst_messages else None
        result.new_cell = f"{result.market}-{result.cells + 1}"
        result.registrar_answer = self.register(result.market, result.new_cell, episode)
        result.marker = _item(self.ddb, self.table, f"SCALE#{result.market}", "SCALE_OUT")

    def through_the_orchestrator(self, api_users: int) -> None:
        """Refused users retry, fresh ones sign up, a placed user repeats."""
        result = self.result
        direct = [s for s in result.sign_ups if s.phase == "direct"]
        refused = sorted(s.user_id for s in direct if s.cell_id is None and s.error is None)
        retrying = refused[:api_users]
        fresh = [f"user{result.users + n:04d}" for n in range(1, api_users - len(retrying) + 1)]
        placed_users = [s for s in direct if s.cell_id is not None]
        result.same_definition = _run_api(
            self.stack,
            self.functions,
            result,
            self.order,
            retrying + fresh,
            set(retrying),
            placed_users[0] if placed_users else None,
            self.endpoints,
        )
        result.api_messages = drain(self.sqs, self.queue_url)
        result.messages.extend(result.api_messages)

    def read_the_table(self) -> None:
        """What the invariants are checked on: the table itself."""
        result = self.result
        result.occupancy_final = _occupancy(self.ddb, self.table, result.assignable_limit)
        result.untouched_after = self.untouched()
        result.mappings = _mappings(self.ddb, self.table)


# --------------------------------------------------------------------------- #
# Invariants (pure), on what the table held
# --------------------------------------------------------------------------- #
def invariants(result: CellsResult) -> list[Check]:
    """The cells scenario's checks, from what it recorded."""
    checks = [
        Check(
            "the Orchestrator definition run here is the one the stack deploys",
            result.same_definition,
            "builder output == recorded aws:sfn/stateMachine definition (ARNs aside)",
        ),
        _counts_agree(result),
        _cells_count_their_users(result),
        _no_cell_over_its_limit(result),
        _one_cell_per_user(result),
        _refusals_only_when_full(result),
        _one_request_per_episode(result),
    ]
    if result.burst_messages:
        checks.append(_cell_ready_closed_the_episode(result))
    retried = _retry_calls(result)
    if result.refused_direct and retried:
        checks.append(_retries_land_in_the_new_cell(result, retried))
    if result.repeat_sign_up is not None:
        checks.append(_repeat_sign_up_same_cell(result.repeat_sign_up))
    checks += [_api_statuses(result), _others_untouched(result)]
    if result.fault_rules is not None:
        checks.append(
            Check(
                "the AWS faults asked for were injected",
                result.faults_injected > 0,
                f"{result.faults_injected} faults",
            )
        )
    unexpected = [s for s in result.sign_ups if s.error is not None]
    checks.append(
        Check(
            "no unexpected handler errors",
            not unexpected,
            ", ".join(sorted({s.error or "" for s in unexpected})) or "none",
        )
    )
    return checks


def _market_cells(result: CellsResult) -> list[CellRow]:
    return [c for c in result.occupancy_final if c.market == result.market]


def _counts_agree(result: CellsResult) -> Check:
    placed = [s for s in result.sign_ups if s.cell_id is not None and s.new_assignment]
    counted = sum(c.users for c in _market_cells(result))
    return Check(
        "placed == sum(currentCapacity) == mapping items",
        len(placed) == counted == len(result.mappings),
        f"{len(placed)} / {counted} / {len(result.mappings)}",
    )


def _cells_count_their_users(result: CellsResult) -> Check:
    per_cell = collections.Counter(m["assignedCellId"] for m in result.mappings.values())
    return Check(
        "every cell counts exactly the users mapped to it",
        all(per_cell.get(c.cell_id, 0) == c.users for c in result.occupancy_final),
        ", ".join(
            f"{c.cell_id} {c.users}/{per_cell.get(c.cell_id, 0)}" for c in _market_cells(result)
        ),
    )


def _no_cell_over_its_limit(result: CellsResult) -> Check:
    over = [c for c in result.occupancy_final if max(c.users, c.mappings) > c.assignable]
    most = max((c.users for c in _market_cells(result)), default=0)
    return Check(
        "no cell above its assignable limit",
        not over,
        ", ".join(f"{c.cell_id} {max(c.users, c.mappings)}>{c.assignable}" for c in over)
        or f"max {most} of {result.assignable_limit}",
    )


def _one_cell_per_user(result: CellsResult) -> Check:
    from handlers.cell_router.identity import keyed_user_key

    told: dict[str, set[str]] = collections.defaultdict(set)
    for s in result.sign_ups:
        if s.cell_id is not None:
            told[s.user_id].add(s.cell_id)
    mappings = result.mappings
    wrong = [
        u
        for u, cs in told.items()
        if len(cs) != 1
        or mappings.get(keyed_user_key(u, result.user_key), {}).get("assignedCellId") not in cs
    ]
    return Check(
        "nobody in two cells; each mapping is the cell the user was told",
        not wrong and len(mappings) == len(told),
        f"{len(told)} users, {len(mappings)} mappings"
        + (f", {len(wrong)} inconsistent" if wrong else ""),
    )


def _refusals_only_when_full(result: CellsResult) -> Check:
    full = all(
        c.users >= c.assignable
        for c in result.occupancy_after_burst
        if c.market == result.market and c.healthy and c.cell_id in result.cell_ids
    )
    return Check(
        "refusals only once every healthy cell was full",
        result.refused_direct == 0 or full,
        f"{result.refused_direct} refused",
    )


def _one_request_per_episode(result: CellsResult) -> Check:
    crossed = any(
        c.users >= result.scale_out_at
        for c in result.occupancy_after_burst
        if c.market == result.market
    )
    burst_expected = 1 if crossed else 0
    episodes = collections.Counter(m.get("episodeId") for m in result.messages)
    new_cell = next((c for c in result.occupancy_final if c.cell_id == result.new_cell), None)
    api_expected = 1 if new_cell and new_cell.users >= result.scale_out_at else 0
    return Check(
        "exactly one provisioning request per scale-out episode",
        len(result.burst_messages) == burst_expected
        and len(result.api_messages) == api_expected
        and all(n == 1 for n in episodes.values()),
        f"{len(result.burst_messages)} during the burst (expected {burst_expected}), "
        f"{len(result.api_messages)} after the new cell (expected {api_expected})",
    )


def _cell_ready_closed_the_episode(result: CellsResult) -> Check:
    marker = result.marker
    return Check(
        "CellReady closed the episode (the next crossing asks again)",
        bool(result.registrar_answer.get("episodeClosed"))
        and marker.get("status") == "CLOSED"
        and marker.get("closedByCellId") == result.new_cell,
        f"marker {marker.get('status')} by {marker.get('closedByCellId')}",
    )


def _retry_calls(result: CellsResult) -> list[ApiCall]:
    return [c for c in result.api_calls if c.label.startswith("sign-up") and c.expected == 200]


def _retries_land_in_the_new_cell(result: CellsResult, retried: list[ApiCall]) -> Check:
    landed = [
        c
        for c in retried
        if c.status == 200 and isinstance(c.body, dict) and c.body.get("cellId") == result.new_cell
    ]
    return Check(
        f"sign-ups after CellReady land in the new cell {result.new_cell}",
        len(landed) == len(retried),
        f"{len(landed)} of {len(retried)}",
    )


def _repeat_sign_up_same_cell(repeat: tuple[str | None, dict[str, Any]]) -> Check:
    first, again = repeat
    return Check(
        "a repeated sign-up returns the same cell, not a new assignment",
        again.get("cellId") == first and again.get("newAssignment") is False,
        f"{first} -> {again.get('cellId')} (newAssignment {again.get('newAssignment')})",
    )


def _api_statuses(result: CellsResult) -> Check:
    mismatched = [c for c in result.api_calls if c.status != c.expected]
    return Check(
        "API answers carry the status ERROR_STATUS maps them to",
        bool(result.api_calls) and not mismatched,
        ", ".join(f"{c.label}: {c.status} (expected {c.expected})" for c in mismatched)
        or f"{len(result.api_calls)} requests",
    )


def _others_untouched(result: CellsResult) -> Check:
    return Check(
        "impaired and other-market cells untouched",
        result.untouched_before == result.untouched_after,
        ", ".join(result.untouched_before),
    )


# --------------------------------------------------------------------------- #
# Printing
# --------------------------------------------------------------------------- #
def print_setup(result: CellsResult, out: Report) -> None:
    out.heading(f"Cell router -- stack {result.stack}, market {result.market!r}")
    out.line(
        f"Table {result.table} (components.schemas.ROUTER_TABLE) and queue "
        f"{result.queue} (+ dead-letter queue) on the emulator; handlers with the "
        "environment the stack gives them."
    )
    out.line(
        f"Cells of {result.capacity}: {result.assignable_limit} assignable (buffer "
        f"{result.capacity_buffer:.0%}), new cell requested at {result.scale_out_at} "
        f"({result.scale_out_threshold:.0%})."
    )
    if result.fault:
        out.line(f"SELF-TEST: fault {result.fault!r} injected -- the checks below must fail.")
    if result.fault_rules is not None:
        out.line(
            f"AWS faults during the burst (support.faults, seed {result.fault_seed}): "
            + ", ".join(result.fault_rules)
        )


def print_registered(result: CellsResult, out: Report) -> None:
    out.line(
        f"Registered through {result.registrar_path} (CellReady events): "
        f"{', '.join(result.cell_ids)}; {result.impaired_cell} (then marked unhealthy); "
        f"{result.foreign_cell} (market {result.other_market})."
    )


def print_burst_start(result: CellsResult, out: Report) -> None:
    out.line()
    out.line(
        f"{result.users} sign-ups on {result.threads} threads: dispatcher.handler then "
        "scaler.handler (what the Orchestrator runs for /cells), one emulator request at a time:"
    )


def print_burst(result: CellsResult, out: Report) -> None:
    errors = [s for s in result.sign_ups if s.phase == "direct" and s.error is not None]
    out.line(
        f"  placed {result.placed_direct}, refused {result.refused_direct} (NoCapacity -> "
        f"HTTP {ERROR_STATUS['NoCapacity']}), errors {len(errors)}, in "
        f"{result.direct_seconds:.1f} s"
    )
    if result.fault_rules is not None:
        injected = ", ".join(
            f"{n} x {service}:{operation}={label}"
            for (service, operation, label), n in sorted(result.injected.items())
        )
        out.line(f"  faults injected: {injected or 'none'}")
        out.line(
            f"  answered ServiceUnavailable (503, retry hint) and retried by the caller: "
            f"{result.unavailable_retries}"
        )
    out.line()
    _print_occupancy(out, result.occupancy_after_burst)


def print_sweep(result: CellsResult, out: Report) -> None:
    out.line()
    out.line(
        f"Sweeper ({result.sweeper_path}), one resend delay later: " + json.dumps(result.sweep)
    )


def print_provisioning(result: CellsResult, out: Report) -> None:
    out.line()
    out.line(f"Provisioning queue: {len(result.burst_messages)} message(s).")
    for message in result.burst_messages:
        out.line("  " + json.dumps(message, sort_keys=True))
    out.line(f"CellReady for {result.new_cell} -> registrar: {json.dumps(result.registrar_answer)}")


def print_api_calls(result: CellsResult, out: Report) -> None:
    out.line()
    out.line(
        "Through the Orchestrator (components.orchestrator_asl.build_orchestrator_definition"
        " on moto's Step Functions interpreter; Lambda tasks run in-process):"
    )
    for call in result.api_calls:
        out.line(f"  POST {call.path:<9} {call.label:<33} -> {call.status}  {_summary(call.body)}")


# --------------------------------------------------------------------------- #
# Step helpers
# --------------------------------------------------------------------------- #
def _handler(function: DeployedFunction) -> Callable[[Any], Any]:
    handler = function.load()

    def invoke(event: Any) -> Any:
        context = function.context()
        context.timeout_seconds *= EMULATOR_TIME_SCALE
        return handler(event, context)

    return invoke


def _sign_up(
    handlers: dict[str, Callable[[Any], Any]], user_id: str, order: Iterator[int], phase: str
) -> SignUp:
    from handlers.cell_router.errors import NoCapacity

    event = {"path": "/cells", "httpMethod": "POST", "userId": user_id, "body": {}}
    try:
        placed = handlers["dispatcher"](event)
    except NoCapacity:
        return SignUp(next(order), user_id, phase, None)
    except Exception as exc:  # reported by the "no unexpected errors" check
        return SignUp(next(order), user_id, phase, None, error=type(exc).__name__)
    # Ordered by when the placement was made, not when the scaler finished.
    placed_as = next(order)
    try:
        scaled = handlers["scaler"](placed)
    except Exception:
        # The state machine catches every scaler failure; so does the drill.
        scaled = {"provisioningRequested": False}
    return SignUp(
        placed_as,
        user_id,
        phase,
        placed["cellId"],
        bool(placed["newAssignment"]),
        bool(scaled.get("provisioningRequested")),
    )


def _cell_ready_event(
    detail: dict[str, Any], region: str, pattern: dict[str, Any] | None
) -> dict[str, Any]:
    """The event EventBridge delivers for a ``PutEvents`` entry of the
    provisioning layer (``events.cell_ready_entry``)."""
    from handlers.cell_router import events

    entry = events.cell_ready_entry(detail)
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [],
        "detail": json.loads(entry["Detail"]),
    }
    # The rule the stack deploys must match it (its recorded pattern).
    if pattern is not None and not _matches(pattern, event):
        raise AssertionError("CellReady event does not match the stack's rule pattern")
    return event


def _matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge's exact-value matching (the only kind our rule uses)."""
    for key, wanted in pattern.items():
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not _matches(wanted, value):
                return False
        elif value not in wanted:
            return False
    return True


def _register(
    registrar: Callable[[Any], Any],
    market: str,
    cell_id: str,
    capacity: int,
    endpoints: CellEndpoints,
    region_1: str,
    region_2: str,
    episode_id: str | None = None,
    *,
    router_id: str | None = None,
    pattern: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from handlers.cell_router import events

    url_1, url_2 = endpoints.urls(cell_id)
    detail = events.cell_ready_detail(
        market_id=market,
        cell_id=cell_id,
        max_capacity=capacity,
        endpoints=[{"url": url_1, "region": region_1}, {"url": url_2, "region": region_2}],
        episode_id=episode_id,
        router_id=router_id,
    )
    return registrar(_cell_ready_event(detail, region_1, pattern))


def _create_queues(sqs: Any, queue: Any, dead_letters: Any) -> str:
    """The provisioning queue and its DLQ, with the attributes the stack sets."""
    dlq_url = sqs.create_queue(
        QueueName=str(dead_letters.outputs["name"]),
        Attributes=_queue_attributes(dead_letters.inputs),
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = _queue_attributes(queue.inputs)
    if "RedrivePolicy" in attributes:
        policy = json.loads(attributes["RedrivePolicy"])
        policy["deadLetterTargetArn"] = dlq_arn
        attributes["RedrivePolicy"] = json.dumps(policy)
    return sqs.create_queue(QueueName=str(queue.outputs["name"]), Attributes=attributes)["QueueUrl"]


_QUEUE_ATTRIBUTES = {
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "redrivePolicy": "RedrivePolicy",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
}


def _queue_attributes(inputs: dict[str, Any]) -> dict[str, str]:
    attributes = {}
    for key, name in _QUEUE_ATTRIBUTES.items():
        if key in inputs:
            value = inputs[key]
            if isinstance(value, bool):
                attributes[name] = "true" if value else "false"
            elif isinstance(value, float) and value.is_integer():
                attributes[name] = str(int(value))
            else:
                attributes[name] = str(value)
    return attributes


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend({k: deserializer.deserialize(v) for k, v in i.items()} for i in page["Items"])
    return items


def _item(ddb: Any, table: str, market: str, cell_id: str) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    item = ddb.get_item(
        TableName=table,
        Key={"marketId": {"S": market}, "cellId": {"S": cell_id}},
        ConsistentRead=True,
    ).get("Item", {})
    return {k: deserializer.deserialize(v) for k, v in item.items()}


def _mappings(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    """User key -> mapping item (the drill may scan: it is not the router)."""
    return {
        str(i["marketId"])[len(_PREFIX_USER) :]: i
        for i in _scan(ddb, table)
        if str(i["marketId"]).startswith(_PREFIX_USER)
    }


def _occupancy(ddb: Any, table: str, assignable: int) -> list[CellRow]:
    items = _scan(ddb, table)
    mapped = collections.Counter(
        i["assignedCellId"] for i in items if str(i["marketId"]).startswith(_PREFIX_USER)
    )
    rows = [
        CellRow(
            cell_id=str(i["cellId"]),
            market=str(i["marketId"]),
            healthy=i.get("IsHealthy") is True,
            users=int(i.get("currentCapacity", 0)),
            mappings=mapped.get(str(i["cellId"]), 0),
            assignable=assignable,
            max_capacity=int(i.get("maxCapacity", 0)),
        )
        for i in items
        if "currentCapacity" in i
    ]
    return sorted(rows, key=lambda r: (r.market, r.cell_id))


def _print_occupancy(out: Report, rows: list[CellRow], title: str = "Occupancy") -> None:
    out.line(f"{title}:")
    out.table(
        ("cell", "market", "healthy", "users", "mapped", "assignable", "max", "load"),
        [
            (
                r.cell_id,
                r.market,
                "yes" if r.healthy else "NO",
                r.users,
                r.mappings,
                r.assignable,
                r.max_capacity,
                _bar(r.users, r.max_capacity, r.assignable),
            )
            for r in rows
        ],
    )


def _bar(users: int, maximum: int, assignable: int, width: int = 20) -> str:
    """``########....|..`` -- users, then free assignable space, ``|`` the limit."""
    if maximum <= 0:
        return ""
    filled = min(width, round(width * users / maximum))
    limit_at = round(width * assignable / maximum)
    chars = ["#" if i < filled else "." for i in range(width)]
    if 0 <= limit_at < width:
        chars.insert(limit_at, "|")
    return "".join(chars)


@contextmanager
def _faults_active(injector: Any) -> Iterator[None]:
    """The fault injector on every client the handlers create meanwhile."""
    from handlers.cell_router import aws_clients

    if injector is None:
        yield
        return
    aws_clients.reset()
    try:
        with injector.active():
            yield
    finally:
        aws_clients.reset()


def _sweep(sweeper: Callable[[Any], Any]) -> dict[str, Any]:
    """Run the sweeper as if its schedule fired one resend delay from now."""
    from handlers.cell_router import scaleout, settings

    real = scaleout.wall_clock
    delay = settings.scale_out_resend_seconds() + 1
    scaleout.wall_clock = lambda: real() + delay
    try:
        return dict(sweeper({}))
    finally:
        scaleout.wall_clock = real


@contextmanager
def _injected(fault: str | None) -> Iterator[None]:
    """Break the store's assignment in this process only (self-test)."""
    if fault is None:
        yield
        return
    from handlers.cell_router import store

    original = store.RouterStore.assign

    def double_count(
        self: Any, mapping: Any, cell: Any, limit: int, below: int | None = None, **kw: Any
    ) -> Any:
        outcome = original(self, mapping, cell, limit, below, **kw)
        if outcome.outcome is store.AssignOutcome.PLACED:
            self.client.update_item(
                TableName=self.table_name,
                Key={"marketId": {"S": cell.market_id}, "cellId": {"S": cell.cell_id}},
                UpdateExpression="ADD currentCapacity :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        return outcome

    def skip_transaction(
        self: Any, mapping: Any, cell: Any, limit: int, below: int | None = None, **kw: Any
    ) -> Any:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "marketId": {"S": _PREFIX_USER + mapping.user_key},
                "cellId": {"S": "MAPPING"},
                "assignedMarketId": {"S": mapping.market_id},
                "assignedCellId": {"S": mapping.cell_id},
                "assignedAt": {"S": mapping.assigned_at},
            },
        )
        return store.AssignResult(store.AssignOutcome.PLACED, mapping)

    store.RouterStore.assign = double_count if fault == FAULT_DOUBLE_COUNT else skip_transaction
    try:
        yield
    finally:
        store.RouterStore.assign = original


# --------------------------------------------------------------------------- #
# The API path: the Orchestrator on moto's Step Functions interpreter
# --------------------------------------------------------------------------- #
@contextmanager
def _step_functions_emulator() -> Iterator[None]:
    """A threaded server on the same backends for the interpreter's Lambda
    calls, and ASL execution switched on for the duration."""
    server = SerialMotoServer(threaded=True).start()
    try:
        with executing_state_machines(), scoped_environ({"MOTO_PORT": str(server.port)}):
            yield
    finally:
        server.stop()


def _run_api(
    stack: Any,
    functions: dict[str, DeployedFunction],
    result: CellsResult,
    order: Iterator[int],
    user_ids: list[str],
    retried: set[str],
    known: SignUp | None,
    endpoints: CellEndpoints,
) -> bool:
    """Run the API batch, recording each call in ``result.api_calls``;
    returns whether the definition equals the deployed one."""
    recorded = stack.state_machine_definition(ORCHESTRATOR_SUFFIX)
    mock_arns = {name: functions[name].arn for name in ROUTED_FUNCTIONS}
    same_definition = _orchestrator(mock_arns) == recorded
    # Step Functions invokes the handlers; inprocess_lambdas passes the context.
    routes = {functions[name].physical_name: functions[name].load() for name in ROUTED_FUNCTIONS}
    with _step_functions_emulator(), sfn.inprocess_lambdas(routes):
        api = _Api(result, _deploy_orchestrator(functions, stack.primary), stack.primary)
        api.sign_ups(user_ids, retried, order)
        if known is not None:
            api.known_user(known, order, endpoints)
        api.bad_requests()
    return same_definition


def _deploy_orchestrator(functions: dict[str, DeployedFunction], region: str) -> str:
    """The routed functions and the Orchestrator on moto; its ARN."""
    timeouts = {functions[n].physical_name: functions[n].timeout_seconds for n in ROUTED_FUNCTIONS}
    role = sfn.ensure_role("drill-orchestrator-role", region=region)
    arns = sfn.create_functions(timeouts, role_arn=role, region=region)
    definition = _orchestrator(
        {name: arns[functions[name].physical_name] for name in ROUTED_FUNCTIONS}
    )
    return sfn.create_state_machine(
        definition, name=f"Orchestrator-{uuid.uuid4().hex[:8]}", role_arn=role, region=region
    )


class _Api:
    """API requests as executions of the Orchestrator, with the status the
    API maps each answer to; every call recorded in ``result.api_calls``."""

    def __init__(self, result: CellsResult, machine: str, region: str) -> None:
        self.result = result
        self.machine = machine
        self.region = region

    def call(self, label: str, path: str, user_id: str, body: Any, expected: int) -> ApiCall:
        execution = sfn.run_execution(
            self.machine,
            {"path": path, "httpMethod": "POST", "userId": user_id, "body": body},
            region=self.region,
        )
        if execution.succeeded:
            status, answer = 200, execution.output
        else:
            error = "States.Timeout" if execution.status == "TIMED_OUT" else execution.error
            status = ERROR_STATUS.get(error or "", 500)
            answer = {"error": error, "message": execution.error_message}
        api_call = ApiCall(label, path, status, expected, answer)
        self.result.api_calls.append(api_call)
        return api_call

    def sign_ups(self, user_ids: list[str], retried: set[str], order: Iterator[int]) -> None:
        """The new cell takes its assignable share; after that, NoCapacity."""
        room = self.result.assignable_limit
        for user_id in user_ids:
            expected = 200 if room > 0 else ERROR_STATUS["NoCapacity"]
            label = f"sign-up {user_id}" + (" (refused before)" if user_id in retried else "")
            made = self.call(label, "/cells", user_id, {}, expected)
            room -= 1
            body = made.body if isinstance(made.body, dict) else {}
            self.result.sign_ups.append(
                SignUp(
                    next(order),
                    user_id,
                    "api",
                    body.get("cellId") if made.status == 200 else None,
                    bool(body.get("newAssignment")),
                )
            )

    def known_user(self, known: SignUp, order: Iterator[int], endpoints: CellEndpoints) -> None:
        """A placed user signs up again, asks for their cell, validates endpoints."""
        result, user_id = self.result, known.user_id
        again = self.call(f"repeat sign-up {user_id}", "/cells", user_id, {}, 200)
        body = again.body if isinstance(again.body, dict) else {}
        result.sign_ups.append(SignUp(next(order), user_id, "api", body.get("cellId"), False))
        result.repeat_sign_up = (known.cell_id, body)
        self.call(f"{user_id}'s cell", "/mapper", user_id, {}, 200)
        for label, cell in (("current", known.cell_id), ("stale", result.new_cell)):
            url, url2 = endpoints.urls(cell or "")
            self.call(
                f"cached endpoints, {label}",
                "/validate",
                user_id,
                {"cellId": known.cell_id, "cellUrl": url, "cellUrl2": url2},
                200,
            )

    def bad_requests(self) -> None:
        self.call("unknown user", "/mapper", "nobody", {}, ERROR_STATUS["UserNotFound"])
        self.call("unknown path", "/cellz", "ada", {}, ERROR_STATUS["InvalidRequest"])
        self.call(
            "bad input: marketId 'eu rope!'",
            "/cells",
            "ada",
            {"marketId": "eu rope!"},
            ERROR_STATUS["InvalidRequest"],
        )


def _orchestrator(arns: dict[str, str]) -> dict[str, Any]:
    """The definition, built exactly as ``__main__`` asks the component to."""
    return build_orchestrator_definition(
        dispatcher_arn=arns["dispatcher"],
        scaler_arn=arns["scaler"],
        mapper_arn=arns["mapper"],
        validator_arn=arns["validator"],
        task_timeout_seconds=DEFAULT_TASK_TIMEOUT_SECONDS,
        scaler_timeout_seconds=DEFAULT_SCALER_TIMEOUT_SECONDS,
    )


def _summary(answer: Any) -> str:
    if not isinstance(answer, dict):
        return json.dumps(answer)
    if "error" in answer:
        return f"{answer['error']}: {answer.get('message')}"
    if "valid" in answer:
        remediation = answer.get("remediation") or {}
        action = remediation.get("action")
        return f"valid={answer['valid']} healthy={answer['healthy']}" + (
            f" remediation={action}" if action else ""
        )
    if "cellId" in answer:
        new = " (new)" if answer.get("newAssignment") else ""
        return f"cell {answer['cellId']}{new}"
    return json.dumps(answer)
