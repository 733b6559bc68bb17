"""HealthCheck on the mock engine: state table and seeded item, exact IAM of
every role, the probe schedule and loop, alarms on the handlers' metrics."""

from __future__ import annotations

import json

import pytest

from components.bot_probe_loop_asl import build_bot_probe_loop_definition
from components.health_check import LEX_CALL_TIMEOUT_SECONDS, probe_timeout_seconds
from components.schemas import LEX_STATE_TABLE
from handlers.lex_dr import contract as lex_contract
from handlers.lex_dr import telemetry
from handlers.lex_dr.settings import GetRegionSettings, HealthCheckSettings
from tests.components.lex_support import policy_statements, run_recording_options, trust_statements
from tests.pulumi_harness import ProgramRun

TABLE = "aws:dynamodb/table:Table"
ITEM = "aws:dynamodb/tableItem:TableItem"
FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"


def _ours(resource) -> bool:
    """The primary region's health check (the secondary's: ``lex-failover-secondary-``)."""
    return resource.name.startswith("lex-failover-") and not resource.name.startswith(
        "lex-failover-secondary-"
    )


def _function(run: ProgramRun, seed: str):
    return run.one(FUNCTION, lambda f: _ours(f) and f.name.endswith(f"-{seed}"))


def _role_of(run: ProgramRun, arn: str):
    return run.one(ROLE, lambda r: r.outputs["arn"] == arn)


def _log_statements(run: ProgramRun, fn) -> list[dict]:
    log_group = run.one(
        LOG_GROUP, lambda g: g.outputs["name"] == fn.inputs["loggingConfig"]["logGroup"]
    )
    return [
        {"Sid": "WriteOwnLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"{log_group.outputs['arn']}:*"},
        {"Sid": "SendTraces", "Effect": "Allow",
         "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
    ]  # fmt: skip


def _alias_arns(run: ProgramRun) -> list[str]:
    arns = run.outputs["lexBotAliasArns"]
    return [arns[run.outputs["primaryRegion"]], arns[run.outputs["secondaryRegion"]]]


# --------------------------------------------------------------------------- #
# State
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("fixture", ["dev_run", "eu_run"])
def test_state_table(request, fixture):
    run: ProgramRun = request.getfixturevalue(fixture)
    table = run.one(TABLE, lambda t: _ours(t) and "lexDR" in t.name)
    assert table.region == run.outputs["primaryRegion"]
    assert "primary-aws::" in table.provider
    assert "name" not in table.inputs  # auto-named from "lexDR"
    assert table.inputs["hashKey"] == LEX_STATE_TABLE.hash_key.name == "connectRegion"
    assert table.inputs["attributes"] == [{"name": "connectRegion", "type": "S"}]
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
    assert table.inputs["serverSideEncryption"] == {"enabled": True}
    assert run.outputs["lexStateTableName"] == table.outputs["name"]


@pytest.mark.parametrize("fixture", ["dev_run", "eu_run"])
def test_state_item_is_seeded_with_the_primary(request, fixture):
    run: ProgramRun = request.getfixturevalue(fixture)
    primary = run.outputs["primaryRegion"]
    table = run.one(TABLE, lambda t: _ours(t) and "lexDR" in t.name)
    item = run.one(ITEM, _ours)
    assert item.region == primary
    assert item.inputs["tableName"] == table.outputs["name"]
    assert item.inputs["hashKey"] == "connectRegion"
    assert json.loads(item.inputs["item"]) == {
        "connectRegion": {"S": primary},
        "lexRegion": {"S": primary},
    }


def test_a_later_update_never_resets_the_live_region():
    run, options = run_recording_options()
    item = run.one(ITEM, _ours)
    assert options[(ITEM, item.name)].ignore_changes == ["item"]
    # Nothing else about the table ignores changes.
    table = run.one(TABLE, lambda t: _ours(t) and "lexDR" in t.name)
    assert not options[(TABLE, table.name)].ignore_changes


# --------------------------------------------------------------------------- #
# Functions: environment and exact IAM
# --------------------------------------------------------------------------- #
def test_lookup_function_env_and_role(dev_run):
    fn = _function(dev_run, "lexDRGetRegion")
    table = dev_run.one(TABLE, lambda t: _ours(t) and "lexDR" in t.name)
    assert fn.region == "us-east-1"
    assert fn.inputs["handler"] == "handlers.lex_dr.get_region.handler"
    env = fn.inputs["environment"]["variables"]
    assert env == {
        "POWERTOOLS_SERVICE_NAME": telemetry.GET_REGION_SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": telemetry.METRIC_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        **lex_contract.GET_REGION.render(
            table_name=table.outputs["name"],
            primary_region="us-east-1",
            bot_alias_arns=dev_run.outputs["lexBotAliasArns"],
        ),
    }
    settings = GetRegionSettings.from_env(env)
    assert settings.bot_alias_arns == dev_run.outputs["lexBotAliasArns"]
    role = _role_of(dev_run, fn.inputs["role"])
    # Changed by issue 12: every state item in one BatchGetItem, from its own
    # replica and, as a fallback, the other region's replica (read only).
    assert policy_statements(dev_run, role) == [
        {
            "Sid": "ReadFailoverState",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem"],
            "Resource": [
                table.outputs["arn"],
                table.outputs["arn"].replace(":us-east-1:", ":us-west-2:"),
            ],
        },
        *_log_statements(dev_run, fn),
    ]
    assert fn.inputs["timeout"] < 8  # Connect gives up after 8 s


@pytest.mark.parametrize(
    ("method", "lex_action"),
    [("recognize_text", "lex:RecognizeText"), ("put_session", "lex:PutSession")],
)
def test_probe_function_role_is_exactly_table_and_the_two_aliases(run_stack, method, lex_action):
    run = run_stack(healthCheckTestMethod=method)
    fn = _function(run, "lexDRTest")
    table = run.one(TABLE, lambda t: _ours(t) and "lexDR" in t.name)
    role = _role_of(run, fn.inputs["role"])
    # Changed by issue 12: reads every item, updates only its own (IAM keeps
    # the item single-writer); the unbilled put_session liveness probe too.
    actions = list(dict.fromkeys([lex_action, "lex:PutSession"]))
    assert policy_statements(run, role) == [
        {
            "Sid": "ReadFailoverState",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem"],
            "Resource": table.outputs["arn"],
        },
        {
            "Sid": "UpdateOwnCheckerItem",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": table.outputs["arn"],
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["us-east-1"]}},
        },
        {
            "Sid": "ProbeBotAliases",
            "Effect": "Allow",
            "Action": [*actions, "lex:DeleteSession"],
            "Resource": _alias_arns(run),
        },
        *_log_statements(run, fn),
    ]
    deployed = lex_contract.HEALTH_CHECK.parse(fn.inputs["environment"]["variables"])
    assert deployed.test_method == method


def test_each_function_has_its_own_role(dev_run):
    lookup, probe = _function(dev_run, "lexDRGetRegion"), _function(dev_run, "lexDRTest")
    assert lookup.inputs["role"] != probe.inputs["role"]


def test_probe_env_is_accepted_by_the_handlers_settings(run_stack):
    run = run_stack(
        failoverThreshold=4,
        failbackThreshold=7,
        autoFailback=False,
        probeAttempts=2,
        healthCheckTestUser="probe-user",
    )
    fn = _function(run, "lexDRTest")
    assert fn.inputs["handler"] == "handlers.lex_dr.health_check.handler"
    env = fn.inputs["environment"]["variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == telemetry.HEALTH_CHECK_SERVICE
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == telemetry.METRIC_NAMESPACE
    settings = HealthCheckSettings.from_env(env)
    assert (
        settings.table_name
        == run.one(TABLE, lambda t: _ours(t) and "lexDR" in t.name).outputs["name"]
    )
    assert settings.connect_region == "us-east-1"
    assert settings.policy.primary == "us-east-1" and settings.policy.secondary == "us-west-2"
    assert settings.policy.failover_threshold == 4
    assert settings.policy.failback_threshold == 7
    assert settings.policy.auto_failback is False
    assert settings.probe_attempts == 2
    assert settings.test_user == "probe-user"
    assert settings.method == "recognize_text"
    assert settings.sample_utterance == "I would like to order some flowers."
    assert settings.expected_response == "What type of flowers would you like to order?"
    for region, target in settings.bots.items():
        assert target.bot_id == run.outputs["lexBotIds"][region]
        assert target.bot_alias_id == run.outputs["lexBotAliasIds"][region]
        assert target.locale_id == "en_US"


def test_probe_timeout_covers_a_round():
    from handlers.lex_dr import aws_clients

    assert aws_clients.LEX_CALL_TIMEOUT_SECONDS == LEX_CALL_TIMEOUT_SECONDS
    assert probe_timeout_seconds(3) == 15
    assert probe_timeout_seconds(5) == 5 * LEX_CALL_TIMEOUT_SECONDS + 6


# --------------------------------------------------------------------------- #
# Probe cadence
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("interval", [10, 5])
def test_schedule_starts_the_probe_loop_every_minute(run_stack, interval):
    run = run_stack(probeIntervalSeconds=interval)
    probe = _function(run, "lexDRTest")
    machine = run.one(STATE_MACHINE, _ours)
    assert machine.region == "us-east-1"
    assert machine.inputs["type"] == "EXPRESS"
    definition = json.loads(machine.inputs["definition"])
    assert definition == build_bot_probe_loop_definition(
        probe_function_arn=probe.outputs["arn"],
        interval_seconds=interval,
        round_timeout_seconds=int(probe.inputs["timeout"]) + 5,
    )
    offsets = definition["States"]["ScheduleRounds"]["Result"]["offsets"]
    assert offsets == list(range(0, 60, interval))
    assert run.outputs["lexProbeStateMachineArn"] == machine.outputs["arn"]

    rule = run.one(RULE, _ours)
    assert rule.inputs["scheduleExpression"] == "rate(1 minute)"
    target = run.one(TARGET, _ours)
    assert target.inputs["rule"] == rule.outputs["name"]
    assert target.inputs["arn"] == machine.outputs["arn"]
    assert target.inputs["input"] == "{}"


def test_probe_loop_logs_errors_without_execution_data(dev_run):
    machine = dev_run.one(STATE_MACHINE, _ours)
    logs = dev_run.one(LOG_GROUP, lambda g: g.name == "lex-failover-probe-loop-logs")
    assert logs.inputs["namePrefix"].startswith("/aws/vendedlogs/states/")
    assert machine.inputs["loggingConfiguration"] == {
        "level": "ERROR",
        "includeExecutionData": False,
        "logDestination": f"{logs.outputs['arn']}:*",
    }


def test_state_machine_role_is_exact(dev_run):
    machine = dev_run.one(STATE_MACHINE, _ours)
    probe = _function(dev_run, "lexDRTest")
    role = _role_of(dev_run, machine.inputs["roleArn"])
    # Issue #10: only Step Functions running this account's probe loop.
    assert trust_statements(role) == [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
         "Action": "sts:AssumeRole",
         "Condition": {
             "StringEquals": {"aws:SourceAccount": "123456789012"},
             "ArnLike": {"aws:SourceArn":
                         "arn:aws:states:us-east-1:123456789012:stateMachine:"
                         "lex-failover-probe-loop*"}}}
    ]  # fmt: skip
    assert machine.outputs["arn"].startswith(
        "arn:aws:states:us-east-1:123456789012:stateMachine:lex-failover-probe-loop"
    )
    assert policy_statements(dev_run, role) == [
        {
            "Sid": "InvokeProbe",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": probe.outputs["arn"],
        },
        {
            "Sid": "DeliverExecutionLogs",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
            ],
            "Resource": "*",
        },
    ]


def test_scheduler_role_is_exact(dev_run):
    target = dev_run.one(TARGET, _ours)
    rule = dev_run.one(RULE, _ours)
    machine = dev_run.one(STATE_MACHINE, _ours)
    role = _role_of(dev_run, target.inputs["roleArn"])
    assert trust_statements(role) == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnEquals": {"aws:SourceArn": rule.outputs["arn"]}},
        }
    ]
    assert policy_statements(dev_run, role) == [
        {
            "Sid": "StartProbeLoop",
            "Effect": "Allow",
            "Action": ["states:StartExecution"],
            "Resource": machine.outputs["arn"],
        }
    ]


# --------------------------------------------------------------------------- #
# Visibility
# --------------------------------------------------------------------------- #
def _alarm(run: ProgramRun, key: str):
    return run.one(ALARM, lambda a: a.name == f"lex-failover-{key}")


AT_LEAST = "GreaterThanOrEqualToThreshold"


@pytest.mark.parametrize(
    ("key", "metric", "statistic", "comparison"),
    [
        ("region-switched", telemetry.METRIC_REGION_SWITCHED, "Sum", AT_LEAST),
        ("all-regions-failing", telemetry.METRIC_ALL_REGIONS_FAILING, "Sum", AT_LEAST),
        ("lookup-failing-open", telemetry.METRIC_LOOKUP_FAILED_OPEN, "Sum", AT_LEAST),
        (
            "health-check-silent",
            telemetry.METRIC_REGION_SWITCHED,
            "SampleCount",
            "LessThanThreshold",
        ),
    ],
)
def test_alarms_on_handler_metrics_match_what_the_handlers_emit(
    dev_run, key, metric, statistic, comparison
):
    alarm = _alarm(dev_run, key)
    assert alarm.inputs["namespace"] == telemetry.METRIC_NAMESPACE
    assert alarm.inputs["metricName"] == metric
    expected_dimensions = {
        name: telemetry.METRIC_SERVICE[metric] for name in telemetry.METRIC_DIMENSIONS[metric]
    }
    assert alarm.inputs["dimensions"] == expected_dimensions
    assert set(alarm.inputs["dimensions"]) == {"service"}
    assert alarm.inputs["statistic"] == statistic
    assert alarm.inputs["comparisonOperator"] == comparison
    assert alarm.inputs["threshold"] == 1


def test_switch_and_outage_alarms_fire_on_one_round(dev_run):
    for key in ("region-switched", "all-regions-failing"):
        alarm = _alarm(dev_run, key)
        assert (alarm.inputs["period"], alarm.inputs["evaluationPeriods"]) == (60, 1)
        assert alarm.inputs["treatMissingData"] == "notBreaching"
    # A health check that stopped reporting is an alarm of its own.
    assert _alarm(dev_run, "health-check-silent").inputs["treatMissingData"] == "breaching"


def test_probe_error_alarms_watch_the_probe_function_and_loop(dev_run):
    probe = _function(dev_run, "lexDRTest")
    machine = dev_run.one(STATE_MACHINE, _ours)
    errors = _alarm(dev_run, "probe-function-errors")
    assert (errors.inputs["namespace"], errors.inputs["metricName"]) == ("AWS/Lambda", "Errors")
    assert errors.inputs["dimensions"] == {"FunctionName": probe.outputs["name"]}
    for key, metric in (
        ("probe-loop-failed", "ExecutionsFailed"),
        ("probe-loop-timed-out", "ExecutionsTimedOut"),
    ):
        alarm = _alarm(dev_run, key)
        assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/States", metric)
        assert alarm.inputs["dimensions"] == {"StateMachineArn": machine.outputs["arn"]}


def test_every_alarm_notifies_the_topic(dev_run):
    topic = dev_run.one(TOPIC, _ours)
    alarms = [a for a in dev_run.of_type(ALARM) if _ours(a)]
    # Changed by issue 12: + peer checker silent, vantage points disagree,
    # lookup serving its last known decision.
    assert len(alarms) == 10
    for alarm in alarms:
        assert alarm.region == "us-east-1"
        assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]]
        assert alarm.inputs["okActions"] == [topic.outputs["arn"]]
    assert dev_run.outputs["lexAlarmTopicArn"] == topic.outputs["arn"]


def test_topic_is_encrypted_with_a_key_cloudwatch_may_use(dev_run):
    topic = dev_run.one(TOPIC, _ours)
    key = dev_run.one("aws:kms/key:Key", _ours)
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    key_statements = json.loads(key.inputs["policy"])["Statement"]
    assert {
        "Sid": "CloudWatchAlarmsEncryptForTopic",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        # Issue #10: only this account's alarms may use the key.
        "Condition": {
            "StringEquals": {"aws:SourceAccount": "123456789012"},
            "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"},
        },
    } in key_statements
    assert key_statements[0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    policy = dev_run.one("aws:sns/topicPolicy:TopicPolicy", _ours)
    assert policy.inputs["arn"] == topic.outputs["arn"]
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {
            "Sid": "CloudWatchAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic.outputs["arn"],
            "Condition": {
                "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"}
            },
        }
    ]


def test_email_subscription_only_when_configured(dev_run, run_stack):
    assert [s for s in dev_run.of_type(SUBSCRIPTION) if _ours(s)] == []
    run = run_stack(alarmEmail="oncall@example.com")
    (subscription,) = [s for s in run.of_type(SUBSCRIPTION) if _ours(s)]
    topic = run.one(TOPIC, _ours)
    assert subscription.inputs == {
        "topic": topic.outputs["arn"],
        "protocol": "email",
        "endpoint": "oncall@example.com",
    }


def test_each_region_has_its_own_health_check(eu_run):
    """Changed by issue 12: the primary's in eu-west-2, the secondary's in eu-central-1."""
    seen = {"eu-west-2": 0, "eu-central-1": 0}
    for resource in eu_run.cloud_resources():
        if not resource.name.startswith("lex-failover-") or resource.type.startswith("aws:iam/"):
            continue
        expected = "eu-west-2" if _ours(resource) else "eu-central-1"
        assert resource.region == expected, resource.name
        seen[expected] += 1
    assert seen["eu-west-2"] > 0 and seen["eu-central-1"] > 0
