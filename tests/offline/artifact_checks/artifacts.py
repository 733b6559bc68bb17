"""Collecting the artifacts of one program run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.offline.artifact_checks.cfn_classic import ProgramContext
from tests.offline.artifact_checks.common import as_json
from tests.offline.artifact_checks.iam import PolicyDocument, lambda_permission_document

#: Documents by (resource type, input), and what kind of document each is.
POLICY_INPUTS: dict[tuple[str, str], str] = {
    ("aws:iam/rolePolicy:RolePolicy", "policy"): "identity",
    ("aws:iam/policy:Policy", "policy"): "identity",
    ("aws:iam/role:Role", "assumeRolePolicy"): "trust",
    ("aws:kms/key:Key", "policy"): "key",
    ("aws:sns/topicPolicy:TopicPolicy", "policy"): "resource",
    ("aws:sqs/queuePolicy:QueuePolicy", "policy"): "resource",
    ("aws:cloudwatch/eventBusPolicy:EventBusPolicy", "policy"): "resource",
    ("aws:cloudwatch/logResourcePolicy:LogResourcePolicy", "policyDocument"): "resource",
}


def _looks_like_policy(value: Any) -> bool:
    try:
        document = as_json(value)
    except (TypeError, json.JSONDecodeError):
        return False
    return isinstance(document, Mapping) and "Statement" in document


@dataclass
class ProgramArtifacts:
    """Everything generated that AWS parses, from one mock-engine run."""

    run: Any
    account: str

    def functions(self) -> list[Any]:
        return self.run.of_type("aws:lambda/function:Function")

    def function_arns(self) -> set[str]:
        return {f.outputs["arn"] for f in self.functions()}

    def role_policies_of(self, role_arn: str) -> list[str]:
        roles = [
            r for r in self.run.of_type("aws:iam/role:Role") if r.outputs.get("arn") == role_arn
        ]
        ids = {r.id for r in roles}
        return [
            p.inputs["policy"]
            for p in self.run.of_type("aws:iam/rolePolicy:RolePolicy")
            if p.inputs.get("role") in ids
        ]

    def policies(self) -> list[PolicyDocument]:
        """Every IAM document: by known type and input, plus any other input
        that holds a policy (so a new resource policy is not skipped)."""
        found = []
        for resource in self.run.cloud_resources():
            for key, value in resource.inputs.items():
                kind = POLICY_INPUTS.get((resource.type, key))
                if kind is None and not (
                    key.lower().endswith("policy") and _looks_like_policy(value)
                ):
                    continue
                if kind is None:
                    kind = "resource"
                subject = resource.outputs.get("arn") if kind == "trust" else None
                found.append(
                    PolicyDocument(
                        source=f"{resource.type} {resource.name} {key}",
                        kind=kind,
                        document=as_json(value),
                        subject_arn=subject,
                    )
                )
        for permission in self.run.of_type("aws:lambda/permission:Permission"):
            found.append(
                lambda_permission_document(permission.inputs, permission.region, self.account)
            )
        return found

    def state_machines(self) -> list[Any]:
        return self.run.of_type("aws:sfn/stateMachine:StateMachine")

    def default_tags(self, package: str, region: str | None) -> dict[str, str]:
        """The default tags of ``package``'s provider in ``region``."""
        for provider in self.run.of_type(f"pulumi:providers:{package}"):
            if provider.inputs.get("region") == region:
                settings = as_json(provider.inputs.get("defaultTags") or "{}")
                return dict(settings.get("tags") or {})
        return {}

    def native_resources(self) -> list[Any]:
        return [r for r in self.run.cloud_resources() if r.package == "aws-native"]

    def classic_resources(self) -> list[Any]:
        return [r for r in self.run.cloud_resources() if r.package == "aws"]

    def context(self) -> ProgramContext:
        return ProgramContext(account=self.account)

    def contact_flows(self) -> list[Any]:
        return self.run.of_type("aws:connect/contactFlow:ContactFlow")

    def associated_lex_aliases(self) -> set[str]:
        return {
            r.inputs["integrationArn"]
            for r in self.run.of_type("aws-native:connect:IntegrationAssociation")
            if r.inputs.get("integrationType") == "LEX_BOT"
        }

    def associated_functions(self) -> set[str]:
        return {
            r.inputs["functionArn"]
            for r in self.run.of_type(
                "aws:connect/lambdaFunctionAssociation:LambdaFunctionAssociation"
            )
        }

    def request_templates(self) -> list[tuple[str, str, str]]:
        """(resource name, content type, template) of every integration."""
        return [
            (r.name, content_type, template)
            for r in self.run.of_type("aws:apigateway/integration:Integration")
            for content_type, template in (r.inputs.get("requestTemplates") or {}).items()
        ]

    def response_templates(self) -> list[tuple[str, str, str]]:
        return [
            (r.name, content_type, template)
            for r in self.run.of_type("aws:apigateway/integrationResponse:IntegrationResponse")
            for content_type, template in (r.inputs.get("responseTemplates") or {}).items()
        ]

    def gateway_response_templates(self) -> list[tuple[str, str, str]]:
        return [
            (r.name, content_type, template)
            for r in self.run.of_type("aws:apigateway/response:Response")
            for content_type, template in (r.inputs.get("responseTemplates") or {}).items()
        ]

    def access_log_formats(self) -> list[tuple[str, str]]:
        return [
            (r.name, r.inputs["accessLogSettings"]["format"])
            for r in self.run.of_type("aws:apigateway/stage:Stage")
            if (r.inputs.get("accessLogSettings") or {}).get("format")
        ]

    def integration_paths(self) -> dict[str, str]:
        """Integration resource name -> the API path its method serves."""
        resources = {
            r.id: r.inputs.get("pathPart")
            for r in self.run.of_type("aws:apigateway/resource:Resource")
        }
        return {
            r.name: "/" + str(resources.get(r.inputs.get("resourceId"), ""))
            for r in self.run.of_type("aws:apigateway/integration:Integration")
        }
