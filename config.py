"""Stack configuration, read once and validated before any resource exists.

Every setting lives in the ``resilient-routing`` namespace and is declared in
``Pulumi.yaml`` (type, description, default), so ``pulumi config`` documents
itself. ``SETTINGS`` below is the single table of keys, kinds and defaults; a
test keeps ``Pulumi.yaml`` in step with it.

``parse_settings`` is pure (a mapping of raw values in, a frozen ``Settings``
out) so that every validation rule is testable without the Pulumi engine.
All problems are reported together, one line per key, in a single
``ConfigError`` raised before ``__main__`` declares anything.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

import regions
from components.bot_probe_loop_asl import MAX_INLINE_MAP_CONCURRENCY, SCHEDULE_PERIOD_SECONDS
from components.cell_router_api import SIGN_UP_POLICIES, check_domain_prefix
from components.cell_router_functions import PRINCIPAL_ARN_PATTERN
from components.function import ARCHITECTURES, RUNTIMES
from components.lex_bot import GLOBAL_RESILIENCY_PAIRS
from components.tables import BILLING_MODES
from handlers.cell_router import contract as router_contract
from handlers.cell_router.endpoint_policy import normalise_domain

# model, not validation: validation reaches boto3 (the user-key secret), which
# the deploy venv does not install.
from handlers.cell_router.model import MARKET_ID_PATTERN
from handlers.common import contract
from handlers.lex_dr import contract as lex_contract

PROJECT = "resilient-routing"

#: Any partition's region name shape (us-east-1, us-gov-west-1, us-isob-east-1,
#: eusc-de-east-1), the house's one region pattern; which partition, and
#: whether botocore knows it, is ``regions.partition_problem``'s question.
REGION_PATTERN = contract.REGION_PATTERN
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: AWS::Connect::Instance InstanceAlias: 1-45 characters, no "d-" prefix.
CONNECT_ALIAS_PATTERN = re.compile(r"^(?!d-)([\da-zA-Z]+)([-]*[\da-zA-Z])*$")
#: Lex bot and alias names share one rule.
LEX_NAME_PATTERN = re.compile(r"^[0-9a-zA-Z][_-]?([0-9a-zA-Z][_-]?)+$")
INSTANCE_ID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

#: A probe round must start at least every 10 s, the rounds must tile the
#: one-minute EventBridge period exactly, and each round is one iteration of
#: an inline Map state, which runs at most 40 at once (Step Functions quota):
#: divisors of 60 up to 10 with at most 40 rounds a minute.
PROBE_INTERVALS = tuple(
    i
    for i in range(1, 11)
    if SCHEDULE_PERIOD_SECONDS % i == 0
    and SCHEDULE_PERIOD_SECONDS // i <= MAX_INLINE_MAP_CONCURRENCY
)

#: Config namespaces other than ours that a stack file may legitimately use:
#: Pulumi's own and the two providers' (ignored: the program builds explicit
#: providers). Any other namespace is a typo of ours more often than not.
OTHER_NAMESPACES = frozenset({"pulumi", "aws", "aws-native"})

#: Length caps of values that become names or texts of resources, with the
#: limit's source. Each cap is the resource schema's (cfn-lint's bundled
#: CloudFormation schemas; a test compares them) minus what the program adds:
#: the bot's physical name is Pulumi's auto-name of ``lex-bot-secondary-<name>``
#: plus "-" and 7 random characters, within the schema's 100.
LEX_BOT_AUTONAME_OVERHEAD = len("lex-bot-secondary-") + 8
NAME_LIMITS: dict[str, tuple[int, str]] = {
    "lexBotName": (
        100 - LEX_BOT_AUTONAME_OVERHEAD,
        "AWS::Lex::Bot Name is at most 100 characters and its auto-name adds "
        f"{LEX_BOT_AUTONAME_OVERHEAD}: 'lex-bot-secondary-' before, '-' and 7 random after",
    ),
    "lexBotAliasName": (100, "AWS::Lex::BotAlias BotAliasName is at most 100 characters"),
    "connectInstanceAlias": (45, "AWS::Connect::Instance InstanceAlias is at most 45 characters"),
    "contactFlowName": (127, "AWS::Connect::ContactFlow Name is at most 127 characters"),
    "healthCheckExpectedResponse": (1000, "the bot's prompt, a Lex PlainTextMessage, is <= 1000"),
    "healthCheckSampleUtterance": (1024, "Lex V2 RecognizeText text is at most 1024 characters"),
}  # fmt: skip

#: Cognito app clients: at most 100 callback / logout URLs of at most 1024
#: characters (AWS::Cognito::UserPoolClient CallbackURLs, LogoutURLs).
OAUTH_URL_MAX_ITEMS = 100
OAUTH_URL_MAX_LENGTH = 1024
#: Cognito accepts plain http only for these hosts (exactly; not a prefix).
OAUTH_HTTP_HOSTS = frozenset({"localhost", "127.0.0.1"})

#: API Gateway's account-level throttle quota per region: 10,000 requests per
#: second steady, a 5,000-request burst. A stage's burst below its rate (or
#: below that quota when the rate exceeds it) throttles requests the rate
#: allows.
API_ACCOUNT_RATE_LIMIT = 10_000
API_ACCOUNT_BURST_LIMIT = 5_000


#: Stack setting -> the environment field it feeds, declared in the function
#: families' contracts (``handlers/*/contract.py``): its default, bounds and
#: unit conversion (``stack_scale``) are taken from there, so a default or a
#: bound changes in one place and Pulumi.yaml, the README table, the
#: functions' environments and the handlers follow.
STACK_FIELDS: dict[str, contract.EnvField] = {
    **contract.stack_fields(lex_contract.CONTRACTS),
    **contract.stack_fields(router_contract.CONTRACTS.values()),
}


def field_default(key: str) -> Any:
    """The stack default of ``key``, from its contract field."""
    return STACK_FIELDS[key].stack_default


def field_bounds(key: str) -> tuple[Any, Any]:
    """Inclusive bounds of ``key`` in the stack's unit, from its contract field."""
    return STACK_FIELDS[key].stack_bounds()


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. Raised before any resource is declared."""


@dataclass(frozen=True)
class Setting:
    """One configuration key: its Pulumi.yaml type, default and description."""

    key: str
    type: str  # "string" | "integer" | "boolean" | "array"
    default: Any
    description: str


SETTINGS: tuple[Setting, ...] = (
    # Regions -------------------------------------------------------------
    Setting("primaryRegion", "string", None, "AWS region callers use normally (required)."),
    Setting("secondaryRegion", "string", None, "AWS region failed over to (required)."),
    # Lambda packaging ----------------------------------------------------
    Setting("lambdaRuntime", "string", "python3.13", "Lambda runtime: python3.12 or python3.13."),
    Setting("lambdaArchitecture", "string", "arm64", "Lambda architecture: arm64 or x86_64."),
    Setting(
        "powertoolsLayerVersion",
        "integer",
        27,
        "Version of the public AWS Lambda Powertools (Python v3) layer.",
    ),
    Setting("logRetentionDays", "integer", 30, "Retention of every log group, in days."),
    Setting(
        "tableDeletionProtection",
        "boolean",
        True,
        "DynamoDB deletion protection on the state and routing tables.",
    ),
    Setting("alarmEmail", "string", "", "E-mail subscribed to the alarm topic (empty: none)."),
    # Lex bot ---------------------------------------------------------------
    Setting("lexBotName", "string", "OrderFlowers", "Name of the Lex V2 bot in both regions."),
    Setting("lexBotAliasName", "string", "ver_one", "Name of the bot alias callers talk to."),
    Setting("lexLocaleId", "string", "en_US", "Locale of the bot."),
    Setting(
        "lexGlobalResiliency",
        "boolean",
        False,
        "Replicate the primary bot with Lex Global Resiliency instead of a second bot.",
    ),
    # Health check ----------------------------------------------------------
    Setting(
        "healthCheckTestMethod",
        "string",
        field_default("healthCheckTestMethod"),
        "Probe: recognize_text (send_message is an alias) or put_session.",
    ),
    Setting(
        "healthCheckSampleUtterance",
        "string",
        field_default("healthCheckSampleUtterance"),
        "Utterance sent by a recognize_text probe.",
    ),
    Setting(
        "healthCheckExpectedResponse",
        "string",
        field_default("healthCheckExpectedResponse"),
        "Exact first message a healthy bot replies with.",
    ),
    Setting(
        "healthCheckTestUser",
        "string",
        field_default("healthCheckTestUser"),
        "Session id prefix of probes.",
    ),
    Setting(
        "failoverThreshold",
        "integer",
        field_default("failoverThreshold"),
        "Consecutive failed rounds before failover.",
    ),
    Setting(
        "failbackThreshold",
        "integer",
        field_default("failbackThreshold"),
        "Consecutive good primary rounds before failback.",
    ),
    Setting(
        "autoFailback",
        "boolean",
        field_default("autoFailback"),
        "Fail back to the primary automatically.",
    ),
    Setting(
        "probeIntervalSeconds",
        "integer",
        field_default("probeIntervalSeconds"),
        "Seconds between probe rounds (divides 60).",
    ),
    Setting(
        "probeAttempts",
        "integer",
        field_default("probeAttempts"),
        "Attempts per region per round before it fails.",
    ),
    # Amazon Connect ----------------------------------------------------------
    Setting("connectMode", "string", "none", "Connect: create, existing or none."),
    Setting("connectInstanceId", "string", "", "Existing Connect instance id (mode existing)."),
    Setting("connectInstanceAlias", "string", "", "Alias of a new Connect instance (mode create)."),
    Setting("claimPhoneNumber", "boolean", False, "Claim a phone number for the flow."),
    Setting("phoneNumberCountryCode", "string", "US", "Country of the claimed number."),
    Setting("phoneNumberType", "string", "DID", "Type of the claimed number: DID or TOLL_FREE."),
    Setting(
        "contactFlowName",
        "string",
        "Flower DR Flow",
        "Name of the generated contact flow (unique per Connect instance).",
    ),
    # Cell router ---------------------------------------------------------------
    Setting("cellRouterEnabled", "boolean", True, "Deploy the cell router."),
    Setting(
        "defaultMarket",
        "string",
        field_default("defaultMarket"),
        "Market of a sign-up that names none.",
    ),
    Setting(
        "capacityBufferPercent",
        "integer",
        field_default("capacityBufferPercent"),
        "Share of a cell kept unassignable.",
    ),
    Setting(
        "scaleOutThresholdPercent",
        "integer",
        field_default("scaleOutThresholdPercent"),
        "Cell load (% of max) that requests a new cell.",
    ),
    Setting(
        "endpointTtlSeconds",
        "integer",
        field_default("endpointTtlSeconds"),
        "How long clients may cache cell endpoints.",
    ),
    Setting(
        "validatorDeepCheck",
        "boolean",
        field_default("validatorDeepCheck"),
        "Validator probes cell endpoints over HTTP.",
    ),
    Setting("apiThrottleRateLimit", "integer", 50, "API stage steady-state requests per second."),
    Setting("apiThrottleBurstLimit", "integer", 100, "API stage burst limit."),
    Setting(
        "routerTableBillingMode", "string", "PAY_PER_REQUEST", "PAY_PER_REQUEST or PROVISIONED."
    ),
    Setting("routerTableReadCapacity", "integer", 5, "Read capacity when PROVISIONED."),
    Setting("routerTableWriteCapacity", "integer", 5, "Write capacity when PROVISIONED."),
    Setting(
        "hostedUiDomainPrefix",
        "string",
        "",
        "Cognito hosted UI domain prefix (empty: derived from the user pool id).",
    ),
    Setting(
        "oauthCallbackUrls",
        "array",
        ["http://localhost:3000/callback"],
        "OAuth callback URLs of the app client.",
    ),
    Setting(
        "oauthLogoutUrls", "array", ["http://localhost:3000/"], "OAuth logout URLs of the client."
    ),
    Setting("supportContact", "string", field_default("supportContact"), "Contact in remediation."),
    Setting(
        "incidentNotice",
        "string",
        field_default("incidentNotice"),
        "Notice shown to users of an unhealthy cell.",
    ),
    Setting(
        "expectedWaitMinutes",
        "integer",
        field_default("expectedWaitMinutes"),
        "Expected wait shown in remediation.",
    ),
    Setting("provisioningQueueAlarmDepth", "integer", 10, "Queue depth that raises an alarm."),
    Setting(
        "manageApiGatewayAccountRole",
        "boolean",
        False,
        "Set the account-wide API Gateway CloudWatch Logs role from this stack.",
    ),
    # Cell router trust boundaries (issue #10) --------------------------------
    Setting(
        "cellEndpointDomains",
        "array",
        [],
        "Allowed host suffixes of cell endpoint URLs (empty: any public DNS name).",
    ),
    Setting(
        "provisioningPrincipals",
        "array",
        [],
        "IAM role/user ARNs that may put CellReady on the provisioning bus (empty: nobody).",
    ),
    Setting(
        "maxCellsPerMarket",
        "integer",
        router_contract.MAX_CELLS_PER_MARKET.deployed_default,
        "Most cells recorded per market, 0 = no cap (alarm).",
    ),
    Setting(
        "signUpPolicy", "string", "open", "Who may sign up: open, allowedDomains or adminOnly."
    ),
    Setting(
        "signUpAllowedDomains",
        "array",
        [],
        "E-mail domains allowed to self sign-up (signUpPolicy allowedDomains).",
    ),
    Setting("wafEnabled", "boolean", False, "Put a WAF web ACL with a rate-based rule on the API."),
    Setting("wafRateLimit", "integer", 300, "Requests per client IP per 5 minutes (wafEnabled)."),
    # Sign-up throughput per market (issue #14) -----------------------------------
    Setting(
        "slotsPerCell",
        "integer",
        field_default("slotsPerCell"),
        "Counter items per new cell, 1-50 (1: the SPEC's layout; above 1: currentCapacity "
        "becomes a roll-up).",
    ),
    # Lex failover in both regions (issue 12) ------------------------------------
    Setting(
        "failoverStalenessSeconds",
        "integer",
        field_default("failoverStalenessSeconds"),
        "A checker whose latest round is older than this stops voting (the other decides alone).",
    ),
    Setting(
        "probeLivenessMethod",
        "string",
        "put_session",
        "Unbilled probe between deep probes: put_session, or none (every round deep).",
    ),
    Setting(
        "deepProbeIntervalSeconds",
        "integer",
        60,
        "Seconds between deep (healthCheckTestMethod) probes of a bot by one checker.",
    ),
    Setting(
        "connectReplicaInstanceId",
        "string",
        "",
        "Existing Connect Global Resiliency replica instance in the secondary (empty: none).",
    ),
    # The cell router in both regions (issue 13) ----------------------------------
    Setting(
        "routerWriterFenceSeconds",
        "integer",
        router_contract.WRITER_FENCE_SECONDS.default,
        "After a promotion, seconds the new writer waits past the old one's acknowledgement.",
    ),
    Setting(
        "routerWriterLeaseSeconds",
        "integer",
        router_contract.WRITER_LEASE_SECONDS.default,
        "Peer heartbeat older than this: sign-ups refused as partitioned (>= 120).",
    ),
    Setting(
        "routerWriterAutoPromotion",
        "boolean",
        router_contract.WRITER_AUTO_PROMOTION.default,
        "Promote a region automatically once the writer's heartbeat is stale (README: risks).",
    ),
    Setting(
        "routerWriterAutoPromoteAfterSeconds",
        "integer",
        router_contract.WRITER_AUTO_PROMOTE_AFTER_SECONDS.default,
        "Writer heartbeat silence before automatic promotion (>= the lease).",
    ),
)

_BY_KEY = {s.key: s for s in SETTINGS}


# --------------------------------------------------------------------------- #
# Typed settings
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class LambdaSettings:
    runtime: str
    architecture: str
    powertools_layer_version: int
    log_retention_days: int


@dataclass(frozen=True)
class LexSettings:
    bot_name: str
    alias_name: str
    locale_id: str
    global_resiliency: bool


@dataclass(frozen=True)
class HealthCheckConfig:
    """The health check's stack settings (the handler's parsed environment is
    ``handlers.lex_dr.settings.HealthCheckSettings``)."""

    test_method: str
    sample_utterance: str
    expected_response: str
    test_user: str
    failover_threshold: int
    failback_threshold: int
    auto_failback: bool
    probe_interval_seconds: int
    probe_attempts: int
    staleness_seconds: int = 25
    #: None: every round uses ``test_method``
    liveness_method: str | None = "put_session"
    deep_probe_interval_seconds: int = 60


@dataclass(frozen=True)
class ConnectSettings:
    mode: str  # "create" | "existing" | "none"
    instance_id: str | None
    instance_alias: str | None
    claim_phone_number: bool
    phone_number_country_code: str
    phone_number_type: str
    contact_flow_name: str
    #: an existing Connect Global Resiliency replica instance in the secondary
    replica_instance_id: str | None = None


@dataclass(frozen=True)
class CellRouterSettings:
    enabled: bool
    default_market: str
    capacity_buffer: float
    scale_out_threshold: float
    endpoint_ttl_seconds: int
    validator_deep_check: bool
    throttle_rate_limit: int
    throttle_burst_limit: int
    table_billing_mode: str
    table_read_capacity: int
    table_write_capacity: int
    hosted_ui_domain_prefix: str | None
    callback_urls: tuple[str, ...]
    logout_urls: tuple[str, ...]
    support_contact: str
    incident_notice: str
    expected_wait_minutes: int
    provisioning_queue_alarm_depth: int
    manage_api_gateway_account_role: bool
    cell_endpoint_domains: tuple[str, ...] = ()
    provisioning_principals: tuple[str, ...] = ()
    max_cells_per_market: int = 20
    sign_up_policy: str = "open"
    sign_up_allowed_domains: tuple[str, ...] = ()
    waf_enabled: bool = False
    waf_rate_limit: int = 300
    #: the writer rules of the router in two regions (issue 13)
    writer_fence_seconds: int = router_contract.WRITER_FENCE_SECONDS.default
    writer_lease_seconds: int = router_contract.WRITER_LEASE_SECONDS.default
    writer_auto_promotion: bool = router_contract.WRITER_AUTO_PROMOTION.default
    writer_auto_promote_after_seconds: int = (
        router_contract.WRITER_AUTO_PROMOTE_AFTER_SECONDS.default
    )
    #: counter items per new cell (issue 14)
    slots_per_cell: int = router_contract.SLOTS_PER_CELL.default


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    primary_region: str
    secondary_region: str
    alarm_email: str | None
    table_deletion_protection: bool
    lambda_: LambdaSettings
    lex: LexSettings
    health_check: HealthCheckConfig
    connect: ConnectSettings
    cell_router: CellRouterSettings

    @property
    def regions(self) -> tuple[str, str]:
        return (self.primary_region, self.secondary_region)


# --------------------------------------------------------------------------- #
# Parsing
# --------------------------------------------------------------------------- #
class _Reader:
    """Typed access to raw values that collects every problem instead of
    stopping at the first one."""

    def __init__(self, raw: Mapping[str, Any], project: str = PROJECT) -> None:
        self.errors: list[str] = []
        own: dict[str, Any] = {}
        for key, value in raw.items():
            namespace, _, name = key.partition(":") if ":" in key else ("", "", key)
            name = name.removeprefix("config:")  # the engine's legacy "ns:config:key"
            if not namespace or namespace == project:
                own[name] = value
            elif namespace not in OTHER_NAMESPACES:
                guess = difflib.get_close_matches(namespace, [project], n=1, cutoff=0.6)
                hint = f"did you mean {project}:{name}?" if guess else f"settings are {project}:*"
                self.errors.append(f"{key}: unknown namespace {namespace!r} ({hint})")
        self.errors += [
            f"{PROJECT}:{key}: unknown setting (see Pulumi.yaml for the list)"
            for key in sorted(set(own) - set(_BY_KEY))
        ]
        self._raw = own

    def fail(self, key: str, message: str) -> None:
        self.errors.append(f"{PROJECT}:{key}: {message}")

    def _value(self, key: str) -> Any:
        value = self._raw.get(key)
        if value is None or value == "":
            return _BY_KEY[key].default
        return value

    def string(self, key: str, check: Callable[[str], str | None] | None = None) -> str:
        value = self._value(key)
        if value is None:
            self.fail(key, "is required (pulumi config set " + f"{PROJECT}:{key} <value>)")
            return ""
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {value!r}")
            return ""
        value = value.strip()
        if check is not None and (problem := check(value)):
            self.fail(key, problem)
        elif key in NAME_LIMITS and len(value) > NAME_LIMITS[key][0]:
            limit, source = NAME_LIMITS[key]
            self.fail(key, f"is {len(value)} characters, at most {limit} allowed ({source})")
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._value(key)
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            self.fail(key, f"must be an integer, got {value!r}")
            return int(_BY_KEY[key].default or low)
        if not low <= number <= high:
            self.fail(key, f"must be between {low} and {high}, got {number}")
        return number

    def boolean(self, key: str) -> bool:
        value = self._value(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.fail(key, f"must be true or false, got {value!r}")
        return bool(_BY_KEY[key].default)

    def string_list(self, key: str, check: Callable[[str], str | None]) -> tuple[str, ...]:
        value = self._value(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                self.fail(key, f"must be a list of strings, got {value!r}")
                return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"must be a list of strings, got {value!r}")
            return ()
        if len(value) > OAUTH_URL_MAX_ITEMS:
            self.fail(key, f"has {len(value)} entries, at most {OAUTH_URL_MAX_ITEMS} allowed")
        for item in value:
            if problem := check(item):
                self.fail(key, problem)
        return tuple(value)


def _one_of(*allowed: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}; got {value!r}"

    return check


def _pattern(pattern: re.Pattern[str], what: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if pattern.fullmatch(value) else f"{value!r} is not {what}"

    return check


def _callback_url(value: str) -> str | None:
    """Cognito's rules for callback and logout URLs: absolute, no fragment,
    https, plain http only for a local host (exactly ``localhost`` or
    ``127.0.0.1``: ``http://localhost.evil.com`` is a public host)."""
    if len(value) > OAUTH_URL_MAX_LENGTH:
        return f"{value[:40]!r}... is {len(value)} characters, at most {OAUTH_URL_MAX_LENGTH}"
    try:
        url = urlsplit(value)
        host = url.hostname
        url.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return f"{value!r} is not a URL"
    if url.fragment or "#" in value:
        return f"{value!r} must not contain a fragment (#)"
    if url.scheme == "https" and host:
        return None
    if url.scheme == "http" and host in OAUTH_HTTP_HOSTS:
        return None
    return (
        f"{value!r} must be https:// (plain http is allowed only for exactly "
        f"{' or '.join(sorted(OAUTH_HTTP_HOSTS))})"
    )


_region = _pattern(REGION_PATTERN, "an AWS region name")


def parse_settings(raw: Mapping[str, Any], *, stack: str, project: str = PROJECT) -> Settings:
    """Validate raw configuration values (strings or JSON-decoded values) into
    ``Settings``. Raises one ``ConfigError`` listing every problem."""
    r = _Reader(raw, project)

    primary = r.string("primaryRegion", _region)
    secondary = r.string("secondaryRegion", _region)
    if primary and primary == secondary:
        r.fail("secondaryRegion", f"must differ from primaryRegion (both are {primary!r})")

    lambda_ = LambdaSettings(
        runtime=r.string("lambdaRuntime", _one_of(*RUNTIMES)),
        architecture=r.string("lambdaArchitecture", _one_of(*ARCHITECTURES)),
        powertools_layer_version=r.integer("powertoolsLayerVersion", 1, 10_000),
        log_retention_days=r.integer("logRetentionDays", 1, 3653),
    )
    table_deletion_protection = r.boolean("tableDeletionProtection")
    if lambda_.log_retention_days not in LOG_RETENTION_DAYS:
        r.fail(
            "logRetentionDays",
            f"CloudWatch Logs accepts only {', '.join(map(str, LOG_RETENTION_DAYS))}; "
            f"got {lambda_.log_retention_days}",
        )
    alarm_email = r.string("alarmEmail")
    if alarm_email and not EMAIL_PATTERN.fullmatch(alarm_email):
        r.fail("alarmEmail", f"{alarm_email!r} is not an e-mail address")

    lex = LexSettings(
        bot_name=r.string("lexBotName", _pattern(LEX_NAME_PATTERN, "a Lex bot name")),
        alias_name=r.string("lexBotAliasName", _pattern(LEX_NAME_PATTERN, "a Lex alias name")),
        locale_id=r.string("lexLocaleId", _pattern(re.compile(r"^[a-z]{2}_[A-Z]{2}$"), "a locale")),
        global_resiliency=r.boolean("lexGlobalResiliency"),
    )
    if lex.alias_name == "TSTALIASID" or lex.alias_name.lower().startswith("testbotalias"):
        r.fail("lexBotAliasName", "must not be the Lex test alias")

    method = r.string(
        "healthCheckTestMethod", _one_of("recognize_text", "send_message", "put_session")
    )
    low, high = field_bounds("probeIntervalSeconds")
    interval = r.integer("probeIntervalSeconds", low, high)
    if low <= interval <= high and interval not in PROBE_INTERVALS:
        rounds = SCHEDULE_PERIOD_SECONDS // interval
        why = (
            f"{rounds} rounds a minute exceed Step Functions' inline Map limit of "
            f"{MAX_INLINE_MAP_CONCURRENCY} concurrent iterations"
            if SCHEDULE_PERIOD_SECONDS % interval == 0
            else f"{interval} does not divide the {SCHEDULE_PERIOD_SECONDS} s schedule"
        )
        r.fail(
            "probeIntervalSeconds",
            f"must divide 60 and be at most 10 with at most {MAX_INLINE_MAP_CONCURRENCY} "
            f"rounds a minute ({', '.join(map(str, PROBE_INTERVALS))}); got {interval}: {why}",
        )
    health_check = HealthCheckConfig(
        test_method="recognize_text" if method == "send_message" else method,
        sample_utterance=r.string("healthCheckSampleUtterance", _non_empty(1024)),
        expected_response=r.string("healthCheckExpectedResponse", _non_empty(1000)),
        test_user=r.string(
            "healthCheckTestUser",
            _pattern(re.compile(r"^[0-9a-zA-Z._:-]{2,80}$"), "a Lex session id prefix"),
        ),
        failover_threshold=r.integer("failoverThreshold", *field_bounds("failoverThreshold")),
        failback_threshold=r.integer("failbackThreshold", *field_bounds("failbackThreshold")),
        auto_failback=r.boolean("autoFailback"),
        probe_interval_seconds=interval,
        probe_attempts=r.integer("probeAttempts", *field_bounds("probeAttempts")),
        staleness_seconds=r.integer(
            "failoverStalenessSeconds",
            max(2 * interval, field_bounds("failoverStalenessSeconds")[0]),
            field_bounds("failoverStalenessSeconds")[1],
        ),
        liveness_method=_liveness(
            r.string("probeLivenessMethod", _one_of("put_session", "recognize_text", "none"))
        ),
        deep_probe_interval_seconds=r.integer("deepProbeIntervalSeconds", interval, 3600),
    )
    if health_check.deep_probe_interval_seconds % interval:
        r.fail(
            "deepProbeIntervalSeconds",
            f"must be a multiple of probeIntervalSeconds ({interval}), "
            f"got {health_check.deep_probe_interval_seconds}",
        )

    mode = r.string("connectMode", _one_of("create", "existing", "none"))
    instance_id = r.string("connectInstanceId") or None
    instance_alias = r.string("connectInstanceAlias") or None
    claim = r.boolean("claimPhoneNumber")
    if mode == "existing" and instance_id is None:
        r.fail("connectInstanceId", "is required when connectMode is existing")
    if instance_id is not None and not INSTANCE_ID_PATTERN.fullmatch(instance_id):
        r.fail("connectInstanceId", f"{instance_id!r} is not a Connect instance id (a UUID)")
    if instance_id is not None and mode != "existing":
        r.fail("connectInstanceId", "is only used when connectMode is existing")
    if instance_alias is not None and mode != "create":
        r.fail("connectInstanceAlias", "is only used when connectMode is create")
    if mode == "create" and instance_alias is None:
        r.fail(
            "connectInstanceAlias",
            "is required when connectMode is create (it is part of the instance's global URL)",
        )
    if instance_alias is not None and not CONNECT_ALIAS_PATTERN.fullmatch(instance_alias):
        r.fail(
            "connectInstanceAlias",
            f"{instance_alias!r} is not a valid instance alias (letters, digits and '-', "
            "starting and ending with a letter or digit, not starting with 'd-')",
        )
    if claim and mode == "none":
        r.fail("claimPhoneNumber", "needs a Connect instance (connectMode create or existing)")
    connect = ConnectSettings(
        mode=mode,
        instance_id=instance_id,
        instance_alias=instance_alias,
        claim_phone_number=claim,
        phone_number_country_code=r.string(
            "phoneNumberCountryCode", _pattern(re.compile(r"^[A-Z]{2}$"), "an ISO country code")
        ),
        phone_number_type=r.string("phoneNumberType", _one_of("DID", "TOLL_FREE")),
        contact_flow_name=r.string("contactFlowName", _non_empty(127)),
        replica_instance_id=r.string("connectReplicaInstanceId") or None,
    )
    if connect.replica_instance_id is not None:
        if not INSTANCE_ID_PATTERN.fullmatch(connect.replica_instance_id):
            r.fail(
                "connectReplicaInstanceId",
                f"{connect.replica_instance_id!r} is not a Connect instance id (a UUID)",
            )
        if mode == "none":
            r.fail(
                "connectReplicaInstanceId",
                "needs a Connect instance in the primary (connectMode create or existing)",
            )

    buffer_pct = r.integer("capacityBufferPercent", *field_bounds("capacityBufferPercent"))
    threshold_pct = r.integer("scaleOutThresholdPercent", *field_bounds("scaleOutThresholdPercent"))
    if threshold_pct > 100 - buffer_pct:
        r.fail(
            "scaleOutThresholdPercent",
            f"({threshold_pct}%) must not exceed the assignable share 100 - "
            f"capacityBufferPercent ({100 - buffer_pct}%), or a cell fills before a new one "
            "is requested",
        )
    billing = r.string("routerTableBillingMode", _one_of(*BILLING_MODES))
    rate = r.integer("apiThrottleRateLimit", 1, API_ACCOUNT_RATE_LIMIT)
    burst = r.integer("apiThrottleBurstLimit", 1, API_ACCOUNT_BURST_LIMIT)
    if burst < min(rate, API_ACCOUNT_BURST_LIMIT):
        r.fail(
            "apiThrottleBurstLimit",
            f"({burst}) must be at least apiThrottleRateLimit ({rate}), or the account's "
            f"burst quota of {API_ACCOUNT_BURST_LIMIT} when the rate is above it: a smaller "
            "bucket throttles requests the rate allows",
        )
    prefix = r.string("hostedUiDomainPrefix") or None
    if prefix is not None:
        try:
            check_domain_prefix(prefix)
        except ValueError as problem:
            r.fail("hostedUiDomainPrefix", str(problem))
    cell_router = CellRouterSettings(
        enabled=r.boolean("cellRouterEnabled"),
        default_market=r.string("defaultMarket", _pattern(MARKET_ID_PATTERN, "a market id")),
        capacity_buffer=STACK_FIELDS["capacityBufferPercent"].from_stack(buffer_pct),
        scale_out_threshold=STACK_FIELDS["scaleOutThresholdPercent"].from_stack(threshold_pct),
        endpoint_ttl_seconds=r.integer("endpointTtlSeconds", *field_bounds("endpointTtlSeconds")),
        validator_deep_check=r.boolean("validatorDeepCheck"),
        throttle_rate_limit=rate,
        throttle_burst_limit=burst,
        table_billing_mode=billing,
        table_read_capacity=r.integer("routerTableReadCapacity", 1, 40_000),
        table_write_capacity=r.integer("routerTableWriteCapacity", 1, 40_000),
        hosted_ui_domain_prefix=prefix,
        callback_urls=r.string_list("oauthCallbackUrls", _callback_url),
        logout_urls=r.string_list("oauthLogoutUrls", _callback_url),
        support_contact=r.string("supportContact", _non_empty(256)),
        incident_notice=r.string("incidentNotice", _non_empty(1024)),
        expected_wait_minutes=r.integer(
            "expectedWaitMinutes", *field_bounds("expectedWaitMinutes")
        ),
        provisioning_queue_alarm_depth=r.integer("provisioningQueueAlarmDepth", 1, 1_000_000),
        manage_api_gateway_account_role=r.boolean("manageApiGatewayAccountRole"),
        cell_endpoint_domains=r.string_list("cellEndpointDomains", _domain_suffix),
        provisioning_principals=r.string_list("provisioningPrincipals", _principal_arn),
        max_cells_per_market=r.integer(
            "maxCellsPerMarket", 0, router_contract.MAX_CELLS_PER_MARKET.high
        ),
        sign_up_policy=r.string("signUpPolicy", _one_of(*SIGN_UP_POLICIES)),
        sign_up_allowed_domains=r.string_list("signUpAllowedDomains", _domain_suffix),
        waf_enabled=r.boolean("wafEnabled"),
        # AWS WAF's rate-based rules count per 5 minutes, from 10 up.
        waf_rate_limit=r.integer("wafRateLimit", 10, 2_000_000_000),
        writer_fence_seconds=r.integer("routerWriterFenceSeconds", 0, 3600),
        # Two heartbeats (one a minute): a shorter lease reads a healthy peer
        # as partitioned.
        writer_lease_seconds=r.integer("routerWriterLeaseSeconds", 120, 3600),
        writer_auto_promotion=r.boolean("routerWriterAutoPromotion"),
        writer_auto_promote_after_seconds=r.integer(
            "routerWriterAutoPromoteAfterSeconds", 120, 86_400
        ),
        slots_per_cell=r.integer("slotsPerCell", *field_bounds("slotsPerCell")),
    )
    if cell_router.writer_auto_promote_after_seconds < cell_router.writer_lease_seconds:
        r.fail(
            "routerWriterAutoPromoteAfterSeconds",
            f"must be at least routerWriterLeaseSeconds ({cell_router.writer_lease_seconds}): "
            "promoting before the lease ends would make two writers",
        )
    if cell_router.sign_up_policy == "allowedDomains" and not cell_router.sign_up_allowed_domains:
        r.fail(
            "signUpAllowedDomains", "needs at least one domain when signUpPolicy is allowedDomains"
        )
    if not cell_router.callback_urls and cell_router.enabled:
        r.fail("oauthCallbackUrls", "needs at least one URL")

    pair = frozenset({primary, secondary})
    if lex.global_resiliency and primary and secondary and pair not in GLOBAL_RESILIENCY_PAIRS:
        supported = ", ".join(sorted("/".join(sorted(p)) for p in GLOBAL_RESILIENCY_PAIRS))
        r.fail(
            "lexGlobalResiliency",
            f"Lex Global Resiliency replicates only between {supported}; "
            f"{primary}/{secondary} is not one of them (set it to false, or change the pair)",
        )
    for key, region, role in (
        ("primaryRegion", primary, "primary"),
        ("secondaryRegion", secondary, "secondary"),
    ):
        if region and REGION_PATTERN.fullmatch(region):
            _check_region(r, key, region, role, connect_mode=mode, router=cell_router.enabled)

    if r.errors:
        raise ConfigError(
            "Invalid stack configuration (nothing was deployed):\n  - " + "\n  - ".join(r.errors)
        )
    return Settings(
        project=project,
        stack=stack,
        primary_region=primary,
        secondary_region=secondary,
        alarm_email=alarm_email or None,
        table_deletion_protection=table_deletion_protection,
        lambda_=lambda_,
        lex=lex,
        health_check=health_check,
        connect=connect,
        cell_router=cell_router,
    )


def _domain_suffix(value: str) -> str | None:
    try:
        normalise_domain(value)
    except ValueError as problem:
        return str(problem)
    return None


def _principal_arn(value: str) -> str | None:
    if not PRINCIPAL_ARN_PATTERN.fullmatch(value):
        return f"{value!r} is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)"
    return None


#: Services every stack declares (or calls) in both regions, as botocore
#: endpoint prefixes (``regions.SERVICE_NAMES``), with why. A component that
#: starts using another service adds it here (or to ROUTER_SERVICES):
#: tests/foundation/test_stack_rejections.py fails until it does. Both regions get
#: the whole set: a region pair must be able to run every part in either
#: region (SPEC: both regions serve), and commercial regions that have Lex V2
#: have all of these.
CORE_SERVICES: dict[str, str] = {
    "models-v2-lex": "the stack deploys the Lex V2 bot (or its replica) there",
    "runtime-v2-lex": "the health check probes the bot there",
    "lambda": "the lookup and probe functions run there",
    "states": "the probe loop runs on Step Functions",
    "dynamodb": "the failover state lives in DynamoDB",
    "events": "EventBridge schedules the probe loop",
    "sns": "alarms go to an SNS topic",
    "kms": "the alarm topic is encrypted with KMS",
    "logs": "functions and state machines log to CloudWatch Logs",
    "monitoring": "alarms are CloudWatch alarms",
    "xray": "functions are traced with X-Ray",
}
#: Added when ``cellRouterEnabled`` is true.
ROUTER_SERVICES: dict[str, str] = {
    "sqs": "the cell router's provisioning queue is SQS (cellRouterEnabled)",
    "cognito-idp": "the cell router's users sign in with Cognito (cellRouterEnabled)",
    "apigateway": "the cell router's API is on API Gateway (cellRouterEnabled)",
    "secretsmanager": "the cell router's user-key secret is in Secrets Manager (cellRouterEnabled)",
}


def required_services(role: str, *, connect_mode: str, router: bool) -> dict[str, str]:
    """Endpoint prefix -> why, of every service the stack needs in the region
    playing ``role`` ("primary" or "secondary")."""
    services = dict(CORE_SERVICES)
    if router:
        services.update(ROUTER_SERVICES)
    if role == "primary" and connect_mode in ("create", "existing"):
        services["connect"] = f"connectMode is {connect_mode} (Connect lives in the primary)"
    return services


def _check_region(
    r: _Reader, key: str, region: str, role: str, *, connect_mode: str, router: bool
) -> None:
    if problem := regions.partition_problem(region):
        r.fail(key, problem)
        return
    services = required_services(role, connect_mode=connect_mode, router=router)
    for service in regions.missing_services(region, services):
        r.fail(key, regions.describe_missing(region, service, services[service]))


def _non_empty(max_len: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not value:
            return "must not be empty"
        if len(value) > max_len:
            return f"must be at most {max_len} characters"
        return None

    return check


def _liveness(value: str) -> str | None:
    return None if value == "none" else value


def load_settings() -> Settings:
    """Read every declared key from the stack's configuration, once."""
    config = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    # Keys set in the stack file but not declared here, in our namespace or
    # in a misspelt one, are typos more often than not; pass every key the
    # engine gives the program through, qualified, so parse_settings reports
    # them (and ignores Pulumi's and the providers' own namespaces).
    prefix = f"{PROJECT}:"
    all_config = {**get_config_env(), **CONFIG.get()}
    for full_key in all_config:
        if not (full_key.startswith(prefix) and full_key[len(prefix) :] in _BY_KEY):
            raw[full_key] = all_config[full_key]
    for setting in SETTINGS:
        value = config.get(setting.key)
        if value is None:
            continue
        if setting.type == "array":
            try:
                raw[setting.key] = json.loads(value)
            except json.JSONDecodeError:
                raw[setting.key] = value
        else:
            raw[setting.key] = value
    return parse_settings(raw, stack=pulumi.get_stack(), project=pulumi.get_project())


def markdown_reference() -> str:
    """The README's configuration table, generated from ``SETTINGS``."""
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = "*(required)*" if s.default is None else f"`{json.dumps(s.default)}`"
        rows.append(f"| `{s.key}` | {s.type} | {default} | {s.description} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- #
# Lex topology of an existing stack
# --------------------------------------------------------------------------- #
#: Stack output recording which Lex topology the stack deployed.
LEX_TOPOLOGY_OUTPUT = "lexTopology"
INDEPENDENT_BOTS = "independent-bots"
GLOBAL_RESILIENCY = "global-resiliency"


def lex_topology(settings: Settings) -> str:
    return GLOBAL_RESILIENCY if settings.lex.global_resiliency else INDEPENDENT_BOTS


def topology_change_problem(previous: object, requested: str) -> str | None:
    """Why switching ``lexGlobalResiliency`` on a deployed stack is refused.

    Pulumi would update it in place, wrongly both ways: turning replication
    on changes only the bot's write-only ``replication`` while the version and
    alias keep identical inputs and are not re-created (only versions and
    aliases created after replication is on reach the replica), and the same
    update deletes the secondary bot and points the health check, lookup and
    flow at a replica alias that does not exist yet; turning it off deletes
    the replica before a secondary bot exists. ``previous`` is the stack's
    last ``lexTopology`` output (None: never deployed, or destroyed)."""
    if previous is None or previous == "" or previous == requested:
        return None
    wanted = "true" if requested == GLOBAL_RESILIENCY else "false"
    return (
        f"{PROJECT}:lexGlobalResiliency: this stack is deployed with Lex topology "
        f"{previous!r}; setting lexGlobalResiliency to {wanted} would switch it to "
        f"{requested!r} in place, which Pulumi cannot do safely (versions and aliases created "
        "before replication never reach the replica; the other bot is deleted before its "
        "replacement exists). Nothing was changed. Set it back, or follow the README's "
        "'Changing lexGlobalResiliency on a deployed stack' procedure (a new stack with the "
        "other topology, move callers, destroy the old one)."
    )


def lex_topology_guard(settings: Settings) -> pulumi.Output[pulumi.Resource]:
    """A dependency for the providers that fails the update, before any
    resource is touched, when it would switch the deployed Lex topology.

    Config alone cannot tell a new stack from a deployed one, so the program
    reads its own stack's previous outputs through a ``StackReference`` to
    itself (``organization/project/stack``; a stack that was never deployed,
    or was destroyed, has none). Every resource uses one of the providers,
    which depend on the returned output, so nothing is registered when the
    check raises."""
    # DIY backends (pulumi login --local, s3://) name every org "organization".
    organization = pulumi.get_organization() or "organization"
    own = pulumi.StackReference(f"{organization}/{pulumi.get_project()}/{pulumi.get_stack()}")
    requested = lex_topology(settings)

    def check(previous: object) -> pulumi.Resource:
        if problem := topology_change_problem(previous, requested):
            raise ConfigError(problem)
        return own

    return own.get_output(LEX_TOPOLOGY_OUTPUT).apply(check)
