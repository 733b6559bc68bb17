"""``CellRouterApi``: who may call the cell router (``CellRouterPool``, ``CellRouter``), and how.

Cognito
-------
* User pool ``CellRouterPool``: e-mail is the username (case-insensitive) and
  is verified on sign-up; passwords of at least 12 characters with every
  character class; account recovery by verified e-mail only; deletion
  protection on. MFA is ``OPTIONAL`` with TOTP only (users may enrol an
  authenticator app; no SMS, so no SMS role or spend). A changed e-mail
  address takes effect only once verified (``attributes_require_verification_
  before_update``); the router does not identify users by it anyway (the
  token's ``sub`` is the identity). Cognito's default e-mail sender is used
  (a low daily quota; configure SES for production volumes).
* Who may sign up (``sign_up_policy``): ``open`` (self sign-up, as in the
  original), ``allowedDomains`` (self sign-up from the listed e-mail domains
  only, enforced by the ``sign_up_gate`` pre sign-up trigger) or
  ``adminOnly`` (``AllowAdminCreateUserOnly``: users are created by an
  administrator).
* App client: reads ``email``/``email_verified`` and may write ``email`` only
  (needed to sign up); public (no secret), SRP, password and refresh-token flows, and
  the hosted UI's authorization-code flow with the ``openid email profile``
  scopes, callback and logout URLs from the stack. Cognito enforces PKCE for
  the code flow only when the client sends a ``code_challenge``; a public
  client has no secret, so clients must always use PKCE (every OIDC library
  does by default). User-existence errors are hidden.
* Hosted UI domain: the configured prefix, or ``cellrouter-<pool id>``; the
  classic hosted UI (managed login version 1).

REST API ``CellRouter``
-----------------------
POST ``/cells``, ``/mapper``, ``/validate``, each behind the router's Lambda
``TOKEN`` authorizer (``handlers/router_auth/authorizer.py``; decision and
sources: ``docs/decisions/cross-region-auth.md``). Send a Cognito **ID or
access token** of the app client as the ``Authorization`` header (``Bearer``
optional); the authorizer verifies its RS256 signature against the pool's
JWKS as copied into this region's replica of the routing table, and its
``exp``, ``iss``, ``token_use`` and app client; its ``sub`` becomes the
``principalId`` the request template passes on as the caller's identity.
No call reaches the pool's region at request time, so the API in the
secondary keeps authenticating when the primary is lost. A header that is
not three base64url segments is refused (**401**) by API Gateway before the
function runs (``identityValidationExpression``); API Gateway caches an
answer per token for ``authorizer_result_ttl_seconds``. The JWKS copy is
written by ``jwks_refresher`` on a 15-minute schedule in the pool's region
only (``refresh_jwks``). Each method also has a request validator: the body
must be a JSON object of the known members with bounded lengths
(``api_templates.REQUEST_BODY_SCHEMA``, a few KB at most), else **400**
before any execution starts; API Gateway itself answers **413** above its
10 MB payload limit. Integrated with the Orchestrator through
``StartSyncExecution`` using a role that may start exactly that state
machine and that only API Gateway, for this API in this account, may assume
(``aws:SourceAccount``/``aws:SourceArn``). Templates are in
``components.api_templates``. Gateway errors (401/403 from the authorizer,
429, 5xx) are JSON too.

In two regions (``components.cell_router``) the user pool exists in the
primary only: the secondary's ``CellRouterApi`` takes the pool by reference
(``user_pool``) and creates no Cognito resources. The REST API itself may be
created beforehand (``rest_api``, see ``router_rest_api``) so that its URL is
known to the functions before the API's methods exist.

Stage: X-Ray tracing, JSON access logs without bodies, method throttling and
metrics, execution logs at ERROR without data tracing. The deployment's
``triggers`` hash everything that shapes the API, so any change redeploys.

Optional rate-based protection (``waf_enabled``): an AWS WAF web ACL on the
stage with one rate-based rule blocking a client IP above ``waf_rate_limit``
requests per 5 minutes. It costs, at AWS list prices, $5 per web ACL per
month, $1 per rule per month and $0.60 per million requests inspected.

Logging to CloudWatch from API Gateway needs the *account-level* API Gateway
CloudWatch role (one per account and region, shared with every other API).
``manage_account_logging_role=True`` sets it from this stack; the default
leaves it to whoever owns the account's settings, and the stage fails to
deploy until it is set. The setting, its role and the role's policy are
**retained** when this stack is destroyed (``retain_on_delete``): deleting
them would silently stop execution logging for every API of the account in
that region. Remove them by hand once no API needs them.
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
from components.function import PythonFunction, PythonFunctionArgs
from components.iam import service_assume_role_policy
from components.orchestrator_asl import API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS, ROUTED_PATHS
from handlers.cell_router.model import METRICS_NAMESPACE
from handlers.router_auth import contract as auth_contract

#: The router's resources: exactly the paths the Orchestrator routes.
ROUTES: tuple[str, ...] = tuple(path.removeprefix("/") for path in ROUTED_PATHS)
HTTP_METHOD = "POST"
#: Every method is behind the router's Lambda TOKEN authorizer.
AUTHORIZATION = "CUSTOM"
IDENTITY_SOURCE = "method.request.header.Authorization"
AUTH_FAMILY = "router_auth"
AUTH_SERVICE_NAME = "cell-router-authorizer"
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


#: Who may sign up (``CellRouterApiArgs.sign_up_policy``).
SIGN_UP_POLICIES: tuple[str, ...] = ("open", "allowedDomains", "adminOnly")

#: The integration role's body model and validator names (API-scoped).
BODY_MODEL_NAME = "CellRouterRequest"


def api_role_trust_policy(
    account_id: str | None = None, source_arns: Sequence[str] = ()
) -> dict[str, Any]:
    """API Gateway may assume the role; with ``account_id``/``source_arns``
    only on behalf of that account and that API (confused-deputy guard)."""
    conditions: dict[str, Any] = {}
    if account_id is not None:
        conditions["StringEquals"] = {"aws:SourceAccount": account_id}
    if source_arns:
        conditions["ArnLike"] = {"aws:SourceArn": list(source_arns)}
    return service_assume_role_policy("apigateway.amazonaws.com", conditions or None)


def rest_api_source_arns(region: str, account_id: str, rest_api_id: str) -> list[str]:
    """One REST API as ``aws:SourceArn``: its execute-api ARN (every stage,
    method and path) and its management ARN. Both name only this API; which
    form API Gateway sends when it assumes an integration role is only
    visible on a deployed API, so either is accepted."""
    return [
        f"arn:aws:execute-api:{region}:{account_id}:{rest_api_id}/*",
        f"arn:aws:apigateway:{region}::/restapis/{rest_api_id}*",
    ]


def rate_limit_rules(limit: int) -> list[dict[str, Any]]:
    """The web ACL's one rule: block a client IP above ``limit`` requests
    per 5-minute window (AWS WAF rate-based rule), as plain values."""
    return [
        {
            "name": "rate-limit-per-ip",
            "priority": 0,
            "action": {"block": {}},
            "statement": {"rateBasedStatement": {"limit": limit, "aggregateKeyType": "IP"}},
            "visibilityConfig": {
                "cloudwatchMetricsEnabled": True,
                "metricName": "CellRouterRateLimit",
                "sampledRequestsEnabled": False,
            },
        }
    ]


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


#: The authorizer's identity check: a JWT is three base64url segments
#: (``Bearer`` optional). Anything else is refused before the function runs.
TOKEN_PATTERN = r"^(Bearer )?[-0-9A-Za-z_]+\.[-0-9A-Za-z_]+\.[-0-9A-Za-z_]+$"
#: How often the pool's region copies its JWKS into the routing table.
JWKS_REFRESH_MINUTES = 15
#: ``handlers.router_auth.jwks_store.JWKS_PREFIX``, restated: that module
#: imports boto3, which the Pulumi program does not depend on (a test keeps
#: the two equal).
JWKS_PREFIX = "JWKS#"
#: The authorizer's and the refresher's one item partition in the table.
JWKS_PARTITIONS = JWKS_PREFIX + "*"
AUTHORIZER_TIMEOUT_SECONDS = 5
JWKS_REFRESHER_TIMEOUT_SECONDS = 15


def user_pool_issuer(region: str, user_pool_id: str) -> str:
    """The ``iss`` of the pool's tokens (and the base of its JWKS URL)."""
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def invoke_url(rest_api_id: str, region: str, stage_name: str) -> str:
    """A REST API stage's default invoke URL (what ``Stage.invoke_url`` is),
    computable from the API's id before the stage exists."""
    return f"https://{rest_api_id}.execute-api.{region}.amazonaws.com/{stage_name}"


def authorizer_statements(table_arn: Any) -> list[dict[str, Any]]:
    """The authorizer reads the JWKS copy in its region's table, nothing else."""
    return [
        {
            "Sid": "ReadJwksCopy",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": table_arn,
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [JWKS_PARTITIONS]}},
        }
    ]


def jwks_refresher_statements(table_arn: Any) -> list[dict[str, Any]]:
    """The refresher writes the JWKS copy (conditional put), nothing else;
    the JWKS itself is fetched over HTTPS (public data, no IAM)."""
    return [
        {
            "Sid": "WriteJwksCopy",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem"],
            "Resource": table_arn,
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [JWKS_PARTITIONS]}},
        }
    ]


def router_rest_api(name: str, opts: pulumi.ResourceOptions) -> aws.apigateway.RestApi:
    """The REST API ``CellRouterApi`` fills in, created on its own so its id
    (and so its URL, ``invoke_url``) exists before the router's functions."""
    return aws.apigateway.RestApi(
        f"{name}-CellRouter",
        description="Cell router: assigns, returns and validates a user's cell",
        endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
        opts=opts,
    )


@dataclass(frozen=True)
class UserPoolRef:
    """A user pool made by the primary's ``CellRouterApi``, as another
    region's API uses it: its tokens' issuer and app client, for the
    authorizer; its sign-in outputs, for clients."""

    region: str
    user_pool_id: pulumi.Input[str]
    user_pool_arn: pulumi.Input[str]
    client_id: pulumi.Input[str]
    hosted_ui_domain: pulumi.Input[str]


@dataclass(frozen=True)
class FunctionRuntime:
    """How the API's own functions (authorizer, JWKS refresher) run."""

    runtime: str = "python3.13"
    architecture: str = "arm64"
    powertools_layer_version: int = 27


@dataclass(frozen=True)
class CellRouterApiArgs:
    """Arguments of ``CellRouterApi``.

    ``domain_prefix`` ``None`` derives ``cellrouter-<pool id>``.
    ``table_name``/``table_arn``: the routing table (or its replica) in this
    region, where the authorizer reads the JWKS copy; required.
    ``user_pool``: use this pool (made in another region) and create none.
    ``rest_api``: fill in this REST API (``router_rest_api``) instead of
    creating one. ``refresh_jwks``: run the JWKS refresher here (default: where
    the pool is made).
    """

    region: str
    state_machine_arn: pulumi.Input[str]
    callback_urls: Sequence[str]
    logout_urls: Sequence[str]
    table_name: pulumi.Input[str] | None = None
    table_arn: pulumi.Input[str] | None = None
    domain_prefix: str | None = None
    throttle_rate_limit: float = 50
    throttle_burst_limit: int = 100
    stage_name: str = "v1"
    log_retention_days: int = 30
    manage_account_logging_role: bool = False
    deletion_protection: bool = True
    oauth_scopes: Sequence[str] = field(default_factory=lambda: ("openid", "email", "profile"))
    sign_up_policy: str = "open"
    #: The ``sign_up_gate`` function (``sign_up_policy="allowedDomains"``).
    pre_sign_up_function_arn: pulumi.Input[str] | None = None
    pre_sign_up_function_name: pulumi.Input[str] | None = None
    waf_enabled: bool = False
    waf_rate_limit: int = 300
    user_pool: UserPoolRef | None = None
    rest_api: aws.apigateway.RestApi | None = None
    refresh_jwks: bool | None = None
    #: Seconds API Gateway reuses the authorizer's answer for one token.
    authorizer_result_ttl_seconds: int = 300
    functions: FunctionRuntime = field(default_factory=FunctionRuntime)

    def __post_init__(self) -> None:
        if self.sign_up_policy not in SIGN_UP_POLICIES:
            raise ValueError(f"sign_up_policy must be one of {', '.join(SIGN_UP_POLICIES)}")
        gated = self.sign_up_policy == "allowedDomains"
        if self.user_pool is None and gated != (self.pre_sign_up_function_arn is not None):
            raise ValueError(
                "pre_sign_up_function_arn is required with sign_up_policy allowedDomains, "
                "and only then"
            )
        if self.user_pool is not None and self.pre_sign_up_function_arn is not None:
            raise ValueError(
                "pre_sign_up_function_arn belongs to the API that makes the user pool, "
                "not to one given user_pool"
            )
        if self.table_name is None or self.table_arn is None:
            raise ValueError(
                "table_name and table_arn are required: the authorizer reads the pool's "
                "keys from the routing table in its region"
            )
        if not 0 <= self.authorizer_result_ttl_seconds <= 3600:
            raise ValueError("authorizer_result_ttl_seconds must be between 0 and 3600")
        if (
            self.refresh_jwks
            and self.user_pool is not None
            and (self.user_pool.region != self.region)
        ):
            raise ValueError(
                "refresh_jwks runs in the user pool's region only (the JWKS copy has "
                "one writing region)"
            )
        if not 10 <= self.waf_rate_limit <= 2_000_000_000:
            raise ValueError("waf_rate_limit must be between 10 and 2,000,000,000")
        if not self.callback_urls:
            raise ValueError("callback_urls needs at least one URL")
        if self.domain_prefix is not None:
            check_domain_prefix(self.domain_prefix)
        if self.throttle_rate_limit <= 0 or self.throttle_burst_limit < 1:
            raise ValueError("throttling limits must be positive")
        if not re.fullmatch(r"[A-Za-z0-9_]{1,128}", self.stage_name):
            raise ValueError(f"stage_name {self.stage_name!r} is not a valid stage name")


class CellRouterApi(pulumi.ComponentResource):
    """User pool ``CellRouterPool`` (app client, hosted UI) or a given pool;
    the token authorizer; REST API ``CellRouter`` and its stage."""

    user_pool: aws.cognito.UserPool | None
    user_pool_client: aws.cognito.UserPoolClient | None
    rest_api: aws.apigateway.RestApi
    deployment: aws.apigateway.Deployment
    stage: aws.apigateway.Stage
    authorizer_function: PythonFunction
    jwks_refresher: PythonFunction | None
    #: Where the user pool is (this region, or the given pool's).
    pool_region: str
    api_url: pulumi.Output[str]
    user_pool_id: pulumi.Output[str]
    user_pool_arn: pulumi.Output[str]
    user_pool_client_id: pulumi.Output[str]
    hosted_ui_domain: pulumi.Output[str]
    rest_api_id: pulumi.Output[str]
    access_log_group_name: pulumi.Output[str]
    web_acl_arn: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: CellRouterApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:CellRouterApi", name, None, opts)
        self._name = name
        self._api_name = f"{name}-CellRouter"
        if args.user_pool is None:
            self._cognito(args)
        else:
            self._given_pool(args.user_pool)
        self.rest_api = args.rest_api or router_rest_api(name, pulumi.ResourceOptions(parent=self))
        self._authorizer(args)
        # The JWKS copy has one writing region: the pool's, by default.
        refresh = args.user_pool is None if args.refresh_jwks is None else args.refresh_jwks
        self.jwks_refresher = self._jwks_refresher(args) if refresh else None
        integration_role = self._integration_role(args)
        shaping = self._routes(args, integration_role)
        self._deployment(args, integration_role, shaping)
        self._stage(args)
        self._web_acl(args)
        self.register_outputs(self._outputs())

    # --- Cognito ------------------------------------------------------------------

    def _cognito(self, args: CellRouterApiArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        pool_name = f"{self._name}-CellRouterPool"
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
            # A changed address is applied only once its owner verifies it.
            user_attribute_update_settings=aws.cognito.UserPoolUserAttributeUpdateSettingsArgs(
                attributes_require_verification_before_updates=["email"]
            ),
            admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(
                allow_admin_create_user_only=args.sign_up_policy == "adminOnly"
            ),
            lambda_config=(
                aws.cognito.UserPoolLambdaConfigArgs(pre_sign_up=args.pre_sign_up_function_arn)
                if args.pre_sign_up_function_arn is not None
                else None
            ),
            opts=child,
        )
        if args.pre_sign_up_function_name is not None:
            aws.lambda_.Permission(
                f"{pool_name}-pre-sign-up-invoke",
                action="lambda:InvokeFunction",
                function=args.pre_sign_up_function_name,
                principal="cognito-idp.amazonaws.com",
                source_arn=self.user_pool.arn,
                opts=child,
            )
        self.user_pool_client = aws.cognito.UserPoolClient(
            f"{pool_name}-client",
            user_pool_id=self.user_pool.id,
            generate_secret=False,
            # Only what signing up and the ID token need; nothing else is
            # writable by the user through this client.
            read_attributes=["email", "email_verified"],
            write_attributes=["email"],
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
        self.pool_region = args.region
        self.user_pool_id = self.user_pool.id
        self.user_pool_arn = self.user_pool.arn
        self.user_pool_client_id = self.user_pool_client.id
        self.hosted_ui_domain = pulumi.Output.concat(
            "https://", user_pool_domain.domain, ".auth.", args.region, ".amazoncognito.com"
        )

    def _given_pool(self, pool: UserPoolRef) -> None:
        self.user_pool = None
        self.user_pool_client = None
        self.pool_region = pool.region
        self.user_pool_id = pulumi.Output.from_input(pool.user_pool_id)
        self.user_pool_arn = pulumi.Output.from_input(pool.user_pool_arn)
        self.user_pool_client_id = pulumi.Output.from_input(pool.client_id)
        self.hosted_ui_domain = pulumi.Output.from_input(pool.hosted_ui_domain)

    def user_pool_ref(self) -> UserPoolRef:
        """This API's pool as another region's ``CellRouterApi`` takes it."""
        return UserPoolRef(
            region=self.pool_region,
            user_pool_id=self.user_pool_id,
            user_pool_arn=self.user_pool_arn,
            client_id=self.user_pool_client_id,
            hosted_ui_domain=self.hosted_ui_domain,
        )

    # --- token authorizer -----------------------------------------------------------

    def _auth_function(
        self,
        args: CellRouterApiArgs,
        module: str,
        description: str,
        statements: list[dict[str, Any]],
        environment: dict[str, pulumi.Input[str]],
        timeout: int,
    ) -> PythonFunction:
        return PythonFunction(
            f"{self._name}-{module}",
            PythonFunctionArgs(
                family=AUTH_FAMILY,
                handler=f"{module}.handler",
                region=args.region,
                description=description,
                service_name=AUTH_SERVICE_NAME,
                metrics_namespace=METRICS_NAMESPACE,
                policy_statements=statements,
                environment=environment,
                runtime=args.functions.runtime,
                architecture=args.functions.architecture,
                powertools_layer_version=args.functions.powertools_layer_version,
                log_retention_days=args.log_retention_days,
                timeout_seconds=timeout,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _issuer(self) -> pulumi.Output[str]:
        region = self.pool_region
        return self.user_pool_id.apply(lambda pool_id: user_pool_issuer(region, pool_id))

    def _authorizer(self, args: CellRouterApiArgs) -> None:
        self.authorizer_function = self._auth_function(
            args,
            "authorizer",
            "Verifies Cognito tokens against the JWKS copy in this region's table (TOKEN)",
            authorizer_statements(args.table_arn),
            auth_contract.AUTHORIZER.render(
                table_name=args.table_name,
                user_pool_issuer=self._issuer(),
                user_pool_client_ids=self.user_pool_client_id.apply(lambda client: [client]),
            ),
            AUTHORIZER_TIMEOUT_SECONDS,
        )
        self.authorizer = aws.apigateway.Authorizer(
            f"{self._api_name}-authorizer",
            rest_api=self.rest_api.id,
            type="TOKEN",
            authorizer_uri=self.authorizer_function.function.invoke_arn,
            identity_source=IDENTITY_SOURCE,
            identity_validation_expression=TOKEN_PATTERN,
            authorizer_result_ttl_in_seconds=args.authorizer_result_ttl_seconds,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # API Gateway invokes it with its service principal (no credentials
        # role), for this API's authorizer only.
        aws.lambda_.Permission(
            f"{self._api_name}-authorizer-invoke",
            action="lambda:InvokeFunction",
            function=self.authorizer_function.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(
                self.rest_api.execution_arn, "/authorizers/", self.authorizer.id
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _jwks_refresher(self, args: CellRouterApiArgs) -> PythonFunction:
        refresher = self._auth_function(
            args,
            "jwks_refresher",
            "Copies the user pool's JWKS into the routing table (schedule, pool's region)",
            jwks_refresher_statements(args.table_arn),
            auth_contract.JWKS_REFRESHER.render(
                table_name=args.table_name, user_pool_issuer=self._issuer()
            ),
            JWKS_REFRESHER_TIMEOUT_SECONDS,
        )
        schedule = aws.cloudwatch.EventRule(
            f"{self._name}-jwks-refresh-schedule",
            description="Copy the user pool's signing keys for both regions' authorizers",
            schedule_expression=f"rate({JWKS_REFRESH_MINUTES} minutes)",
            opts=pulumi.ResourceOptions(parent=self),
        )
        permission = aws.lambda_.Permission(
            f"{self._name}-jwks-refresh-invoke",
            action="lambda:InvokeFunction",
            function=refresher.name,
            principal="events.amazonaws.com",
            source_arn=schedule.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-jwks-refresh-target",
            rule=schedule.name,
            arn=refresher.arn,
            input="{}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )
        return refresher

    # --- REST API -------------------------------------------------------------------

    def _integration_role(self, args: CellRouterApiArgs) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        role = aws.iam.Role(
            f"{self._api_name}-integration-role",
            description=(
                f"Lets the {self._name} API start its Orchestrator synchronously, nothing else"
            ),
            assume_role_policy=pulumi.Output.all(identity.account_id, self.rest_api.id).apply(
                lambda v: json.dumps(
                    api_role_trust_policy(v[0], rest_api_source_arns(args.region, v[0], v[1]))
                )
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{self._api_name}-integration-policy",
            role=role.id,
            policy=pulumi.Output.from_input(args.state_machine_arn).apply(
                lambda arn: json.dumps(start_sync_execution_policy(arn))
            ),
            opts=child,
        )
        return role, policy

    def _routes(
        self, args: CellRouterApiArgs, integration: tuple[aws.iam.Role, aws.iam.RolePolicy]
    ) -> list[pulumi.Resource]:
        """Every resource, method, integration and response of the API: what a
        deployment snapshots."""
        child = pulumi.ResourceOptions(parent=self)
        api_name = self._api_name
        integration_role, integration_policy = integration
        # Bodies are checked before any execution starts: not JSON, not an
        # object, unknown members or oversized values -> 400.
        body_model = aws.apigateway.Model(
            f"{api_name}-body-model",
            rest_api=self.rest_api.id,
            name=BODY_MODEL_NAME,
            content_type=JSON,
            schema=json.dumps(api_templates.REQUEST_BODY_SCHEMA),
            opts=child,
        )
        body_validator = aws.apigateway.RequestValidator(
            f"{api_name}-body-validator",
            rest_api=self.rest_api.id,
            name="body",
            validate_request_body=True,
            validate_request_parameters=False,
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
                authorization=AUTHORIZATION,
                authorizer_id=self.authorizer.id,
                request_validator_id=body_validator.id,
                request_models={JSON: body_model.name},
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
        shaping += [body_model, body_validator, self.authorizer]

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
        self._request_template = request_template
        self._response_template = response_template
        return shaping

    def _deployment(
        self,
        args: CellRouterApiArgs,
        integration: tuple[aws.iam.Role, aws.iam.RolePolicy],
        shaping: list[pulumi.Resource],
    ) -> None:
        integration_role, _ = integration
        uri = start_sync_execution_uri(args.region)
        response_template = self._response_template
        # Everything a deployment snapshots; a change to any of it redeploys.
        spec = pulumi.Output.all(
            request_template=self._request_template,
            credentials=integration_role.arn,
            authorizer_uri=self.authorizer_function.function.invoke_arn,
        ).apply(
            lambda values: {
                "routes": list(ROUTES),
                "method": {
                    "httpMethod": HTTP_METHOD,
                    "authorization": AUTHORIZATION,
                    "identitySource": IDENTITY_SOURCE,
                    "authorizer": {
                        "type": "TOKEN",
                        "uri": values["authorizer_uri"],
                        "identityValidationExpression": TOKEN_PATTERN,
                        "resultTtlSeconds": args.authorizer_result_ttl_seconds,
                    },
                    "statusCodes": list(api_templates.RESPONSE_STATUS_CODES),
                    "requestValidator": "body",
                    "requestModel": api_templates.REQUEST_BODY_SCHEMA,
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
            f"{self._api_name}-deployment",
            rest_api=self.rest_api.id,
            description="Cell router API",
            triggers={"api": spec.apply(api_fingerprint)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=shaping),
        )

    # --- stage, logs, throttling ------------------------------------------------------

    def _account_logging_role(self) -> list[pulumi.Resource]:
        # Region-wide: every API of the account logs through this role, so
        # destroying this stack must not take it away (retained; see the
        # module docstring and the README).
        api_name = self._api_name
        retained = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        logging_role = aws.iam.Role(
            f"{api_name}-account-logging-role",
            description=(
                "API Gateway account-level role for CloudWatch logging (region-wide; "
                "retained when the stack that created it is destroyed)"
            ),
            # Unconditioned, as AWS documents it: it is shared by every API.
            assume_role_policy=json.dumps(api_role_trust_policy()),
            opts=retained,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{api_name}-account-logging-policy",
            role=logging_role.name,
            policy_arn=PUSH_TO_CLOUDWATCH_POLICY,
            opts=retained,
        )
        return [
            aws.apigateway.Account(
                f"{api_name}-account",
                cloudwatch_role_arn=logging_role.arn,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[attachment], retain_on_delete=True
                ),
            )
        ]

    def _stage(self, args: CellRouterApiArgs) -> None:
        api_name = self._api_name
        child = pulumi.ResourceOptions(parent=self)
        stage_dependencies = (
            self._account_logging_role() if args.manage_account_logging_role else []
        )
        access_logs = aws.cloudwatch.LogGroup(
            f"{api_name}-access-logs",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.access_log_group_name = access_logs.name
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

    def _web_acl(self, args: CellRouterApiArgs) -> None:
        """Optional rate-based protection."""
        self.web_acl_arn = None
        if not args.waf_enabled:
            return
        child = pulumi.ResourceOptions(parent=self)
        web_acl = aws.wafv2.WebAcl(
            f"{self._api_name}-web-acl",
            description="Rate-based protection of the cell router API",
            scope="REGIONAL",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow={}),
            rules=rate_limit_rules(args.waf_rate_limit),
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True,
                metric_name="CellRouterWebAcl",
                sampled_requests_enabled=False,
            ),
            opts=child,
        )
        aws.wafv2.WebAclAssociation(
            f"{self._api_name}-web-acl-association",
            resource_arn=self.stage.arn,
            web_acl_arn=web_acl.arn,
            opts=child,
        )
        self.web_acl_arn = web_acl.arn

    def _outputs(self) -> dict[str, pulumi.Input[object]]:
        """Set the public outputs; returns what ``register_outputs`` records."""
        self.api_url = self.stage.invoke_url
        self.rest_api_id = self.rest_api.id
        return {
            "apiUrl": self.api_url,
            "userPoolId": self.user_pool_id,
            "userPoolArn": self.user_pool_arn,
            "userPoolClientId": self.user_pool_client_id,
            "hostedUiDomain": self.hosted_ui_domain,
            "restApiId": self.rest_api_id,
            "accessLogGroupName": self.access_log_group_name,
            "authorizerFunctionName": self.authorizer_function.name,
        }
