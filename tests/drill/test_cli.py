"""``python -m drill`` as a user runs it: a fresh environment, no AWS account."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from drill.mock_engine import ROOT
from tests.hang_guard import HANG_GUARD_SECONDS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def clean_env(home: Path) -> dict[str, str]:
    """What ``env -i PATH=/usr/bin:/bin HOME=...`` leaves, plus traps: a
    malformed ~/.aws/config and a profile that does not exist. botocore would
    fail on either if the drill let it read the developer's AWS setup."""
    aws = home / ".aws"
    aws.mkdir(parents=True)
    (aws / "config").write_text("[default\nregion = this is not a config file\n")
    (aws / "credentials").write_text("[default]\naws_access_key_id = REAL-LOOKING-KEY\n")
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "AWS_PROFILE": "no-such-profile"}


def drill(*args: str, env: dict[str, str] | None = None, timeout: float = HANG_GUARD_SECONDS):
    return subprocess.run(
        [sys.executable, "-m", "drill", *args],
        cwd=ROOT,
        env=env if env is not None else {**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_default_command_runs_everything_offline(tmp_path: Path) -> None:
    # No wall-clock bound: a correctness test must not depend on machine
    # speed (68 s were seen on a loaded 2-core machine); the drill prints its
    # own timing and the README quotes it.
    chart = tmp_path / "drill.png"
    done = drill("--plot", str(chart), env=clean_env(tmp_path / "home"))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "== Lex failover" in out and "== Cell router" in out
    assert "SIMULATED at the botocore level" in out
    assert "Detection: 19.0 s" in out
    assert "SWITCH (failback)" in out
    assert "placed 120, refused 30" in out
    assert "placed == sum(currentCapacity) == mapping items -- 130 / 130 / 130" in out
    assert "[FAIL]" not in out
    assert re.search(r"All \d+ checks passed", out)
    # Handler logs and EMF metric lines stay out of the story.
    assert '"_aws"' not in out and '"level"' not in out
    assert chart.read_bytes().startswith(PNG_MAGIC)
    assert chart.stat().st_size > 40_000  # two panels of lines and labels


def test_failover_command_with_a_plot(tmp_path: Path) -> None:
    chart = tmp_path / "failover.png"
    done = drill("failover", "--plot", str(chart))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "== Cell router" not in done.stdout
    assert chart.read_bytes().startswith(PNG_MAGIC)
    assert chart.stat().st_size > 20_000


def test_broken_invariant_exits_non_zero_with_the_reason() -> None:
    done = drill(
        "cells",
        "--users", "20",
        "--cells", "2",
        "--capacity", "10",
        "--threads", "4",
        "--api-users", "2",
        "--inject-fault", "double-count",
    )  # fmt: skip

    assert done.returncode == 1
    assert "DRILL FAILED" in done.stdout
    assert "invariant broke: placed == sum(currentCapacity) == mapping items" in done.stderr


def test_slow_failover_fault_exits_non_zero() -> None:
    done = drill("failover", "--inject-fault", "slow-failover")

    assert done.returncode == 1
    assert "failover after exactly 2 failed rounds" in done.stderr


def test_fault_of_another_scenario_is_a_usage_error() -> None:
    done = drill("failover", "--inject-fault", "double-count")
    assert done.returncode == 2


def test_a_bad_faults_spec_is_a_usage_error_naming_the_rule() -> None:
    done = drill("cells", "--faults", "dynamodb:GetItems=ThrottlingException")
    assert done.returncode == 2
    assert "no operation 'GetItems'" in done.stderr


def test_help_explains_each_command_and_hides_the_self_test() -> None:
    done = drill("--help")
    assert done.returncode == 0
    for needle in ("failover", "cells", "plan", "--plot", "--stack", "exit status"):
        assert needle in done.stdout
    assert "inject" not in done.stdout
    for command, needle in (
        ("failover", "simulated clock"),
        ("cells", "--threads"),
        ("plan", "mock engine"),
    ):
        sub = drill(command, "--help")
        assert sub.returncode == 0 and needle in sub.stdout
        assert "inject" not in sub.stdout
