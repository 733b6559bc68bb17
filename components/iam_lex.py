"""IAM policy statements and documents of the Lex failover, as pure functions.

Each function takes the exact ARNs it grants on and returns plain dicts, so
the tests compare whole documents and a reviewer reads one place. The actions
are the ones the handlers actually call (``handlers/lex_dr``):

* ``get_region``: ``BatchGetItem`` on its own region's replica of the state
  table, and on the other region's replica (read only: its fallback when
  its own replica cannot be read);
* ``health_check``: ``BatchGetItem`` on its own region's replica and
  ``UpdateItem`` (conditional, versioned writes; it never calls ``PutItem``)
  **only on its own item**: the ``dynamodb:LeadingKeys`` condition names the
  one partition key this checker writes (``handlers/lex_dr/layout.py``), so
  IAM itself keeps every item single-writer; the Lex V2 runtime calls of the
  configured probe methods plus ``DeleteSession`` on the two bot aliases (the
  Lex V2 runtime's IAM resource is the alias ARN). Metrics go out as
  embedded metric format in the function's logs, so no
  ``cloudwatch:PutMetricData``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.iam import LOG_DELIVERY_ACTIONS, arn_in_region, service_assume_role_policy

#: Lex V2 runtime action per probe method (``TEST_METHOD``).
PROBE_ACTIONS = {
    "recognize_text": "lex:RecognizeText",
    "put_session": "lex:PutSession",
}


Statement = dict[str, Any]


def lookup_statements(table_arn: Any, other_replica_arns: Sequence[Any] = ()) -> list[Statement]:
    """``lexDRGetRegion``: read the state items (its own replica, then the
    other region's replica as a fallback), nothing else."""
    resources = [table_arn, *other_replica_arns]
    return [
        {
            "Sid": "ReadFailoverState",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem"],
            "Resource": resources if len(resources) > 1 else table_arn,
        }
    ]


def probe_statements(
    table_arn: Any,
    alias_arns: Sequence[Any],
    test_method: str,
    *,
    own_key: str,
    liveness_method: str | None = None,
) -> list[Statement]:
    """``lexDRTest``: read the state items of its region's replica, update
    only its own item (``own_key``); probe the two aliases with the
    configured methods and delete the test sessions."""
    methods = [test_method] + ([liveness_method] if liveness_method else [])
    for method in methods:
        if method not in PROBE_ACTIONS:
            raise ValueError(f"unknown test method {method!r}")
    if not own_key:
        raise ValueError("own_key must name the checker's item")
    actions = list(dict.fromkeys(PROBE_ACTIONS[m] for m in methods))
    return [
        {
            "Sid": "ReadFailoverState",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem"],
            "Resource": table_arn,
        },
        {
            "Sid": "UpdateOwnCheckerItem",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": table_arn,
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [own_key]}},
        },
        {
            "Sid": "ProbeBotAliases",
            "Effect": "Allow",
            "Action": [*actions, "lex:DeleteSession"],
            "Resource": list(alias_arns),
        },
    ]


def table_replica_arn(table_arn: str, region: str) -> str:
    """The ARN of a global table's replica in ``region`` (same name, same account)."""
    return arn_in_region(table_arn, region, service="dynamodb", what="DynamoDB table")


def bot_probe_loop_policy(probe_function_arn: str) -> dict[str, Any]:
    """The probe loop state machine: invoke the probe function (the ARN its
    Task names, unqualified) and set up its own log delivery."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeProbe",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": probe_function_arn,
            },
            {
                "Sid": "DeliverExecutionLogs",
                "Effect": "Allow",
                "Action": list(LOG_DELIVERY_ACTIONS),
                "Resource": "*",
            },
        ],
    }


def scheduler_policy(state_machine_arn: str) -> dict[str, Any]:
    """The EventBridge rule's role: start the probe loop, nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartProbeLoop",
                "Effect": "Allow",
                "Action": ["states:StartExecution"],
                "Resource": state_machine_arn,
            }
        ],
    }


def scheduler_assume_role_policy(rule_arn: str) -> dict[str, Any]:
    """Only EventBridge, and only on behalf of this rule."""
    return service_assume_role_policy(
        "events.amazonaws.com", {"ArnEquals": {"aws:SourceArn": rule_arn}}
    )


def _account_of(arn: str) -> str:
    return arn.split(":")[4]


def _region_of(arn: str) -> str:
    return arn.split(":")[3]


def _partition_of(arn: str) -> str:
    return arn.split(":")[1]


def alarm_topic_policy(topic_arn: str) -> dict[str, Any]:
    """Let CloudWatch alarms of this account and region publish to the topic."""
    alarms = (
        f"arn:{_partition_of(topic_arn)}:cloudwatch:{_region_of(topic_arn)}:"
        f"{_account_of(topic_arn)}:alarm:*"
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": alarms}},
            }
        ],
    }


def bot_probe_loop_trust_policy(
    account_id: str, region: str, machine_name_prefix: str, partition: str = "aws"
) -> dict[str, Any]:
    """Only Step Functions, for this account's probe-loop state machines
    (auto-named ``<prefix>-<random>``), may assume the loop's role."""
    machines = f"arn:{partition}:states:{region}:{account_id}:stateMachine:{machine_name_prefix}*"
    return service_assume_role_policy(
        "states.amazonaws.com",
        {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": machines},
        },
    )


def alarm_key_policy(
    account_id: str, partition: str = "aws", region: str | None = None
) -> dict[str, Any]:
    """Key policy of the alarm topic's KMS key.

    CloudWatch alarms cannot publish to a topic encrypted with the AWS managed
    key ``alias/aws/sns`` (its policy does not let ``cloudwatch.amazonaws.com``
    use it, and it cannot be edited), so the topic gets a customer managed key
    that allows exactly that; the account keeps administering it through IAM.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchAlarmsEncryptForTopic",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                # Only alarms of this account (and region): CloudWatch acting
                # for another account cannot use the key (confused deputy).
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {
                        "aws:SourceArn": (
                            f"arn:{partition}:cloudwatch:{region or '*'}:{account_id}:alarm:*"
                        )
                    },
                },
            },
        ],
    }
