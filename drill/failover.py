"""Failover scenarios: the real checkers and lookups of both regions on a
simulated clock.

Since issue 12 both regions serve: every scenario runs both regions'
checkers and lookups (``FailoverPlane``) on two replicas of the state table
kept in step by ``support.replication.GlobalTableEmulator`` (1 s lag, per-item
last-writer-wins, every write recorded with its region), and checks that no
item is written from both regions and that the replicas converge. After the
story below come two more scenarios: ``region_loss`` (every primary-region
service faulted with ``support.faults``, replication cut; the secondary decides
and its lookup answers within 40 s; convergence after the region returns)
and ``partitioned_checker`` (a checker that reaches neither bot causes no
failover).

The health-check function (``handlers/lex_dr/health_check.py``) runs one
probe round per invocation, at the offsets of the stack's own probe-loop
definition (``bot_probe_loop_asl.SCHEDULE_ROUNDS``: 0, 10, ... 50 s of every
minute with the default 10 s interval). Time is simulated: the drill jumps
from round to round, so a two-minute story takes about two seconds. The state
table lives on the embedded emulator; the Lex V2 runtime is simulated at the
botocore level (``support.lex_sim``). After every round the contact flow's
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
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from components.bot_probe_loop_asl import SCHEDULE_PERIOD_SECONDS, SCHEDULE_ROUNDS
from components.schemas import LEX_STATE_TABLE
from drill.report import Check, Checked, Report
from drill.session import DrillSession
from drill.stack import DeployedFunction
from handlers.lex_dr import contract as lex_contract
from support import lex_sim
from support.environment import handler_environment, scoped_environ
from support.replication import GlobalTableEmulator

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


@dataclass(frozen=True)
class ReplicaFacts:
    """What the emulated global table saw, for the single-writer and
    convergence rules: item keys rendered as text."""

    writes: int
    items_written: int
    #: items written from both regions
    multi_writer: list[str] = field(default_factory=list)
    #: items written by a region other than the one their key names
    wrong_writer: list[str] = field(default_factory=list)
    lost_updates: int = 0
    #: items that differ between the replicas (None: not compared)
    diverged: list[str] | None = None
    pending: int = 0


@dataclass
class Story:
    """The moments of the failover story its invariants judge (rounds are
    ``FailoverResult.rounds``; times are simulated seconds)."""

    steady: list[Round]
    outage_at: float
    failover_round: Round | None
    #: rounds after the outage up to and including the switch
    failing_rounds: list[Round]
    both_down: list[Round]
    recovered_at: float
    failback_round: Round | None
    after_recovery: list[Round]
    override_target: str
    #: the lookup's answer right after the operator set ``overrideRegion``
    override_lookup: str | None
    override_round: Round
    after_override: Round


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
    # -- what the story saw, for its invariants and its printing --------------
    story: Story | None = None
    #: the lookup's answer per region: the bot alias ARN it must name
    alias_arns: dict[str, str] = field(default_factory=dict)
    #: test sessions Lex answered, and those never deleted
    sessions_answered: int = 0
    sessions_left: int = 0
    replicas: ReplicaFacts | None = None
    #: the timeline's rows: (t, what, primary, secondary, lexRegion, lookup),
    #: or (t, note) for a change of the world
    timeline: list[tuple[str, ...]] = field(default_factory=list)
    table: str = ""
    seed_text: str = ""
    checker_name: str = ""
    checker_handler: str = ""
    test_method: str | None = None
    fault: str | None = None
    #: ``--faults`` rules (None: none asked) and what was injected, per
    #: (service, operation, label)
    fault_rules: list[str] | None = None
    faults_injected: dict[tuple[str, str, str], int] = field(default_factory=dict)


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
    stack: str = ""
    primary: str = ""
    secondary: str = ""
    replicas: ReplicaFacts | None = None


@dataclass
class RegionLossResult(ScenarioResult):
    """The primary region lost and back."""

    #: rounds the secondary held back while the lost checker's last round was fresh
    vetoed_rounds: int = 0
    #: (t, operation, item) of every write from the lost region while it was lost
    writes_while_lost: list[tuple[float, str, str]] = field(default_factory=list)
    fault_spec: str = ""
    staleness_seconds: int = 0


@dataclass
class PartitionResult(ScenarioResult):
    """A checker cut off from both bots."""

    switches: int = 0
    #: regions any lookup answered during the scenario
    lookups_seen: list[str] = field(default_factory=list)


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
    """Run the failover story, then the two-region scenarios, on
    ``session``'s emulator; print each and check it (``invariants``).

    ``faults`` (``support.faults`` syntax, e.g. ``dynamodb=ThrottlingException@0.2``
    or ``lexv2-runtime[us-west-2]=timeout@0.5``) applies AWS failure modes to
    every call of the health check and the lookup; the same invariants are
    checked. Injected timeouts cost no simulated time (the drill's clock
    advances per round, not per call).
    """
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown failover fault {fault!r}")
    out = report or session.report
    started = time.monotonic()
    result = tell_the_story(session, fault=fault, faults=faults, fault_seed=fault_seed)
    print_story(result, out)
    for scenario in (region_loss, partitioned_checker):
        result.scenarios.append(scenario(session, out))
    result.checks = invariants(result)
    result.elapsed_seconds = time.monotonic() - started
    return result


# --------------------------------------------------------------------------- #
# The story: steps
# --------------------------------------------------------------------------- #
def new_result(stack: Any) -> FailoverResult:
    """The result of the stack's story before it is told: its settings and
    the probe loop's offsets (read from its recorded definition)."""
    hc_settings = stack.settings.health_check
    offsets = [
        int(o)
        for o in stack.state_machine_definition(PROBE_LOOP_SUFFIX)["States"][SCHEDULE_ROUNDS][
            "Result"
        ]["offsets"]
    ]
    result = FailoverResult(
        stack=stack.name,
        primary=stack.primary,
        secondary=stack.secondary,
        interval_seconds=hc_settings.probe_interval_seconds,
        offsets=offsets,
        failover_threshold=hc_settings.failover_threshold,
        failback_threshold=hc_settings.failback_threshold,
        auto_failback=hc_settings.auto_failback,
        probe_attempts=hc_settings.probe_attempts,
    )
    result.worst_case_detection_seconds = worst_case_detection(
        result.interval_seconds, result.failover_threshold, result.probe_attempts
    )
    return result


def tell_the_story(
    session: DrillSession,
    *,
    fault: str | None = None,
    faults: str | None = None,
    fault_seed: int = 0,
) -> FailoverResult:
    """Healthy; the primary's alias disappears; both regions down; recovery;
    an operator's override set and cleared. Returns what was seen."""
    stack = session.stack
    result = new_result(stack)
    primary, secondary = stack.primary, stack.secondary
    check_fn = regional_function(stack, "health_check", primary)
    lookup_fn = regional_function(stack, "get_region", primary)
    result.fault = fault
    # The deployed environments, read back through their contracts.
    deployed = lex_contract.HEALTH_CHECK.parse(check_fn.environment)
    result.table = deployed.table_name
    result.checker_name = check_fn.physical_name
    result.checker_handler = check_fn.handler_path
    result.test_method = deployed.test_method
    result.alias_arns = lex_contract.GET_REGION.parse(lookup_fn.environment).bot_alias_arns
    plane = _open_plane(session, check_fn, result.failover_threshold, fault)
    result.seed_text = _describe_seed(plane.seeds)
    injector = None
    if faults:
        from handlers.lex_dr import aws_clients as lex_clients
        from support.faults import FaultInjector

        injector = FaultInjector(faults, seed=fault_seed, sleep=lambda _: None)
        lex_clients.reset()
    teller = _StoryTeller(plane, result)
    try:
        with injector.active() if injector is not None else contextlib.nullcontext():
            result.story = teller.tell()
            plane.replication.flush()
            result.replicas = plane.replica_facts()
    finally:
        plane.close()
    if injector is not None:
        result.fault_rules = [str(rule) for rule in injector.rules]
        result.faults_injected = dict(injector.injected)
    teller.close_impairments()
    sim = plane.sim
    result.lex_calls = {r: sim.count(r) for r in (primary, secondary)}
    result.sessions_answered = len(sim.answered_sessions)
    result.sessions_left = len(sim.undeleted_sessions)
    return result


def _open_plane(
    session: DrillSession, check_fn: DeployedFunction, threshold: int, fault: str | None
) -> FailoverPlane:
    """Both regions' plane, with a self-test's fault in the checkers' environment."""
    stack = session.stack
    failover = lex_contract.FAILOVER_THRESHOLD
    checker = lex_contract.CHECKER_REGION
    return FailoverPlane.open(
        session,
        env_overrides={failover.name: failover.render(threshold + 2)}
        if fault == FAULT_SLOW_FAILOVER
        else {},
        checker_env={stack.secondary: {checker.name: checker.render(stack.primary)}}
        if fault == FAULT_SHARED_ITEM
        else None,
    )


class _StoryTeller:
    """Plays the story's steps on a plane, round by round on the probe loop's
    clock, recording each round, each change of the world and the timeline."""

    def __init__(self, plane: FailoverPlane, result: FailoverResult) -> None:
        self.plane = plane
        self.result = result
        self.primary, self.secondary = plane.regions
        self.clock = RoundClock(result.offsets)
        #: region -> (since, kind) of the bots impaired now
        self.impaired: dict[str, tuple[float, str]] = {}
        self.key = {LEX_STATE_TABLE.hash_key.name: {"S": plane.connect_region}}

    def tell(self) -> Story:
        result = self.result
        steady = [self.round(), self.round()]
        outage_at, failover_round, failing = self.primary_alias_disappears()
        both_down = self.secondary_stops_answering_too()
        recovered_at, failback_round, after_recovery = self.both_recover()
        target, override_lookup, override_round, after_override = self.operator_override()
        return Story(
            steady=steady,
            outage_at=outage_at,
            failover_round=failover_round,
            failing_rounds=failing,
            both_down=both_down,
            recovered_at=recovered_at,
            failback_round=failback_round,
            after_recovery=after_recovery,
            override_target=target,
            override_lookup=override_lookup,
            override_round=override_round,
            after_override=after_override or result.rounds[-1],
        )

    # -- the steps ---------------------------------------------------------------

    def primary_alias_disappears(self) -> tuple[float, Round | None, list[Round]]:
        """Just after a round started (the worst moment for detection)."""
        result = self.result
        outage_at = self.next_moment()
        self.impair(self.primary, lex_sim.ERROR, outage_at, "ResourceNotFoundException")
        switched = self.rounds_until(lambda r: r.switched, result.failover_threshold + 3)
        failing: list[Round] = []
        if switched is not None:
            result.detection_seconds = switched.t - outage_at
            failing = [r for r in result.rounds if outage_at < r.t <= switched.t]
        return outage_at, switched, failing

    def secondary_stops_answering_too(self) -> list[Round]:
        """Nothing to fail over to: the state must stay put."""
        self.impair(self.secondary, lex_sim.TIMEOUT, self.next_moment())
        return [self.round() for _ in range(self.result.failover_threshold + 1)]

    def both_recover(self) -> tuple[float, Round | None, list[Round]]:
        result = self.result
        recovered_at = self.next_moment()
        self.recover(self.secondary, recovered_at)
        self.recover(self.primary, recovered_at)
        if not result.auto_failback:
            return recovered_at, None, [self.round() for _ in range(result.failback_threshold + 1)]
        failback = self.rounds_until(lambda r: r.switched, result.failback_threshold + 3)
        if failback is not None:
            result.failback_seconds = failback.t - recovered_at
        return recovered_at, failback, [r for r in result.rounds if r.t > recovered_at]

    def operator_override(self) -> tuple[str, str | None, Round, Round | None]:
        """An operator pins the other region, then lets go."""
        result, plane = self.result, self.plane
        operator = plane.operator(self.primary)
        target = self.secondary if result.rounds[-1].active == self.primary else self.primary

        def set_override() -> None:
            operator.update_item(
                TableName=plane.table,
                Key=self.key,
                UpdateExpression="SET overrideRegion = :r",
                ExpressionAttributeValues={":r": {"S": target}},
            )

        def clear_override() -> None:
            operator.update_item(
                TableName=plane.table, Key=self.key, UpdateExpression="REMOVE overrideRegion"
            )

        self.happen(
            self.next_moment(), f"operator sets overrideRegion = {target}", set_override, True
        )
        override_lookup = result.events[-1].lookup_region
        override_round = self.round()
        self.happen(self.next_moment(), "operator removes overrideRegion", clear_override)
        after = self.rounds_until(lambda r: r.active == self.primary, 2)
        return target, override_lookup, override_round, after

    # -- rounds and changes of the world --------------------------------------------

    def next_moment(self) -> float:
        """Simulated time just after the last round started."""
        return (self.clock.last or 0.0) + AFTER_ROUND

    def round(self) -> Round:
        """One probe round of both checkers, then a lookup; recorded."""
        plane, result = self.plane, self.result
        t = self.clock.next()
        plane.advance_to(t)
        event = plane.round_event(t, self.clock.window_start)
        answer = plane.run_checker(self.primary, event)
        plane.run_checker(self.secondary, event)
        found = plane.lookup(self.primary)
        stored = plane.read(self.primary, self.key)
        regions = stored.get("regions", {}).get("M", {})
        streaks = {
            r: (
                int(regions.get(r, {}).get("M", {}).get("okStreak", {}).get("N", 0)),
                int(regions.get(r, {}).get("M", {}).get("failStreak", {}).get("N", 0)),
            )
            for r in plane.regions
        }
        record = Round(
            number=len(result.rounds) + 1,
            t=t,
            healthy=dict(answer["healthy"]),
            streaks=streaks,
            active=answer["activeRegion"],
            switched=bool(answer["switched"]),
            reason=stored.get("lastSwitchReason", {}).get("S") if answer["switched"] else None,
            version=int(stored.get("version", {}).get("N", 0)),
            lookup_region=found["primaryCode"],
            lookup_arn=found["botAliasArn"],
            lookup_status=found["statusCode"],
        )
        result.rounds.append(record)
        result.timeline.append(self.round_row(record))
        return record

    def round_row(self, record: Round) -> tuple[str, ...]:
        probes = []
        for region in self.plane.regions:
            ok_streak, fail_streak = record.streaks[region]
            probes.append(
                f"ok ({ok_streak})" if record.healthy[region] else f"FAIL ({fail_streak})"
            )
        return (
            f"{record.t:6.1f}",
            f"round {record.number}",
            *probes,
            record.active,
            self.caller_note(record.lookup_region)
            + (f"   SWITCH ({record.reason})" if record.switched else ""),
        )

    def caller_note(self, region: str) -> str:
        return f"{region} (calls fail)" if region in self.impaired else region

    def rounds_until(self, done: Callable[[Round], bool], limit: int) -> Round | None:
        for _ in range(limit):
            record = self.round()
            if done(record):
                return record
        return None

    def happen(
        self, t: float, text: str, action: Callable[[], None], with_lookup: bool = False
    ) -> None:
        """A change of the world at ``t``, on the timeline."""
        self.plane.advance_to(t)
        action()
        found = self.plane.lookup(self.primary)["primaryCode"] if with_lookup else None
        self.result.events.append(Event(t, text, found))
        suffix = f"  lookup now -> {self.caller_note(found)}" if found else ""
        self.result.timeline.append((f"{t:6.1f}", f">> {text}{suffix}"))

    def impair(self, region: str, kind: str, t: float, error_code: str = "") -> None:
        def action() -> None:
            if kind == lex_sim.ERROR:
                self.plane.sim.set(region, kind, error_code=error_code)
            else:
                self.plane.sim.set(region, kind)
            self.impaired[region] = (t, kind)

        what = f"error {error_code}" if kind == lex_sim.ERROR else kind.replace("_", " ")
        self.happen(t, f"{region} bot impaired (simulated: {what})", action)

    def recover(self, region: str, t: float) -> None:
        def action() -> None:
            self.plane.sim.set(region, lex_sim.OK)
            since, kind = self.impaired.pop(region)
            self.result.impairments.append((region, since, t, kind))

        self.happen(t, f"{region} bot answers again", action)

    def close_impairments(self) -> None:
        """Impairments still on at the end have no end."""
        for region, (since, kind) in list(self.impaired.items()):
            self.result.impairments.append((region, since, None, kind))


# --------------------------------------------------------------------------- #
# The story: invariants (pure)
# --------------------------------------------------------------------------- #
def invariants(result: FailoverResult) -> list[Check]:
    """Every check of the failover scenario: the story's, then each
    two-region scenario's (named ``"<scenario>: <check>"``)."""
    checks = story_invariants(result)
    for scenario in result.scenarios:
        checks.extend(
            Check(f"{scenario.name}: {c.name}", c.ok, c.detail)
            for c in scenario_invariants(scenario)
        )
    return checks


def story_invariants(result: FailoverResult) -> list[Check]:
    """The failover story's checks, from what it recorded. Raises
    ``ValueError`` for a result whose story was not told."""
    story = result.story
    if story is None or result.replicas is None:
        raise ValueError("the failover story was not told: no story to check")
    return [
        _steady_state(result, story),
        _failover_after_threshold(result, story),
        _detection_within_bound(result, story),
        _lookup_follows_the_switch(result, story),
        _fail_open_when_both_down(story),
        _failback_or_stay(result, story),
        _override_followed(story),
        _override_removed(result, story),
        _every_lookup_answered(result),
        _sessions_deleted(result),
        _one_version_per_round(result),
        single_writer(result.replicas),
        converged(result.replicas, "at the end"),
    ]


def _steady_state(result: FailoverResult, story: Story) -> Check:
    primary = result.primary
    return Check(
        "steady state: callers on the primary",
        all(r.active == primary and r.lookup_region == primary for r in story.steady),
        f"lookup -> {', '.join(r.lookup_region for r in story.steady)}",
    )


def _failover_after_threshold(result: FailoverResult, story: Story) -> Check:
    threshold, switched = result.failover_threshold, story.failover_round
    return Check(
        f"failover after exactly {threshold} failed rounds of the primary",
        switched is not None
        and switched.active == result.secondary
        and len(story.failing_rounds) == threshold,
        f"switched after {len(story.failing_rounds)} failed round(s)"
        if switched is not None
        else f"no switch within {threshold + 3} rounds",
    )


def _detection_within_bound(result: FailoverResult, story: Story) -> Check:
    threshold, interval = result.failover_threshold, result.interval_seconds
    detected = result.detection_seconds
    return Check(
        f"detection within {threshold} x {interval} s of simulated time",
        detected is not None and detected <= threshold * interval,
        f"{_seconds(detected)} (outage at t={story.outage_at:.1f} s)",
    )


def _lookup_follows_the_switch(result: FailoverResult, story: Story) -> Check:
    switched = story.failover_round
    return Check(
        "lookup sends callers to the secondary once switched",
        switched is not None
        and switched.lookup_region == result.secondary
        and switched.lookup_arn == result.alias_arns.get(result.secondary),
        f"lookup -> {switched.lookup_region if switched else '-'}",
    )


def _fail_open_when_both_down(story: Story) -> Check:
    rounds = story.both_down
    return Check(
        "both regions down: lexRegion kept (fail open)",
        all(
            not any(r.healthy.values()) and not r.switched and r.active == rounds[0].active
            for r in rounds
        ),
        f"{len(rounds)} rounds, lexRegion stayed {rounds[0].active}",
    )


def _failback_or_stay(result: FailoverResult, story: Story) -> Check:
    if not result.auto_failback:
        after = story.after_recovery
        return Check(
            "autoFailback off: stays on the secondary after recovery",
            all(not r.switched and r.active == result.secondary for r in after),
            f"{len(after)} good rounds, lexRegion {after[-1].active}",
        )
    back = story.failback_round
    return Check(
        f"failback after {result.failback_threshold} good rounds of the primary",
        back is not None
        and back.reason == "failback"
        and back.active == result.primary
        and back.streaks[result.primary][0] == result.failback_threshold,
        f"failed back {_seconds(result.failback_seconds)} after recovery"
        if back
        else "no failback",
    )


def _override_followed(story: Story) -> Check:
    pinned = story.override_round
    return Check(
        "overrideRegion: lookup follows it at once, the next round records it",
        story.override_lookup == story.override_target
        and pinned.active == story.override_target
        and pinned.reason == "override",
        f"lookup -> {story.override_lookup}, round {pinned.number} -> "
        f"{pinned.active} ({pinned.reason})",
    )


def _override_removed(result: FailoverResult, story: Story) -> Check:
    after = story.after_override
    return Check(
        "override removed: callers back on the primary",
        after.active == result.primary and after.lookup_region == result.primary,
        f"round {after.number}: lexRegion {after.active}",
    )


def _every_lookup_answered(result: FailoverResult) -> Check:
    return Check(
        "every lookup answered 200 with the alias ARN of the region it named",
        all(
            r.lookup_status == "200" and r.lookup_arn == result.alias_arns.get(r.lookup_region)
            for r in result.rounds
        ),
        f"{len(result.rounds)} lookups",
    )


def _sessions_deleted(result: FailoverResult) -> Check:
    return Check(
        "every test session Lex answered was deleted",
        result.sessions_left == 0,
        f"{result.sessions_answered} sessions, {result.sessions_left} left",
    )


def _one_version_per_round(result: FailoverResult) -> Check:
    first = result.rounds[0].version
    return Check(
        "every round wrote one new state version",
        [r.version for r in result.rounds] == list(range(first, first + len(result.rounds))),
        f"versions {first}..{result.rounds[-1].version}",
    )


def single_writer(facts: ReplicaFacts) -> Check:
    """No item written from both regions or by the wrong one, no lost update."""
    return Check(
        "no item written from both regions (single writer), no lost update",
        facts.items_written > 0
        and not facts.multi_writer
        and not facts.wrong_writer
        and not facts.lost_updates,
        f"{facts.writes} writes to {facts.items_written} items"
        + (
            f"; written from two regions: {', '.join(facts.multi_writer)}"
            if facts.multi_writer
            else ""
        )
        + (
            f"; written by the wrong region: {', '.join(facts.wrong_writer)}"
            if facts.wrong_writer
            else ""
        )
        + (f"; {facts.lost_updates} lost updates" if facts.lost_updates else ""),
    )


def converged(facts: ReplicaFacts, what: str) -> Check:
    """Both replicas hold the same items and nothing is in flight."""
    diverged = facts.diverged or []
    return Check(
        f"replicas converge {what}",
        facts.diverged is not None and not diverged and facts.pending == 0,
        "identical items in both regions" if not diverged else f"differ: {', '.join(diverged)}",
    )


# --------------------------------------------------------------------------- #
# The story: printing
# --------------------------------------------------------------------------- #
def print_story(result: FailoverResult, out: Report) -> None:
    """The story for a person: settings, timeline, figures and checks."""
    _print_setup(result, out)
    primary, secondary = result.primary, result.secondary
    header = ("t (s)", "what", primary, secondary, "lexRegion", "lookup -> callers go to")
    out.timeline(header, result.timeline)
    if result.fault_rules is not None:
        injected = ", ".join(
            f"{n} x {service}:{operation}={label}"
            for (service, operation, label), n in sorted(result.faults_injected.items())
        )
        out.line(
            "AWS faults (support.faults): "
            + ", ".join(result.fault_rules)
            + f"; injected: {injected or 'none'}"
        )
    _print_figures(result, out)
    out.checks(story_invariants(result))


def _print_setup(result: FailoverResult, out: Report) -> None:
    primary, secondary = result.primary, result.secondary
    out.heading(f"Lex failover -- stack {result.stack}: {primary} (primary) / {secondary}")
    out.line(
        f"State table {result.table} on the emulator, seeded as the stack seeds it "
        f"({result.seed_text})."
    )
    out.line(
        f"Health check {result.checker_name} ({result.checker_handler}): one round at "
        f"offsets {', '.join(map(str, result.offsets))} s of every minute (the probe loop's "
        f"definition); fail over after {result.failover_threshold} failed rounds, fail back "
        f"after {result.failback_threshold} good rounds of the primary, auto failback "
        f"{'on' if result.auto_failback else 'off'}, {result.probe_attempts} attempts per "
        f"probe ({result.test_method})."
    )
    out.line(
        "Lex V2 runtime: SIMULATED at the botocore level (support/lex_sim.py; moto has no "
        "lexv2-runtime). Clock: simulated."
    )
    if result.fault:
        out.line(f"SELF-TEST: fault {result.fault!r} injected -- the checks below must fail.")
    out.line()


def _print_figures(result: FailoverResult, out: Report) -> None:
    story = result.story
    assert story is not None
    threshold, interval = result.failover_threshold, result.interval_seconds
    switched = story.failover_round
    out.line()
    out.line(
        f"Detection: {_seconds(result.detection_seconds)} of simulated time from the outage "
        f"(t={story.outage_at:.1f} s) to the round that wrote the switch"
        + (f" (t={switched.t:.1f} s)." if switched else ".")
    )
    worst = result.worst_case_detection_seconds
    verdict = "within" if worst <= SPEC_DETECTION_TARGET_SECONDS else "OVER"
    out.line(
        f"Worst case with these settings: {threshold} x {interval} s + one round with every "
        f"attempt timing out ({worst - threshold * interval:.1f} s) = {worst:.1f} s "
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
    ``support.replication.GlobalTableEmulator`` (lag, per-item last-writer-wins,
    every write recorded with its region); each region's checker and lookup
    run with that region's environment and clients; the Lex V2 runtime is
    ``support.lex_sim``; ``handlers.lex_dr.clock`` follows the simulated time.
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
        deployed = lex_contract.HEALTH_CHECK.parse(checks[primary].environment)
        plane.table = deployed.table_name
        plane.connect_region = deployed.connect_region or primary
        for region in plane.regions:
            client = session.client("dynamodb", region)
            client.create_table(**LEX_STATE_TABLE.create_table_request(plane.table))
            # Each scenario starts from the stack's seed, as if just deployed.
            plane._exit.callback(client.delete_table, TableName=plane.table)
        plane.sim = lex_sim.LexSimulator(
            deployed.bots,
            expected_response=deployed.expected_response,
            sample_utterance=deployed.sample_utterance or None,
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

    def replica_facts(self, *, compare: bool = True) -> ReplicaFacts:
        """What the global table saw so far: writers per item, lost updates
        and (``compare``) the items that differ between the replicas."""
        from handlers.lex_dr import layout

        writers = self.replication.writers()
        violations = self.replication.multi_writer_items()
        wrong = {
            k: v
            for k, v in writers.items()
            if v != {layout.writer_region(k[1][0][2])} and k not in violations
        }
        return ReplicaFacts(
            writes=len(self.replication.writes),
            items_written=len(writers),
            multi_writer=_keys(violations),
            wrong_writer=_keys(wrong),
            lost_updates=len(self.replication.lost_updates),
            diverged=list(self.replication.divergence(self.table)) if compare else None,
            pending=self.replication.pending,
        )

    def single_writer_check(self) -> Check:
        return single_writer(self.replica_facts(compare=False))

    def convergence_check(self, what: str) -> Check:
        return converged(self.replica_facts(), what)


def connect_event(connect_region: str) -> dict[str, Any]:
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {"Channel": "VOICE", "InitiationMethod": "INBOUND"},
            "Parameters": {"region": connect_region},
        },
    }


def _keys(items: Mapping[tuple[str, Any], Any]) -> list[str]:
    return [k[1][0][2] for k in items]


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


def region_loss(session: DrillSession, out: Report) -> RegionLossResult:
    """The whole primary region is lost (bot, checker, table replica, lookup),
    then returns; printed and checked (``region_loss_invariants``)."""
    result = lose_the_primary_region(session)
    result.checks = region_loss_invariants(result)
    print_region_loss(result, out)
    return result


def lose_the_primary_region(session: DrillSession) -> RegionLossResult:
    """Every primary-region AWS call fails at the botocore level
    (``support.faults``: DynamoDB, Lex runtime, Lambda, Step Functions connect
    timeouts), replication into and out of the primary stops; the primary's
    checker keeps being invoked to show it can neither read nor write."""
    from support.faults import FaultInjector

    stack = session.stack
    primary, secondary = stack.primary, stack.secondary
    result = RegionLossResult(
        "primary region lost",
        stack=stack.name,
        primary=primary,
        secondary=secondary,
        staleness_seconds=stack.settings.health_check.staleness_seconds,
        fault_spec=",".join(
            f"{service}[{primary}]=connect-timeout"
            for service in ("dynamodb", "lexv2-runtime", "lambda", "stepfunctions")
        ),
    )
    plane = FailoverPlane.open(session)
    injector = FaultInjector(result.fault_spec, seed=1, sleep=lambda _: None)
    both = _BothCheckers(plane, stack.settings.health_check.probe_interval_seconds, result.rows)
    try:
        for _ in range(2):
            both.round()
        lost_at = both.next_moment()
        outage = _lose_the_region(both, injector.active(), lost_at)
        _watch_the_takeover(both, lost_at, result)
        back_at = both.next_moment()
        _bring_the_region_back(both, outage, back_at)
        _watch_the_failback(both, back_at, result)
        plane.replication.flush()
        result.replicas = plane.replica_facts()
    finally:
        plane.close()
    return result


def _lose_the_region(both: _BothCheckers, faults: Any, lost_at: float) -> ExitStack:
    """Every service of the primary region fails at once; returns the outage
    to close when the region returns."""
    from handlers.lex_dr import aws_clients

    plane = both.plane
    primary = plane.regions[0]
    plane.advance_to(lost_at)
    outage = ExitStack()
    outage.enter_context(faults)
    aws_clients.reset()  # Lambda's clients are new after the fault: make them see it
    plane.replication.isolate(primary)
    plane.sim.set(primary, lex_sim.TIMEOUT)
    both.down.add(primary)
    both.rows.append((f"{lost_at:6.1f}", f">> {primary} region lost: every service fails"))
    return outage


def _watch_the_takeover(both: _BothCheckers, lost_at: float, result: RegionLossResult) -> None:
    """Eight rounds with the primary lost: when the secondary takes over, how
    many rounds it held back, what the lost region still wrote."""
    plane, secondary = both.plane, result.secondary
    takeover_round: float | None = None
    for _ in range(8):
        answers = both.round()
        t = both.clock.last or 0.0
        looked_up = plane.lookup(secondary)["primaryCode"]
        if takeover_round is None and answers[secondary]["activeRegion"] == secondary == looked_up:
            takeover_round = t
        if takeover_round is None:
            result.vetoed_rounds += 1
    if takeover_round is not None:
        result.takeover_seconds = takeover_round - lost_at
    result.writes_while_lost = [
        (w.t - EPOCH_BASE, w.operation, w.key_text)
        for w in plane.replication.writes
        if w.region == result.primary and w.t - EPOCH_BASE > lost_at
    ]


def _bring_the_region_back(both: _BothCheckers, outage: ExitStack, back_at: float) -> None:
    from handlers.lex_dr import aws_clients

    plane = both.plane
    primary = plane.regions[0]
    plane.advance_to(back_at)
    outage.close()
    aws_clients.reset()
    plane.replication.restore(primary)
    plane.sim.set(primary, lex_sim.OK)
    both.down.clear()
    plane.replication.pump()
    both.rows.append((f"{back_at:6.1f}", f">> {primary} region returns; replication resumes"))


def _watch_the_failback(both: _BothCheckers, back_at: float, result: RegionLossResult) -> None:
    """Six rounds after the return: when both lookups agree on the primary."""
    plane, primary = both.plane, result.primary
    agreed_at: float | None = None
    for _ in range(6):
        both.round()
        plane.advance_to((both.clock.last or 0.0) + REPLICATION_LAG_SECONDS)
        looked = {r: plane.lookup(r)["primaryCode"] for r in plane.regions}
        if agreed_at is None and looked[primary] == looked[result.secondary] == primary:
            agreed_at = both.clock.last
    if agreed_at is not None:
        result.convergence_seconds = agreed_at - back_at


def region_loss_invariants(result: RegionLossResult) -> list[Check]:
    """The region-loss scenario's checks, from what it recorded."""
    if result.replicas is None:
        raise ValueError("the region-loss scenario did not run: nothing to check")
    takeover, returned = result.takeover_seconds, result.convergence_seconds
    lost = result.writes_while_lost
    return [
        Check(
            f"the secondary decides alone and its lookup answers {result.secondary} within "
            f"{REGION_LOSS_TARGET_SECONDS:g} s",
            takeover is not None and takeover <= REGION_LOSS_TARGET_SECONDS,
            f"{_seconds(takeover)} of simulated time after the loss",
        ),
        Check(
            "no takeover while the lost checker's last round was fresh",
            result.vetoed_rounds >= 1,
            f"{result.vetoed_rounds} round(s) held back by the last fresh observation",
        ),
        Check(
            "the lost region wrote nothing while lost",
            not lost,
            f"{len(lost)} writes from {result.primary} after the loss"
            + "".join(f"; t={t:.1f} {operation} {key}" for t, operation, key in lost),
        ),
        Check(
            "after the return both lookups agree (failback to the primary)",
            returned is not None,
            f"{_seconds(returned)} after the region returned",
        ),
        single_writer(result.replicas),
        converged(result.replicas, "after the region returns"),
    ]


def print_region_loss(result: RegionLossResult, out: Report) -> None:
    primary = result.primary
    out.heading(f"Both regions serve: {primary} region lost ({result.stack})")
    out.line(
        f"Two checkers and two lookups, one per region, on two replicas of the state table "
        f"(global table emulated: {REPLICATION_LAG_SECONDS:g} s lag, per-item last-writer-wins, "
        f"support/replication.py). Region loss: faults {result.fault_spec!r} (support/faults.py), "
        f"replication to and from {primary} stopped. Staleness bound "
        f"{result.staleness_seconds} s."
    )
    out.timeline(_both_header(result), result.rows)
    out.checks(result.checks)


def partitioned_checker(session: DrillSession, out: Report) -> PartitionResult:
    """The secondary's checker cannot reach either bot (its network path is
    cut: its Lex calls time out) while the primary's sees both healthy;
    printed and checked (``partition_invariants``)."""
    result = cut_off_the_secondary_checker(session)
    result.checks = partition_invariants(result)
    print_partition(result, out)
    return result


def cut_off_the_secondary_checker(session: DrillSession) -> PartitionResult:
    stack = session.stack
    primary, secondary = stack.primary, stack.secondary
    result = PartitionResult(
        "partitioned checker", stack=stack.name, primary=primary, secondary=secondary
    )
    plane = FailoverPlane.open(session)
    clock = RoundClock(_every_interval(stack.settings.health_check.probe_interval_seconds))
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
                result.switches += bool(answers[region]["switched"])
            answers["lookups"] = _lookups(plane, set())
            lookups_seen.update(plane.lookup(r)["primaryCode"] for r in plane.regions)
            label = "round" + (f" ({secondary} checker cut off)" if number >= 2 else "")
            result.rows.append(_region_row(plane, t, label, answers))
        plane.replication.flush()
        result.replicas = plane.replica_facts(compare=False)
    finally:
        plane.close()
    result.lookups_seen = sorted(lookups_seen)
    return result


def partition_invariants(result: PartitionResult) -> list[Check]:
    """The partition scenario's checks, from what it recorded."""
    if result.replicas is None:
        raise ValueError("the partition scenario did not run: nothing to check")
    return [
        Check(
            "a checker that reaches neither bot causes no failover",
            result.switches == 0 and result.lookups_seen == [result.primary],
            f"{result.switches} switches; lookups answered {', '.join(result.lookups_seen)}",
        ),
        single_writer(result.replicas),
    ]


def print_partition(result: PartitionResult, out: Report) -> None:
    out.heading(
        f"Both regions serve: the {result.secondary} checker is partitioned ({result.stack})"
    )
    out.timeline(_both_header(result), result.rows)
    out.checks(result.checks)


def scenario_invariants(result: ScenarioResult) -> list[Check]:
    """The checks of one two-region scenario, by its kind."""
    if isinstance(result, RegionLossResult):
        return region_loss_invariants(result)
    if isinstance(result, PartitionResult):
        return partition_invariants(result)
    return list(result.checks)


class _BothCheckers:
    """Both regions' checkers run each round; a timeline row per round."""

    def __init__(self, plane: FailoverPlane, interval: int, rows: list[tuple[str, ...]]) -> None:
        self.plane = plane
        self.clock = RoundClock(_every_interval(interval))
        self.rows = rows
        #: regions lost now (their lookup is not asked)
        self.down: set[str] = set()

    def next_moment(self) -> float:
        return (self.clock.last or 0.0) + AFTER_ROUND

    def round(self, label: str = "round") -> dict[str, Any]:
        plane = self.plane
        t = self.clock.next()
        plane.advance_to(t)
        event = plane.round_event(t, self.clock.window_start)
        answers: dict[str, Any] = {}
        for region in plane.regions:
            try:
                answers[region] = plane.run_checker(region, event)
            except Exception as exc:  # the lost region's checker cannot record
                answers[region] = f"round failed: {type(exc).__name__}"
        answers["lookups"] = _lookups(plane, self.down)
        self.rows.append(_region_row(plane, t, label, answers))
        return answers


def _every_interval(interval: int) -> list[int]:
    return [int(o) for o in range(0, SCHEDULE_PERIOD_SECONDS, interval)]


def _both_header(result: ScenarioResult) -> tuple[str, ...]:
    return ("t (s)", "what", f"checker {result.primary}", f"checker {result.secondary}", "lookups")
