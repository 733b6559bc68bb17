"""The drill reads stack files as the Pulumi CLI does and fails with a clear
message and a distinct exit status on what it cannot read (issue #15).

Stack files here are fixtures under ``tmp_path`` passed with
``--config-file``; the user's own ``Pulumi.*.yaml`` play no part."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from drill.mock_engine import ROOT, RecordingMocks, run_program
from drill.plan import effective_settings
from drill.stack import EngineFailure, StackError, load_stack, read_stack_config
from drill.stack_file import StackFileError, parse_stack_yaml
from tests.hang_guard import HANG_GUARD_SECONDS

PAIR = (
    "  resilient-routing:primaryRegion: us-east-1\n  resilient-routing:secondaryRegion: us-west-2\n"
)


def _stack_file(tmp_path: Path, body: str, name: str = "Pulumi.fixture.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def drill(*args: str, timeout: float = HANG_GUARD_SECONDS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drill", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("off", "cellRouterEnabled", "off"),
        ("NO", "phoneNumberCountryCode", "NO"),
        ("yes", "autoFailback", "yes"),
        ("true", "autoFailback", True),
        ("FALSE", "autoFailback", False),
        ("017", "failoverThreshold", 17),
        ("2026-01-01", "incidentNotice", "2026-01-01"),
    ],
)
def test_yaml_is_read_with_the_1_2_core_schema_like_the_pulumi_cli(text, key, expected):
    values = parse_stack_yaml(f"config:\n  resilient-routing:{key}: {text}\n")
    assert values[f"resilient-routing:{key}"] == expected


def test_norway_is_a_country_and_off_is_an_error_naming_its_key(tmp_path: Path):
    path = _stack_file(
        tmp_path,
        "config:\n" + PAIR + "  resilient-routing:phoneNumberCountryCode: NO\n"
        "  resilient-routing:cellRouterEnabled: off\n",
    )
    with pytest.raises(StackError) as err:
        load_stack("fixture", config_file=path)
    assert "resilient-routing:cellRouterEnabled: must be true or false, got 'off'" in str(err.value)
    assert "phoneNumberCountryCode" not in str(err.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("config:\n  resilient-routing:primaryRegion: [us-east-1\n", "is not valid YAML at line"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("config: 5\n", "'config' must be a mapping"),
        (
            "config:\n" + PAIR + "  resilient-routing:alarmEmail:\n    secure: v1:abc==\n",
            "resilient-routing:alarmEmail is a secret (secure:); the drill runs offline",
        ),
    ],
    ids=["malformed", "not-a-mapping", "config-not-a-mapping", "secure"],
)
def test_unreadable_stack_files_are_named_errors(tmp_path: Path, body: str, message: str):
    path = _stack_file(tmp_path, body)
    with pytest.raises(StackError) as err:
        read_stack_config("fixture", path)
    assert message in str(err.value)
    assert path.name in str(err.value)


def test_another_namespaces_secret_is_not_ours_to_read(tmp_path: Path):
    body = "config:\n" + PAIR + "  aws:secretKey:\n    secure: v1:abc==\n"
    values, _ = read_stack_config("fixture", _stack_file(tmp_path, body))
    assert "aws:secretKey" not in values and values["primaryRegion"] == "us-east-1"


def test_a_namespace_typo_in_the_stack_file_is_reported(tmp_path: Path):
    path = _stack_file(tmp_path, "config:\n" + PAIR + "  resilient-routng:failoverThreshold: 5\n")
    with pytest.raises(StackError, match="unknown namespace 'resilient-routng'"):
        load_stack("fixture", config_file=path)


def test_malformed_and_secret_stack_files_exit_2_without_a_traceback(tmp_path: Path):
    for body, message in (
        ("config:\n  resilient-routing:primaryRegion: [\n", "is not valid YAML"),
        ("config:\n" + PAIR + "  resilient-routing:alarmEmail:\n    secure: v1:x\n", "secret"),
    ):
        done = drill("plan", "--config-file", str(_stack_file(tmp_path, body)))
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
        assert "Traceback" not in done.stderr + done.stdout


def test_drill_passes_without_the_cell_router_and_says_it_skipped_it(tmp_path: Path):
    path = _stack_file(
        tmp_path, "config:\n" + PAIR + "  resilient-routing:cellRouterEnabled: false\n"
    )
    done = drill("--config-file", str(path))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "== Cell router -- skipped" in done.stdout
    assert "cellRouterEnabled: false" in done.stdout
    assert "== Lex failover" in done.stdout
    only_cells = drill("cells", "--config-file", str(path))
    assert only_cells.returncode == 2
    assert "deploys no cell router to drill" in only_cells.stderr


def test_plan_shows_the_effective_settings(tmp_path: Path):
    path = _stack_file(tmp_path, "config:\n" + PAIR + "  resilient-routing:failoverThreshold: 4\n")
    done = drill("plan", "--config-file", str(path))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Effective settings (* = set in the stack file, else the default):" in out
    assert any(line.split() == ["*", "failoverThreshold", "4"] for line in out.splitlines())
    assert any(line.split() == ["failbackThreshold", "3"] for line in out.splitlines())


def test_effective_settings_cover_every_declared_key():
    from config import SETTINGS

    rows = effective_settings({"primaryRegion": "us-east-1", "failoverThreshold": 4})
    assert [key for key, _, _ in rows] == [s.key for s in SETTINGS]
    assert ("failoverThreshold", 4, "stack file") in rows
    assert ("failbackThreshold", 3, "default") in rows


def test_an_engine_failure_names_its_real_cause_not_the_engines_wrapper():
    import pulumi
    import pulumi_aws as aws

    def program() -> None:
        provider = aws.Provider("p", region="us-east-1")

        def refuse(_: object) -> str:
            raise ValueError("60 rounds exceed the inline Map limit of 40")

        definition = pulumi.Output.from_input("{}").apply(refuse)
        machine = aws.sfn.StateMachine(
            "probe", role_arn="arn:aws:iam::1:role/r", definition=definition,
            opts=pulumi.ResourceOptions(provider=provider),
        )  # fmt: skip
        aws.cloudwatch.EventTarget(
            "tick", rule="r", arn=machine.arn, opts=pulumi.ResourceOptions(provider=provider)
        )

    with pytest.raises(Exception) as raised:
        run_program({}, program=program, mocks=RecordingMocks())
    assert "While processing" in str(raised.value)  # what the engine reports
    failure = EngineFailure(raised.value)
    assert str(failure).startswith(
        "the Pulumi program failed under the mock engine: "
        "ValueError: 60 rounds exceed the inline Map limit of 40"
    )


def test_stack_file_errors_are_stack_errors():
    assert issubclass(EngineFailure, StackError)
    with pytest.raises(StackFileError):
        parse_stack_yaml(":\n  - [")
