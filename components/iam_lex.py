"""IAM policy statements and documents of the Lex failover, as pure functions.

Each function takes the exact ARNs it grants on and returns plain dicts, so
the tests compare whole documents and a reviewer reads one place. The actions
are the ones the handlers actually call (``handlers/lex_dr``):

* ``get_region``: ``GetItem`` on the state table;
* ``health_check``: ``GetItem`` + ``UpdateItem`` (conditional, versioned
  writes; it never calls ``PutItem``) on the state table, the Lex V2 runtime
  call of the configured probe method plus ``DeleteSession`` on the two bot
  aliases (the Lex V2 runtime's IAM resource is the alias ARN). Metrics go
  out as embedded metric format in the function's logs, so no
  ``cloudwatch:PutMetricData``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.iam import LOG_DELIVERY_ACTIONS, service_assume_role_policy

#: Lex V2 runtime action per probe method (``TEST_METHOD``).
PROBE_ACTIONS = {
    "recognize_text": "lex:RecognizeText",
    "put_session": "lex:PutSession",
}


Statement = dict[str, Any]


def lookup_statements(table_arn: Any) -> list[Statement]:
    """``lexDRGetRegion``: read the state item, nothing else."""
    return [
        {
            "Sid": "ReadFailoverState",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": table_arn,
        }
    ]


def probe_statements(
    table_arn: Any, alias_arns: Sequence[Any], test_method: str
) -> list[Statement]:
    """``lexDRTest``: read and conditionally update the state item; probe the
    two aliases with the configured method and delete the test sessions."""
    if test_method not in PROBE_ACTIONS:
        raise ValueError(f"unknown test method {test_method!r}")
    return [
        {
            "Sid": "ReadAndUpdateFailoverState",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
            "Resource": table_arn,
        },
        {
            "Sid": "ProbeBotAliases",
            "Effect": "Allow",
            "Action": [PROBE_ACTIONS[test_method], "lex:DeleteSession"],
            "Resource": list(alias_arns),
        },
    ]


def probe_loop_policy(probe_function_arn: str) -> dict[str, Any]:
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


def probe_loop_trust_policy(
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
