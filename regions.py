"""Which partition a region belongs to and which AWS services exist there.

The answers come from the endpoint data botocore ships (``endpoints.json``),
read offline: no AWS call, no account. That file lists, per partition, every
region and, per service, the regions that service has an endpoint in. It is as
current as the installed botocore; a region younger than it is reported as
unknown (upgrade botocore, which ``requirements.txt`` pins loosely).

Used by ``config.parse_settings`` before the program declares anything, so a
region pair where a service the stack needs does not exist (Lex V2 in
``us-east-2``, Connect in ``eu-west-1``) fails with the key named instead of
half-way through ``pulumi up``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: The only partition this program deploys to (see ``partition_problem``).
SUPPORTED_PARTITION = "aws"

#: botocore endpoint prefix -> the service's name in messages (with the boto3
#: client name, which is what users search for).
SERVICE_NAMES: Mapping[str, str] = {
    "models-v2-lex": "Amazon Lex V2 (lexv2-models)",
    "runtime-v2-lex": "Amazon Lex V2 runtime (lexv2-runtime)",
    "connect": "Amazon Connect (connect)",
    "lambda": "AWS Lambda (lambda)",
    "states": "AWS Step Functions (stepfunctions)",
    "dynamodb": "Amazon DynamoDB (dynamodb)",
    "events": "Amazon EventBridge (events)",
    "sns": "Amazon SNS (sns)",
    "sqs": "Amazon SQS (sqs)",
    "logs": "Amazon CloudWatch Logs (logs)",
    "monitoring": "Amazon CloudWatch (cloudwatch)",
    "kms": "AWS KMS (kms)",
    "xray": "AWS X-Ray (xray)",
    "cognito-idp": "Amazon Cognito user pools (cognito-idp)",
    "apigateway": "Amazon API Gateway (apigateway)",
    "secretsmanager": "AWS Secrets Manager (secretsmanager)",
    "scheduler": "Amazon EventBridge Scheduler (scheduler)",
    "application-autoscaling": "Application Auto Scaling (application-autoscaling)",
}

#: Pulumi resource type (``package:module/resource``, or a prefix of it) ->
#: the botocore endpoint prefix of the service that creates it. ``None``: a
#: global service (IAM) with no regional endpoint to check. A test runs the
#: program for several stacks and fails on any declared type missing here.
RESOURCE_SERVICES: Mapping[str, str | None] = {
    "aws-native:lex:": "models-v2-lex",
    "aws-native:connect:": "connect",
    "aws:connect/": "connect",
    "aws:lambda/": "lambda",
    "aws:sfn/": "states",
    "aws:dynamodb/": "dynamodb",
    "aws:cloudwatch/": "monitoring",  # alarms, dashboards, composite alarms
    "aws:cloudwatch/event": "events",  # eventRule, eventTarget, eventBus, ...
    "aws:cloudwatch/log": "logs",  # logGroup, logMetricFilter, ...
    "aws:sns/": "sns",
    "aws:sqs/": "sqs",
    "aws:kms/": "kms",
    "aws:cognito/": "cognito-idp",
    "aws:apigateway/": "apigateway",
    "aws:secretsmanager/": "secretsmanager",
    "aws:scheduler/": "scheduler",
    "aws:appautoscaling/": "application-autoscaling",
    "aws:iam/": None,
}


def service_of(resource_type: str) -> str | None:
    """The endpoint prefix of the service behind a Pulumi resource type.

    Raises ``KeyError`` for a type no row of ``RESOURCE_SERVICES`` covers."""
    matches = [p for p in RESOURCE_SERVICES if resource_type.startswith(p)]
    if not matches:
        raise KeyError(f"no service known for resource type {resource_type!r}")
    return RESOURCE_SERVICES[max(matches, key=len)]


@functools.cache
def _endpoints() -> dict[str, Any]:
    from botocore.loaders import create_loader

    return create_loader().load_data("endpoints")


def botocore_version() -> str:
    import botocore

    return botocore.__version__


def partition_of(region: str) -> str | None:
    """The partition (``aws``, ``aws-cn``, ``aws-us-gov``, ...) of ``region``,
    or None when botocore knows no partition whose region names match it."""
    partitions = _endpoints()["partitions"]
    for partition in partitions:
        if region in partition.get("regions", {}):
            return partition["partition"]
    for partition in partitions:
        if re.fullmatch(partition["regionRegex"], region):
            return partition["partition"]
    return None


def known_regions(partition: str = SUPPORTED_PARTITION) -> tuple[str, ...]:
    for entry in _endpoints()["partitions"]:
        if entry["partition"] == partition:
            return tuple(sorted(entry.get("regions", {})))
    return ()


def regions_with(service: str, partition: str = SUPPORTED_PARTITION) -> tuple[str, ...]:
    """Regions of ``partition`` where ``service`` (an endpoint prefix) has an endpoint."""
    for entry in _endpoints()["partitions"]:
        if entry["partition"] == partition:
            endpoints = entry.get("services", {}).get(service, {}).get("endpoints", {})
            return tuple(
                sorted(
                    r
                    for r, spec in endpoints.items()
                    if r in entry.get("regions", {}) and not spec.get("deprecated")
                )
            )
    return ()


def partition_problem(region: str) -> str | None:
    """Why ``region`` cannot host this stack's partition, or None.

    Only the commercial ``aws`` partition is supported, on purpose: every ARN
    the program builds (Step Functions' ``lambda:invoke`` integration, API
    Gateway's StartSyncExecution action, the API Gateway logging policy), the
    public Powertools layer's publishing account, Lex Global Resiliency and
    Cognito's hosted UI are the commercial ones; half support would deploy
    resources that point at ARNs that do not exist in aws-cn or aws-us-gov.
    """
    partition = partition_of(region)
    if partition is None:
        return (
            f"{region!r} is not a region botocore {botocore_version()} knows "
            "(a region newer than the installed botocore? upgrade it)"
        )
    if partition != SUPPORTED_PARTITION:
        return (
            f"{region!r} is in the {partition} partition; this program deploys only to the "
            f"{SUPPORTED_PARTITION} (commercial) partition: its ARNs, the public Powertools "
            "layer account, Lex Global Resiliency and the Cognito hosted UI are the commercial "
            "ones (README: Regions and partitions)"
        )
    if region not in known_regions(partition):
        return (
            f"{region!r} is not a region of the {partition} partition in botocore "
            f"{botocore_version()} (known: {', '.join(known_regions(partition))})"
        )
    return None


def missing_services(region: str, services: Iterable[str]) -> list[str]:
    """The services (endpoint prefixes) of ``services`` with no endpoint in ``region``."""
    partition = partition_of(region) or SUPPORTED_PARTITION
    return [s for s in services if region not in regions_with(s, partition)]


def describe_missing(region: str, service: str, why: str) -> str:
    """One line: the service, the region, why the stack needs it, where it exists."""
    where = ", ".join(regions_with(service)) or "no region"
    return (
        f"{SERVICE_NAMES.get(service, service)} is not available in {region}, but {why} "
        f"(botocore {botocore_version()} endpoint data; it exists in: {where})"
    )
