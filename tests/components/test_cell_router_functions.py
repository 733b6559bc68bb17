"""CellRouterFunctions: handlers, environment, exact IAM, the registrar's rule."""

from __future__ import annotations

import json
from decimal import Decimal

import parliament
import pytest

from components.cell_router_functions import (
    SCALE_PARTITIONS,
    USER_PARTITIONS,
    CellRouterFunctions,
    CellRouterFunctionsArgs,
)
from handlers.cell_router import store
from handlers.cell_router.events import (
    CELL_READY_DETAIL_TYPE,
    CELL_READY_EVENT_PATTERN,
    CELL_READY_SOURCE,
)
from support.mock_engine import ACCOUNT
from tests.pulumi_harness import ProgramRun, run_program

MODULES = ("dispatcher", "scaler", "mapper", "validator", "registrar", "sweeper")
FAILED = "cell-router-CellReady-failed"


def _function(run: ProgramRun, module: str):
    name = f"cell-router-{module}"
    return run.one("aws:lambda/function:Function", lambda r: r.name == name)


def _statements(run: ProgramRun, module: str) -> list[dict]:
    """The caller-specific statements (PythonFunction appends logs + X-Ray)."""
    policy = json.loads(run.named(f"cell-router-{module}-policy").inputs["policy"])
    *own, logs, traces = policy["Statement"]
    assert logs["Sid"] == "WriteOwnLogs" and traces["Sid"] == "SendTraces"
    return own


def _arns(run: ProgramRun) -> dict[str, str]:
    table = run.named("cell-router-tbl_router").outputs["arn"]
    return {
        "secret": run.named("cell-router-user-key").id,
        "table": table,
        "index": f"{table}/index/marketId-currentCapacity-index",
        "placeable": f"{table}/index/placeable-cells-index",
        "queue": run.named("cell-router-CellProvisioning").outputs["arn"],
        "failed": run.named(FAILED).outputs["arn"],
    }


def test_each_function_runs_its_handler_module(dev_run: ProgramRun):
    for module in MODULES:
        fn = _function(dev_run, module).inputs
        assert fn["handler"] == f"handlers.cell_router.{module}.handler"
        assert fn["runtime"] == "python3.13"
        assert fn["tracingConfig"] == {"mode": "Active"}


def test_dispatcher_statements_exactly(dev_run: ProgramRun):
    arns = _arns(dev_run)
    assert _statements(dev_run, "dispatcher") == [
        {"Sid": "ReadMappingsAndCells", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
         "Resource": arns["table"]},
        {"Sid": "FindPlaceableCells", "Effect": "Allow", "Action": ["dynamodb:Query"],
         "Resource": arns["placeable"]},
        {"Sid": "ReadMarkets", "Effect": "Allow", "Action": ["dynamodb:Query"],
         "Resource": arns["table"]},
        {"Sid": "RemoveDanglingMappings", "Effect": "Allow", "Action": ["dynamodb:DeleteItem"],
         "Resource": arns["table"],
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]}}},
        *_episode_statements(arns),
        {"Sid": "WriteUserMappings", "Effect": "Allow", "Action": ["dynamodb:PutItem"],
         "Resource": arns["table"],
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]}}},
        {"Sid": "CountUsersOnCells", "Effect": "Allow", "Action": ["dynamodb:UpdateItem"],
         "Resource": arns["table"],
         "Condition": {"ForAllValues:StringNotLike":
                       {"dynamodb:LeadingKeys": ["USER#*", "SCALE#*"]},
                       # Issue #10: the counter (and what its condition
                       # reads), never endpoints, regions or revisions.
                       "ForAllValues:StringEquals":
                       {"dynamodb:Attributes": ["marketId", "cellId", "currentCapacity",
                                                "IsHealthy", "status", "maxCapacity",
                                                # #11: the placeable-index key.
                                                "placeableMarketId"]}}},
        {"Sid": "ReadUserKeySecret", "Effect": "Allow",
         "Action": ["secretsmanager:GetSecretValue"], "Resource": arns["secret"]},
        # Issue #13: the writer gate of a router in two regions.
        {"Sid": "ReadWriterRecordAndPeerHeartbeat", "Effect": "Allow",
         "Action": ["dynamodb:BatchGetItem"], "Resource": arns["table"],
         "Condition": {"ForAllValues:StringLike":
                       {"dynamodb:LeadingKeys": ["WRITER#*", "HEARTBEAT#*"]}}},
        {"Sid": "CheckWriterEpochInPlacement", "Effect": "Allow",
         "Action": ["dynamodb:ConditionCheckItem"], "Resource": arns["table"],
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["WRITER#*"]}}},
    ]  # fmt: skip


def test_scaler_statements_exactly(dev_run: ProgramRun):
    arns = _arns(dev_run)
    assert _statements(dev_run, "scaler") == [
        {"Sid": "ReadCells", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
         "Resource": arns["table"]},
        {"Sid": "CountMarketCells", "Effect": "Allow", "Action": ["dynamodb:Query"],
         "Resource": arns["table"],
         "Condition": {"ForAllValues:StringNotLike":
                       {"dynamodb:LeadingKeys": ["USER#*", "SCALE#*"]}}},
        *_episode_statements(arns),
    ]  # fmt: skip


def _episode_statements(arns: dict[str, str]) -> list[dict]:
    """#11: episodes are recorded (UpdateItem), never released (no
    DeleteItem), and their markets remembered (MARKET#)."""
    return [
        {"Sid": "OpenAndRecordScaleOutEpisodes", "Effect": "Allow",
         "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"], "Resource": arns["table"],
         "Condition": {"ForAllValues:StringLike":
                       {"dynamodb:LeadingKeys": ["SCALE#*", "MARKET#"]}}},
        {"Sid": "RequestCells", "Effect": "Allow", "Action": ["sqs:SendMessage"],
         "Resource": arns["queue"]},
    ]  # fmt: skip


def test_sweeper_statements_exactly(dev_run: ProgramRun):
    arns = _arns(dev_run)
    assert _statements(dev_run, "sweeper") == [
        {"Sid": "ListKnownMarkets", "Effect": "Allow", "Action": ["dynamodb:Query"],
         "Resource": arns["table"],
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["MARKET#"]}}},
        {"Sid": "ReadScaleOutEpisodes", "Effect": "Allow", "Action": ["dynamodb:BatchGetItem"],
         "Resource": arns["table"],
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SCALE#*"]}}},
        {"Sid": "ClaimAndRecordResends", "Effect": "Allow", "Action": ["dynamodb:UpdateItem"],
         "Resource": arns["table"],
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SCALE#*"]}}},
        {"Sid": "RequestCells", "Effect": "Allow", "Action": ["sqs:SendMessage"],
         "Resource": arns["queue"]},
    ]  # fmt: skip


def test_sweeper_runs_every_minute_with_an_empty_event(dev_run: ProgramRun):
    rule = dev_run.named("cell-router-sweeper-schedule").inputs
    assert rule["scheduleExpression"] == "rate(1 minute)"
    target = dev_run.named("cell-router-sweeper-target").inputs
    assert target["arn"] == _function(dev_run, "sweeper").outputs["arn"]
    assert target["input"] == "{}"
    permission = dev_run.named("cell-router-sweeper-invoke").inputs
    assert permission["sourceArn"] == dev_run.named("cell-router-sweeper-schedule").outputs["arn"]


@pytest.mark.parametrize("module", ["mapper", "validator"])
def test_readers_only_get_items(dev_run: ProgramRun, module):
    assert _statements(dev_run, module) == [
        {"Sid": "ReadOwnMappingAndCell", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
         "Resource": _arns(dev_run)["table"]},
        {"Sid": "ReadUserKeySecret", "Effect": "Allow",
         "Action": ["secretsmanager:GetSecretValue"], "Resource": _arns(dev_run)["secret"]},
    ]  # fmt: skip


def test_only_the_keyed_handlers_read_the_user_key_secret(dev_run: ProgramRun):
    secret = _arns(dev_run)["secret"]
    readers = {m for m in MODULES if secret in json.dumps(_statements(dev_run, m))}
    assert readers == {"dispatcher", "mapper", "validator"}
    created = dev_run.named("cell-router-user-key")
    assert created.type == "aws-native:secretsmanager:Secret"
    # Generated by Secrets Manager once; never a value in the program or state.
    assert created.inputs["generateSecretString"] == {
        "passwordLength": 64, "excludePunctuation": True, "includeSpace": False,
    }  # fmt: skip
    assert "secretString" not in created.inputs


def test_registrar_statements_exactly(dev_run: ProgramRun):
    arns = _arns(dev_run)
    assert _statements(dev_run, "registrar") == [
        {"Sid": "CreateAndCountCells", "Effect": "Allow",
         "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
         "Resource": arns["table"],
         "Condition": {"ForAllValues:StringNotLike":
                       {"dynamodb:LeadingKeys": ["USER#*", "SCALE#*"]}}},
        {"Sid": "RefreshCellsAndCloseEpisodes", "Effect": "Allow",
         "Action": ["dynamodb:UpdateItem"], "Resource": arns["table"],
         "Condition": {"ForAllValues:StringNotLike": {"dynamodb:LeadingKeys": ["USER#*"]}}},
        {"Sid": "KeepFailedCellReadyEvents", "Effect": "Allow", "Action": ["sqs:SendMessage"],
         "Resource": arns["failed"]},
    ]  # fmt: skip


def test_partition_conditions_match_the_store_layout():
    assert USER_PARTITIONS == store.USER_PREFIX + "*"
    assert SCALE_PARTITIONS == store.SCALE_PREFIX + "*"


def test_every_router_policy_passes_parliament(dev_run: ProgramRun):
    policies = [p for p in dev_run.of_type("aws:iam/rolePolicy:RolePolicy")
                if p.name.startswith("cell-router")]  # fmt: skip
    # Per region (issue #13): six functions, the heartbeat, the authorizer,
    # the state machine, the API; the JWKS refresher in the primary only.
    assert sorted(p.region for p in policies) == ["us-east-1"] * 11 + ["us-west-2"] * 10
    for policy in policies:
        findings = parliament.analyze_policy_string(policy.inputs["policy"]).findings
        assert findings == [], (policy.name, [(f.issue, f.detail) for f in findings])


def test_environment_comes_from_config(run_stack):
    run = run_stack(defaultMarket="asia", capacityBufferPercent=25, scaleOutThresholdPercent=60,
                    endpointTtlSeconds=120, validatorDeepCheck=False, supportContact="help@x.io",
                    incidentNotice="We know.", expectedWaitMinutes=7,
                    cellEndpointDomains=["Cells.Example.com."], maxCellsPerMarket=9)  # fmt: skip
    table_name = run.named("cell-router-tbl_router").outputs["name"]
    secret = run.named("cell-router-user-key").id
    queue_url = run.named("cell-router-CellProvisioning").outputs["url"]
    # Both regions' stage URLs, from the REST APIs' ids.
    router_urls = json.dumps({
        region: f"https://{run.named(api).id}.execute-api.{region}.amazonaws.com/v1"
        for region, api in (("us-east-1", "cell-router-CellRouter"),
                            ("us-west-2", "cell-router-secondary-CellRouter"))
    }, sort_keys=True)  # fmt: skip

    def env(module: str) -> dict:
        variables = dict(_function(run, module).inputs["environment"]["variables"])
        assert variables.pop("POWERTOOLS_SERVICE_NAME") == "cell-router"
        assert variables.pop("POWERTOOLS_METRICS_NAMESPACE") == "ResilientRouting/CellRouter"
        assert variables.pop("POWERTOOLS_LOG_LEVEL") == "INFO"
        return variables

    # Asserted through the contracts: the exact variables each function gets,
    # with the typed values the stack set (rendered as the handlers parse them).
    from handlers.cell_router import contract

    resend = dict(scale_out_resend_seconds=60, scale_out_episode_timeout_seconds=7200)
    keyed = dict(table_name=table_name, user_key_secret_arn=secret)
    domains = ["cells.example.com"]
    assert env("dispatcher") == contract.DISPATCHER.render(
        **keyed, provisioning_queue_url=queue_url, **resend, default_market="asia",
        capacity_buffer=0.25, scale_out_threshold=0.6, endpoint_ttl_seconds=120,
        # Issue #13: the writer gate (defaults of handlers/cell_router/writer.py).
        router_region="us-east-1", router_peer_region="us-west-2",
        router_primary_region="us-east-1", router_urls=router_urls,
        writer_fence_seconds=60, writer_lease_seconds=150, writer_auto_promotion=False,
        writer_auto_promote_after_seconds=600,
        # #14: a refusal at the cap requests no cell.
        max_cells_per_market=9,
    )  # fmt: skip
    assert env("scaler") == contract.SCALER.render(
        table_name=table_name, scale_out_threshold=0.6, provisioning_queue_url=queue_url,
        **resend, max_cells_per_market=9,
    )  # fmt: skip
    assert env("mapper") == contract.MAPPER.render(**keyed, endpoint_ttl_seconds=120)
    assert env("validator") == contract.VALIDATOR.render(
        **keyed, cell_endpoint_domains=domains, validator_deep_check=False,
        validator_timeout_seconds=2, remediation_support_contact="help@x.io",
        remediation_incident_notice="We know.", remediation_expected_wait_minutes=7,
    )  # fmt: skip
    assert env("registrar") == contract.REGISTRAR.render(
        table_name=table_name, cell_endpoint_domains=domains,
        cell_ready_router_id="resilient-routing/dev", max_cells_per_market=9,
        capacity_buffer=0.25,
    )  # fmt: skip
    assert env("sweeper") == contract.SWEEPER.render(
        table_name=table_name, provisioning_queue_url=queue_url, **resend, capacity_buffer=0.25
    )
    dispatcher = contract.DISPATCHER.parse(env("dispatcher"))
    assert (dispatcher.capacity_buffer, dispatcher.scale_out_threshold) == (
        Decimal("0.25"),
        Decimal("0.6"),
    )


def test_environment_names_are_the_ones_the_handlers_read(dev_run: ProgramRun):
    # Every deployed variable is one the function's contract declares (and so
    # one its handler parses), and the deployed environment parses.
    from handlers.cell_router import contract

    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    for module in MODULES:
        variables = _function(dev_run, module).inputs["environment"]["variables"]
        assert set(variables) - powertools <= set(contract.CONTRACTS[module].names), module
        contract.CONTRACTS[module].parse(variables)


def test_timeouts_fit_the_synchronous_budget(dev_run: ProgramRun):
    timeouts = {m: _function(dev_run, m).inputs["timeout"] for m in MODULES}
    assert timeouts == {"dispatcher": 5, "scaler": 3, "mapper": 5, "validator": 5,
                        "registrar": 10, "sweeper": 30}  # fmt: skip


def test_registrar_rule_pattern_is_the_events_contract(dev_run: ProgramRun):
    # Issue #10: on the default bus, matched on source and detail-type only,
    # any sender in the account (and every stack's rule) took the event.
    rule = dev_run.named("cell-router-cell-ready")
    bus = dev_run.named("cell-router-CellProvisioning-bus")
    assert json.loads(rule.inputs["eventPattern"]) == {
        **CELL_READY_EVENT_PATTERN, "account": [ACCOUNT],
        "detail": {"routerId": ["resilient-routing/dev"]},
    }  # fmt: skip
    assert json.loads(rule.inputs["eventPattern"])["source"] == [CELL_READY_SOURCE]
    assert json.loads(rule.inputs["eventPattern"])["detail-type"] == [CELL_READY_DETAIL_TYPE]
    assert rule.inputs["eventBusName"] == bus.outputs["name"] != "default"
    assert (
        dev_run.named("cell-router-cell-ready-registrar").inputs["eventBusName"]
        == (bus.outputs["name"])
    )
    assert dev_run.outputs["provisioningBusName"] == bus.outputs["name"]
    assert dev_run.outputs["routerId"] == "resilient-routing/dev"
    registrar = _function(dev_run, "registrar").outputs
    target = dev_run.named("cell-router-cell-ready-registrar").inputs
    assert target["rule"] == rule.outputs["name"]
    assert target["arn"] == registrar["arn"]
    permission = dev_run.named("cell-router-cell-ready-invoke").inputs
    assert permission == {
        "action": "lambda:InvokeFunction",
        "function": registrar["name"],
        "principal": "events.amazonaws.com",
        "sourceArn": rule.outputs["arn"],
    }


def test_failed_cell_ready_queue_is_encrypted_kept_14_days_and_auto_named(dev_run: ProgramRun):
    queue = dev_run.named(FAILED)
    assert queue.type == "aws:sqs/queue:Queue"
    assert queue.inputs == {"sqsManagedSseEnabled": True, "messageRetentionSeconds": 14 * 24 * 3600}
    assert "CellReady-failed" in queue.outputs["name"]


def test_undeliverable_cell_ready_events_go_to_the_failed_queue(dev_run: ProgramRun):
    target = dev_run.named("cell-router-cell-ready-registrar").inputs
    assert target["deadLetterConfig"] == {"arn": dev_run.named(FAILED).outputs["arn"]}
    assert target["retryPolicy"] == {"maximumEventAgeInSeconds": 86400,
                                     "maximumRetryAttempts": 185}  # fmt: skip


def test_only_the_cell_ready_rule_may_dead_letter_into_the_queue(dev_run: ProgramRun):
    queue = dev_run.named(FAILED).outputs
    policy = dev_run.named(f"{FAILED}-policy").inputs
    assert policy["queueUrl"] == queue["url"]
    assert json.loads(policy["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "CellReadyRuleDeadLetters", "Effect": "Allow",
             "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
             "Resource": queue["arn"],
             "Condition": {"ArnEquals": {"aws:SourceArn":
                                         dev_run.named("cell-router-cell-ready").outputs["arn"]}}},
        ],
    }  # fmt: skip
    findings = parliament.analyze_policy_string(policy["policy"]).findings
    assert findings == [], [(f.issue, f.detail) for f in findings]


def test_failed_registrar_invocations_go_to_the_failed_queue(dev_run: ProgramRun):
    config = dev_run.named("cell-router-registrar-async")
    assert config.inputs == {
        "functionName": _function(dev_run, "registrar").outputs["name"],
        "maximumRetryAttempts": 2,
        "maximumEventAgeInSeconds": 6 * 3600,
        "destinationConfig": {"onFailure": {"destination": dev_run.named(FAILED).outputs["arn"]}},
    }
    # Unqualified, like the rule's target: the config EventBridge's calls get.
    assert "qualifier" not in config.inputs
    target = dev_run.named("cell-router-cell-ready-registrar").inputs
    assert target["arn"] == _function(dev_run, "registrar").outputs["arn"]


def test_a_failed_cell_ready_event_raises_the_stacks_alarm(run_stack):
    run = run_stack(alarmEmail="ops@example.com")
    # the primary's topic (issue 12 added the secondary's own)
    topic = run.one("aws:sns/topic:Topic", lambda t: t.name == "lex-failover-alarms").outputs["arn"]
    alarm = run.named("cell-router-CellReady-failed-depth").inputs
    description = alarm.pop("alarmDescription")
    assert "CellReady-failed" in description and "replay" in description
    assert alarm == {
        "namespace": "AWS/SQS",
        "metricName": "ApproximateNumberOfMessagesVisible",
        "dimensions": {"QueueName": run.named(FAILED).outputs["name"]},
        "statistic": "Maximum",
        "period": 60,
        "evaluationPeriods": 1,
        "threshold": 1,
        "comparisonOperator": "GreaterThanOrEqualToThreshold",
        "treatMissingData": "notBreaching",
        "alarmActions": [topic],
        "okActions": [topic],
    }
    assert topic == run.outputs["lexAlarmTopicArn"]


def test_failure_path_lands_in_the_primary_region(eu_run: ProgramRun):
    names = (FAILED, "cell-router-CellReady-failed-policy", "cell-router-registrar-async",
             "cell-router-CellReady-failed-depth", "cell-router-cell-ready-registrar")  # fmt: skip
    for name in names:
        resource = eu_run.named(name)
        assert resource.region == "eu-west-2", name
        assert "primary-aws" in resource.provider, name
    assert ":eu-west-2:" in eu_run.outputs["cellReadyFailedQueueUrl"].replace(".", ":")


def test_component_outputs_name_the_failed_queue_and_alarm_a_given_topic():
    given = "arn:aws:sns:eu-west-1:123456789012:ops"

    def program() -> None:
        import pulumi

        from components.providers import region_providers

        p = region_providers("r", "eu-west-1", {})
        functions = CellRouterFunctions(
            "f",
            CellRouterFunctionsArgs(region="eu-west-1", table_name="t", table_arn="a",
                                    index_arn="i", queue_url="u", queue_arn="q",
                                    alarm_topic_arn=given, user_key_secret_arn="s",
                                    max_cells_per_market=None),
            p.opts(),
        )  # fmt: skip
        pulumi.export("url", functions.cell_ready_failed_queue_url)
        pulumi.export("arn", functions.cell_ready_failed_queue_arn)

    run = run_program({}, program=program)
    failed = run.named("f-CellReady-failed").outputs
    assert run.outputs == {"url": failed["url"], "arn": failed["arn"]}
    alarm = run.one("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarm.name == "f-CellReady-failed-depth"
    assert (alarm.inputs["alarmActions"], alarm.inputs["okActions"]) == ([given], [given])


def test_bad_arguments_are_refused():
    base = dict(region="eu-west-1", table_name="t", table_arn="a", index_arn="i",
                queue_url="u", queue_arn="q", alarm_topic_arn="t",
                user_key_secret_arn="s")  # fmt: skip
    without_secret = {k: v for k, v in base.items() if k != "user_key_secret_arn"}
    with pytest.raises(ValueError, match="user_key_secret_arn"):
        CellRouterFunctionsArgs(**without_secret)
    with pytest.raises(ValueError, match="IAM role or user ARN"):
        CellRouterFunctionsArgs(**base, provisioning_principals=["123456789012"])
    with pytest.raises(ValueError, match="not a domain"):
        CellRouterFunctionsArgs(**base, cell_endpoint_domains=["127.0.0.1"])
    with pytest.raises(ValueError, match="capacity_buffer"):
        CellRouterFunctionsArgs(**base, capacity_buffer=1.0)
    with pytest.raises(ValueError, match="validator_probe_timeout_seconds"):
        CellRouterFunctionsArgs(**base, validator_probe_timeout_seconds=5)


PROVISIONER = "arn:aws:iam::210987654321:role/cell-provisioner"


def _bus_policy(run: ProgramRun) -> dict:
    return json.loads(run.named("cell-router-CellProvisioning-bus-policy").inputs["policy"])


def test_no_provisioning_principals_means_nobody_may_put_cell_ready(dev_run: ProgramRun):
    bus = dev_run.named("cell-router-CellProvisioning-bus").outputs
    policy = dev_run.named("cell-router-CellProvisioning-bus-policy").inputs
    assert policy["eventBusName"] == bus["name"]
    assert _bus_policy(dev_run) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "NobodyElseAnnouncesCells", "Effect": "Deny", "Principal": "*",
             "Action": "events:PutEvents", "Resource": bus["arn"]},
        ],
    }  # fmt: skip


def test_only_the_named_provisioning_principals_may_put_cell_ready(run_stack):
    run = run_stack(provisioningPrincipals=[PROVISIONER])
    bus = run.named("cell-router-CellProvisioning-bus").outputs["arn"]
    assert _bus_policy(run) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ProvisioningLayerAnnouncesCells", "Effect": "Allow",
             "Principal": {"AWS": [PROVISIONER]}, "Action": "events:PutEvents",
             "Resource": bus},
            {"Sid": "NobodyElseAnnouncesCells", "Effect": "Deny", "Principal": "*",
             "Action": "events:PutEvents", "Resource": bus,
             "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [PROVISIONER]}}},
        ],
    }  # fmt: skip


def test_two_stacks_in_one_account_have_their_own_channel(run_stack):
    dev, prod = run_stack(), run_stack(stack="prod")
    patterns = [
        json.loads(run.named("cell-router-cell-ready").inputs["eventPattern"])
        for run in (dev, prod)
    ]
    assert [p["detail"]["routerId"] for p in patterns] == [
        ["resilient-routing/dev"], ["resilient-routing/prod"],
    ]  # fmt: skip
    assert [p["account"] for p in patterns] == [[ACCOUNT], [ACCOUNT]]


def test_the_cell_cap_alarms_on_the_registrars_metric(run_stack):
    run = run_stack(alarmEmail="ops@example.com", maxCellsPerMarket=12)
    # The router runs in the primary: its alarms go to the primary's topic.
    topic = run.named("lex-failover-alarms").outputs["arn"]
    alarm = run.named("cell-router-cell-limit-reached").inputs
    assert "12" in alarm.pop("alarmDescription")
    assert alarm == {
        "namespace": "ResilientRouting/CellRouter", "metricName": "CellLimitReached",
        "dimensions": {"service": "cell-router"}, "statistic": "Sum", "period": 60,
        "evaluationPeriods": 1, "threshold": 1,
        "comparisonOperator": "GreaterThanOrEqualToThreshold",
        "treatMissingData": "notBreaching", "alarmActions": [topic], "okActions": [topic],
    }  # fmt: skip
    uncapped = run_stack(maxCellsPerMarket=0)
    assert not [r for r in uncapped.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                if r.name == "cell-router-cell-limit-reached"]  # fmt: skip
    registrar = _function(uncapped, "registrar").inputs["environment"]["variables"]
    assert "MAX_CELLS_PER_MARKET" not in registrar


def test_a_slotted_stack_gets_the_slot_settings_and_permissions(run_stack):
    """Issue #14: ``slotsPerCell`` above 1 reaches the functions that use it,
    with the slot permissions; the default stack gets neither (above)."""
    run = run_stack(slotsPerCell=8)
    arns = _arns(run)

    def env(module: str) -> dict:
        return dict(_function(run, module).inputs["environment"]["variables"])

    for module in ("dispatcher", "mapper", "registrar", "sweeper"):
        assert env(module)["SLOTS_PER_CELL"] == "8", module
    for module in ("scaler", "validator"):
        assert "SLOTS_PER_CELL" not in env(module), module
    assert env("registrar")["CAPACITY_BUFFER"] == env("sweeper")["CAPACITY_BUFFER"] == "0.2"
    slot_only = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SLOT#*"]}}
    dispatcher = _statements(run, "dispatcher")
    assert dispatcher[-2:] == [
        {"Sid": "CountUsersOnSlots", "Effect": "Allow", "Action": ["dynamodb:UpdateItem"],
         "Resource": arns["table"],
         "Condition": {**slot_only, "ForAllValues:StringEquals": {"dynamodb:Attributes": [
             "marketId", "cellId", "slotLoad", "slotLimit", "IsHealthy", "status"]}}},
        {"Sid": "ReadSlots", "Effect": "Allow", "Action": ["dynamodb:BatchGetItem"],
         "Resource": arns["table"], "Condition": slot_only},
    ]  # fmt: skip
    sweeper = {s["Sid"]: s for s in _statements(run, "sweeper")}
    assert {"ReadMarketCells", "ReadSlots", "RollUpSlots"} <= set(sweeper)
    never = sweeper["RollUpSlots"]["Condition"]["ForAllValues:StringNotLike"]
    assert never["dynamodb:LeadingKeys"] == ["USER#*", "SCALE#*", "MARKET#"]


@pytest.mark.parametrize("slots", [0, 51])
def test_slots_per_cell_out_of_range_is_refused(slots: int):
    with pytest.raises(ValueError, match=r"slots_per_cell must be an integer in \[1, 50\]"):
        CellRouterFunctionsArgs(
            region="us-east-1", table_name="t", table_arn="arn", index_arn="arn",
            queue_url="q", queue_arn="arn", alarm_topic_arn="arn",
            user_key_secret_arn="arn", slots_per_cell=slots,
        )  # fmt: skip
