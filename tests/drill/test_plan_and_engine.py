"""``python -m drill plan`` and the mock-engine core it shares with the tests."""

from __future__ import annotations

import io
import subprocess
import sys

import drill.mock_engine as engine
import tests.pulumi_harness as harness
from drill import plan
from drill.mock_engine import ROOT
from drill.report import Report
from tests.hang_guard import HANG_GUARD_SECONDS

COMPONENT = "resilient-routing:components:"


def test_harness_re_exports_the_engine_unchanged() -> None:
    for name in (
        "RecordingMocks",
        "_computed_outputs",
        "run_program",
        "ProgramRun",
        "Recorded",
        "stack_file_config",
        "types_of",
        "ACCOUNT",
        "MAIN",
    ):
        assert getattr(harness, name) is getattr(engine, name), name


def test_engine_does_not_need_pytest() -> None:
    code = "import sys, drill.mock_engine; sys.exit('pytest' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_resource_knows_its_parent_component(dev_stack) -> None:
    run = dev_stack.run
    assert all(r.urn for r in run.resources)
    secondary_bot = [r for r in run.in_region("us-west-2") if r.type == "aws-native:lex:Bot"]
    assert len(secondary_bot) == 1
    chain = [(c.type.removeprefix(COMPONENT), c.name) for c in run.ancestry(secondary_bot[0])]
    assert chain == [("MultiRegionLexBot", "lex-bot"), ("RegionalLexBot", "lex-bot-secondary")]
    # Four components share the name "cell-router"; the parent URN tells them apart.
    queue = run.one("aws:sqs/queue:Queue", lambda r: r.name == "cell-router-CellProvisioning")
    assert run.parent_of(queue).type == COMPONENT + "RouterData"
    machine = run.one("aws:sfn/stateMachine:StateMachine", lambda r: "Orchestrator" in r.name)
    assert run.parent_of(machine).type == COMPONENT + "Orchestrator"


def test_plan_groups_both_regions_by_component(dev_stack, eu_stack) -> None:
    for model, primary, secondary in (
        (dev_stack, "us-east-1", "us-west-2"),
        (eu_stack, "eu-west-2", "eu-central-1"),
    ):
        built = plan.build_plan(model)
        assert built.regions() == [primary, secondary]
        assert built.resource_count == len(model.run.cloud_resources())
        secondary_groups = built.by_region[secondary]
        # Changed by issue 12: the secondary has its own health check too.
        assert ("MultiRegionLexBot lex-bot", "RegionalLexBot lex-bot-secondary") in list(
            secondary_groups
        )
        assert "HealthCheck lex-failover-secondary" in {path[-1] for path in secondary_groups}
        primary_groups = {path[-1] for path in built.by_region[primary]}
        assert {
            "HealthCheck lex-failover",
            "RouterData cell-router",
            "Orchestrator cell-router",
            "CellRouterApi cell-router",
            "RegionalLexBot lex-bot-primary",
        } <= primary_groups
        out = io.StringIO()
        plan.print_plan(built, Report(out))
        text = out.getvalue()
        assert f"{primary} (primary):" in text and f"{secondary} (secondary):" in text


def test_plan_command_for_the_eu_stack() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "drill", "plan", "--stack", "eu", "-v"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert done.returncode == 0, done.stderr
    assert "Plan for stack 'eu' (Pulumi.eu.yaml)" in done.stdout
    assert "eu-west-2 (primary):" in done.stdout
    assert "eu-central-1 (secondary):" in done.stdout
    assert "lex.BotAlias (native)" in done.stdout


def test_plan_command_rejects_an_unknown_stack() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "drill", "plan", "--stack", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert done.returncode == 2
    assert "no stack file Pulumi.nope.yaml" in done.stderr
