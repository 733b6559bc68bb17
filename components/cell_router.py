"""The cell router in one region (``CellRouter``) and in both
(``MultiRegionCellRouter``), issue #13.

``CellRouter`` composes what one region runs: ``RouterData`` (the routing
table, or its replica in a replica region; the provisioning queue, its DLQ
and their alarms), ``CellRouterFunctions`` (the six functions, the writer
heartbeat, the provisioning bus and rule, the sweeper's and the heartbeat's
schedules), the EXPRESS ``Orchestrator``, ``RouterAlarms`` and
``CellRouterApi`` (the REST API behind the Lambda ``TOKEN`` authorizer; the
user pool and the JWKS refresher only where the pool lives).

``MultiRegionCellRouter`` builds one ``CellRouter`` per region on that
region's providers, as ``MultiRegionLexBot`` builds one bot per region:

============================  ===========================  ==========================
                              primary                      secondary
============================  ===========================  ==========================
routing table                 the global table (creates    its replica (same name,
                              it, replica in secondary)    ARN region-swapped)
user-key secret               generated, replicated        the replica (same value)
Cognito user pool, hosted UI  yes                          no (the primary's, by ref)
JWKS refresher (15 min)       yes                          no (one writing region)
authorizer, API, Orchestrator yes                          yes
functions, heartbeat (1 min)  yes                          yes
queues, bus, alarms           yes (primary's topic)        yes (secondary's topic)
============================  ===========================  ==========================

Every regional resource names only its own region's resources: the
secondary's functions read and write the table's replica, its queue and its
secret replica (``tests/components/test_cell_router_two_regions.py`` parses
every policy to show it).

Each region's dispatcher learns both router URLs (``ROUTER_URLS``, named by
a ``WrongRegion`` answer). A URL exists only once the REST API does, and the
API's methods need the Orchestrator, which needs the dispatcher: so both
REST APIs are created first (``router_rest_api``) and their URLs computed
from their ids (``invoke_url``), before either region's functions.

The primary's components keep the URNs they had as top-level components
(``aliases``), so a stack deployed before this parent existed updates in
place instead of replacing its table, pool and API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.cell_router_api import (
    CellRouterApi,
    CellRouterApiArgs,
    FunctionRuntime,
    UserPoolRef,
    invoke_url,
    router_rest_api,
)
from components.cell_router_functions import (
    CellRouterFunctions,
    CellRouterFunctionsArgs,
    WriterSettings,
)
from components.dashboard import RouterResources
from components.orchestrator import Orchestrator, OrchestratorArgs
from components.providers import RegionProviders
from components.router_alarms import RouterAlarms, RouterAlarmsArgs
from components.router_data import RouterData, RouterDataArgs, RouterTableRef
from handlers.cell_router import contract

API_STAGE = "v1"


@dataclass(frozen=True)
class SharedRouterSettings:
    """What the stack configures, the same in both regions (``config.py``'s
    ``cell_router`` settings and the Lambda settings)."""

    callback_urls: Sequence[str]
    logout_urls: Sequence[str] = ()
    router_id: str = "resilient-routing"
    # --- data
    billing_mode: str = "PAY_PER_REQUEST"
    read_capacity: int = 5
    write_capacity: int = 5
    queue_alarm_depth: int = 10
    deletion_protection: bool = True
    # --- functions
    cell_endpoint_domains: Sequence[str] = ()
    provisioning_principals: Sequence[str] = ()
    # Defaults and bounds: handlers/cell_router/contract.py (declared once).
    max_cells_per_market: int | None = contract.MAX_CELLS_PER_MARKET.deployed_default
    slots_per_cell: int = contract.SLOTS_PER_CELL.default
    sign_up_policy: str = "open"
    sign_up_allowed_domains: Sequence[str] = ()
    default_market: str = contract.DEFAULT_MARKET.deployed_default
    capacity_buffer: float = float(contract.CAPACITY_BUFFER.deployed_default)
    scale_out_threshold: float = float(contract.SCALE_OUT_THRESHOLD.deployed_default)
    endpoint_ttl_seconds: int = contract.ENDPOINT_TTL_SECONDS.deployed_default
    validator_deep_check: bool = contract.VALIDATOR_DEEP_CHECK.deployed_default
    support_contact: str = contract.REMEDIATION_SUPPORT_CONTACT.deployed_default
    incident_notice: str = contract.REMEDIATION_INCIDENT_NOTICE.deployed_default
    expected_wait_minutes: int = contract.REMEDIATION_EXPECTED_WAIT_MINUTES.deployed_default
    runtime: str = "python3.13"
    architecture: str = "arm64"
    powertools_layer_version: int = 27
    log_retention_days: int = 30
    # --- API
    domain_prefix: str | None = None
    throttle_rate_limit: float = 50
    throttle_burst_limit: int = 100
    manage_account_logging_role: bool = False
    waf_enabled: bool = False
    waf_rate_limit: int = 300
    # --- writer (two regions)
    writer_fence_seconds: int = contract.WRITER_FENCE_SECONDS.default
    writer_lease_seconds: int = contract.WRITER_LEASE_SECONDS.default
    writer_auto_promotion: bool = contract.WRITER_AUTO_PROMOTION.default
    writer_auto_promote_after_seconds: int = contract.WRITER_AUTO_PROMOTE_AFTER_SECONDS.default


@dataclass(frozen=True)
class CellRouterArgs:
    """Arguments of the regional ``CellRouter``.

    ``table``: ``None`` creates the routing table (with replicas in
    ``replica_regions``); a ``RouterTableRef`` runs on that replica.
    ``user_pool``: ``None`` creates the pool here; else the pool to trust.
    ``rest_api``: the REST API created beforehand (``router_rest_api``).
    ``writer``: the writer gate and heartbeat (two regions); ``None``: one region.
    ``keep_top_level_urns``: alias the sub-components to the URNs they had as
    top-level components (the primary, for stacks deployed before #13).
    """

    region: str
    settings: SharedRouterSettings
    alarm_topic_arn: pulumi.Input[str]
    table: RouterTableRef | None = None
    replica_regions: tuple[str, ...] = ()
    user_pool: UserPoolRef | None = None
    rest_api: aws.apigateway.RestApi | None = None
    writer: WriterSettings | None = None
    keep_top_level_urns: bool = False

    def __post_init__(self) -> None:
        if self.table is not None and self.table.region != self.region:
            raise ValueError(
                f"the router in {self.region} must use the table's replica in {self.region}, "
                f"not in {self.table.region}"
            )
        if self.region in self.replica_regions:
            raise ValueError(f"{self.region} cannot hold a replica of its own table")


class CellRouter(pulumi.ComponentResource):
    """The cell router of one region (see the module docstring)."""

    region: str
    data: RouterData
    functions: CellRouterFunctions
    orchestrator: Orchestrator
    router_alarms: RouterAlarms
    api: CellRouterApi
    api_url: pulumi.Output[str]
    alarms: list[aws.cloudwatch.MetricAlarm]
    function_names: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, args: CellRouterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:CellRouter", name, None, opts)
        self._name = name
        self.region = args.region
        self._keep = args.keep_top_level_urns
        self._data(args)
        self._functions(args)
        self._orchestrator(args)
        self._api(args)
        self._alarms(args)
        self.register_outputs(self._outputs())

    def _child(self) -> pulumi.ResourceOptions:
        # A stack deployed before #13 has these components at the top level.
        aliases = [pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)] if self._keep else None
        return pulumi.ResourceOptions(parent=self, aliases=aliases)

    def _data(self, args: CellRouterArgs) -> None:
        s = args.settings
        self.data = RouterData(
            self._name,
            RouterDataArgs(
                billing_mode=s.billing_mode,
                read_capacity=s.read_capacity,
                write_capacity=s.write_capacity,
                queue_alarm_depth=s.queue_alarm_depth,
                alarm_topic_arn=args.alarm_topic_arn,
                deletion_protection=s.deletion_protection,
                replica_regions=args.replica_regions,
                table=args.table,
            ),
            opts=self._child(),
        )

    def _functions(self, args: CellRouterArgs) -> None:
        s = args.settings
        self.functions = CellRouterFunctions(
            self._name,
            CellRouterFunctionsArgs(
                region=args.region,
                table_name=self.data.table_name,
                table_arn=self.data.table_arn,
                index_arn=self.data.index_arn,
                queue_url=self.data.queue_url,
                queue_arn=self.data.queue_arn,
                alarm_topic_arn=args.alarm_topic_arn,
                user_key_secret_arn=self.data.user_key_secret_arn,
                router_id=s.router_id,
                cell_endpoint_domains=s.cell_endpoint_domains,
                provisioning_principals=s.provisioning_principals,
                max_cells_per_market=s.max_cells_per_market,
                slots_per_cell=s.slots_per_cell,
                # The pre sign-up trigger belongs to the pool's region.
                sign_up_allowed_domains=(
                    s.sign_up_allowed_domains
                    if s.sign_up_policy == "allowedDomains" and args.user_pool is None
                    else ()
                ),
                default_market=s.default_market,
                capacity_buffer=s.capacity_buffer,
                scale_out_threshold=s.scale_out_threshold,
                endpoint_ttl_seconds=s.endpoint_ttl_seconds,
                validator_deep_check=s.validator_deep_check,
                support_contact=s.support_contact,
                incident_notice=s.incident_notice,
                expected_wait_minutes=s.expected_wait_minutes,
                runtime=s.runtime,
                architecture=s.architecture,
                powertools_layer_version=s.powertools_layer_version,
                # Function timeouts default to the Orchestrator's task budgets.
                log_retention_days=s.log_retention_days,
                writer=args.writer,
            ),
            opts=self._child(),
        )

    def _orchestrator(self, args: CellRouterArgs) -> None:
        self.orchestrator = Orchestrator(
            self._name,
            OrchestratorArgs(
                dispatcher_arn=self.functions.dispatcher_arn,
                scaler_arn=self.functions.scaler_arn,
                mapper_arn=self.functions.mapper_arn,
                validator_arn=self.functions.validator_arn,
                log_retention_days=args.settings.log_retention_days,
            ),
            opts=self._child(),
        )

    def _alarms(self, args: CellRouterArgs) -> None:
        # NoCapacity, lost or resent scale-out requests, function errors and
        # throttles (the heartbeat's and the JWKS refresher's too: any error
        # pages), failed/timed-out executions. Not the authorizer: it answers
        # every rejected token with an error, so its Errors are not failures.
        refresher = self.api.jwks_refresher
        self.router_alarms = RouterAlarms(
            self._name,
            RouterAlarmsArgs(
                function_names={
                    **self.functions.function_names,
                    **({"jwks_refresher": refresher.name} if refresher else {}),
                },
                state_machine_arn=self.orchestrator.arn,
                alarm_topic_arn=args.alarm_topic_arn,
            ),
            opts=self._child(),
        )

    def _api(self, args: CellRouterArgs) -> None:
        s = args.settings
        gate = self.functions.sign_up_gate
        self.api = CellRouterApi(
            self._name,
            CellRouterApiArgs(
                region=args.region,
                state_machine_arn=self.orchestrator.arn,
                callback_urls=s.callback_urls,
                logout_urls=s.logout_urls,
                table_name=self.data.table_name,
                table_arn=self.data.table_arn,
                domain_prefix=s.domain_prefix,
                throttle_rate_limit=s.throttle_rate_limit,
                throttle_burst_limit=s.throttle_burst_limit,
                stage_name=API_STAGE,
                log_retention_days=s.log_retention_days,
                # Account-wide setting shared with every API of the account and
                # region: opt-in (see CellRouterApi and the README).
                manage_account_logging_role=s.manage_account_logging_role,
                deletion_protection=s.deletion_protection,
                sign_up_policy=s.sign_up_policy,
                pre_sign_up_function_arn=gate.arn if gate else None,
                pre_sign_up_function_name=gate.name if gate else None,
                waf_enabled=s.waf_enabled,
                waf_rate_limit=s.waf_rate_limit,
                user_pool=args.user_pool,
                rest_api=args.rest_api,
                functions=FunctionRuntime(
                    runtime=s.runtime,
                    architecture=s.architecture,
                    powertools_layer_version=s.powertools_layer_version,
                ),
            ),
            opts=self._child(),
        )

    def _outputs(self) -> dict[str, pulumi.Input[object]]:
        """Set the public outputs; returns what ``register_outputs`` records."""
        self.api_url = self.api.api_url
        self.alarms = [
            *self.data.alarms.values(),
            *self.functions.alarms.values(),
            *self.router_alarms.alarms.values(),
        ]
        self.function_names = pulumi.Output.all(**self.functions.function_names).apply(dict)
        return {
            "apiUrl": self.api_url,
            "tableName": self.data.table_name,
            "orchestratorArn": self.orchestrator.arn,
            "functionNames": self.function_names,
        }

    def dashboard_resources(self) -> RouterResources:
        """This region's router as the region's dashboard draws it."""
        return RouterResources(
            api_name=self.api.rest_api.name,
            api_stage=self.api.stage.stage_name,
            orchestrator_arn=self.orchestrator.arn,
            provisioning_queue_name=self.data.queue.name,
            dead_letter_queue_name=self.data.dead_letter_queue.name,
            cell_ready_failed_queue_name=self.functions.cell_ready_failed_queue.name,
            function_names=self.functions.function_names,
        )


@dataclass(frozen=True)
class MultiRegionCellRouterArgs:
    """Arguments of ``MultiRegionCellRouter``: the settings, the providers of
    both regions and each region's alarm topic (the stack's, per region)."""

    settings: SharedRouterSettings
    primary: RegionProviders
    secondary: RegionProviders
    alarm_topic_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.primary.region == self.secondary.region:
            raise ValueError("primary and secondary must be different regions")
        regions = (self.primary.region, self.secondary.region)
        missing = [r for r in regions if r not in self.alarm_topic_arns]
        if missing:
            raise ValueError(f"alarm_topic_arns lacks {', '.join(missing)}")
        # The writer rules are the handlers' own: refuse here what they would.
        self.writer_settings(self.primary.region, "{}")

    def writer_settings(self, region: str, router_urls: pulumi.Input[str]) -> WriterSettings:
        """The writer gate of ``region``'s router: the other region is its
        peer, and the primary writes every market that has no record yet."""
        s = self.settings
        pair = (self.primary.region, self.secondary.region)
        return WriterSettings(
            region=region,
            peer_region=pair[1] if region == pair[0] else pair[0],
            primary_region=self.primary.region,
            router_urls=router_urls,
            fence_seconds=s.writer_fence_seconds,
            lease_seconds=s.writer_lease_seconds,
            auto_promotion=s.writer_auto_promotion,
            auto_promote_after_seconds=s.writer_auto_promote_after_seconds,
        )


class MultiRegionCellRouter(pulumi.ComponentResource):
    """One ``CellRouter`` per region on the table's global replicas."""

    regional: dict[str, CellRouter]
    regions: tuple[str, str]
    api_urls: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        args: MultiRegionCellRouterArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("resilient-routing:components:MultiRegionCellRouter", name, None, opts)
        primary, secondary = args.primary.region, args.secondary.region
        self.regions = (primary, secondary)
        rest_apis = self._rest_apis(name, args)
        urls = pulumi.Output.all(
            **{
                region: api.id.apply(lambda i, r=region: invoke_url(i, r, API_STAGE))
                for region, api in rest_apis.items()
            }
        ).apply(lambda v: json.dumps(dict(v), sort_keys=True))

        home = CellRouter(
            name,
            CellRouterArgs(
                region=primary,
                settings=args.settings,
                alarm_topic_arn=args.alarm_topic_arns[primary],
                replica_regions=(secondary,),
                rest_api=rest_apis[primary],
                writer=args.writer_settings(primary, urls),
                keep_top_level_urns=True,
            ),
            args.primary.child_opts(self),
        )
        replica = CellRouter(
            f"{name}-secondary",
            CellRouterArgs(
                region=secondary,
                settings=args.settings,
                alarm_topic_arn=args.alarm_topic_arns[secondary],
                table=home.data.replica_in(secondary),
                user_pool=home.api.user_pool_ref(),
                rest_api=rest_apis[secondary],
                writer=args.writer_settings(secondary, urls),
            ),
            pulumi.ResourceOptions.merge(
                args.secondary.child_opts(self), pulumi.ResourceOptions(depends_on=[home.data])
            ),
        )
        self.regional = {primary: home, secondary: replica}
        self.api_urls = pulumi.Output.all(
            **{region: router.api_url for region, router in self.regional.items()}
        ).apply(dict)
        self.register_outputs({"apiUrls": self.api_urls})

    def _rest_apis(
        self, name: str, args: MultiRegionCellRouterArgs
    ) -> dict[str, aws.apigateway.RestApi]:
        """Both REST APIs, before either region's functions (their URLs go
        into both dispatchers). The primary's keeps the URN it had under the
        top-level ``CellRouterApi``."""
        old_parent = pulumi.create_urn(name, "resilient-routing:components:CellRouterApi")
        primary_opts = pulumi.ResourceOptions.merge(
            args.primary.child_opts(self),
            pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=old_parent)]),
        )
        return {
            args.primary.region: router_rest_api(name, primary_opts),
            args.secondary.region: router_rest_api(
                f"{name}-secondary", args.secondary.child_opts(self)
            ),
        }

    @property
    def primary(self) -> CellRouter:
        return self.regional[self.regions[0]]

    @property
    def secondary(self) -> CellRouter:
        return self.regional[self.regions[1]]
