"""IAM documents: parliament with a precise allow-list, plus principal checks."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.offline.artifact_checks.common import as_list, short, statements_of


@dataclass(frozen=True)
class PolicyDocument:
    """One IAM document and where it comes from.

    ``kind``: ``identity`` (a role's inline policy), ``trust`` (a role's trust
    policy), ``resource`` (SNS/SQS/Lambda resource policies) or ``key`` (a
    KMS key policy). ``subject_arn`` is the resource a resource-type document
    protects (the role, the function); parliament needs a ``Resource`` to check
    the actions against, and in a trust policy that resource is the role.
    """

    source: str
    kind: str
    document: Mapping[str, Any]
    subject_arn: str | None = None


@dataclass(frozen=True)
class AllowedFinding:
    """A parliament finding accepted for one kind of document, with why."""

    issue: str
    kind: str
    reason: str
    #: For findings whose detail is a list of actions: every one of them must
    #: match one of these patterns (``None``: any action of the document).
    actions: tuple[str, ...] | None = None


#: The only parliament findings that are not errors. Everything else
#: (UNKNOWN_ACTION, UNKNOWN_PREFIX, UNKNOWN_CONDITION_FOR_ACTION,
#: UNKNOWN_OPERATOR, MISMATCHED_TYPE*, RESOURCE_MISMATCH, MALFORMED,
#: INVALID_ARN, DUPLICATE_SID, ...) fails.
ALLOWED_FINDINGS: tuple[AllowedFinding, ...] = (
    AllowedFinding(
        issue="RESOURCE_STAR",
        kind="key",
        reason=(
            'In a KMS key policy "Resource": "*" means "this key": a key policy is '
            "attached to exactly one key and cannot name the key's ARN before it "
            "exists (KMS Developer Guide, Key policies)."
        ),
    ),
    AllowedFinding(
        issue="RESOURCE_STAR",
        kind="identity",
        reason=(
            "These actions support no resource-level permissions (Service "
            "Authorization Reference): X-Ray segment/sampling APIs, CloudWatch "
            "Logs vended-log delivery used by Step Functions logging, and Polly "
            "SynthesizeSpeech for a bot without lexicons."
        ),
        actions=(
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
            "polly:SynthesizeSpeech",
        ),
    ),
)

#: Service principals this program may trust or grant to. A principal outside
#: this list is far more likely a typo than a new integration (then add it).
KNOWN_SERVICE_PRINCIPALS = frozenset(
    {
        "apigateway.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "cognito-idp.amazonaws.com",
        "connect.amazonaws.com",
        "events.amazonaws.com",
        "lambda.amazonaws.com",
        "lexv2.amazonaws.com",
        "logs.amazonaws.com",
        "scheduler.amazonaws.com",
        "sns.amazonaws.com",
        "sqs.amazonaws.com",
        "states.amazonaws.com",
    }
)
TRUST_ACTIONS = frozenset({"sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"})
_AWS_PRINCIPAL = re.compile(r"^(\d{12}|arn:aws[a-z-]*:(iam|sts)::\d{12}:(root|role/.+|user/.+))$")


def _parliament_findings(document: Mapping[str, Any]) -> list[Any]:
    import parliament

    return list(parliament.analyze_policy_string(json.dumps(document)).findings)


def _finding_allowed(finding: Any, kind: str) -> AllowedFinding | None:
    for allowed in ALLOWED_FINDINGS:
        if allowed.issue != finding.issue or allowed.kind != kind:
            continue
        if allowed.actions is None:
            return allowed
        detail = finding.detail if isinstance(finding.detail, list) else [finding.detail]
        if all(
            any(fnmatch.fnmatchcase(str(a), pattern) for pattern in allowed.actions) for a in detail
        ):
            return allowed
    return None


def check_policy(policy: PolicyDocument) -> list[str]:
    """Parliament's findings (minus ``ALLOWED_FINDINGS``) and principal checks."""
    problems: list[str] = []
    document = dict(policy.document)
    if document.get("Version") != "2012-10-17":
        problems.append(f"{policy.source}: Version must be 2012-10-17")
    statements = statements_of(document)
    if not statements:
        problems.append(f"{policy.source}: no statements")

    analysed = document
    if policy.kind in ("trust", "resource"):
        # A resource policy never names a Resource for the thing it is attached
        # to (IAM rejects one in a trust policy); parliament needs it to check
        # the actions, so analyse a copy that names the protected resource.
        analysed = {
            **document,
            "Statement": [
                {**s, "Resource": policy.subject_arn or "*"}
                if "Resource" not in s and "NotResource" not in s
                else s
                for s in statements
            ],
        }
    for finding in _parliament_findings(analysed):
        if _finding_allowed(finding, policy.kind) is None:
            problems.append(f"{policy.source}: parliament {finding.issue}: {short(finding.detail)}")

    for index, statement in enumerate(statements):
        where = f"{policy.source} Statement[{index}]"
        principal = statement.get("Principal")
        if policy.kind == "identity":
            if principal is not None or "NotPrincipal" in statement:
                problems.append(f"{where}: an identity policy cannot name a Principal")
            continue
        if principal is None:
            problems.append(f"{where}: a {policy.kind} policy needs a Principal")
            continue
        if principal == "*" and statement.get("Effect") == "Deny":
            # Denying everyone (but a condition's exceptions) is the opposite
            # of public access: the provisioning bus's lock.
            continue
        problems.extend(_principal_problems(where, principal))
        if policy.kind == "trust":
            unknown = [a for a in as_list(statement.get("Action")) if a not in TRUST_ACTIONS]
            if unknown:
                problems.append(f"{where}: trust policy actions {unknown} are not sts:AssumeRole")
    return problems


def _principal_problems(where: str, principal: Any) -> list[str]:
    if principal == "*":
        return [f'{where}: Principal "*" (anyone) is never intended here']
    if not isinstance(principal, Mapping):
        return [f"{where}: Principal must be an object, got {principal!r}"]
    problems = []
    for key, values in principal.items():
        for value in as_list(values):
            if key == "Service":
                if value not in KNOWN_SERVICE_PRINCIPALS:
                    problems.append(f"{where}: unknown service principal {value!r}")
            elif key == "AWS":
                if not _AWS_PRINCIPAL.fullmatch(str(value)):
                    problems.append(f"{where}: malformed AWS principal {value!r}")
            else:
                problems.append(f"{where}: unexpected principal type {key!r}")
    return problems


def lambda_permission_document(
    inputs: Mapping[str, Any], region: str, account: str
) -> PolicyDocument:
    """The statement ``aws.lambda_.Permission`` adds to the function's policy."""
    function = str(inputs["function"])
    if not function.startswith("arn:"):
        function = f"arn:aws:lambda:{region}:{account}:function:{function}"
    statement: dict[str, Any] = {
        "Sid": "PulumiPermission",
        "Effect": "Allow",
        "Principal": {"Service": inputs["principal"]},
        "Action": inputs["action"],
        "Resource": function,
    }
    condition: dict[str, Any] = {}
    if inputs.get("sourceArn"):
        condition["ArnLike"] = {"aws:SourceArn": inputs["sourceArn"]}
    if inputs.get("sourceAccount"):
        condition["StringEquals"] = {"aws:SourceAccount": inputs["sourceAccount"]}
    if condition:
        statement["Condition"] = condition
    return PolicyDocument(
        source=f"lambda permission for {function}",
        kind="resource",
        document={"Version": "2012-10-17", "Statement": [statement]},
        subject_arn=function,
    )
