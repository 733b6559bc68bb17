"""``CellRouterApi``: who may call the cell router, and how.

Cognito
-------
* User pool ``CellRouterPool``: e-mail is the username (case-insensitive) and
  is verified on sign-up; passwords of at least 12 characters with every
  character class; account recovery by verified e-mail only; deletion
  protection on. MFA is ``OPTIONAL`` with TOTP only (users may enrol an
  authenticator app; no SMS, so no SMS role or spend). Self sign-up is on,
  as in the original: signing up is how a user gets a cell. Cognito's
  default e-mail sender is used (a low daily quota; configure SES for
  production volumes).
* App client: public (no secret), SRP, password and refresh-token flows, and
  the hosted UI's authorization-code flow with the ``openid email profile``
  scopes, callback and logout URLs from the stack. Cognito enforces PKCE for
  the code flow only when the client sends a ``code_challenge``; a public
  client has no secret, so clients must always use PKCE (every OIDC library
  does by default). User-existence errors are hidden.
* Hosted UI domain: the configured prefix, or ``cellrouter-<pool id>``; the
  classic hosted UI (managed login version 1).

REST API ``CellRouter``
-----------------------
POST ``/cells``, ``/mapper``, ``/validate``, each with the Cognito authorizer
(send the **ID token** as the ``Authorization`` header: it carries the
``email`` claim the router identifies callers by; an access token has none
and is rejected as ``InvalidRequest``),
integrated with the Orchestrator through ``StartSyncExecution`` using a role
that may start exactly that state machine. Templates are in
``components.api_templates``. Gateway errors (401/403 from the authorizer,
429, 5xx) are JSON too.

Stage: X-Ray tracing, JSON access logs without bodies, method throttling and
metrics, execution logs at ERROR without data tracing. The deployment's
``triggers`` hash everything that shapes the API, so any change redeploys.

Logging to CloudWatch from API Gateway needs the *account-level* API Gateway
CloudWatch role (one per account and region, shared with every other API).
``manage_account_logging_role=True`` sets it from this stack; the default
leaves it to whoever owns the account's settings, and the stage fails to
deploy until it is set.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import api_templates
from components.iam import service_assume_role_policy
from components.orchestrator_asl import API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS, ROUTED_PATHS

#: The router's resources: exactly the paths the Orchestrator routes.
ROUTES: tuple[str, ...] = tuple(path.removeprefix("/") for path in ROUTED_PATHS)
HTTP_METHOD = "POST"
JSON = "application/json"
INTEGRATION_TIMEOUT_MS = API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS * 1000

#: Cognito prefix domains: lowercase letters, digits, hyphens, and none of
#: these words.
DOMAIN_PREFIX_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_DOMAIN_WORDS: tuple[str, ...] = ("aws", "amazon", "cognito")

#: Gateway responses answered with JSON instead of API Gateway's defaults.
GATEWAY_RESPONSE_TYPES: tuple[str, ...] = ("DEFAULT_4XX", "DEFAULT_5XX")

#: API Gateway's managed policy for pushing execution/access logs.
PUSH_TO_CLOUDWATCH_POLICY = (
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
)


def derived_domain_prefix(user_pool_id: str) -> str:
    """``cellrouter-`` + the pool id's random part, lowercased, with a hyphen
    splitting any reserved word (``aws`` -> ``a-ws``). Pool ids are unique
    per region and hyphens are never in them, so the result is unique too."""
    suffix = user_pool_id.split("_", 1)[-1].lower()
    suffix = re.sub(r"[^a-z0-9]", "", suffix)
    for word in RESERVED_DOMAIN_WORDS:
        suffix = suffix.replace(word, f"{word[0]}-{word[1:]}")
    prefix = f"cellrouter-{suffix}"[:63].rstrip("-")
    check_domain_prefix(prefix)
    return prefix


def check_domain_prefix(prefix: str) -> str:
    if not DOMAIN_PREFIX_PATTERN.fullmatch(prefix) or any(
        word in prefix for word in RESERVED_DOMAIN_WORDS
    ):
        raise ValueError(
            f"{prefix!r} is not a Cognito domain prefix (1-63 of a-z, 0-9 and '-', not at "
            f"either end, without {', '.join(RESERVED_DOMAIN_WORDS)})"
        )
    return prefix


def api_role_trust_policy() -> dict[str, Any]:
    return service_assume_role_policy("apigateway.amazonaws.com")


def start_sync_execution_policy(state_machine_arn: str) -> dict[str, Any]:
    """The integration role's whole grant: start this state machine, synchronously."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartOrchestrator",
                "Effect": "Allow",
                "Action": ["states:StartSyncExecution"],
                "Resource": state_machine_arn,
            }
        ],
    }


def start_sync_execution_uri(region: str) -> str:
    return f"arn:aws:apigateway:{region}:states:action/StartSyncExecution"


def api_fingerprint(spec: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of everything a deployment snapshots."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class CellRouterApiArgs:
    """Arguments of ``CellRouterApi``.

    ``domain_prefix`` ``None`` derives ``cellrouter-<pool id>``.
    """

    region: str
    state_machine_arn: pulumi.Input[str]
    callback_urls: Sequence[str]
    logout_urls: Sequence[str]
    domain_prefix: str | None = None
    throttle_rate_limit: float = 50
    throttle_burst_limit: int = 100
    stage_name: str = "v1"
    log_retention_days: int = 30
    manage_account_logging_role: bool = False
    deletion_protection: bool = True
    oauth_scopes: Sequence[str] = field(default_factory=lambda: ("openid", "email", "profile"))

    def __post_init__(self) -> None:
        if not self.callback_urls:
            raise ValueError("callback_urls needs at least one URL")
        if self.domain_prefix is not None:
            check_domain_prefix(self.domain_prefix)
        if self.throttle_rate_limit <= 0 or self.throttle_burst_limit < 1:
            raise ValueError("throttling limits must be positive")
        if not re.fullmatch(r"[A-Za-z0-9_]{1,128}", self.stage_name):
            raise ValueError(f"stage_name {self.stage_name!r} is not a valid stage name")


class CellRouterApi(pulumi.ComponentResource):
    """Cognito user pool, app client and hosted UI; the REST API and its stage."""

    user_pool: aws.cognito.UserPool
    user_pool_client: aws.cognito.UserPoolClient
    rest_api: aws.apigateway.RestApi
    deployment: aws.apigateway.Deployment
    stage: aws.apigateway.Stage
    api_url: pulumi.Output[str]
    user_pool_id: pulumi.Output[str]
    user_pool_arn: pulumi.Output[str]
    user_pool_client_id: pulumi.Output[str]
    hosted_ui_domain: pulumi.Output[str]
    rest_api_id: pulumi.Output[str]
    access_log_group_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: CellRouterApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:CellRouterApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # --- Cognito ---------------------------------------------------------
        pool_name = f"{name}-CellRouterPool"
        self.user_pool = aws.cognito.UserPool(
            pool_name,
            username_attributes=["email"],
            auto_verified_attributes=["email"],
            username_configuration=aws.cognito.UserPoolUsernameConfigurationArgs(
                case_sensitive=False
            ),
            password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                minimum_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_numbers=True,
                require_symbols=True,
                temporary_password_validity_days=3,
            ),
            account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
                recovery_mechanisms=[
                    aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(
                        name="verified_email", priority=1
                    )
                ]
            ),
            mfa_configuration="OPTIONAL",
            software_token_mfa_configuration=aws.cognito.UserPoolSoftwareTokenMfaConfigurationArgs(
                enabled=True
            ),
            deletion_protection="ACTIVE" if args.deletion_protection else "INACTIVE",
            opts=child,
        )
        self.user_pool_client = aws.cognito.UserPoolClient(
            f"{pool_name}-client",
            user_pool_id=self.user_pool.id,
            generate_secret=False,
            explicit_auth_flows=[
                "ALLOW_USER_SRP_AUTH",
                "ALLOW_USER_PASSWORD_AUTH",
                "ALLOW_REFRESH_TOKEN_AUTH",
            ],
            allowed_oauth_flows=["code"],
            allowed_oauth_flows_user_pool_client=True,
            allowed_oauth_scopes=list(args.oauth_scopes),
            supported_identity_providers=["COGNITO"],
            callback_urls=list(args.callback_urls),
            logout_urls=list(args.logout_urls),
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            access_token_validity=60,
            id_token_validity=60,
            refresh_token_validity=30,
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
                access_token="minutes", id_token="minutes", refresh_token="days"
            ),
            opts=child,
        )
        domain = (
            pulumi.Output.from_input(args.domain_prefix)
            if args.domain_prefix is not None
            else self.user_pool.id.apply(derived_domain_prefix)
        )
        user_pool_domain = aws.cognito.UserPoolDomain(
            f"{pool_name}-domain",
            domain=domain,
            user_pool_id=self.user_pool.id,
            # The classic hosted UI: managed login (2) needs a branding style
            # before its pages render.
            managed_login_version=1,
            opts=child,
        )

        # --- integration role ------------------------------------------------
        api_name = f"{name}-CellRouter"
        integration_role = aws.iam.Role(
            f"{api_name}-integration-role",
            description=f"Lets the {name} API start its Orchestrator synchronously, nothing else",
            assume_role_policy=json.dumps(api_role_trust_policy()),
            opts=child,
        )
        integration_policy = aws.iam.RolePolicy(
            f"{api_name}-integration-policy",
            role=integration_role.id,
            policy=pulumi.Output.from_input(args.state_machine_arn).apply(
                lambda arn: json.dumps(start_sync_execution_policy(arn))
            ),
            opts=child,
        )

        # --- REST API ----------------------------------------------------------
        self.rest_api = aws.apigateway.RestApi(
            api_name,
            description="Cell router: assigns, returns and validates a user's cell",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            opts=child,
        )
        authorizer = aws.apigateway.Authorizer(
            f"{api_name}-authorizer",
            rest_api=self.rest_api.id,
            type="COGNITO_USER_POOLS",
            provider_arns=[self.user_pool.arn],
            identity_source="method.request.header.Authorization",
            opts=child,
        )
        request_template = pulumi.Output.from_input(args.state_machine_arn).apply(
            api_templates.request_template
        )
        response_template = api_templates.response_template()
        uri = start_sync_execution_uri(args.region)

        shaping: list[pulumi.Resource] = []
        for route in ROUTES:
            resource = aws.apigateway.Resource(
                f"{api_name}-{route}",
                rest_api=self.rest_api.id,
                parent_id=self.rest_api.root_resource_id,
                path_part=route,
                opts=child,
            )
            method = aws.apigateway.Method(
                f"{api_name}-{route}-post",
                rest_api=self.rest_api.id,
                resource_id=resource.id,
                http_method=HTTP_METHOD,
                authorization="COGNITO_USER_POOLS",
                authorizer_id=authorizer.id,
                opts=child,
            )
            integration = aws.apigateway.Integration(
                f"{api_name}-{route}-integration",
                rest_api=self.rest_api.id,
                resource_id=resource.id,
                http_method=method.http_method,
                type="AWS",
                integration_http_method="POST",
                uri=uri,
                credentials=integration_role.arn,
                request_templates={JSON: request_template},
                passthrough_behavior="NEVER",
                timeout_milliseconds=INTEGRATION_TIMEOUT_MS,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[integration_policy]),
            )
            method_responses = [
                aws.apigateway.MethodResponse(
                    f"{api_name}-{route}-{status}",
                    rest_api=self.rest_api.id,
                    resource_id=resource.id,
                    http_method=method.http_method,
                    status_code=status,
                    response_models={JSON: "Empty"},
                    # The template sets Retry-After on 503s (a retry hint).
                    response_parameters=(
                        {f"method.response.header.{api_templates.RETRY_AFTER_HEADER}": False}
                        if status in api_templates.RETRY_AFTER_STATUS_CODES
                        else None
                    ),
                    opts=child,
                )
                for status in api_templates.RESPONSE_STATUS_CODES
            ]
            # One (default) integration response: StartSyncExecution answers
            # 200 for every execution outcome; the template sets the status.
            integration_response = aws.apigateway.IntegrationResponse(
                f"{api_name}-{route}-integration-response",
                rest_api=self.rest_api.id,
                resource_id=resource.id,
                http_method=method.http_method,
                status_code="200",
                response_templates={JSON: response_template},
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[integration, *method_responses]
                ),
            )
            shaping += [resource, method, integration, *method_responses, integration_response]

        for response_type in GATEWAY_RESPONSE_TYPES:
            shaping.append(
                aws.apigateway.Response(
                    f"{api_name}-{response_type.lower().replace('_', '-')}",
                    rest_api_id=self.rest_api.id,
                    response_type=response_type,
                    response_templates={JSON: api_templates.GATEWAY_RESPONSE_TEMPLATE},
                    opts=child,
                )
            )

        # Everything a deployment snapshots; a change to any of it redeploys.
        spec = pulumi.Output.all(
            request_template=request_template,
            credentials=integration_role.arn,
            provider_arn=self.user_pool.arn,
        ).apply(
            lambda values: {
                "routes": list(ROUTES),
                "method": {
                    "httpMethod": HTTP_METHOD,
                    "authorization": "COGNITO_USER_POOLS",
                    "identitySource": "method.request.header.Authorization",
                    "providerArns": [values["provider_arn"]],
                    "statusCodes": list(api_templates.RESPONSE_STATUS_CODES),
                },
                "integration": {
                    "type": "AWS",
                    "uri": uri,
                    "credentials": values["credentials"],
                    "passthroughBehavior": "NEVER",
                    "timeoutMs": INTEGRATION_TIMEOUT_MS,
                    "requestTemplate": values["request_template"],
                    "responseTemplate": response_template,
                },
                "gatewayResponses": {
                    t: api_templates.GATEWAY_RESPONSE_TEMPLATE for t in GATEWAY_RESPONSE_TYPES
                },
            }
        )
        self.deployment = aws.apigateway.Deployment(
            f"{api_name}-deployment",
            rest_api=self.rest_api.id,
            description="Cell router API",
            triggers={"api": spec.apply(api_fingerprint)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=shaping),
        )

        # --- stage, logs, throttling --------------------------------------------
        stage_dependencies: list[pulumi.Resource] = []
        if args.manage_account_logging_role:
            logging_role = aws.iam.Role(
                f"{api_name}-account-logging-role",
                description="API Gateway account-level role for CloudWatch logging (region-wide)",
                assume_role_policy=json.dumps(api_role_trust_policy()),
                opts=child,
            )
            attachment = aws.iam.RolePolicyAttachment(
                f"{api_name}-account-logging-policy",
                role=logging_role.name,
                policy_arn=PUSH_TO_CLOUDWATCH_POLICY,
                opts=child,
            )
            stage_dependencies.append(
                aws.apigateway.Account(
                    f"{api_name}-account",
                    cloudwatch_role_arn=logging_role.arn,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
                )
            )
        access_logs = aws.cloudwatch.LogGroup(
            f"{api_name}-access-logs",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        # API Gateway would create this one itself, never expiring; owning it
        # gives it the stack's retention.
        execution_logs = aws.cloudwatch.LogGroup(
            f"{api_name}-execution-logs",
            name=pulumi.Output.concat(
                "API-Gateway-Execution-Logs_", self.rest_api.id, "/", args.stage_name
            ),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.stage = aws.apigateway.Stage(
            f"{api_name}-stage",
            rest_api=self.rest_api.id,
            deployment=self.deployment.id,
            stage_name=args.stage_name,
            xray_tracing_enabled=True,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn,
                format=api_templates.access_log_format(),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=stage_dependencies),
        )
        aws.apigateway.MethodSettings(
            f"{api_name}-method-settings",
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                throttling_rate_limit=args.throttle_rate_limit,
                throttling_burst_limit=args.throttle_burst_limit,
                metrics_enabled=True,
                logging_level="ERROR",
                data_trace_enabled=False,
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[execution_logs, *stage_dependencies]
            ),
        )

        self.api_url = self.stage.invoke_url
        self.user_pool_id = self.user_pool.id
        self.user_pool_arn = self.user_pool.arn
        self.user_pool_client_id = self.user_pool_client.id
        self.hosted_ui_domain = pulumi.Output.concat(
            "https://", user_pool_domain.domain, ".auth.", args.region, ".amazoncognito.com"
        )
        self.rest_api_id = self.rest_api.id
        self.access_log_group_name = access_logs.name
        self.register_outputs(
            {
                "apiUrl": self.api_url,
                "userPoolId": self.user_pool_id,
                "userPoolArn": self.user_pool_arn,
                "userPoolClientId": self.user_pool_client_id,
                "hostedUiDomain": self.hosted_ui_domain,
                "restApiId": self.rest_api_id,
                "accessLogGroupName": self.access_log_group_name,
            }
        )
