"""Stack configuration: declarations, defaults and every validation rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import config
from config import SETTINGS, ConfigError, parse_settings
from tests.pulumi_harness import DEV_CONFIG, RecordingMocks, run_program, stack_file_config

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_declared_in_pulumi_yaml_with_the_same_type_and_default():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    project_keys = {k for k in declared if ":" not in k}
    assert project_keys == {s.key for s in SETTINGS}
    for setting in SETTINGS:
        entry = declared[setting.key]
        assert entry["type"] == setting.type, setting.key
        assert entry["description"] == setting.description, setting.key
        if setting.default is None:
            assert "default" not in entry, f"{setting.key} is required, so has no default"
        else:
            assert entry["default"] == setting.default, setting.key


def test_pulumi_yaml_disables_default_providers_and_installs_a_venv():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "resilient-routing"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"]
    disabled = project["config"]["pulumi:disable-default-providers"]["value"]
    assert set(disabled) >= {"aws", "aws-native"}


#: The example stacks this repository ships. Named explicitly: a user's own
#: Pulumi.<stack>.yaml (with secrets, or half-written) is not part of the suite.
EXAMPLE_STACKS = ("dev", "eu")


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_example_stack_files_are_valid(stack: str):
    values = stack_file_config(ROOT / f"Pulumi.{stack}.yaml")
    settings = parse_settings(values, stack=stack)
    assert settings.primary_region != settings.secondary_region


def test_there_are_two_example_stacks_with_different_pairs():
    pairs = {
        (cfg["primaryRegion"], cfg["secondaryRegion"])
        for cfg in (stack_file_config(ROOT / f"Pulumi.{s}.yaml") for s in EXAMPLE_STACKS)
    }
    assert len(pairs) == 2


def test_defaults_apply_when_only_regions_are_given():
    s = parse_settings(DEV_CONFIG, stack="dev")
    assert s.regions == ("us-east-1", "us-west-2")
    assert s.health_check.failover_threshold == 2
    assert s.health_check.failback_threshold == 3
    assert s.health_check.auto_failback is True
    assert s.health_check.probe_interval_seconds == 10
    assert s.lex.alias_name == "ver_one"
    assert s.connect.mode == "none"
    assert s.cell_router.capacity_buffer == pytest.approx(0.2)
    assert s.cell_router.scale_out_threshold == pytest.approx(0.7)
    assert s.cell_router.default_market == "europe"
    assert s.alarm_email is None


def test_values_arrive_as_strings_from_the_cli():
    s = parse_settings(
        {**DEV_CONFIG, "failoverThreshold": "4", "autoFailback": "false",
         "oauthCallbackUrls": '["https://app.example.com/cb"]'},
        stack="dev",
    )  # fmt: skip
    assert s.health_check.failover_threshold == 4
    assert s.health_check.auto_failback is False
    assert s.cell_router.callback_urls == ("https://app.example.com/cb",)


def test_send_message_is_the_original_name_of_recognize_text():
    s = parse_settings({**DEV_CONFIG, "healthCheckTestMethod": "send_message"}, stack="dev")
    assert s.health_check.test_method == "recognize_text"


BAD = [
    ({"secondaryRegion": "us-east-1"}, "secondaryRegion: must differ from primaryRegion"),
    ({"primaryRegion": "useast1"}, "primaryRegion: 'useast1' is not an AWS region name"),
    ({"primaryRegion": None}, "primaryRegion: is required"),
    ({"failoverThreshold": 0}, "failoverThreshold: must be between 1 and 20"),
    ({"failbackThreshold": "three"}, "failbackThreshold: must be an integer"),
    ({"probeIntervalSeconds": 7}, "probeIntervalSeconds: must divide 60"),
    ({"probeIntervalSeconds": 30}, "probeIntervalSeconds: must be between 1 and 10"),
    ({"connectMode": "maybe"}, "connectMode: must be one of create, existing, none"),
    ({"connectMode": "existing"}, "connectInstanceId: is required when connectMode is existing"),
    ({"connectMode": "create"}, "connectInstanceAlias: is required when connectMode is create"),
    ({"claimPhoneNumber": True}, "claimPhoneNumber: needs a Connect instance"),
    ({"capacityBufferPercent": 95}, "capacityBufferPercent: must be between 0 and 90"),
    ({"scaleOutThresholdPercent": 85}, "scaleOutThresholdPercent: (85%) must not exceed"),
    ({"healthCheckTestMethod": "ping"}, "healthCheckTestMethod: must be one of"),
    ({"lexBotAliasName": "TSTALIASID"}, "lexBotAliasName: must not be the Lex test alias"),
    ({"logRetentionDays": 31}, "logRetentionDays: CloudWatch Logs accepts only"),
    ({"autoFailback": "yes"}, "autoFailback: must be true or false"),
    ({"lambdaRuntime": "python3.9"}, "lambdaRuntime: must be one of python3.12, python3.13"),
    ({"defaultMarket": "eu west"}, "defaultMarket: 'eu west' is not a market id"),
    ({"oauthCallbackUrls": ["http://app.example.com"]}, "oauthCallbackUrls: 'http://app"),
    ({"alarmEmail": "ops"}, "alarmEmail: 'ops' is not an e-mail address"),
    ({"failoverTreshold": 3}, "failoverTreshold: unknown setting"),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_each_invalid_setting_names_its_key(override, message):
    with pytest.raises(ConfigError) as err:
        parse_settings({**DEV_CONFIG, **override}, stack="dev")
    assert f"resilient-routing:{message}" in str(err.value)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as err:
        parse_settings(
            {"primaryRegion": "x", "secondaryRegion": "y", "failoverThreshold": 99}, stack="dev"
        )
    text = str(err.value)
    assert text.count("\n  - ") == 3
    for key in ("primaryRegion", "secondaryRegion", "failoverThreshold"):
        assert f"resilient-routing:{key}:" in text


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"secondaryRegion": "us-east-1"}, "secondaryRegion: must differ"),
        ({"connectMode": "sometimes"}, "connectMode: must be one of"),
        ({"failoverTreshold": "3"}, "failoverTreshold: unknown setting"),
    ],
)
def test_the_program_stops_before_declaring_any_resource(override, message):
    mocks = RecordingMocks()
    with pytest.raises(ConfigError, match=message):
        run_program({**DEV_CONFIG, **override}, mocks=mocks)
    assert mocks.resources == []


def test_config_error_is_a_pulumi_run_error_so_the_cli_prints_no_traceback():
    import pulumi

    assert issubclass(config.ConfigError, pulumi.RunError)


def test_readme_config_reference_is_generated_from_the_settings_table():
    readme = (ROOT / "README.md").read_text()
    begin, end = "<!-- CONFIG-TABLE:BEGIN -->\n", "\n<!-- CONFIG-TABLE:END -->"
    table = readme.split(begin, 1)[1].split(end, 1)[0]
    assert table == config.markdown_reference()
