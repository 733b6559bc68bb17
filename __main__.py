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
# The bot in both regions; the health check (table, lookup, probe loop,
# alarms) in the primary, where Connect lives; Connect unless mode is none.

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
health_check = HealthCheck(
    "lex-failover",
    HealthCheckArgs(
        primary_region=settings.primary_region,
        secondary_region=settings.secondary_region,
        bots_env=lex_bot.bots_env,
        alias_arns=lex_bot.alias_arns,
        test_method=settings.health_check.test_method,
        sample_utterance=settings.health_check.sample_utterance,
        expected_response=settings.health_check.expected_response,
        test_user=settings.health_check.test_user,
        failover_threshold=settings.health_check.failover_threshold,
        failback_threshold=settings.health_check.failback_threshold,
        auto_failback=settings.health_check.auto_failback,
        probe_interval_seconds=settings.health_check.probe_interval_seconds,
        probe_attempts=settings.health_check.probe_attempts,
        lambda_runtime=settings.lambda_.runtime,
        lambda_architecture=settings.lambda_.architecture,
        powertools_layer_version=settings.lambda_.powertools_layer_version,
        log_retention_days=settings.lambda_.log_retention_days,
        alarm_email=settings.alarm_email,
        deletion_protection=settings.table_deletion_protection,
    ),
    opts=primary.opts(),
)
pulumi.export("lexBotIds", lex_bot.bot_ids)
pulumi.export("lexBotAliasIds", lex_bot.alias_ids)
pulumi.export("lexBotAliasArns", lex_bot.alias_arns)
pulumi.export("lexStateTableName", health_check.table_name)
pulumi.export("lexLookupFunctionArn", health_check.lookup_function_arn)
pulumi.export("lexProbeFunctionArn", health_check.probe_function_arn)
pulumi.export("lexProbeStateMachineArn", health_check.state_machine_arn)
pulumi.export("lexAlarmTopicArn", health_check.alarm_topic_arn)

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
    pulumi.export("orchestratorArn", orchestrator.arn)

# --- dashboard -----------------------------------------------------------------
# One per region where control-plane functions run (today the primary): every
# alarm of the stack, the failover and the cell router, from the components'
# own resources.
stack_alarms = list(health_check.alarms.values())
dashboard_router = None
if settings.cell_router.enabled:
    stack_alarms += [*router_data.alarms.values(), *router_functions.alarms.values()]
    dashboard_router = RouterResources(
        api_name=router_api.rest_api.name,
        api_stage=router_api.stage.stage_name,
        orchestrator_arn=orchestrator.arn,
        provisioning_queue_name=router_data.queue.name,
        dead_letter_queue_name=router_data.dead_letter_queue.name,
        cell_ready_failed_queue_name=router_functions.cell_ready_failed_queue.name,
        function_names={m: f.name for m, f in router_functions.functions.items()},
    )
dashboard = StackDashboard(
    "dashboard-primary",
    StackDashboardArgs(
        dashboard_name=f"{settings.project}-{settings.stack}-{settings.primary_region}",
        settings=DashboardSettings(
            region=settings.primary_region,
            primary_region=settings.primary_region,
            secondary_region=settings.secondary_region,
            stack=settings.stack,
            probe_interval_seconds=settings.health_check.probe_interval_seconds,
            capacity_buffer=settings.cell_router.capacity_buffer,
            scale_out_threshold=settings.cell_router.scale_out_threshold,
            queue_alarm_depth=settings.cell_router.provisioning_queue_alarm_depth,
        ),
        failover=FailoverResources(
            probe_function_name=health_check.probe.name,
            lookup_function_name=health_check.lookup_function_name,
            probe_state_machine_arn=health_check.state_machine_arn,
        ),
        router=dashboard_router,
        alarm_arns=[alarm.arn for alarm in stack_alarms],
    ),
    opts=primary.opts(),
)
pulumi.export("dashboardUrl", dashboard.url)
