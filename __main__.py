"""resilient-routing: the Pulumi program.

Reads the stack configuration once, builds one ``aws`` and one ``aws-native``
provider per region, composes the components and exports their outputs.
Nothing below reads configuration except through ``settings``.
"""

from __future__ import annotations

import pulumi

from components.bot_definitions import order_flowers
from components.cell_router_api import CellRouterApi, CellRouterApiArgs
from components.cell_router_functions import CellRouterFunctions, CellRouterFunctionsArgs
from components.connect import ConnectIntegration, ConnectIntegrationArgs
from components.dashboard import DashboardSettings, FailoverResources, RouterResources
from components.health_check import HealthCheck, HealthCheckArgs
from components.lex_bot import MultiRegionLexBot, MultiRegionLexBotArgs
from components.orchestrator import Orchestrator, OrchestratorArgs
from components.providers import region_providers
from components.router_alarms import RouterAlarms, RouterAlarmsArgs
from components.router_data import RouterData, RouterDataArgs
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
# Everything in the primary region: table + provisioning queue, the five
# functions, the EXPRESS Orchestrator, and the authenticated API in front.
if settings.cell_router.enabled:
    router = settings.cell_router
    router_data = RouterData(
        "cell-router",
        RouterDataArgs(
            billing_mode=router.table_billing_mode,
            read_capacity=router.table_read_capacity,
            write_capacity=router.table_write_capacity,
            queue_alarm_depth=router.provisioning_queue_alarm_depth,
            # One alarm topic per stack (one confirmation e-mail, one place
            # to subscribe a pager): the health check's.
            alarm_topic_arn=health_check.alarm_topic_arn,
            deletion_protection=settings.table_deletion_protection,
            # Issue #13: the secondary reads its local replica.
            replica_regions=(settings.secondary_region,),
        ),
        opts=primary.opts(),
    )
    router_functions = CellRouterFunctions(
        "cell-router",
        CellRouterFunctionsArgs(
            region=settings.primary_region,
            table_name=router_data.table_name,
            table_arn=router_data.table_arn,
            index_arn=router_data.index_arn,
            queue_url=router_data.queue_url,
            queue_arn=router_data.queue_arn,
            alarm_topic_arn=health_check.alarm_topic_arn,
            user_key_secret_arn=router_data.user_key_secret_arn,
            # CellReady must name this router: one provisioning layer may
            # serve several stacks in one account.
            router_id=f"{settings.project}/{settings.stack}",
            cell_endpoint_domains=router.cell_endpoint_domains,
            provisioning_principals=router.provisioning_principals,
            max_cells_per_market=router.max_cells_per_market or None,
            slots_per_cell=router.slots_per_cell,
            sign_up_allowed_domains=(
                router.sign_up_allowed_domains if router.sign_up_policy == "allowedDomains" else ()
            ),
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
            # Function timeouts default to the Orchestrator's task budgets.
            log_retention_days=settings.lambda_.log_retention_days,
        ),
        opts=primary.opts(),
    )
    orchestrator = Orchestrator(
        "cell-router",
        OrchestratorArgs(
            dispatcher_arn=router_functions.dispatcher_arn,
            scaler_arn=router_functions.scaler_arn,
            mapper_arn=router_functions.mapper_arn,
            validator_arn=router_functions.validator_arn,
            log_retention_days=settings.lambda_.log_retention_days,
        ),
        opts=primary.opts(),
    )
    # Alarms for what the router absorbs: NoCapacity, lost or resent scale-out
    # requests, function errors and throttles, failed/timed-out executions.
    router_alarms = RouterAlarms(
        "cell-router",
        RouterAlarmsArgs(
            function_names=router_functions.function_names,
            state_machine_arn=orchestrator.arn,
            alarm_topic_arn=health_check.alarm_topic_arn,
        ),
        opts=primary.opts(),
    )
    router_api = CellRouterApi(
        "cell-router",
        CellRouterApiArgs(
            region=settings.primary_region,
            state_machine_arn=orchestrator.arn,
            callback_urls=router.callback_urls,
            logout_urls=router.logout_urls,
            domain_prefix=router.hosted_ui_domain_prefix,
            throttle_rate_limit=router.throttle_rate_limit,
            throttle_burst_limit=router.throttle_burst_limit,
            log_retention_days=settings.lambda_.log_retention_days,
            # Account-wide setting shared with every API of the account and
            # region: opt-in (see CellRouterApi and the README).
            manage_account_logging_role=router.manage_api_gateway_account_role,
            sign_up_policy=router.sign_up_policy,
            pre_sign_up_function_arn=(
                router_functions.sign_up_gate.arn if router_functions.sign_up_gate else None
            ),
            pre_sign_up_function_name=(
                router_functions.sign_up_gate.name if router_functions.sign_up_gate else None
            ),
            waf_enabled=router.waf_enabled,
            waf_rate_limit=router.waf_rate_limit,
        ),
        opts=primary.opts(),
    )
    pulumi.export("apiUrl", router_api.api_url)
    pulumi.export("userPoolId", router_api.user_pool_id)
    pulumi.export("userPoolClientId", router_api.user_pool_client_id)
    pulumi.export("hostedUiDomain", router_api.hosted_ui_domain)
    pulumi.export("routerTableName", router_data.table_name)
    pulumi.export("provisioningQueueUrl", router_data.queue_url)
    pulumi.export("cellReadyFailedQueueUrl", router_functions.cell_ready_failed_queue_url)
    pulumi.export("provisioningBusName", router_functions.provisioning_bus_name)
    pulumi.export("provisioningBusArn", router_functions.provisioning_bus_arn)
    pulumi.export("routerId", router_functions.router_id)
    pulumi.export("userKeySecretArn", router_data.user_key_secret_arn)
    pulumi.export("orchestratorArn", orchestrator.arn)

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


# The primary also runs the cell router: its resources and alarms.
stack_alarms = list(health_check.alarms.values())
dashboard_router = None
if settings.cell_router.enabled:
    stack_alarms += [
        *router_data.alarms.values(),
        *router_functions.alarms.values(),
        *router_alarms.alarms.values(),
    ]
    dashboard_router = RouterResources(
        api_name=router_api.rest_api.name,
        api_stage=router_api.stage.stage_name,
        orchestrator_arn=orchestrator.arn,
        provisioning_queue_name=router_data.queue.name,
        dead_letter_queue_name=router_data.dead_letter_queue.name,
        cell_ready_failed_queue_name=router_functions.cell_ready_failed_queue.name,
        function_names=router_functions.function_names,
    )
dashboard = region_dashboard(
    "primary",
    health_check,
    dashboard_router,
    [alarm.arn for alarm in stack_alarms],
    primary.opts(),
)
pulumi.export("dashboardUrl", dashboard.url)
dashboard_secondary = region_dashboard(
    "secondary",
    health_check_secondary,
    None,
    [alarm.arn for alarm in health_check_secondary.alarms.values()],
    secondary.opts(),
)
pulumi.export("dashboardSecondaryUrl", dashboard_secondary.url)
