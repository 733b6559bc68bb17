"""Both regions serve (issue 12), on the mock engine, for both example stacks:
the state table is a global table with a replica in the secondary; each
region has its checker (probe function, probe loop, schedule, alarms) and
its lookup, each on its own region's providers; IAM names only the
function's own region's resources, plus what it must read (the other
replica, as the lookup's fallback) and probe (both bot aliases)."""

from __future__ import annotations

import json

import pytest

from handlers.lex_dr import contract as lex_contract
from handlers.lex_dr import layout
from handlers.lex_dr.settings import GetRegionSettings, HealthCheckSettings
from tests.components.lex_support import policy_statements
from tests.pulumi_harness import ProgramRun

TABLE = "aws:dynamodb/table:Table"
FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
RULE = "aws:cloudwatch/eventRule:EventRule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"

PREFIX = {"primary": "lex-failover-", "secondary": "lex-failover-secondary-"}


def _in(role: str, resource) -> bool:
    if role == "secondary":
        return resource.name.startswith(PREFIX["secondary"])
    return resource.name.startswith(PREFIX["primary"]) and not resource.name.startswith(
        PREFIX["secondary"]
    )


def _regions(run: ProgramRun) -> dict[str, str]:
    return {"primary": run.outputs["primaryRegion"], "secondary": run.outputs["secondaryRegion"]}


@pytest.fixture(params=["dev_run", "eu_run"])
def run(request) -> ProgramRun:
    return request.getfixturevalue(request.param)


def test_state_table_is_global_with_a_protected_replica(run):
    regions = _regions(run)
    (table,) = [t for t in run.of_type(TABLE) if "lexDR" in t.name]
    assert table.region == regions["primary"]
    assert table.inputs["streamEnabled"] is True
    assert table.inputs["streamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
    assert table.inputs["serverSideEncryption"] == {"enabled": True}
    assert table.inputs["deletionProtectionEnabled"] is True
    assert table.inputs["replicas"] == [
        {
            "regionName": regions["secondary"],
            "pointInTimeRecovery": True,
            "deletionProtectionEnabled": True,
            "propagateTags": True,
        }
    ]


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_each_region_has_checker_lookup_and_alarms_on_its_own_providers(run, role):
    region = _regions(run)[role]
    functions = [f for f in run.of_type(FUNCTION) if _in(role, f)]
    handlers = sorted(f.inputs["handler"] for f in functions)
    assert handlers == [
        "handlers.lex_dr.get_region.handler",
        "handlers.lex_dr.health_check.handler",
    ]
    for kind in (FUNCTION, STATE_MACHINE, RULE, ALARM, TOPIC):
        found = [r for r in run.of_type(kind) if _in(role, r)]
        assert found, f"{role}: no {kind}"
        for resource in found:
            assert resource.region == region, resource.name
            assert f"{role}-aws::" in resource.provider, resource.name
    alarms = {a.name.removeprefix(PREFIX[role]) for a in run.of_type(ALARM) if _in(role, a)}
    assert {
        "region-switched",
        "all-regions-failing",
        "health-check-silent",
        "lookup-failing-open",
        "lookup-serving-last-known",
        "peer-checker-silent",
        "vantage-points-disagree",
    } <= alarms
    topic = run.one(TOPIC, lambda t: _in(role, t))
    for alarm in (a for a in run.of_type(ALARM) if _in(role, a)):
        assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]]


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_checker_env_names_its_region_and_is_accepted(run, role):
    regions = _regions(run)
    probe = run.one(FUNCTION, lambda f: _in(role, f) and f.name.endswith("-lexDRTest"))
    env = probe.inputs["environment"]["variables"]
    settings = HealthCheckSettings.from_env(env)
    assert settings.checker_region == regions[role]
    assert settings.connect_region == regions["primary"]
    assert settings.liveness_method == "put_session"
    assert settings.deep_probe_every == 6
    assert settings.deep_probe_phase == (0 if role == "primary" else 3)
    (table,) = [t for t in run.of_type(TABLE) if "lexDR" in t.name]
    assert settings.table_name == table.outputs["name"]  # same name: the replica
    lookup = run.one(FUNCTION, lambda f: _in(role, f) and f.name.endswith("-lexDRGetRegion"))
    lookup_settings = GetRegionSettings.from_env(lookup.inputs["environment"]["variables"])
    assert lookup_settings.primary_region == regions["primary"]
    assert set(lookup_settings.bot_alias_arns) == set(regions.values())


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_iam_names_only_its_own_region_plus_what_it_must_read(run, role):
    regions = _regions(run)
    region, other = regions[role], regions["secondary" if role == "primary" else "primary"]
    (table,) = [t for t in run.of_type(TABLE) if "lexDR" in t.name]
    own_replica = table.outputs["arn"].replace(f":{regions['primary']}:", f":{region}:")
    other_replica = table.outputs["arn"].replace(f":{regions['primary']}:", f":{other}:")
    aliases = run.outputs["lexBotAliasArns"]

    probe = run.one(FUNCTION, lambda f: _in(role, f) and f.name.endswith("-lexDRTest"))
    statements = policy_statements(
        run, run.one(ROLE, lambda r: r.outputs["arn"] == probe.inputs["role"])
    )
    state = [s for s in statements if s["Action"][0].startswith("dynamodb:")]
    assert state == [
        {
            "Sid": "ReadFailoverState",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem"],
            "Resource": own_replica,
        },
        {
            "Sid": "UpdateOwnCheckerItem",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": own_replica,
            "Condition": {
                "ForAllValues:StringEquals": {
                    "dynamodb:LeadingKeys": [layout.checker_key(regions["primary"], region)]
                }
            },
        },
    ]
    lex = [s for s in statements if s["Sid"] == "ProbeBotAliases"]
    assert lex[0]["Resource"] == [aliases[regions["primary"]], aliases[regions["secondary"]]]

    lookup = run.one(FUNCTION, lambda f: _in(role, f) and f.name.endswith("-lexDRGetRegion"))
    statements = policy_statements(
        run, run.one(ROLE, lambda r: r.outputs["arn"] == lookup.inputs["role"])
    )
    assert statements[0] == {
        "Sid": "ReadFailoverState",
        "Effect": "Allow",
        "Action": ["dynamodb:BatchGetItem"],
        "Resource": [own_replica, other_replica],
    }
    # Nothing else of another region: logs and traces are the function's own.
    for statement in statements[1:]:
        for arn in json.dumps(statement["Resource"]).split('"'):
            if arn.startswith("arn:aws:") and ":" in arn[8:]:
                assert f":{other}:" not in arn, arn


def test_the_two_checkers_write_different_items(run):
    regions = _regions(run)
    keys = []
    for role in ("primary", "secondary"):
        probe = run.one(FUNCTION, lambda f, r=role: _in(r, f) and f.name.endswith("-lexDRTest"))
        settings = HealthCheckSettings.from_env(probe.inputs["environment"]["variables"])
        keys.append(layout.checker_key(settings.connect_region, settings.checker_region))
    assert keys == [regions["primary"], f"{regions['primary']}#checker#{regions['secondary']}"]
    assert {layout.writer_region(k) for k in keys} == set(regions.values())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("failoverStalenessSeconds", 5),  # below two probe intervals: a live peer looks dead
        ("probeLivenessMethod", "ping"),
        ("deepProbeIntervalSeconds", 45),  # not a multiple of the 10 s interval
        ("deepProbeIntervalSeconds", 5),
        ("connectReplicaInstanceId", "not-a-uuid"),
        ("connectReplicaInstanceId", "1a2b3c4d-5e6f-4789-8abc-0123456789ab"),  # connectMode none
    ],
)
def test_bad_two_region_settings_name_the_key(key, value):
    from config import ConfigError, parse_settings
    from tests.pulumi_harness import DEV_CONFIG

    with pytest.raises(ConfigError, match=key):
        parse_settings({**DEV_CONFIG, key: value}, stack="dev")


def test_liveness_none_means_every_round_deep(run_stack):
    run = run_stack(probeLivenessMethod="none")
    probe = run.one(FUNCTION, lambda f: _in("secondary", f) and f.name.endswith("-lexDRTest"))
    env = probe.inputs["environment"]["variables"]
    assert lex_contract.LIVENESS_METHOD.name not in env
    assert HealthCheckSettings.from_env(env).liveness_method is None
