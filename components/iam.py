"""IAM building blocks shared by every component (pure: plain values in,
policy documents out).

Function-specific statements live beside their component
(``iam_lex.py``, ``cell_router_functions.py``); what every role of a kind
needs is defined once here.
"""

from __future__ import annotations

from typing import Any

#: CloudWatch Logs *vended* log deliveries (how Step Functions logs). AWS
#: documents these with ``Resource: "*"``: they act on account-level delivery
#: and resource-policy objects that have no ARN to scope them to.
LOG_DELIVERY_ACTIONS: tuple[str, ...] = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)

#: Step Functions log groups go under ``/aws/vendedlogs/``: that keeps the
#: CloudWatch Logs resource policy Step Functions writes from growing per log
#: group (the account's policy is limited to 5 KB).
STATES_LOG_GROUP_PREFIX = "/aws/vendedlogs/states/"

#: X-Ray's segment and sampling APIs support no resource-level permissions.
TRACING_ACTIONS: tuple[str, ...] = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)


def service_assume_role_policy(
    service: str, conditions: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A trust policy letting one AWS service principal assume the role."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if conditions:
        statement["Condition"] = conditions
    return {"Version": "2012-10-17", "Statement": [statement]}


def arn_in_region(arn: str, region: str, *, service: str, what: str) -> str:
    """The same ``service`` ARN in another region (a replica keeps the
    partition, account and resource id); ``what`` names it in the error."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != service:
        raise ValueError(f"not a {what} ARN: {arn!r}")
    parts[3] = region
    return ":".join(parts)
