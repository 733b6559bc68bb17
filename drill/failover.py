"""Failover scenario: the real health check and lookup on a simulated clock.

The health-check function (``handlers/lex_dr/health_check.py``) runs one
probe round per invocation, at the offsets of the stack's own probe-loop
definition (``probe_loop_asl.SCHEDULE_ROUNDS``: 0, 10, ... 50 s of every
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
from dataclasses import dataclass, field
from typing import Any

from components.probe_loop_asl import SCHEDULE_PERIOD_SECONDS, SCHEDULE_ROUNDS
from components.schemas import LEX_STATE_TABLE
from drill import lex_sim
from drill.environment import handler_environment, scoped_environ
from drill.report import Check, Checked, Report
from drill.session import DrillSession
from drill.stack import DeployedFunction

#: Hidden self-test of the drill's own checks (``--inject-fault``): the
#: health check runs with a failover threshold two rounds higher than the
#: stack's, so the "failover after N failed rounds" check must fail.
FAULT_SLOW_FAILOVER = "slow-failover"
FAULTS = (FAULT_SLOW_FAILOVER,)

#: Simulated seconds between a round and a scripted change of the world:
#: just after a round started, i.e. the worst moment for detection.
AFTER_ROUND = 1.0

PROBE_LOOP_SUFFIX = "probe-loop"
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


class RoundClock:
    """Round start times: the probe loop's offsets, every schedule period."""

    def __init__(self, offsets: list[int], period: int = SCHEDULE_PERIOD_SECONDS) -> None:
        if not offsets:
            raise ValueError("the probe loop has no rounds")
        self._times = self._generate(sorted(offsets), period)
        self.last: float | None = None

    @staticmethod
    def _generate(offsets: list[int], period: int) -> Iterator[float]:
        window = 0
        while True:
            for offset in offsets:
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
    check_fn = stack.function("lex_dr", "health_check")
    lookup_fn = stack.function("lex_dr", "get_region")
    primary, secondary = stack.primary, stack.secondary
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
    ddb = session.client("dynamodb")
    ddb.create_table(**LEX_STATE_TABLE.create_table_request(table))
    seeds = stack.seed_items(table)
    for item in seeds:
        ddb.put_item(TableName=table, Item=item)
    key = {LEX_STATE_TABLE.hash_key.name: {"S": check_fn.environment["CONNECT_REGION"]}}

    check_env = dict(check_fn.environment)
    if fault == FAULT_SLOW_FAILOVER:
        check_env["FAILOVER_THRESHOLD"] = str(hc_settings.failover_threshold + 2)
    bots = json.loads(check_fn.environment["BOTS"])
    alias_arns = json.loads(lookup_fn.environment["BOT_ALIAS_ARNS"])
    sim = lex_sim.LexSimulator(
        bots,
        expected_response=check_fn.environment["EXPECTED_RESPONSE"],
        sample_utterance=check_fn.environment.get("SAMPLE_UTTERANCE"),
    ).install()
    injector = None
    injection = contextlib.nullcontext()
    if faults:
        from drill.faults import FaultInjector
        from handlers.lex_dr import aws_clients as lex_clients

        injector = FaultInjector(faults, seed=fault_seed, sleep=lambda _: None)
        lex_clients.reset()
        injection = injector.active()
    try:
        injection.__enter__()
        health_check = _invoker(check_fn, check_env)
        get_region = _invoker(lookup_fn, dict(lookup_fn.environment))

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
            return ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})

        def caller_note(region: str) -> str:
            return f"{region} (calls fail)" if region in impaired else region

        def do_round() -> Round:
            t = clock.next()
            answer = health_check({})
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
    finally:
        injection.__exit__(None, None, None)
        sim.uninstall()
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


def _invoker(function: DeployedFunction, environment: Mapping[str, str]) -> Callable[[Any], Any]:
    """Call the handler the way Lambda would: its own environment, a context."""
    env = handler_environment(environment)
    handler = function.load()

    def invoke(event: Any) -> Any:
        with scoped_environ(env):
            return handler(event, function.context())

    return invoke


def _describe_seed(seeds: list[dict[str, Any]]) -> str:
    if not seeds:
        return "no seed item"
    return "; ".join(
        ", ".join(f"{k}={next(iter(v.values()))}" for k, v in item.items()) for item in seeds
    )


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"
