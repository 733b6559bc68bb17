"""Failover scenarios: the real checkers and lookups of both regions on a
simulated clock.

Since issue 12 both regions serve: every scenario runs both regions'
checkers and lookups (``FailoverPlane``) on two replicas of the state table
kept in step by ``drill.replication.GlobalTableEmulator`` (1 s lag, per-item
last-writer-wins, every write recorded with its region), and checks that no
item is written from both regions and that the replicas converge. After the
story below come two more scenarios: ``region_loss`` (every primary-region
service faulted with ``drill.faults``, replication cut; the secondary decides
and its lookup answers within 40 s; convergence after the region returns)
and ``partitioned_checker`` (a checker that reaches neither bot causes no
failover).

The health-check function (``handlers/lex_dr/health_check.py``) runs one
probe round per invocation, at the offsets of the stack's own probe-loop
definition (``bot_probe_loop_asl.SCHEDULE_ROUNDS``: 0, 10, ... 50 s of every
minute with the default 10 s interval). Time is simulated: the drill jumps
from round to round, so a two-minute story takes about two seconds. The state
table lives on the embedded emulator; the Lex V2 runtime is simulated at the
botocore level (``drill.lex_sim``). After every round the contact flow's
lookup (``handlers/lex_dr/get_region.py``) is called with an Amazon
Connect-shaped event, to show where a caller would be sent.

The story: both bots healthy; the primary's alias disappears (probes fail
with ``ResourceNotFoundException``) and the state flips after
``failoverThreshold`` failed rounds; the secondary stops answering too and
the state stays put (fail open); both recover and, after
``failbackThreshold`` good rounds of the primary, the state fails back (or,
with ``autoFailback`` off, stays); an operator sets ``overrideRegion`` and
then clears it.

Detection time is measured in simulated seconds from the outage to the round
that writes the switch. Rounds are instantaneous in the simulation; the
printed worst case adds what a round can take in AWS (every attempt timing
out).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from components.bot_probe_loop_asl import SCHEDULE_PERIOD_SECONDS, SCHEDULE_ROUNDS
from components.schemas import LEX_STATE_TABLE
from drill import lex_sim
from drill.environment import handler_environment, scoped_environ
from drill.replication import GlobalTableEmulator
from drill.report import Check, Checked, Report
from drill.session import DrillSession
from drill.stack import DeployedFunction

#: Hidden self-test of the drill's own checks (``--inject-fault``): the
#: health check runs with a failover threshold two rounds higher than the
#: stack's, so the "failover after N failed rounds" check must fail.
FAULT_SLOW_FAILOVER = "slow-failover"
#: Self-test of the single-writer check: the secondary's checker writes the
#: primary's item (as a one-item design would), so the check must fail.
FAULT_SHARED_ITEM = "shared-item"
FAULTS = (FAULT_SLOW_FAILOVER, FAULT_SHARED_ITEM)

#: Simulated seconds between a round and a scripted change of the world:
#: just after a round started, i.e. the worst moment for detection.
AFTER_ROUND = 1.0

#: The primary's probe loop (the secondary's is ``lex-failover-secondary-probe-loop``;
#: both have the same offsets).
PROBE_LOOP_SUFFIX = "lex-failover-probe-loop"
SPEC_DETECTION_TARGET_SECONDS = 30.0


@dataclass(frozen=True)
class Round:
    number: int
    t: float
    healthy: dict[str, bool]
    streaks: dict[str, tuple[int, int]]  # region -> (ok, fail)
    active: str
    switched: bool
    reason: str | None
    version: int
    lookup_region: str
    lookup_arn: str
    lookup_status: str


@dataclass(frozen=True)
class Event:
    t: float
    text: str
    lookup_region: str | None = None


@dataclass
class FailoverResult(Checked):
    stack: str
    primary: str
    secondary: str
    interval_seconds: int
    offsets: list[int]
    failover_threshold: int
    failback_threshold: int
    auto_failback: bool
    probe_attempts: int
    rounds: list[Round] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    #: (region, start, end or None, what) of every simulated Lex impairment
    impairments: list[tuple[str, float, float | None, str]] = field(default_factory=list)
    detection_seconds: float | None = None
    failback_seconds: float | None = None
    worst_case_detection_seconds: float = 0.0
    lex_calls: dict[str, int] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    scenarios: list[ScenarioResult] = field(default_factory=list)


@dataclass
class ScenarioResult(Checked):
    """One two-region scenario: its timeline rows and its checks."""

    name: str
    rows: list[tuple[str, ...]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    #: simulated seconds from the region loss to the secondary lookup answering it
    takeover_seconds: float | None = None
    #: simulated seconds from the region's return to both lookups agreeing again
    convergence_seconds: float | None = None


class RoundClock:
    """Round start times: the probe loop's offsets, every schedule period.
    ``window_start`` is the start of the current execution (the schedule's
    firing), from which a round's slot is derived."""

    def __init__(self, offsets: list[int], period: int = SCHEDULE_PERIOD_SECONDS) -> None:
        if not offsets:
            raise ValueError("the probe loop has no rounds")
        self._times = self._generate(sorted(offsets), period)
        self.last: float | None = None
        self.window_start = 0.0

    def _generate(self, offsets: list[int], period: int) -> Iterator[float]:
        window = 0
        while True:
            for offset in offsets:
                self.window_start = float(window * period)
                yield float(window * period + offset)
            window += 1

    def next(self) -> float:
        self.last = next(self._times)
        return self.last


def run(
    session: DrillSession,
    *,
    fault: str | None = None,
    report: Report | None = None,
    faults: str | None = None,
    fault_seed: int = 0,
) -> FailoverResult:
    """Run the failover story on ``session``'s emulator and check it.

    ``faults`` (``drill.faults`` syntax, e.g. ``dynamodb=ThrottlingException@0.2``
    or ``lexv2-runtime[us-west-2]=timeout@0.5``) applies AWS failure modes to
    every call of the health check and the lookup; the same invariants are
    checked. Injected timeouts cost no simulated time (the drill's clock
    advances per round, not per call).
    """
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown failover fault {fault!r}")
    out = report or session.report
    started = time.monotonic()
    stack = session.stack
    hc_settings = stack.settings.health_check
    primary, secondary = stack.primary, stack.secondary
    check_fn = regional_function(stack, "health_check", primary)
    lookup_fn = regional_function(stack, "get_region", primary)
    offsets = [
        int(o)
        for o in stack.state_machine_definition(PROBE_LOOP_SUFFIX)["States"][SCHEDULE_ROUNDS][
            "Result"
        ]["offsets"]
    ]
    interval = hc_settings.probe_interval_seconds
    result = FailoverResult(
        stack=stack.name,
        primary=primary,
        secondary=secondary,
        interval_seconds=interval,
        offsets=offsets,
        failover_threshold=hc_settings.failover_threshold,
        failback_threshold=hc_settings.failback_threshold,
        auto_failback=hc_settings.auto_failback,
        probe_attempts=hc_settings.probe_attempts,
    )
    result.worst_case_detection_seconds = worst_case_detection(
        interval, hc_settings.failover_threshold, hc_settings.probe_attempts
    )

    # --- the data plane on the emulator -------------------------------------
    table = check_fn.environment["TABLE_NAME"]
    check_env = dict(check_fn.environment)
    if fault == FAULT_SLOW_FAILOVER:
        check_env["FAILOVER_THRESHOLD"] = str(hc_settings.failover_threshold + 2)
    plane = FailoverPlane.open(
        session,
        env_overrides={k: v for k, v in check_env.items() if k == "FAILOVER_THRESHOLD"},
        checker_env={secondary: {"CHECKER_REGION": primary}}
        if fault == FAULT_SHARED_ITEM
        else None,
    )
    seeds = plane.seeds
    ddb = plane.operator(primary)
    key = {LEX_STATE_TABLE.hash_key.name: {"S": check_fn.environment["CONNECT_REGION"]}}
    alias_arns = json.loads(lookup_fn.environment["BOT_ALIAS_ARNS"])
    sim = plane.sim
    injector = None
    injection: Any = contextlib.nullcontext()
    if faults:
        from drill.faults import FaultInjector
        from handlers.lex_dr import aws_clients as lex_clients

        injector = FaultInjector(faults, seed=fault_seed, sleep=lambda _: None)
        lex_clients.reset()
        injection = injector.active()
    try:
        injection.__enter__()

        def health_check(event: Any) -> dict[str, Any]:
            answer = plane.run_checker(primary, event)
            plane.run_checker(secondary, event)
            return answer

        get_region = plane.lookups[primary]

        out.heading(f"Lex failover -- stack {stack.name}: {primary} (primary) / {secondary}")
        out.line(
            f"State table {table} on the emulator, seeded as the stack seeds it "
            f"({_describe_seed(seeds)})."
        )
        out.line(
            f"Health check {check_fn.physical_name} ({check_fn.handler_path}): one round at "
            f"offsets {', '.join(map(str, offsets))} s of every minute (the probe loop's "
            f"definition); fail over after {result.failover_threshold} failed rounds, fail back "
            f"after {result.failback_threshold} good rounds of the primary, auto failback "
            f"{'on' if result.auto_failback else 'off'}, {result.probe_attempts} attempts per "
            f"probe ({check_fn.environment.get('TEST_METHOD')})."
        )
        out.line(
            "Lex V2 runtime: SIMULATED at the botocore level (drill/lex_sim.py; moto has no "
            "lexv2-runtime). Clock: simulated."
        )
        if fault:
            out.line(f"SELF-TEST: fault {fault!r} injected -- the checks below must fail.")
        out.line()
        header = ("t (s)", "what", primary, secondary, "lexRegion", "lookup -> callers go to")
        rows: list[tuple[str, ...]] = []

        clock = RoundClock(offsets)
        impaired: dict[str, tuple[float, str]] = {}

        def lookup() -> dict[str, str]:
            event = {
                "Name": "ContactFlowEvent",
                "Details": {
                    "ContactData": {"Channel": "VOICE", "InitiationMethod": "INBOUND"},
                    "Parameters": {"region": check_fn.environment["CONNECT_REGION"]},
                },
            }
            return get_region(event)

        def item() -> dict[str, Any]:
            return plane.read(primary, key)

        def caller_note(region: str) -> str:
            return f"{region} (calls fail)" if region in impaired else region

        def do_round() -> Round:
            t = clock.next()
            plane.advance_to(t)
            answer = health_check(plane.round_event(t, clock.window_start))
            found = lookup()
            stored = item()
            regions = stored.get("regions", {}).get("M", {})
            streaks = {
                r: (
                    int(regions.get(r, {}).get("M", {}).get("okStreak", {}).get("N", 0)),
                    int(regions.get(r, {}).get("M", {}).get("failStreak", {}).get("N", 0)),
                )
                for r in (primary, secondary)
            }
            reason = stored.get("lastSwitchReason", {}).get("S") if answer["switched"] else None
            record = Round(
                number=len(result.rounds) + 1,
                t=t,
                healthy=dict(answer["healthy"]),
                streaks=streaks,
                active=answer["activeRegion"],
                switched=bool(answer["switched"]),
                reason=reason,
                version=int(stored.get("version", {}).get("N", 0)),
                lookup_region=found["primaryCode"],
                lookup_arn=found["botAliasArn"],
                lookup_status=found["statusCode"],
            )
            result.rounds.append(record)
            probe_cells = []
            for r in (primary, secondary):
                ok_streak, fail_streak = streaks[r]
                probe_cells.append(
                    f"ok ({ok_streak})" if record.healthy[r] else f"FAIL ({fail_streak})"
                )
            rows.append(
                (
                    f"{t:6.1f}",
                    f"round {record.number}",
                    *probe_cells,
                    record.active,
                    caller_note(record.lookup_region)
                    + (f"   SWITCH ({reason})" if record.switched else ""),
                )
            )
            return record

        def happen(
            t: float, text: str, action: Callable[[], None], with_lookup: bool = False
        ) -> None:
            plane.advance_to(t)
            action()
            found = lookup()["primaryCode"] if with_lookup else None
            result.events.append(Event(t, text, found))
            suffix = f"  lookup now -> {caller_note(found)}" if found else ""
            rows.append((f"{t:6.1f}", f">> {text}{suffix}"))

        def impair(region: str, kind: str, t: float, error_code: str = "") -> None:
            def action() -> None:
                if kind == lex_sim.ERROR:
                    sim.set(region, kind, error_code=error_code)
                else:
                    sim.set(region, kind)
                impaired[region] = (t, kind)

            what = f"error {error_code}" if kind == lex_sim.ERROR else kind.replace("_", " ")
            happen(t, f"{region} bot impaired (simulated: {what})", action)

        def recover(region: str, t: float) -> None:
            def action() -> None:
                sim.set(region, lex_sim.OK)
                since, kind = impaired.pop(region)
                result.impairments.append((region, since, t, kind))

            happen(t, f"{region} bot answers again", action)

        def rounds_until(done: Callable[[Round], bool], limit: int) -> Round | None:
            for _ in range(limit):
                record = do_round()
                if done(record):
                    return record
            return None

        # 1. steady state
        steady = [do_round(), do_round()]
        # 2. the primary's alias disappears just after a round started
        outage_at = (clock.last or 0.0) + AFTER_ROUND
        impair(primary, lex_sim.ERROR, outage_at, "ResourceNotFoundException")
        failover_round = rounds_until(lambda r: r.switched, result.failover_threshold + 3)
        failing_rounds: list[Round] = []
        if failover_round is not None:
            result.detection_seconds = failover_round.t - outage_at
            failing_rounds = [r for r in result.rounds if outage_at < r.t <= failover_round.t]
        # 3. the secondary stops answering too: nothing to fail over to
        both_down_at = (clock.last or 0.0) + AFTER_ROUND
        impair(secondary, lex_sim.TIMEOUT, both_down_at)
        both_down = [do_round() for _ in range(result.failover_threshold + 1)]
        # 4. both recover
        recovered_at = (clock.last or 0.0) + AFTER_ROUND
        recover(secondary, recovered_at)
        recover(primary, recovered_at)
        if result.auto_failback:
            failback_round = rounds_until(lambda r: r.switched, result.failback_threshold + 3)
            if failback_round is not None:
                result.failback_seconds = failback_round.t - recovered_at
            after_recovery = [r for r in result.rounds if r.t > recovered_at]
        else:
            failback_round = None
            after_recovery = [do_round() for _ in range(result.failback_threshold + 1)]
        # 5. an operator pins the region, then lets go
        before_override = result.rounds[-1].active
        target = secondary if before_override == primary else primary
        override_at = (clock.last or 0.0) + AFTER_ROUND

        def set_override() -> None:
            ddb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET overrideRegion = :r",
                ExpressionAttributeValues={":r": {"S": target}},
            )

        happen(override_at, f"operator sets overrideRegion = {target}", set_override, True)
        override_lookup = result.events[-1].lookup_region
        override_round = do_round()
        cleared_at = (clock.last or 0.0) + AFTER_ROUND

        def clear_override() -> None:
            ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE overrideRegion")

        happen(cleared_at, "operator removes overrideRegion", clear_override)
        after_override = rounds_until(lambda r: r.active == primary, 2) or result.rounds[-1]
        plane.replication.flush()
        replica_checks = [plane.single_writer_check(), plane.convergence_check("at the end")]
    finally:
        injection.__exit__(None, None, None)
        plane.close()
    out.timeline(header, rows)
    if injector is not None:
        injected = ", ".join(
            f"{n} x {service}:{operation}={label}"
            for (service, operation, label), n in sorted(injector.injected.items())
        )
        out.line(
            "AWS faults (drill.faults): "
            + ", ".join(str(rule) for rule in injector.rules)
            + f"; injected: {injected or 'none'}"
        )
    for region, since, kind in [(r, s, k) for r, (s, k) in impaired.items()]:
        result.impairments.append((region, since, None, kind))
    result.lex_calls = {r: sim.count(r) for r in (primary, secondary)}

    # --- invariants -------------------------------------------------------------
    f_threshold = result.failover_threshold
    checks = result.checks
    checks.append(
        Check(
            "steady state: callers on the primary",
            all(r.active == primary and r.lookup_region == primary for r in steady),
            f"lookup -> {', '.join(r.lookup_region for r in steady)}",
        )
    )
    checks.append(
        Check(
            f"failover after exactly {f_threshold} failed rounds of the primary",
            failover_round is not None
            and failover_round.active == secondary
            and len(failing_rounds) == f_threshold,
            f"switched after {len(failing_rounds)} failed round(s)"
            if failover_round is not None
            else f"no switch within {f_threshold + 3} rounds",
        )
    )
    bound = f_threshold * interval
    checks.append(
        Check(
            f"detection within {f_threshold} x {interval} s of simulated time",
            result.detection_seconds is not None and result.detection_seconds <= bound,
            f"{_seconds(result.detection_seconds)} (outage at t={outage_at:.1f} s)",
        )
    )
    checks.append(
        Check(
            "lookup sends callers to the secondary once switched",
            failover_round is not None
            and failover_round.lookup_region == secondary
            and failover_round.lookup_arn == alias_arns.get(secondary),
            f"lookup -> {failover_round.lookup_region if failover_round else '-'}",
        )
    )
    checks.append(
        Check(
            "both regions down: lexRegion kept (fail open)",
            all(
                not any(r.healthy.values()) and not r.switched and r.active == both_down[0].active
                for r in both_down
            ),
            f"{len(both_down)} rounds, lexRegion stayed {both_down[0].active}",
        )
    )
    if result.auto_failback:
        checks.append(
            Check(
                f"failback after {result.failback_threshold} good rounds of the primary",
                failback_round is not None
                and failback_round.reason == "failback"
                and failback_round.active == primary
                and failback_round.streaks[primary][0] == result.failback_threshold,
                f"failed back {_seconds(result.failback_seconds)} after recovery"
                if failback_round
                else "no failback",
            )
        )
    else:
        checks.append(
            Check(
                "autoFailback off: stays on the secondary after recovery",
                all(not r.switched and r.active == secondary for r in after_recovery),
                f"{len(after_recovery)} good rounds, lexRegion {after_recovery[-1].active}",
            )
        )
    checks.append(
        Check(
            "overrideRegion: lookup follows it at once, the next round records it",
            override_lookup == target
            and override_round.active == target
            and override_round.reason == "override",
            f"lookup -> {override_lookup}, round {override_round.number} -> "
            f"{override_round.active} ({override_round.reason})",
        )
    )
    checks.append(
        Check(
            "override removed: callers back on the primary",
            after_override.active == primary and after_override.lookup_region == primary,
            f"round {after_override.number}: lexRegion {after_override.active}",
        )
    )
    checks.append(
        Check(
            "every lookup answered 200 with the alias ARN of the region it named",
            all(
                r.lookup_status == "200" and r.lookup_arn == alias_arns.get(r.lookup_region)
                for r in result.rounds
            ),
            f"{len(result.rounds)} lookups",
        )
    )
    checks.append(
        Check(
            "every test session Lex answered was deleted",
            not sim.undeleted_sessions,
            f"{len(sim.answered_sessions)} sessions, {len(sim.undeleted_sessions)} left",
        )
    )
    checks.append(
        Check(
            "every round wrote one new state version",
            [r.version for r in result.rounds]
            == list(range(result.rounds[0].version, result.rounds[0].version + len(result.rounds))),
            f"versions {result.rounds[0].version}..{result.rounds[-1].version}",
        )
    )
    checks.extend(replica_checks)

    out.line()
    out.line(
        f"Detection: {_seconds(result.detection_seconds)} of simulated time from the outage "
        f"(t={outage_at:.1f} s) to the round that wrote the switch"
        + (f" (t={failover_round.t:.1f} s)." if failover_round else ".")
    )
    worst = result.worst_case_detection_seconds
    verdict = "within" if worst <= SPEC_DETECTION_TARGET_SECONDS else "OVER"
    out.line(
        f"Worst case with these settings: {f_threshold} x {interval} s + one round with every "
        f"attempt timing out ({worst - f_threshold * interval:.1f} s) = {worst:.1f} s "
        f"({verdict} the {SPEC_DETECTION_TARGET_SECONDS:.0f} s target)."
    )
    if result.failback_seconds is not None:
        out.line(
            f"Failback: {_seconds(result.failback_seconds)} after the primary recovered "
            f"({result.failback_threshold} good rounds)."
        )
    out.line(
        "Simulated Lex calls: "
        + ", ".join(f"{r} {n}" for r, n in result.lex_calls.items())
        + " (probes with retries, and session deletions)."
    )
    out.checks(checks)

    # --- both regions serve: the region-loss and partition scenarios --------------
    for scenario in (region_loss, partitioned_checker):
        outcome = scenario(session, out)
        result.scenarios.append(outcome)
        checks.extend(Check(f"{outcome.name}: {c.name}", c.ok, c.detail) for c in outcome.checks)
    result.elapsed_seconds = time.monotonic() - started
    return result


def worst_case_detection(interval: int, failover_threshold: int, attempts: int) -> float:
    """Outage just after a round started: that round still passes, the next
    ``failover_threshold`` fail, and the last of them may take a whole round
    of timed-out attempts (connect + read timeout each, plus the backoff)."""
    from handlers.lex_dr.aws_clients import LEX_CALL_TIMEOUT_SECONDS
    from handlers.lex_dr.settings import DEFAULT_PROBE_BACKOFF_MS

    backoff = DEFAULT_PROBE_BACKOFF_MS / 1000 * sum(range(1, attempts))
    return failover_threshold * interval + attempts * LEX_CALL_TIMEOUT_SECONDS + backoff


def regional_function(stack: Any, module: str, region: str) -> DeployedFunction:
    """The ``handlers.lex_dr.<module>`` function the stack deploys in ``region``."""
    path = f"handlers.lex_dr.{module}.handler"
    found = [f for f in stack.functions.values() if f.handler_path == path and f.region == region]
    if len(found) != 1:
        raise ValueError(f"expected one {path} in {region}, found {len(found)}")
    return found[0]


def _invoker(function: DeployedFunction, environment: Mapping[str, str]) -> Callable[[Any], Any]:
    """Call the handler the way Lambda would: its own environment (and its
    region's ``AWS_REGION``), a context."""
    env: dict[str, str | None] = {
        **handler_environment(environment),
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
    }
    handler = function.load()

    def invoke(event: Any) -> Any:
        with scoped_environ(env):
            return handler(event, function.context())

    return invoke


#: Simulated wall-clock time of t = 0 (the handlers record ISO times from it).
EPOCH_BASE = 1_800_000_000.0
#: Replication lag of the emulated global table: AWS's "usually within one second".
REPLICATION_LAG_SECONDS = 1.0


class FailoverPlane:
    """Both regions' failover data plane on the emulator, on a simulated clock.

    One state table per region (the global table's replicas) kept in step by
    ``drill.replication.GlobalTableEmulator`` (lag, per-item last-writer-wins,
    every write recorded with its region); each region's checker and lookup
    run with that region's environment and clients; the Lex V2 runtime is
    ``drill.lex_sim``; ``handlers.lex_dr.clock`` follows the simulated time.
    """

    def __init__(self) -> None:
        self.regions: tuple[str, str] = ("", "")
        self.table = ""
        self.t = 0.0
        self.seeds: list[dict[str, Any]] = []
        self.checkers: dict[str, Callable[[Any], Any]] = {}
        self.lookups: dict[str, Callable[[Any], Any]] = {}
        self.connect_region = ""
        self.clients: dict[str, Any] = {}
        self._operators: dict[str, Any] = {}
        self._exit = ExitStack()

    @classmethod
    def open(
        cls,
        session: DrillSession,
        *,
        env_overrides: Mapping[str, str] | None = None,
        checker_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> FailoverPlane:
        from handlers.lex_dr import aws_clients
        from handlers.lex_dr import clock as handler_clock

        plane = cls()
        stack = session.stack
        plane.session = session
        primary, secondary = stack.primary, stack.secondary
        plane.regions = (primary, secondary)
        checks = {r: regional_function(stack, "health_check", r) for r in plane.regions}
        lookups = {r: regional_function(stack, "get_region", r) for r in plane.regions}
        plane.table = checks[primary].environment["TABLE_NAME"]
        plane.connect_region = checks[primary].environment["CONNECT_REGION"]
        for region in plane.regions:
            client = session.client("dynamodb", region)
            client.create_table(**LEX_STATE_TABLE.create_table_request(plane.table))
            # Each scenario starts from the stack's seed, as if just deployed.
            plane._exit.callback(client.delete_table, TableName=plane.table)
        plane.sim = lex_sim.LexSimulator(
            json.loads(checks[primary].environment["BOTS"]),
            expected_response=checks[primary].environment["EXPECTED_RESPONSE"],
            sample_utterance=checks[primary].environment.get("SAMPLE_UTTERANCE"),
        ).install()
        plane._exit.callback(plane.sim.uninstall)
        clients = {r: session.client("dynamodb", r) for r in plane.regions}
        plane.clients = clients
        plane.replication = GlobalTableEmulator(
            regions=plane.regions,
            key_attributes={plane.table: (LEX_STATE_TABLE.hash_key.name,)},
            client_for=clients.__getitem__,
            clock=plane.now,
            lag_seconds=REPLICATION_LAG_SECONDS,
        ).attach(plane.sim._session)
        plane._exit.callback(plane.replication.detach)
        aws_clients.reset()  # clients made from now on carry both hooks
        plane._exit.callback(aws_clients.reset)
        plane._exit.enter_context(handler_clock.simulated(plane.now))
        for region in plane.regions:
            env = {
                **checks[region].environment,
                **(env_overrides or {}),
                **((checker_env or {}).get(region) or {}),
            }
            plane.checkers[region] = _invoker(checks[region], env)
            plane.lookups[region] = _invoker(lookups[region], dict(lookups[region].environment))
        # The stack seeds the primary's replica; the global table copies it.
        plane.seeds = stack.seed_items(plane.table)
        for item in plane.seeds:
            plane.operator(primary).put_item(TableName=plane.table, Item=item)
        plane.replication.flush()
        return plane

    def close(self) -> None:
        self._exit.close()

    # -- time -----------------------------------------------------------------

    def now(self) -> float:
        return EPOCH_BASE + self.t

    def advance_to(self, t: float) -> None:
        self.t = max(self.t, t)
        self.replication.pump()

    def round_event(self, t: float, window_start: float) -> dict[str, Any]:
        """What the probe loop passes a round: its execution's start and offset."""
        from handlers.lex_dr import clock as handler_clock

        return {
            "executionStartTime": handler_clock.iso(EPOCH_BASE + window_start),
            "offset": t - window_start,
        }

    # -- the functions ----------------------------------------------------------

    def run_checker(self, region: str, event: Any) -> dict[str, Any]:
        return self.checkers[region](event)

    def lookup_invoker(self, region: str) -> Callable[[], dict[str, str]]:
        def lookup() -> dict[str, str]:
            return self.lookups[region](connect_event(self.connect_region))

        return lookup

    def lookup(self, region: str) -> dict[str, str]:
        return self.lookup_invoker(region)()

    # -- operators and inspection -------------------------------------------------

    def operator(self, region: str) -> Any:
        """An operator's DynamoDB client in ``region``; its writes are recorded
        and replicated like the handlers'."""
        import boto3

        if region not in self._operators:
            self._operators[region] = boto3.client(
                "dynamodb", region_name=region, endpoint_url=self.session.server.endpoint_url
            )
        return self._operators[region]

    def read(self, region: str, key: Mapping[str, Any]) -> dict[str, Any]:
        client = self.clients[region]
        return client.get_item(TableName=self.table, Key=dict(key), ConsistentRead=True).get(
            "Item", {}
        )

    def single_writer_check(self) -> Check:
        from handlers.lex_dr import layout

        writers = self.replication.writers()
        violations = self.replication.multi_writer_items()
        wrong = {
            k: v
            for k, v in writers.items()
            if v != {layout.writer_region(k[1][0][2])} and k not in violations
        }
        lost = self.replication.lost_updates
        return Check(
            "no item written from both regions (single writer), no lost update",
            bool(writers) and not violations and not wrong and not lost,
            f"{len(self.replication.writes)} writes to {len(writers)} items"
            + (f"; written from two regions: {_keys(violations)}" if violations else "")
            + (f"; written by the wrong region: {_keys(wrong)}" if wrong else "")
            + (f"; {len(lost)} lost updates" if lost else ""),
        )

    def convergence_check(self, what: str) -> Check:
        diverged = self.replication.divergence(self.table)
        return Check(
            f"replicas converge {what}",
            not diverged and self.replication.pending == 0,
            "identical items in both regions" if not diverged else f"differ: {', '.join(diverged)}",
        )


def connect_event(connect_region: str) -> dict[str, Any]:
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {"Channel": "VOICE", "InitiationMethod": "INBOUND"},
            "Parameters": {"region": connect_region},
        },
    }


def _keys(items: Mapping[tuple[str, Any], Any]) -> str:
    return ", ".join(k[1][0][2] for k in items)


def _describe_seed(seeds: list[dict[str, Any]]) -> str:
    if not seeds:
        return "no seed item"
    return "; ".join(
        ", ".join(f"{k}={next(iter(v.values()))}" for k, v in item.items()) for item in seeds
    )


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


#: The issue's target: the secondary decides and its lookup answers within 40 s.
REGION_LOSS_TARGET_SECONDS = 40.0


def _region_row(plane: FailoverPlane, t: float, what: str, answers: Mapping[str, Any]) -> tuple:
    primary, secondary = plane.regions
    cells = []
    for region in (primary, secondary):
        answer = answers.get(region)
        if answer is None:
            cells.append("-")
        elif isinstance(answer, str):
            cells.append(answer)
        else:
            healthy = answer["healthy"]
            seen = "/".join("ok" if healthy[r] else "FAIL" for r in (primary, secondary))
            cells.append(f"{seen} -> {answer['activeRegion']}")
    return (f"{t:6.1f}", what, *cells, answers.get("lookups", ""))


def _lookups(plane: FailoverPlane, down: set[str]) -> str:
    parts = []
    for region in plane.regions:
        if region in down:
            parts.append(f"{region}: down")
        else:
            parts.append(f"{region}: {plane.lookup(region)['primaryCode']}")
    return ", ".join(parts)


def region_loss(session: DrillSession, out: Report) -> ScenarioResult:
    """The whole primary region is lost (bot, checker, table replica, lookup),
    then returns. Every primary-region AWS call fails at the botocore level
    (``drill.faults``: DynamoDB, Lex runtime, Lambda, Step Functions connect
    timeouts), replication into and out of the primary stops; the primary's
    checker keeps being invoked to show it can neither read nor write."""
    from drill.faults import FaultInjector

    result = ScenarioResult("primary region lost")
    stack = session.stack
    primary, secondary = stack.primary, stack.secondary
    interval = stack.settings.health_check.probe_interval_seconds
    staleness = stack.settings.health_check.staleness_seconds
    plane = FailoverPlane.open(session)
    rows = result.rows
    header = ("t (s)", "what", f"checker {primary}", f"checker {secondary}", "lookups")
    spec = ",".join(
        f"{service}[{primary}]=connect-timeout"
        for service in ("dynamodb", "lexv2-runtime", "lambda", "stepfunctions")
    )
    injector = FaultInjector(spec, seed=1, sleep=lambda _: None)
    down: set[str] = set()
    clock = RoundClock([int(o) for o in range(0, SCHEDULE_PERIOD_SECONDS, interval)])
    try:

        def round_of_both(label: str = "round") -> dict[str, Any]:
            t = clock.next()
            plane.advance_to(t)
            event = plane.round_event(t, clock.window_start)
            answers: dict[str, Any] = {}
            for region in (primary, secondary):
                try:
                    answers[region] = plane.run_checker(region, event)
                except Exception as exc:  # the lost region's checker cannot record
                    answers[region] = f"round failed: {type(exc).__name__}"
            answers["lookups"] = _lookups(plane, down)
            rows.append(_region_row(plane, t, label, answers))
            return answers

        for _ in range(2):
            round_of_both()
        lost_at = (clock.last or 0.0) + AFTER_ROUND
        plane.advance_to(lost_at)
        # Every service of the primary region fails at once.
        stack_guard = ExitStack()
        stack_guard.enter_context(injector.active())
        from handlers.lex_dr import aws_clients

        aws_clients.reset()  # Lambda's clients are new after the fault: make them see it
        plane.replication.isolate(primary)
        plane.sim.set(primary, lex_sim.TIMEOUT)
        down.add(primary)
        rows.append((f"{lost_at:6.1f}", f">> {primary} region lost: every service fails"))
        vetoed_rounds = 0
        takeover_round: float | None = None
        for _ in range(8):
            answers = round_of_both()
            t = clock.last or 0.0
            looked_up = plane.lookup(secondary)["primaryCode"]
            active = answers[secondary]["activeRegion"]
            if takeover_round is None and active == secondary == looked_up:
                takeover_round = t
            if takeover_round is None:
                vetoed_rounds += 1
        if takeover_round is not None:
            result.takeover_seconds = takeover_round - lost_at
        writes_while_lost = [
            w
            for w in plane.replication.writes
            if w.region == primary and w.t - EPOCH_BASE > lost_at
        ]
        # The region returns.
        back_at = (clock.last or 0.0) + AFTER_ROUND
        plane.advance_to(back_at)
        stack_guard.close()
        aws_clients.reset()
        plane.replication.restore(primary)
        plane.sim.set(primary, lex_sim.OK)
        down.clear()
        plane.replication.pump()
        rows.append((f"{back_at:6.1f}", f">> {primary} region returns; replication resumes"))
        agreed_at: float | None = None
        for _ in range(6):
            round_of_both()
            plane.advance_to((clock.last or 0.0) + REPLICATION_LAG_SECONDS)
            looked = {r: plane.lookup(r)["primaryCode"] for r in plane.regions}
            if agreed_at is None and looked[primary] == looked[secondary] == primary:
                agreed_at = clock.last
        if agreed_at is not None:
            result.convergence_seconds = agreed_at - back_at
        plane.replication.flush()
        single_writer = plane.single_writer_check()
        converged = plane.convergence_check("after the region returns")
    finally:
        plane.close()

    out.heading(f"Both regions serve: {primary} region lost ({stack.name})")
    out.line(
        f"Two checkers and two lookups, one per region, on two replicas of the state table "
        f"(global table emulated: {REPLICATION_LAG_SECONDS:g} s lag, per-item last-writer-wins, "
        f"drill/replication.py). Region loss: faults {spec!r} (drill/faults.py), replication "
        f"to and from {primary} stopped. Staleness bound {staleness} s."
    )
    out.timeline(header, rows)
    checks = result.checks
    checks.append(
        Check(
            f"the secondary decides alone and its lookup answers {secondary} within "
            f"{REGION_LOSS_TARGET_SECONDS:g} s",
            result.takeover_seconds is not None
            and result.takeover_seconds <= REGION_LOSS_TARGET_SECONDS,
            f"{_seconds(result.takeover_seconds)} of simulated time after the loss",
        )
    )
    checks.append(
        Check(
            "no takeover while the lost checker's last round was fresh",
            vetoed_rounds >= 1,
            f"{vetoed_rounds} round(s) held back by the last fresh observation",
        )
    )
    checks.append(
        Check(
            "the lost region wrote nothing while lost",
            not writes_while_lost,
            f"{len(writes_while_lost)} writes from {primary} after the loss"
            + "".join(
                f"; t={w.t - EPOCH_BASE:.1f} {w.operation} {w.key_text}" for w in writes_while_lost
            ),
        )
    )
    checks.append(
        Check(
            "after the return both lookups agree (failback to the primary)",
            result.convergence_seconds is not None,
            f"{_seconds(result.convergence_seconds)} after the region returned",
        )
    )
    checks.append(single_writer)
    checks.append(converged)
    out.checks(checks)
    return result


def partitioned_checker(session: DrillSession, out: Report) -> ScenarioResult:
    """The secondary's checker cannot reach either bot (its network path is
    cut: its Lex calls time out) while the primary's sees both healthy."""
    result = ScenarioResult("partitioned checker")
    stack = session.stack
    primary, secondary = stack.primary, stack.secondary
    interval = stack.settings.health_check.probe_interval_seconds
    plane = FailoverPlane.open(session)
    rows = result.rows
    header = ("t (s)", "what", f"checker {primary}", f"checker {secondary}", "lookups")
    clock = RoundClock([int(o) for o in range(0, SCHEDULE_PERIOD_SECONDS, interval)])
    switches = 0
    lookups_seen: set[str] = set()
    try:
        for number in range(10):
            t = clock.next()
            plane.advance_to(t)
            event = plane.round_event(t, clock.window_start)
            answers: dict[str, Any] = {}
            for region in (primary, secondary):
                partitioned = number >= 2 and region == secondary
                for bot in plane.regions:
                    plane.sim.set(bot, lex_sim.TIMEOUT if partitioned else lex_sim.OK)
                answers[region] = plane.run_checker(region, event)
                switches += bool(answers[region]["switched"])
            answers["lookups"] = _lookups(plane, set())
            lookups_seen.update(plane.lookup(r)["primaryCode"] for r in plane.regions)
            label = "round" + (f" ({secondary} checker cut off)" if number >= 2 else "")
            rows.append(_region_row(plane, t, label, answers))
        plane.replication.flush()
        single_writer = plane.single_writer_check()
    finally:
        plane.close()
    out.heading(f"Both regions serve: the {secondary} checker is partitioned ({stack.name})")
    out.timeline(header, rows)
    result.checks.append(
        Check(
            "a checker that reaches neither bot causes no failover",
            switches == 0 and lookups_seen == {primary},
            f"{switches} switches; lookups answered {', '.join(sorted(lookups_seen))}",
        )
    )
    result.checks.append(single_writer)
    out.checks(result.checks)
    return result
