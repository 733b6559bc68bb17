"""Failover simulation: detection time and false failovers, driven by the real
``handlers.lex_dr.decision.decide`` on a simulated clock.

    python bench/failover_sim.py                    # defaults of the deployed stack
    python bench/failover_sim.py --attempts 1       # what one attempt per round costs
    python bench/failover_sim.py --help

Model (mirrors ``handlers/lex_dr/probe.py``; defaults come from the handler code):

- a round starts every ``interval`` seconds (fixed rate: the Step Functions
  loop waits for the next slot, not for a fixed delay after the last round);
  both regions are probed concurrently, so a round lasts as long as the slower
  region, plus the state read/write;
- a region's probe is up to ``attempts`` attempts, ``backoff * (k-1)`` apart;
  a healthy attempt takes ``ok_latency``; a failing one takes the full client
  timeout (connect 1 s + read 2 s) or, in the fast-error scenario, ``fast_error``;
- (a) detection: the primary dies at a uniformly random instant; an attempt
  that *started* before that instant still succeeds (the conservative choice:
  it gives the longest detection). Detection = time the switch is written
  minus the outage start; calls fail during that window.
- (b) false failovers: both regions healthy, every attempt independently lost
  with probability ``loss``. A region's round fails iff all its attempts are
  lost (q = loss^attempts). Three estimates:
  * closed form q^F (1 - q) per round (active region fails F rounds in a row
    and the other passed the last one);
  * exact: the stationary distribution of the Markov chain whose transitions
    are computed by calling ``decide`` on every (region, capped streaks) state;
  * Monte Carlo with ``decide``: at the default loss a false failover is a
    once-in-decades event, so a year of 3.16 M rounds is simulated
    event-driven: the gap to the next round in which any probe fails is drawn
    from its geometric distribution, every failing round and the rounds after
    it go through ``decide`` until the state is back to "primary active",
    and only the all-pass rounds in between (where ``decide`` provably cannot
    switch away from a passing primary) are added to the streaks in bulk. A
    second, plain attempt-level Monte Carlo at a higher loss rate (every round
    through ``decide``) checks the model against the exact figure.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.probe_loop_asl import DEFAULT_INTERVAL_SECONDS  # noqa: E402
from config import PROBE_INTERVALS  # noqa: E402
from drill.argtypes import integer_in, number_in  # noqa: E402
from handlers.lex_dr.aws_clients import LEX_CALL_TIMEOUT_SECONDS  # noqa: E402
from handlers.lex_dr.decision import HealthState, Policy, RegionStreak, decide  # noqa: E402
from handlers.lex_dr.settings import (  # noqa: E402
    DEFAULT_FAILBACK_THRESHOLD,
    DEFAULT_FAILOVER_THRESHOLD,
    DEFAULT_PROBE_ATTEMPTS,
    DEFAULT_PROBE_BACKOFF_MS,
)

P, S = "primary", "secondary"
SECONDS_PER_YEAR = 365.25 * 86_400
DETECTION_TARGET_S = 30.0
FALSE_FAILOVER_TARGET_PER_YEAR = 1.0


@dataclass(frozen=True)
class SimConfig:
    interval_s: float = float(DEFAULT_INTERVAL_SECONDS)
    failover_threshold: int = DEFAULT_FAILOVER_THRESHOLD
    failback_threshold: int = DEFAULT_FAILBACK_THRESHOLD
    auto_failback: bool = True
    attempts: int = DEFAULT_PROBE_ATTEMPTS
    backoff_s: float = DEFAULT_PROBE_BACKOFF_MS / 1000
    timeout_s: float = LEX_CALL_TIMEOUT_SECONDS
    fast_error_s: float = 0.05
    ok_latency_s: float = 0.15
    state_io_s: float = 0.03  # GetItem + conditional UpdateItem
    loss: float = 0.05
    fixed_delay: bool = False  # contrast: next round waits `interval` after this one ends

    @property
    def policy(self) -> Policy:
        return Policy(P, S, self.failover_threshold, self.failback_threshold, self.auto_failback)

    @property
    def rounds_per_year(self) -> float:
        return SECONDS_PER_YEAR / self.interval_s


@dataclass(frozen=True)
class Detection:
    kind: str
    samples: int
    worst_bound_s: float  # supremum over outage instants (analytic)
    max_s: float
    p50_s: float
    p99_s: float
    round_s: float  # duration of a round while the primary fails


@dataclass(frozen=True)
class FalseFailovers:
    attempts: int
    loss: float
    closed_form_per_year: float
    markov_per_year: float
    mc_per_year: float
    mc_events: int
    mc_years: float
    mc_method: str

    @property
    def mc_ci95_per_year(self) -> tuple[float, float]:
        """Poisson 95 % interval for the Monte Carlo rate (normal approx, >= 0)."""
        half = 1.96 * math.sqrt(max(self.mc_events, 1))
        return (
            max(0.0, self.mc_events - half) / self.mc_years,
            (self.mc_events + half) / self.mc_years,
        )


@dataclass
class SimReport:
    config: SimConfig
    detection: list[Detection] = field(default_factory=list)
    false_failovers: list[FalseFailovers] = field(default_factory=list)
    validation: list[FalseFailovers] = field(default_factory=list)
    elapsed_s: float = 0.0

    def meets_targets(self) -> bool:
        return all(d.worst_bound_s <= DETECTION_TARGET_S for d in self.detection) and (
            self.false_failovers[0].markov_per_year < FALSE_FAILOVER_TARGET_PER_YEAR
        )

    def markdown(self) -> str:
        c = self.config
        lines = [
            f"Probe round every {c.interval_s:g} s"
            f"{' (fixed delay)' if c.fixed_delay else ''}, FAILOVER_THRESHOLD "
            f"{c.failover_threshold}, FAILBACK_THRESHOLD {c.failback_threshold}, "
            f"PROBE_ATTEMPTS {c.attempts}, per-attempt timeout {c.timeout_s:g} s, "
            f"backoff {c.backoff_s * 1000:g} ms x k",
            "",
            "| primary outage (secondary healthy) | round while failing | worst case "
            "| max sampled | p50 | p99 | target |",
            "|---|---|---|---|---|---|---|",
        ]
        for d in self.detection:
            ok = "ok" if d.worst_bound_s <= DETECTION_TARGET_S else "MISSED"
            lines.append(
                f"| {d.kind} ({d.samples:,} outages) | {d.round_s:.2f} s | {d.worst_bound_s:.2f} s "
                f"| {d.max_s:.2f} s | {d.p50_s:.2f} s | {d.p99_s:.2f} s "
                f"| <= {DETECTION_TARGET_S:g} s {ok} |"
            )
        lines += [
            "",
            "| false failovers / year, healthy regions | loss per attempt | closed form "
            "q^F(1-q) | exact (Markov chain over decide) | Monte Carlo with decide | target |",
            "|---|---|---|---|---|---|",
        ]
        rows = [*self.false_failovers, *self.validation]
        for i, f in enumerate(rows):
            lo, hi = f.mc_ci95_per_year
            target = ""
            if i == 0:
                ok = "ok" if f.markov_per_year < FALSE_FAILOVER_TARGET_PER_YEAR else "MISSED"
                target = f"< {FALSE_FAILOVER_TARGET_PER_YEAR:g} {ok}"
            elif f in self.validation:
                target = "model check"
            lines.append(
                f"| {f.attempts} attempt{'s' if f.attempts > 1 else ''} per round "
                f"| {f.loss:.0%} | {_fmt(f.closed_form_per_year)} | {_fmt(f.markov_per_year)} "
                f"| {_fmt(f.mc_per_year)} ({f.mc_events} in {f.mc_years:,.3g} y, "
                f"95% {_fmt(lo)}-{_fmt(hi)}; {f.mc_method}) | {target} |"
            )
        lines += ["", f"_{self.elapsed_s:.1f} s wall clock_"]
        return "\n".join(lines)


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 0.01:
        return f"{x:.3g}"
    return f"{x:.2e}"


# --- one round on the simulated clock ---------------------------------------------------


def _probe(cfg: SimConfig, start: float, attempt_ok: Callable[[float], bool], fail_s: float):
    """(passed, duration) of one region's probe starting at ``start``."""
    t = start
    for k in range(cfg.attempts):
        if k:
            t += cfg.backoff_s * k
        if attempt_ok(t):
            return True, t + cfg.ok_latency_s - start
        t += fail_s
    return False, t - start


def _healthy_state(policy: Policy) -> HealthState:
    big = 10**6
    return HealthState(P, {P: RegionStreak(ok=big), S: RegionStreak(ok=big)})


def detection(cfg: SimConfig, kind: str, samples: int, rng: random.Random) -> Detection:
    """Outage of the primary at a uniformly random instant within a round period."""
    fail_s = cfg.timeout_s if kind == "timeouts" else cfg.fast_error_s
    policy = cfg.policy
    times = []
    round_fail_s = 0.0
    for _ in range(samples):
        state = _healthy_state(policy)
        outage = rng.uniform(0, cfg.interval_s)
        start = 0.0
        for _round in range(1000):
            ok_p, dur_p = _probe(cfg, start, lambda t, o=outage: t < o, fail_s)
            _, dur_s = _probe(cfg, start, lambda t: True, fail_s)
            end = start + max(dur_p, dur_s) + cfg.state_io_s
            if not ok_p:
                round_fail_s = end - start
            d = decide(state, {P: ok_p, S: True}, policy)
            state = d.state
            if d.switched:
                times.append(end - outage)
                break
            start = end + cfg.interval_s if cfg.fixed_delay else start + cfg.interval_s
        else:  # pragma: no cover - a policy that never fails over
            raise RuntimeError("no failover within 1000 rounds")
    # Supremum: the outage begins just after a round's first attempt started
    # (that round passes), then F failing rounds follow.
    period = cfg.interval_s + (round_fail_s if cfg.fixed_delay else 0.0)
    worst = cfg.failover_threshold * period + round_fail_s
    if cfg.fixed_delay:
        # the passing round's own duration also delays the first failing round
        worst += cfg.ok_latency_s + cfg.state_io_s
    q = statistics.quantiles(times, n=100, method="inclusive")
    p50 = statistics.median(times)
    return Detection(kind, samples, worst, max(times), p50, q[98], round_fail_s)


# --- false failovers ---------------------------------------------------------------------


def _key(state: HealthState, cap: int) -> tuple:
    capped = ((min(state.streak(r).ok, cap), min(state.streak(r).fail, cap)) for r in (P, S))
    return (state.lex_region, *capped)


def _state(key: tuple) -> HealthState:
    region, p, s = key
    return HealthState(region, {P: RegionStreak(*p), S: RegionStreak(*s)})


def markov_rate(policy: Policy, q: float) -> float:
    """Exact false-failover rate per round: stationary chain over decide's states.

    Streaks are capped at max(thresholds): decide only compares them with the
    thresholds, so the capped chain makes the same decisions.
    """
    cap = max(policy.failover_threshold, policy.failback_threshold)
    outcomes = [
        ((True, True), (1 - q) ** 2),
        ((True, False), (1 - q) * q),
        ((False, True), q * (1 - q)),
        ((False, False), q * q),
    ]
    transitions: dict[tuple, list[tuple[tuple, float, bool]]] = {}
    start = _key(_healthy_state(policy), cap)
    frontier = [start]
    while frontier:
        key = frontier.pop()
        if key in transitions:
            continue
        edges = []
        for (ok_p, ok_s), prob in outcomes:
            d = decide(_state(key), {P: ok_p, S: ok_s}, policy)
            nxt = _key(d.state, cap)
            edges.append((nxt, prob, d.reason == "failover"))
            frontier.append(nxt)
        transitions[key] = edges
    dist = {start: 1.0}
    for _ in range(100_000):
        new: dict[tuple, float] = {}
        for key, mass in dist.items():
            for nxt, prob, _ in transitions[key]:
                new[nxt] = new.get(nxt, 0.0) + mass * prob
        delta = sum(abs(new.get(k, 0.0) - dist.get(k, 0.0)) for k in transitions)
        dist = new
        if delta < 1e-18:
            break
    return sum(mass * prob for key, mass in dist.items() for _, prob, fo in transitions[key] if fo)


def mc_event_driven(policy: Policy, q: float, rounds: int, rng: random.Random) -> int:
    """False failovers in ``rounds`` rounds; only rounds that can matter go through decide."""
    state = _healthy_state(policy)
    r_any = 1 - (1 - q) ** 2
    log_none = math.log1p(-r_any)
    all_ok = {P: True, S: True}
    done = events = 0
    while done < rounds:
        # all-pass rounds before the next round with a failed probe
        gap = int(math.log(1.0 - rng.random()) / log_none)
        gap = min(gap, rounds - done)
        done += gap
        while gap and state.lex_region != P:  # e.g. waiting for failback: let decide run
            state = decide(state, all_ok, policy).state
            gap -= 1
        if gap:
            # a passing, active primary: decide cannot switch; just extend the streaks
            state = HealthState(
                state.lex_region,
                {r: RegionStreak(ok=state.streak(r).ok + gap) for r in (P, S)},
            )
        if done >= rounds:
            break
        u = rng.random() * r_any
        if u < q * (1 - q):
            result = {P: False, S: True}
        elif u < 2 * q * (1 - q):
            result = {P: True, S: False}
        else:
            result = {P: False, S: False}
        d = decide(state, result, policy)
        events += d.reason == "failover"
        state = d.state
        done += 1
        # the next round is usually all-pass; it resets the fail streak via decide
    return events


def mc_attempt_level(cfg: SimConfig, loss: float, rounds: int, rng: random.Random) -> int:
    """Plain Monte Carlo: every attempt sampled, every round through decide."""
    policy = cfg.policy
    state = _healthy_state(policy)
    events = 0
    rand = rng.random
    for _ in range(rounds):
        result = {r: any(rand() >= loss for _ in range(cfg.attempts)) for r in (P, S)}
        d = decide(state, result, policy)
        events += d.reason == "failover"
        state = d.state
    return events


def false_failovers(
    cfg: SimConfig, loss: float, mc_rounds: int, rng: random.Random, method: str
) -> FalseFailovers:
    policy = cfg.policy
    q = loss**cfg.attempts
    per_year = cfg.rounds_per_year
    if method == "event-driven":
        events = mc_event_driven(policy, q, mc_rounds, rng)
    else:
        events = mc_attempt_level(cfg, loss, mc_rounds, rng)
    years = mc_rounds / per_year
    return FalseFailovers(
        attempts=cfg.attempts,
        loss=loss,
        closed_form_per_year=q**cfg.failover_threshold * (1 - q) * per_year,
        markov_per_year=markov_rate(policy, q) * per_year,
        mc_per_year=events / years,
        mc_events=events,
        mc_years=years,
        mc_method=method,
    )


def simulate(
    cfg: SimConfig,
    *,
    detection_samples: int = 20_000,
    mc_years: float = 500.0,
    contrast_rounds: int = 200_000,
    validation_loss: float = 0.3,
    validation_rounds: int = 250_000,
    max_failing_rounds: int = 400_000,
    seed: int = 20_250_101,
) -> SimReport:
    """Run every scenario; sizes are parameters so a test can run a small version."""
    started = time.perf_counter()
    rng = random.Random(seed)
    report = SimReport(cfg)
    for kind in ("timeouts", "fast errors"):
        report.detection.append(detection(cfg, kind, detection_samples, rng))
    # Event-driven cost grows with the rounds that have a failed probe: cap
    # them so a high loss or one attempt per round cannot take minutes.
    q = cfg.loss**cfg.attempts
    failing_share = 1 - (1 - q) ** 2
    main_rounds = int(min(mc_years * cfg.rounds_per_year, max_failing_rounds / failing_share))
    report.false_failovers.append(false_failovers(cfg, cfg.loss, main_rounds, rng, "event-driven"))
    if cfg.attempts != 1:
        one = replace(cfg, attempts=1)
        report.false_failovers.append(
            false_failovers(one, cfg.loss, contrast_rounds, rng, "attempt-level")
        )
    report.validation = [
        false_failovers(cfg, validation_loss, validation_rounds, rng, method)
        for method in ("attempt-level", "event-driven")
    ]
    report.elapsed_s = time.perf_counter() - started
    return report


def build_parser() -> argparse.ArgumentParser:
    """The command line; every number has the range the model is defined for."""
    d = SimConfig()
    parser = argparse.ArgumentParser(
        prog="python bench/failover_sim.py",
        description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 targets met, 1 a target missed, 2 bad arguments.",
    )
    parser.add_argument(
        "--interval",
        type=int,
        choices=PROBE_INTERVALS,
        default=int(d.interval_s),
        help="seconds per round: what probeIntervalSeconds can deploy (default %(default)s)",
    )
    parser.add_argument(
        "--failover-threshold", type=integer_in(1, 20), default=d.failover_threshold,
        help="failed rounds before failover, 1-20 (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--failback-threshold", type=integer_in(1, 100), default=d.failback_threshold,
        help="good primary rounds before failback, 1-100 (default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--no-auto-failback", action="store_true")
    parser.add_argument(
        "--attempts", type=integer_in(1, 5), default=d.attempts,
        help="PROBE_ATTEMPTS, 1-5 (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--backoff-ms", type=number_in(0, 10_000), default=d.backoff_s * 1000,
        help="backoff before attempt k is k x this, 0-10000 ms (default %(default)g)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=number_in(0, 60, low_open=True), default=d.timeout_s,
        help="seconds a failing attempt takes, in (0, 60] (default %(default)g)",
    )  # fmt: skip
    parser.add_argument(
        "--loss", type=number_in(0, 1, low_open=True, high_open=True), default=d.loss,
        help="probability an attempt is lost, in (0, 1) (default %(default)g)",
    )  # fmt: skip
    parser.add_argument("--fixed-delay", action="store_true", help="contrast schedule")
    parser.add_argument(
        "--samples", type=integer_in(2, 1_000_000), default=20_000,
        help="outages per scenario, 2-1,000,000 (percentiles need two; default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--years", type=number_in(0.01, 100_000), default=500.0,
        help="Monte Carlo years, 0.01-100000 (default %(default)g)",
    )  # fmt: skip
    parser.add_argument(
        "--validation-loss", type=number_in(0, 1, low_open=True, high_open=True), default=0.3,
        help="loss of the model check, in (0, 1) (default %(default)g)",
    )  # fmt: skip
    parser.add_argument(
        "--validation-rounds", type=integer_in(1, 100_000_000), default=250_000,
        help="rounds of the model check, 1-100,000,000 (default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=20_250_101)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cfg = SimConfig(
        interval_s=args.interval,
        failover_threshold=args.failover_threshold,
        failback_threshold=args.failback_threshold,
        auto_failback=not args.no_auto_failback,
        attempts=args.attempts,
        backoff_s=args.backoff_ms / 1000,
        timeout_s=args.timeout,
        loss=args.loss,
        fixed_delay=args.fixed_delay,
    )
    report = simulate(
        cfg,
        detection_samples=args.samples,
        mc_years=args.years,
        validation_loss=args.validation_loss,
        validation_rounds=args.validation_rounds,
        seed=args.seed,
    )
    # Output guard: the analytic worst case bounds every sampled outage for
    # every input the parser accepts; if not, the model is wrong, not the input.
    broken = [d for d in report.detection if d.max_s > d.worst_bound_s + 1e-9]
    if broken:
        for d in broken:
            print(
                f"failover_sim: model error: {d.kind}: sampled {d.max_s:.3f} s exceeds the "
                f"analytic worst case {d.worst_bound_s:.3f} s",
                file=sys.stderr,
            )
        return 3
    print(report.markdown())
    return 0 if report.meets_targets() else 1


if __name__ == "__main__":
    raise SystemExit(main())
