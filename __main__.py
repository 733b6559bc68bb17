"""resilient-routing: the Pulumi program.

Reads the stack configuration once, builds one ``aws`` and one ``aws-native``
provider per region, composes the components and exports their outputs.
Nothing below reads configuration except through ``settings``.
"""

from __future__ import annotations

import pulumi

from components.providers import region_providers
from config import load_settings

settings = load_settings()

tags = {"project": settings.project, "stack": settings.stack}
primary = region_providers("primary", settings.primary_region, tags)
secondary = region_providers("secondary", settings.secondary_region, tags)

pulumi.export("primaryRegion", settings.primary_region)
pulumi.export("secondaryRegion", settings.secondary_region)

# --- lex failover -----------------------------------------------------------
# The bot in both regions; the health check (table, lookup, probe loop,
# alarms) in the primary, where Connect lives; Connect unless mode is none.
from components.bot_definitions import order_flowers  # noqa: E402
from components.connect import ConnectIntegration, ConnectIntegrationArgs  # noqa: E402
from components.health_check import HealthCheck, HealthCheckArgs  # noqa: E402
from components.lex_bot import MultiRegionLexBot, MultiRegionLexBotArgs  # noqa: E402

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
            region=settings.primary_region,
            primary_region=settings.primary_region,
            secondary_region=settings.secondary_region,
            lookup_function_arn=health_check.lookup_function_arn,
            alias_arns=lex_bot.alias_arns,
            instance_id=settings.connect.instance_id,
            instance_alias=settings.connect.instance_alias,
            claim_phone_number=settings.connect.claim_phone_number,
            phone_number_country_code=settings.connect.phone_number_country_code,
            phone_number_type=settings.connect.phone_number_type,
        ),
        opts=primary.opts(),
    )
    pulumi.export("connectInstanceId", connect.instance_id)
    pulumi.export("connectInstanceArn", connect.instance_arn)
    pulumi.export("connectContactFlowId", connect.contact_flow_id)
    if connect.phone_number is not None:
        pulumi.export("connectPhoneNumber", connect.phone_number)

# --- cell router --------------------------------------------------------------
# (CellRouter data layer, Orchestrator and CellRouterApi are composed here.)
