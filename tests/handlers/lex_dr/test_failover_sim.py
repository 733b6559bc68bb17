"""The failover simulation, small: the defaults meet the targets, one attempt does not."""

from __future__ import annotations

import math

import pytest

from bench.failover_sim import SimConfig, simulate

SMALL = {
    "detection_samples": 400,
    "mc_years": 20,
    "contrast_rounds": 20_000,
    "validation_rounds": 60_000,
    "max_failing_rounds": 20_000,
}


@pytest.fixture(scope="module")
def report():
    return simulate(SimConfig(), **SMALL)


def test_defaults_meet_the_targets(report):
    assert report.meets_targets()
    timeouts, fast = report.detection
    assert timeouts.worst_bound_s <= 30.0
    assert timeouts.max_s <= timeouts.worst_bound_s + 1e-9
    assert fast.worst_bound_s < timeouts.worst_bound_s
    assert timeouts.round_s < SimConfig().interval_s, "a failing round must fit its slot"
    three = report.false_failovers[0]
    assert three.attempts == 3
    assert three.markov_per_year < 1.0
    assert three.markov_per_year == pytest.approx(three.closed_form_per_year, rel=0.05)


def test_one_attempt_would_fail_over_thousands_of_times_a_year(report):
    one = report.false_failovers[1]
    assert one.attempts == 1
    assert one.markov_per_year > 1000
    assert not simulate(SimConfig(attempts=1), **SMALL).meets_targets()


def test_monte_carlo_agrees_with_the_exact_chain(report):
    for f in (report.false_failovers[1], *report.validation):
        expected = f.markov_per_year * f.mc_years
        assert abs(f.mc_events - expected) <= 5 * math.sqrt(expected) + 1, f


def test_markdown_table(report):
    table = report.markdown()
    assert "| timeouts" in table and "| fast errors" in table
    assert "MISSED" not in table


# --- both regions serve (issue 12) ------------------------------------------------------


@pytest.fixture(scope="module")
def two_regions():
    from bench.failover_sim import simulate_two_regions

    return simulate_two_regions(SimConfig(), samples=24, seed=3)


def test_two_regions_meet_the_issue_targets(two_regions):
    detection, loss, partition = two_regions.results
    assert detection.worst_s <= 30.0 and detection.analytic_worst_s <= 30.0
    assert loss.worst_s <= 40.0
    assert partition.switches == 0
    assert two_regions.false_failovers_per_year <= 0.0494
    assert two_regions.meets_targets()
    assert "MISSED" not in two_regions.markdown()


def test_the_delays_count(two_regions):
    """The analytic worst case adds schedule jitter and a cold start to the
    failing rounds; without them it is 2 x 10 s plus one failing round."""
    from bench.failover_sim import simulate_two_regions

    bare = simulate_two_regions(SimConfig(jitter_s=0, cold_start_s=0), samples=8, seed=3)
    gap = two_regions.results[0].analytic_worst_s - bare.results[0].analytic_worst_s
    assert gap == pytest.approx(SimConfig().jitter_s + SimConfig().cold_start_s)


def test_without_staleness_the_lost_region_would_veto_forever():
    """A dead peer must stop voting: with a staleness bound longer than the
    run, the secondary never takes over (the sim raises)."""
    import random

    from bench.failover_sim import region_loss_takeover

    with pytest.raises(RuntimeError, match="never took over"):
        region_loss_takeover(SimConfig(staleness_s=10_000), 2, random.Random(1))


def test_two_checkers_fail_over_falsely_less_than_one():
    from bench.failover_sim import P, S, two_checker_false_failover_rate
    from handlers.lex_dr.decision import Policy

    q = 0.05**3
    two = two_checker_false_failover_rate(Policy(P, S), q)
    assert two < q**2 * (1 - q)  # the single checker's exact figure
