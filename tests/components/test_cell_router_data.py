"""RouterData: the routing table, CellProvisioning, its DLQ and alarms (mock engine)."""

from __future__ import annotations

import json

import pytest

from components.router_data import RouterData, RouterDataArgs
from components.schemas import ROUTER_INDEX_NAME, ROUTER_PLACEABLE_INDEX_NAME, ROUTER_TABLE
from tests.pulumi_harness import DEV_CONFIG, ProgramRun, run_program

TABLE = "cell-router-tbl_router"
QUEUE = "cell-router-CellProvisioning"
DLQ = "cell-router-CellProvisioning-dlq"


def test_table_keys_and_index_come_from_the_schema(dev_run: ProgramRun):
    table = dev_run.named(TABLE).inputs
    assert table["hashKey"] == ROUTER_TABLE.hash_key.name == "marketId"
    assert table["rangeKey"] == ROUTER_TABLE.range_key.name == "cellId"
    assert table["attributes"] == [
        {"name": "marketId", "type": "S"},
        {"name": "cellId", "type": "S"},
        {"name": "currentCapacity", "type": "N"},
        {"name": "placeableMarketId", "type": "S"},
    ]
    assert table["globalSecondaryIndexes"] == [
        {
            "name": ROUTER_INDEX_NAME,
            "keySchemas": [
                {"attributeName": "marketId", "keyType": "HASH"},
                {"attributeName": "currentCapacity", "keyType": "RANGE"},
            ],
            "projectionType": "ALL",
        },
        {
            # #11: sparse, only placeable cells (see handlers/cell_router/store.py).
            "name": ROUTER_PLACEABLE_INDEX_NAME,
            "keySchemas": [
                {"attributeName": "placeableMarketId", "keyType": "HASH"},
                {"attributeName": "currentCapacity", "keyType": "RANGE"},
            ],
            "projectionType": "ALL",
        },
    ]


def test_table_is_on_demand_recoverable_encrypted_and_protected(dev_run: ProgramRun):
    table = dev_run.named(TABLE).inputs
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert "readCapacity" not in table and "writeCapacity" not in table
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["serverSideEncryption"] == {"enabled": True}
    assert table["deletionProtectionEnabled"] is True


def test_provisioned_billing_by_config_covers_the_index(run_stack):
    run = run_stack(
        routerTableBillingMode="PROVISIONED", routerTableReadCapacity=7, routerTableWriteCapacity=3
    )
    table = run.named(TABLE).inputs
    assert table["billingMode"] == "PROVISIONED"
    assert (table["readCapacity"], table["writeCapacity"]) == (7, 3)
    for index in table["globalSecondaryIndexes"]:
        assert (index["readCapacity"], index["writeCapacity"]) == (7, 3)
    assert table["pointInTimeRecovery"] == {"enabled": True}


def test_queue_is_standard_encrypted_and_redrives_to_its_dlq(dev_run: ProgramRun):
    queue, dlq = dev_run.named(QUEUE), dev_run.named(DLQ)
    for q in (queue, dlq):
        assert q.inputs["sqsManagedSseEnabled"] is True
        assert not q.inputs.get("fifoQueue")
        assert "kmsMasterKeyId" not in q.inputs
    assert json.loads(queue.inputs["redrivePolicy"]) == {
        "deadLetterTargetArn": dlq.outputs["arn"],
        "maxReceiveCount": 5,
    }
    assert "redrivePolicy" not in dlq.inputs
    assert dlq.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
    allow = dev_run.named(f"{DLQ}-allow")
    assert allow.inputs["queueUrl"] == dlq.outputs["url"]
    assert json.loads(allow.inputs["redriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [queue.outputs["arn"]],
    }


def test_depth_alarms_go_to_the_stacks_one_alarm_topic(run_stack):
    run = run_stack(provisioningQueueAlarmDepth=42, alarmEmail="ops@example.com")
    # The stack has one topic per region (issue 12: the secondary's checker
    # alarms need a topic in their own region); the router's alarms go to the
    # primary's, the health check's, so one e-mail per region confirms all.
    topic = run.one("aws:sns/topic:Topic", lambda t: t.name == "lex-failover-alarms")
    backlog = run.named("cell-router-CellProvisioning-backlog").inputs
    dead = run.named("cell-router-CellProvisioning-dlq-depth").inputs
    assert backlog["threshold"] == 42
    assert dead["threshold"] == 1
    for alarm, queue in ((backlog, QUEUE), (dead, DLQ)):
        assert alarm["namespace"] == "AWS/SQS"
        assert alarm["metricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["dimensions"] == {"QueueName": run.named(queue).outputs["name"]}
        assert alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["statistic"] == "Maximum"
        assert alarm["alarmActions"] == [topic.outputs["arn"]]
        assert alarm["treatMissingData"] == "notBreaching"
    subscription = run.one(
        "aws:sns/topicSubscription:TopicSubscription",
        lambda s: s.name == "lex-failover-alarms-email",
    ).inputs
    assert subscription["endpoint"] == "ops@example.com"
    assert subscription["topic"] == topic.outputs["arn"]


def test_no_email_no_subscription(dev_run: ProgramRun):
    # The router has no topic of its own any more; the stack's one topic gets
    # a subscription only when alarmEmail is set.
    assert dev_run.of_type("aws:sns/topicSubscription:TopicSubscription") == []


def test_a_given_topic_is_used_instead_of_a_new_one():
    given = "arn:aws:sns:eu-west-1:123456789012:ops"

    def program() -> None:
        from components.providers import region_providers

        p = region_providers("r", "eu-west-1", {})
        RouterData("d", RouterDataArgs(alarm_topic_arn=given), p.opts())

    run = run_program({}, program=program)
    assert run.of_type("aws:sns/topic:Topic") == []
    for alarm in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        assert alarm.inputs["alarmActions"] == [given]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"billing_mode": "ON_DEMAND"}, "billing_mode"),
        ({"billing_mode": "PROVISIONED", "read_capacity": 0}, "PROVISIONED"),
        ({"queue_alarm_depth": 0}, "queue_alarm_depth"),
        ({"alarm_topic_arn": None}, "alarm_topic_arn is required"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RouterDataArgs(**{"alarm_topic_arn": "arn:aws:sns:eu-west-1:123456789012:t", **kwargs})


def test_table_is_global_with_a_protected_recoverable_replica_in_the_secondary(
    dev_run: ProgramRun,
):
    """Issue #13: the secondary region reads its own replica; the replica has
    PITR and deletion protection (the provider's replica defaults are off)."""
    table = dev_run.named(TABLE).inputs
    secondary = DEV_CONFIG["secondaryRegion"]
    assert table["replicas"] == [
        {
            "regionName": secondary,
            "pointInTimeRecovery": True,
            "deletionProtectionEnabled": True,
            "propagateTags": True,
        }
    ]
    assert (table["streamEnabled"], table["streamViewType"]) == (True, "NEW_AND_OLD_IMAGES")
