"""Every stack `pulumi up` would reject fails first, naming its key (issue #15).

One table holds each case a new user tried, with the message they now get;
the tests after it cover the kinds behind the cases: region availability of
every service the stack declares (botocore's endpoint data), each partition,
each resource-name limit (cfn-lint's CloudFormation schemas), the Lex
topology switch on a deployed stack, and config keys in any namespace.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import config
import regions
from config import NAME_LIMITS, ConfigError, parse_settings
from tests.offline.artifact_checks import (
    ProgramArtifacts,
    check_classic_resource,
    check_native_resource,
)
from tests.offline.artifact_checks.cfn_schemas import cfn_schema
from tests.pulumi_harness import ACCOUNT, DEV_CONFIG, EU_CONFIG, RecordingMocks, run_program

INSTANCE_ID = "12345678-1234-1234-1234-123456789012"

#: (case, overrides of the dev stack, message fragments each naming its key)
CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "1 probe interval beyond the inline Map limit",
        {"probeIntervalSeconds": 1},
        [
            "probeIntervalSeconds: must divide 60 and be at most 10 with at most 40 rounds",
            "60 rounds a minute exceed Step Functions' inline Map limit of 40",
        ],
    ),
    (
        "2 Lex V2 exists in neither region",
        {"primaryRegion": "us-east-2", "secondaryRegion": "sa-east-1"},
        [
            "primaryRegion: Amazon Lex V2 (lexv2-models) is not available in us-east-2",
            "secondaryRegion: Amazon Lex V2 (lexv2-models) is not available in sa-east-1",
            "primaryRegion: Amazon Lex V2 runtime (lexv2-runtime) is not available in us-east-2",
        ],
    ),
    (
        "2 Connect is not in eu-west-1",
        {
            "primaryRegion": "eu-west-1",
            "secondaryRegion": "eu-west-2",
            "connectMode": "existing",
            "connectInstanceId": INSTANCE_ID,
        },
        [
            "primaryRegion: Amazon Connect (connect) is not available in eu-west-1, "
            "but connectMode is existing"
        ],
    ),
    (
        "3 GovCloud",
        {"primaryRegion": "us-gov-west-1", "secondaryRegion": "us-gov-east-1"},
        [
            "primaryRegion: 'us-gov-west-1' is in the aws-us-gov partition; this program "
            "deploys only to the aws (commercial) partition",
            "secondaryRegion: 'us-gov-east-1' is in the aws-us-gov partition",
        ],
    ),
    (
        "3 China",
        {"primaryRegion": "cn-north-1", "secondaryRegion": "cn-northwest-1"},
        ["primaryRegion: 'cn-north-1' is in the aws-cn partition"],
    ),
    (
        "4 Global Resiliency on an unsupported pair",
        {**EU_CONFIG, "secondaryRegion": "eu-west-1", "lexGlobalResiliency": True},
        [
            "lexGlobalResiliency: Lex Global Resiliency replicates only between "
            "eu-central-1/eu-west-2, us-east-1/us-west-2; eu-west-2/eu-west-1 is not one of them"
        ],
    ),
    (
        "6 off is a string, as the Pulumi CLI reads it",
        {"cellRouterEnabled": "off"},
        ["cellRouterEnabled: must be true or false, got 'off'"],
    ),
    (
        "9 a public host that starts with localhost",
        {"oauthCallbackUrls": ["http://localhost.evil.com/cb"]},
        [
            "oauthCallbackUrls: 'http://localhost.evil.com/cb' must be https:// (plain http is "
            "allowed only for exactly 127.0.0.1 or localhost)"
        ],
    ),
    (
        "9 burst far below a rate above 5000",
        {"apiThrottleRateLimit": 6000, "apiThrottleBurstLimit": 10},
        [
            "apiThrottleBurstLimit: (10) must be at least apiThrottleRateLimit (6000), or the "
            "account's burst quota of 5000"
        ],
    ),
    (
        "9 200-character bot and alias names",
        {"lexBotName": "b" * 200, "lexBotAliasName": "a" * 200},
        [
            "lexBotName: is 200 characters, at most 74 allowed (AWS::Lex::Bot Name is at most "
            "100 characters and its auto-name adds 26",
            "lexBotAliasName: is 200 characters, at most 100 allowed",
        ],
    ),
    (
        "9 instance alias without connectMode create",
        {"connectInstanceAlias": "flowers-dev"},
        ["connectInstanceAlias: is only used when connectMode is create"],
    ),
    (
        "9 instance alias with connectMode existing",
        {"connectMode": "existing", "connectInstanceId": INSTANCE_ID, "connectInstanceAlias": "x1"},
        ["connectInstanceAlias: is only used when connectMode is create"],
    ),
    (
        "10 a typo in the namespace",
        {"resilient-routng:failoverThreshold": 5},
        [
            "resilient-routng:failoverThreshold: unknown namespace 'resilient-routng' "
            "(did you mean resilient-routing:failoverThreshold?)"
        ],
    ),
    (
        "10 an unrelated namespace",
        {"acme:failoverThreshold": 5},
        ["acme:failoverThreshold: unknown namespace 'acme' (settings are resilient-routing:*)"],
    ),
    (
        "instance alias the Connect schema refuses",
        {"connectMode": "create", "connectInstanceAlias": "d-" + "x" * 10},
        ["connectInstanceAlias: 'd-xxxxxxxxxx' is not a valid instance alias"],
    ),
    (
        "an OAuth URL with a fragment",
        {"oauthLogoutUrls": ["https://app.example.com/#done"]},
        ["oauthLogoutUrls: 'https://app.example.com/#done' must not contain a fragment"],
    ),
]


@pytest.mark.parametrize(
    ("overrides", "messages"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_case_fails_in_config_naming_its_key(overrides, messages):
    with pytest.raises(ConfigError) as err:
        parse_settings({**DEV_CONFIG, **overrides}, stack="dev")
    for message in messages:
        assert message in str(err.value)


@pytest.mark.parametrize(
    "overrides",
    [
        {"probeIntervalSeconds": 1},
        {"primaryRegion": "us-east-2", "secondaryRegion": "sa-east-1"},
        {"resilient-routng:failoverThreshold": 5},
        {"apiThrottleRateLimit": 6000, "apiThrottleBurstLimit": 10},
    ],
    ids=["map-limit", "region", "namespace", "throttle"],
)
def test_the_program_under_the_engine_stops_before_any_resource(overrides):
    """The engine hands the program every key, any namespace (load_settings)."""
    mocks = RecordingMocks()
    with pytest.raises(ConfigError):
        run_program({**DEV_CONFIG, **overrides}, mocks=mocks)
    assert mocks.resources == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"phoneNumberCountryCode": "NO"}, "NO"),  # Norway, a string in YAML 1.2
        ({"oauthCallbackUrls": ["http://127.0.0.1:8080/cb"]}, ("http://127.0.0.1:8080/cb",)),
        ({"oauthCallbackUrls": ["http://localhost/cb"]}, ("http://localhost/cb",)),
        ({"apiThrottleRateLimit": 8000, "apiThrottleBurstLimit": 5000}, 5000),
        ({"aws:region": "eu-west-1", "pulumi:disable-default-providers": '["aws"]'}, None),
    ],
    ids=["norway", "loopback-ip", "localhost", "burst-at-quota", "pulumi-and-aws-namespaces"],
)
def test_what_the_limits_still_accept(overrides, expected):
    s = parse_settings({**DEV_CONFIG, **overrides}, stack="dev")
    value = {
        "phoneNumberCountryCode": lambda: s.connect.phone_number_country_code,
        "oauthCallbackUrls": lambda: s.cell_router.callback_urls,
        "apiThrottleRateLimit": lambda: s.cell_router.throttle_burst_limit,
    }
    for key, read in value.items():
        if key in overrides:
            assert read() == expected


# --------------------------------------------------------------------------- #
# Kind: region availability of every service the stack declares
# --------------------------------------------------------------------------- #
STACK_VARIANTS = {
    "dev": DEV_CONFIG,
    "eu": EU_CONFIG,
    "connect": {**DEV_CONFIG, "connectMode": "create", "connectInstanceAlias": "flowers-dev"},
    "global-resiliency": {**DEV_CONFIG, "lexGlobalResiliency": True, "alarmEmail": "a@b.co"},
    "no-router": {**EU_CONFIG, "cellRouterEnabled": False},
}


@pytest.mark.parametrize("variant", sorted(STACK_VARIANTS))
def test_every_declared_service_is_checked_in_its_region(variant):
    """Each resource the program declares maps to a service, and that service
    is among those the config check requires in the resource's region."""
    raw = STACK_VARIANTS[variant]
    settings = parse_settings(raw, stack=variant)
    run = run_program(raw, stack=variant)
    roles = {settings.primary_region: "primary", settings.secondary_region: "secondary"}
    checked = 0
    for resource in run.cloud_resources():
        service = regions.service_of(resource.type)  # KeyError: add the type to RESOURCE_SERVICES
        if service is None:
            continue  # IAM: global
        required = config.required_services(
            roles[resource.region],
            connect_mode=settings.connect.mode,
            router=settings.cell_router.enabled,
        )
        assert service in required, f"{resource.type} in {resource.region} is not checked"
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("service", sorted({*config.CORE_SERVICES, *config.ROUTER_SERVICES}))
def test_each_service_is_checked_against_botocore_in_every_commercial_region(service):
    """For every commercial region: the stack is refused there exactly when
    botocore lists no endpoint of the service in it, with the service named."""
    available = set(regions.regions_with(service))
    assert available, f"botocore knows no region for {service}"
    name = regions.SERVICE_NAMES[service]
    for region in regions.known_regions():
        problems = _region_problems(region)
        assert (f"{name} is not available in {region}" in problems) == (region not in available)


def _region_problems(region: str) -> str:
    other = "us-west-2" if region != "us-west-2" else "us-east-1"
    try:
        parse_settings({"primaryRegion": region, "secondaryRegion": other}, stack="x")
    except ConfigError as exc:
        return str(exc)
    return ""


def test_connect_is_required_only_in_the_primary_and_only_with_connect():
    lex_regions = set(regions.regions_with("models-v2-lex"))
    without_connect = sorted(lex_regions - set(regions.regions_with("connect")))
    assert "eu-west-1" in without_connect
    base = {"primaryRegion": "eu-west-2", "secondaryRegion": "eu-west-1"}
    parse_settings(base, stack="x")  # secondary without Connect: fine
    parse_settings(
        {**base, "primaryRegion": "eu-west-1", "secondaryRegion": "eu-west-2"}, stack="x"
    )
    with pytest.raises(ConfigError, match="Amazon Connect"):
        parse_settings(
            {**base, "primaryRegion": "eu-west-1", "secondaryRegion": "eu-west-2",
             "connectMode": "create", "connectInstanceAlias": "flowers"},
            stack="x",
        )  # fmt: skip


def test_every_pair_of_lex_regions_is_accepted_and_the_examples_pass():
    lex_regions = sorted(set(regions.regions_with("models-v2-lex")))
    assert {"us-east-1", "us-west-2", "eu-west-2", "eu-central-1"} <= set(lex_regions)
    for primary, secondary in itertools.permutations(lex_regions, 2):
        parse_settings({"primaryRegion": primary, "secondaryRegion": secondary}, stack="x")


def test_every_resource_type_names_its_service():
    with pytest.raises(KeyError, match="no service known"):
        regions.service_of("aws:ec2/vpc:Vpc")
    assert regions.service_of("aws:cloudwatch/metricAlarm:MetricAlarm") == "monitoring"
    assert regions.service_of("aws:cloudwatch/eventRule:EventRule") == "events"


# --------------------------------------------------------------------------- #
# Kind: partitions
# --------------------------------------------------------------------------- #
PARTITIONS = [
    entry["partition"]
    for entry in regions._endpoints()["partitions"]  # botocore's own list
]


@pytest.mark.parametrize("partition", PARTITIONS)
def test_each_partition_is_served_or_refused_by_name(partition):
    region = regions.known_regions(partition)[0]
    problems = _region_problems(region)
    if partition == regions.SUPPORTED_PARTITION:
        assert "partition" not in problems
    else:
        assert f"primaryRegion: {region!r} is in the {partition} partition" in problems


def test_an_unknown_region_is_named_with_the_botocore_version():
    problems = _region_problems("us-mars-1")
    assert "primaryRegion: 'us-mars-1' is not a region of the aws partition in botocore" in problems


# --------------------------------------------------------------------------- #
# Kind: each resource-name limit, against the CloudFormation schemas
# --------------------------------------------------------------------------- #
#: setting -> (CloudFormation type, JSON path to the string in its schema)
SCHEMA_OF = {
    "lexBotName": ("AWS::Lex::Bot", ("definitions", "Name")),
    "lexBotAliasName": ("AWS::Lex::BotAlias", ("properties", "BotAliasName")),
    "connectInstanceAlias": ("AWS::Connect::Instance", ("properties", "InstanceAlias")),
    "contactFlowName": ("AWS::Connect::ContactFlow", ("properties", "Name")),
    "healthCheckExpectedResponse": (
        "AWS::Lex::Bot", ("definitions", "PlainTextMessage", "properties", "Value")
    ),
}  # fmt: skip


def _valid_value(key: str, length: int) -> str:
    return "f" + "x" * (length - 1) if key != "contactFlowName" else "F" * length


@pytest.mark.parametrize("key", sorted(NAME_LIMITS))
def test_each_name_limit_accepts_its_cap_and_refuses_one_more(key):
    limit, _source = NAME_LIMITS[key]
    base = {**DEV_CONFIG}
    if key == "connectInstanceAlias":
        base.update(connectMode="create")
    parse_settings({**base, key: _valid_value(key, limit)}, stack="dev")
    with pytest.raises(ConfigError) as err:
        parse_settings({**base, key: _valid_value(key, limit + 1)}, stack="dev")
    assert f"resilient-routing:{key}:" in str(err.value)
    assert str(limit) in str(err.value)


@pytest.mark.parametrize("key", sorted(SCHEMA_OF))
def test_each_name_limit_is_the_schemas_minus_what_the_program_adds(key):
    type_name, path = SCHEMA_OF[key]
    node: Any = cfn_schema(type_name, "us-east-1")
    schema = node
    for step in path:
        node = node[step]
        if "$ref" in node:  # "#/definitions/Name"
            target = schema
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
    overhead = config.LEX_BOT_AUTONAME_OVERHEAD if key == "lexBotName" else 0
    assert NAME_LIMITS[key][0] == node["maxLength"] - overhead


def test_a_stack_with_every_name_at_its_cap_passes_the_offline_artifact_checks():
    raw = {
        **DEV_CONFIG,
        "connectMode": "create",
        **{key: _valid_value(key, limit) for key, (limit, _) in NAME_LIMITS.items()},
    }
    # Texts that land in Lambda environments, at their caps: the 4 KB
    # environment quota (check_lambda_limits) must still hold.
    raw["healthCheckSampleUtterance"] = "I would like " + "x" * 1000
    raw["supportContact"] = "s" * 256
    raw["incidentNotice"] = "n" * 1024
    raw["healthCheckTestUser"] = "u" * 80
    parse_settings(raw, stack="dev")
    run = run_program(raw)
    artifacts = ProgramArtifacts(run, ACCOUNT)
    problems = [
        p
        for r in artifacts.native_resources()
        for p in check_native_resource(
            r.type, r.inputs, r.region, r.name, artifacts.default_tags("aws-native", r.region)
        )
    ]
    context = artifacts.context()
    problems += [
        p for r in artifacts.classic_resources() for p in check_classic_resource(r, context)
    ]
    assert not problems, "\n".join(problems)
    # The validator truncates auto-names to the schema's length; Pulumi does
    # not, so the logical name plus "-" and 7 characters must fit as is.
    for bot in run.of_type("aws-native:lex:Bot"):
        assert len(bot.name) + 8 <= 100, bot.name


# --------------------------------------------------------------------------- #
# Kind: switching the Lex topology of a deployed stack
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("deployed", "requested"),
    [("independent-bots", True), ("global-resiliency", False)],
    ids=["turn-on", "turn-off"],
)
def test_switching_lex_topology_on_a_deployed_stack_is_refused_before_any_resource(
    deployed, requested
):
    mocks = RecordingMocks(stack_outputs={"lexTopology": deployed})
    with pytest.raises(ConfigError) as err:
        run_program({**DEV_CONFIG, "lexGlobalResiliency": requested}, mocks=mocks)
    assert "resilient-routing:lexGlobalResiliency: this stack is deployed with Lex topology" in (
        str(err.value)
    )
    assert "Changing lexGlobalResiliency on a deployed stack" in str(err.value)
    assert not [r for r in mocks.resources if r.custom and r.package in ("aws", "aws-native")]
    assert not [r for r in mocks.resources if r.type.startswith("pulumi:providers:")]


@pytest.mark.parametrize(
    ("previous", "requested"),
    [({}, True), ({}, False), ({"lexTopology": "global-resiliency"}, True),
     ({"lexTopology": "independent-bots"}, False)],
    ids=["new-gr", "new-bots", "same-gr", "same-bots"],
)  # fmt: skip
def test_a_new_stack_or_an_unchanged_topology_deploys(previous, requested):
    mocks = RecordingMocks(stack_outputs=previous)
    run = run_program({**DEV_CONFIG, "lexGlobalResiliency": requested}, mocks=mocks)
    expected = "global-resiliency" if requested else "independent-bots"
    assert run.outputs["lexTopology"] == expected
    assert len(run.cloud_resources()) >= 20
    (reference,) = run.of_type("pulumi:pulumi:StackReference")
    assert reference.inputs["name"] == "organization/resilient-routing/dev"
