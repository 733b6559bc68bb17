"""resilient-routing: the Pulumi program.

Reads the stack configuration once, builds one ``aws`` and one ``aws-native``
provider per region, composes the components and exports their outputs.
Nothing below reads configuration except through ``settings``.
"""

from __future__ import annotations

import pulumi

from components.bot_definitions import order_flowers
from components.cell_router import (
    CellRouter,
    MultiRegionCellRouter,
    MultiRegionCellRouterArgs,
    SharedRouterSettings,
)
from components.connect import ConnectIntegration, ConnectIntegrationArgs
from components.dashboard import DashboardSettings, FailoverResources, RouterResources
from components.health_check import HealthCheck, HealthCheckArgs
from components.lex_bot import MultiRegionLexBot, MultiRegionLexBotArgs
from components.providers import region_providers
from components.stack_dashboard import StackDashboard, StackDashboardArgs
from config import LEX_TOPOLOGY_OUTPUT, lex_topology, lex_topology_guard, load_settings

settings = load_settings()

tags = {"project": settings.project, "stack": settings.stack}
# Nothing is declared while the guard could still refuse a Lex topology switch
# on a deployed stack (see config.topology_change_problem).
guard = lex_topology_guard(settings)
primary = region_providers("primary", settings.primary_region, tags, depends_on=guard)
secondary = region_providers("secondary", settings.secondary_region, tags, depends_on=guard)
pulumi.export(LEX_TOPOLOGY_OUTPUT, lex_topology(settings))

pulumi.export("primaryRegion", settings.primary_region)
pulumi.export("secondaryRegion", settings.secondary_region)

# --- lex failover -----------------------------------------------------------
# The bot in both regions; a health check (checker: probe function, probe
# loop, alarms; and a lookup) in each region, on a global state table;
# Connect unless mode is none.

lex_bot = MultiRegionLexBot(
    "lex-bot",
    MultiRegionLexBotArgs(
        # The probe's utterance and expected reply are the bot's own.
        definition=order_flowers(
            locale_id=settings.lex.locale_id,
            flower_type_prompt=settings.health_check.expected_response,
            probe_utterance=settings.health_check.sample_utterance,
        ),
        bot_name=settings.lex.bot_name,
        alias_name=settings.lex.alias_name,
        primary=primary,
        secondary=secondary,
        global_resiliency=settings.lex.global_resiliency,
    ),
)
hc = settings.health_check
# Deep probes: each checker probes each bot with healthCheckTestMethod every
# deepProbeIntervalSeconds, the two checkers half a period apart; the rounds
# in between use the unbilled liveness probe (README: "Probe cost").
deep_rounds = hc.deep_probe_interval_seconds // hc.probe_interval_seconds
health_check_common = dict(
    primary_region=settings.primary_region,
    secondary_region=settings.secondary_region,
    bots_env=lex_bot.bots_env,
    alias_arns=lex_bot.alias_arns,
    test_method=hc.test_method,
    sample_utterance=hc.sample_utterance,
    expected_response=hc.expected_response,
    test_user=hc.test_user,
    failover_threshold=hc.failover_threshold,
    failback_threshold=hc.failback_threshold,
    auto_failback=hc.auto_failback,
    probe_interval_seconds=hc.probe_interval_seconds,
    probe_attempts=hc.probe_attempts,
    lambda_runtime=settings.lambda_.runtime,
    lambda_architecture=settings.lambda_.architecture,
    powertools_layer_version=settings.lambda_.powertools_layer_version,
    log_retention_days=settings.lambda_.log_retention_days,
    alarm_email=settings.alarm_email,
    deletion_protection=settings.table_deletion_protection,
    staleness_seconds=hc.staleness_seconds,
    liveness_method=hc.liveness_method,
    deep_probe_every_seconds=hc.deep_probe_interval_seconds if hc.liveness_method else None,
)
# Both regions serve: the primary's checker and lookup, with the state table
# as a global table replicated to the secondary ...
health_check = HealthCheck(
    "lex-failover",
    HealthCheckArgs(
        **health_check_common,
        replica_regions=(settings.secondary_region,),
        deep_probe_phase=0,
    ),
    opts=primary.opts(),
)
# ... and the secondary's own checker, lookup and alarms on its replica.
health_check_secondary = HealthCheck(
    "lex-failover-secondary",
    HealthCheckArgs(
        **health_check_common,
        region=settings.secondary_region,
        state_table=health_check.replica_in(settings.secondary_region),
        deep_probe_phase=deep_rounds // 2,
    ),
    opts=secondary.opts(depends_on=[health_check]),
)
pulumi.export("lexBotIds", lex_bot.bot_ids)
pulumi.export("lexBotAliasIds", lex_bot.alias_ids)
pulumi.export("lexBotAliasArns", lex_bot.alias_arns)
pulumi.export("lexStateTableName", health_check.table_name)
pulumi.export("lexLookupFunctionArn", health_check.lookup_function_arn)
pulumi.export("lexProbeFunctionArn", health_check.probe_function_arn)
pulumi.export("lexProbeStateMachineArn", health_check.state_machine_arn)
pulumi.export("lexAlarmTopicArn", health_check.alarm_topic_arn)
pulumi.export("lexSecondaryLookupFunctionArn", health_check_secondary.lookup_function_arn)
pulumi.export("lexSecondaryProbeFunctionArn", health_check_secondary.probe_function_arn)
pulumi.export("lexSecondaryProbeStateMachineArn", health_check_secondary.state_machine_arn)
pulumi.export("lexSecondaryAlarmTopicArn", health_check_secondary.alarm_topic_arn)

if settings.connect.mode != "none":
    connect = ConnectIntegration(
        "lex-connect",
        ConnectIntegrationArgs(
            mode=settings.connect.mode,
            primary_region=settings.primary_region,
            secondary_region=settings.secondary_region,
            lookup_function_arn=health_check.lookup_function_arn,
            alias_arns=lex_bot.alias_arns,
            instance_id=settings.connect.instance_id,
            instance_alias=settings.connect.instance_alias,
            claim_phone_number=settings.connect.claim_phone_number,
            phone_number_country_code=settings.connect.phone_number_country_code,
            phone_number_type=settings.connect.phone_number_type,
            flow_name=settings.connect.contact_flow_name,
        ),
        opts=primary.opts(),
    )
    pulumi.export("connectInstanceId", connect.instance_id)
    pulumi.export("connectInstanceArn", connect.instance_arn)
    pulumi.export("connectContactFlowId", connect.contact_flow_id)
    if connect.phone_number is not None:
        pulumi.export("connectPhoneNumber", connect.phone_number)

    # Amazon Connect Global Resiliency: the replica instance in the secondary
    # gets both aliases, the secondary's lookup and the same flow.
    if settings.connect.replica_instance_id:
        connect_replica = ConnectIntegration(
            "lex-connect-replica",
            ConnectIntegrationArgs(
                mode="existing",
                primary_region=settings.primary_region,
                secondary_region=settings.secondary_region,
                lookup_function_arn=health_check_secondary.lookup_function_arn,
                alias_arns=lex_bot.alias_arns,
                instance_id=settings.connect.replica_instance_id,
                instance_region=settings.secondary_region,
                flow_name=settings.connect.contact_flow_name,
            ),
            opts=secondary.opts(),
        )
        pulumi.export("connectReplicaInstanceArn", connect_replica.instance_arn)
        pulumi.export("connectReplicaContactFlowId", connect_replica.contact_flow_id)

# --- cell router --------------------------------------------------------------
# In both regions (issue #13): one CellRouter per region on the routing
# table's global replicas; the user pool and the JWKS refresher in the
# primary, the token authorizer, API, Orchestrator, functions, heartbeat,
# queues and alarms in each. See components/cell_router.py.
router_regions: dict[str, CellRouter] = {}
if settings.cell_router.enabled:
    router = settings.cell_router
    cell_router = MultiRegionCellRouter(
        "cell-router",
        MultiRegionCellRouterArgs(
            settings=SharedRouterSettings(
                callback_urls=router.callback_urls,
                logout_urls=router.logout_urls,
                # CellReady must name this router: one provisioning layer may
                # serve several stacks in one account.
                router_id=f"{settings.project}/{settings.stack}",
                billing_mode=router.table_billing_mode,
                read_capacity=router.table_read_capacity,
                write_capacity=router.table_write_capacity,
                queue_alarm_depth=router.provisioning_queue_alarm_depth,
                deletion_protection=settings.table_deletion_protection,
                cell_endpoint_domains=router.cell_endpoint_domains,
                provisioning_principals=router.provisioning_principals,
                max_cells_per_market=router.max_cells_per_market or None,
                slots_per_cell=router.slots_per_cell,
                sign_up_policy=router.sign_up_policy,
                sign_up_allowed_domains=router.sign_up_allowed_domains,
                default_market=router.default_market,
                capacity_buffer=router.capacity_buffer,
                scale_out_threshold=router.scale_out_threshold,
                endpoint_ttl_seconds=router.endpoint_ttl_seconds,
                validator_deep_check=router.validator_deep_check,
                support_contact=router.support_contact,
                incident_notice=router.incident_notice,
                expected_wait_minutes=router.expected_wait_minutes,
                runtime=settings.lambda_.runtime,
                architecture=settings.lambda_.architecture,
                powertools_layer_version=settings.lambda_.powertools_layer_version,
                log_retention_days=settings.lambda_.log_retention_days,
                domain_prefix=router.hosted_ui_domain_prefix,
                throttle_rate_limit=router.throttle_rate_limit,
                throttle_burst_limit=router.throttle_burst_limit,
                manage_account_logging_role=router.manage_api_gateway_account_role,
                waf_enabled=router.waf_enabled,
                waf_rate_limit=router.waf_rate_limit,
                writer_fence_seconds=router.writer_fence_seconds,
                writer_lease_seconds=router.writer_lease_seconds,
                writer_auto_promotion=router.writer_auto_promotion,
                writer_auto_promote_after_seconds=router.writer_auto_promote_after_seconds,
            ),
            primary=primary,
            secondary=secondary,
            # One alarm topic per region (one place to subscribe a pager):
            # each region's health check's.
            alarm_topic_arns={
                settings.primary_region: health_check.alarm_topic_arn,
                settings.secondary_region: health_check_secondary.alarm_topic_arn,
            },
        ),
    )
    router_regions = cell_router.regional
    home, replica = cell_router.primary, cell_router.secondary
    pulumi.export("apiUrl", home.api_url)
    pulumi.export("userPoolId", home.api.user_pool_id)
    pulumi.export("userPoolClientId", home.api.user_pool_client_id)
    pulumi.export("hostedUiDomain", home.api.hosted_ui_domain)
    pulumi.export("routerTableName", home.data.table_name)
    pulumi.export("provisioningQueueUrl", home.data.queue_url)
    pulumi.export("cellReadyFailedQueueUrl", home.functions.cell_ready_failed_queue_url)
    pulumi.export("provisioningBusName", home.functions.provisioning_bus_name)
    pulumi.export("provisioningBusArn", home.functions.provisioning_bus_arn)
    pulumi.export("routerId", home.functions.router_id)
    pulumi.export("userKeySecretArn", home.data.user_key_secret_arn)
    pulumi.export("orchestratorArn", home.orchestrator.arn)
    # Both regions: region -> URL (clients and `python -m ops`), and the
    # secondary's own names.
    pulumi.export("routerApiUrls", cell_router.api_urls)
    pulumi.export("routerSecondaryApiUrl", replica.api_url)
    pulumi.export("routerSecondaryProvisioningQueueUrl", replica.data.queue_url)
    pulumi.export(
        "routerSecondaryCellReadyFailedQueueUrl", replica.functions.cell_ready_failed_queue_url
    )
    pulumi.export("routerSecondaryProvisioningBusName", replica.functions.provisioning_bus_name)
    pulumi.export("routerSecondaryProvisioningBusArn", replica.functions.provisioning_bus_arn)
    pulumi.export("routerSecondaryUserKeySecretArn", replica.data.user_key_secret_arn)
    pulumi.export("routerSecondaryOrchestratorArn", replica.orchestrator.arn)
    pulumi.export(
        "routerFunctionNames",
        pulumi.Output.all(
            **{region: r.function_names for region, r in cell_router.regional.items()}
        ).apply(dict),
    )

# --- dashboard -----------------------------------------------------------------
# One per region where control-plane functions run, each showing that
# region's checker and lookup and every alarm of the stack there. The
# secondary's (issue 12) stays readable when the primary region is lost.


def region_dashboard(
    role: str,
    checker: HealthCheck,
    router: RouterResources | None,
    alarm_arns: list[pulumi.Output[str]],
    opts: pulumi.ResourceOptions,
) -> StackDashboard:
    """The dashboard of ``checker``'s region, from the components' own resources."""
    return StackDashboard(
        f"dashboard-{role}",
        StackDashboardArgs(
            dashboard_name=f"{settings.project}-{settings.stack}-{checker.region}",
            settings=DashboardSettings(
                region=checker.region,
                primary_region=settings.primary_region,
                secondary_region=settings.secondary_region,
                stack=settings.stack,
                probe_interval_seconds=settings.health_check.probe_interval_seconds,
                capacity_buffer=settings.cell_router.capacity_buffer,
                scale_out_threshold=settings.cell_router.scale_out_threshold,
                queue_alarm_depth=settings.cell_router.provisioning_queue_alarm_depth,
            ),
            failover=FailoverResources(
                probe_function_name=checker.probe.name,
                lookup_function_name=checker.lookup_function_name,
                probe_state_machine_arn=checker.state_machine_arn,
            ),
            router=router,
            alarm_arns=alarm_arns,
        ),
        opts=opts,
    )


# Each region's dashboard shows its own checker and, with the cell router,
# that region's router and alarms.
dashboards = {}
for role, checker, opts in (
    ("primary", health_check, primary.opts()),
    ("secondary", health_check_secondary, secondary.opts()),
):
    regional_router = router_regions.get(checker.region)
    alarms = [*checker.alarms.values(), *(regional_router.alarms if regional_router else [])]
    dashboards[role] = region_dashboard(
        role,
        checker,
        regional_router.dashboard_resources() if regional_router else None,
        [alarm.arn for alarm in alarms],
        opts,
    )
pulumi.export("dashboardUrl", dashboards["primary"].url)
pulumi.export("dashboardSecondaryUrl", dashboards["secondary"].url)
