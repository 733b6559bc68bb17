"""Which region's Lex bot an Amazon Connect contact should talk to.

Connect invokes this with ``Details.Parameters.region`` (the Connect region,
the state items' key). Returns flat strings ``{"primaryCode", "botAliasArn",
"statusCode": "200"}``.

It reads every state item of that Connect region (``layout.state_keys``:
each checker's item and each region's override item) from its own region's
replica in one ``BatchGetItem``: an override wins at once, otherwise the
decision of the checker item with the highest epoch; a legacy ``err`` means
the primary. In a one-region setup that is exactly the SPEC's single item.

When its own replica cannot be read it reads the other region's replica
(one short attempt); when no replica can be read it answers **the last
decision it saw** in this container (logging its age, metric
``LookupServedLastKnown``), and only without one the configured primary.
Everything else that goes wrong (missing parameter, no item, unknown region
value, bad ``BOT_ALIAS_ARNS``) falls back to ``PRIMARY_REGION``; every fall
back to the primary is logged and counted (``LookupFailedOpen``, alarmed),
and the function never raises: a caller on the primary is better than a
caller on an error prompt. Only a missing ``PRIMARY_REGION`` leaves nothing
to fall back to (``statusCode`` "500").

The Connect event carries the caller's phone number and attributes: only the
``region`` parameter is ever logged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from handlers.common.observability import Observability
from handlers.lex_dr import aws_clients, clock, layout, state_store, telemetry
from handlers.lex_dr.decision import LEGACY_ERROR_REGION
from handlers.lex_dr.settings import ConfigurationError, GetRegionSettings, is_region

observability = Observability(
    default_service=telemetry.GET_REGION_SERVICE, namespace=telemetry.METRIC_NAMESPACE
)
logger = observability.logger


class RegionLookupError(Exception):
    """Why the lookup fell back to the primary (logged, never raised out)."""


@observability.instrument_handler
def handler(event: Any, context: LambdaContext) -> dict[str, str]:
    try:
        primary = GetRegionSettings.primary_from_env()
    except ConfigurationError:
        logger.exception("no region to fall back to")
        _count_fail_open(True)
        return {"primaryCode": "", "botAliasArn": "", "statusCode": "500"}

    try:
        settings = GetRegionSettings.from_env()
    except ConfigurationError:
        logger.exception("lookup misconfigured; failing open to the primary region")
        _count_fail_open(True)
        return _response(primary, "")

    served_last_known = False
    try:
        region = _choose_region(event, settings)
    except StateUnreadableError as exc:
        last = aws_clients.last_decision.get(exc.cache_key)
        if last is not None and last[0] in settings.bot_alias_arns:
            region, epoch, seen_at = last
            served_last_known = True
            logger.warning(
                "state unreadable; answering the last decision seen",
                extra={
                    "region": region,
                    "epoch": epoch,
                    "ageSeconds": round(clock.now() - seen_at, 1),
                    "cause": str(exc),
                },
            )
            _count_fail_open(False)
        else:
            logger.exception("state unreadable and no decision seen; failing open to the primary")
            _count_fail_open(True)
            region = settings.primary_region
    except Exception:
        # Deliberately broad: whatever went wrong, the caller gets the primary.
        logger.exception("region lookup failed; failing open to the primary region")
        _count_fail_open(True)
        region = settings.primary_region
    else:
        _count_fail_open(False)
    observability.count(telemetry.METRIC_LOOKUP_SERVED_LAST_KNOWN, int(served_last_known))
    return _response(region, settings.bot_alias_arns.get(region, ""))


class StateUnreadableError(RegionLookupError):
    """No replica of the state table could be read."""

    def __init__(self, message: str, cache_key: str) -> None:
        super().__init__(message)
        self.cache_key = cache_key


def _regions(settings: GetRegionSettings) -> list[str]:
    others = sorted(r for r in settings.bot_alias_arns if r != settings.primary_region)
    return [settings.primary_region, *others]


def _read_state(settings: GetRegionSettings, connect_region: str) -> list[dict[str, Any]]:
    """Items from this region's replica, else from another region's."""
    regions = _regions(settings)
    keys = layout.state_keys(connect_region, regions)
    cache_key = _last_decision_key(settings, connect_region)
    own = aws_clients.own_region()
    causes = []
    try:
        return state_store.read_items(
            aws_clients.lookup_dynamodb(), settings.table_name, keys, consistent=True
        )
    except (ClientError, BotoCoreError) as exc:
        causes.append(f"{own or 'own region'}: {aws_clients.error_code(exc)}")
    for region in regions:
        if region == own:
            continue
        try:
            items = state_store.read_items(
                aws_clients.peer_lookup_dynamodb(region), settings.table_name, keys, False
            )
        except (ClientError, BotoCoreError) as exc:
            causes.append(f"{region}: {aws_clients.error_code(exc)}")
            continue
        logger.warning(
            "own replica unreadable; answered from another region's replica",
            extra={"replicaRegion": region, "causes": causes},
        )
        return items
    raise StateUnreadableError("no replica readable (" + "; ".join(causes) + ")", cache_key)


def _choose_region(event: Any, settings: GetRegionSettings) -> str:
    connect_region = _connect_region(event)
    items = _read_state(settings, connect_region)
    if not items:
        raise RegionLookupError(f"no state item for connect region {connect_region}")
    view = layout.view(items)
    known = settings.bot_alias_arns
    region = None
    if view.override is not None:
        if view.override.region in known:
            logger.info("override in effect", extra={"region": view.override.region})
            region = view.override.region
        else:
            logger.warning(
                "overrideRegion ignored: no bot alias ARN for it",
                extra={"value": view.override.region},
            )
    if region is None:
        if view.decision is None:
            raise RegionLookupError(f"no state item for connect region {connect_region}")
        lex_region = view.decision.lex_region
        if lex_region == LEGACY_ERROR_REGION:
            lex_region = settings.primary_region
        if lex_region not in known:
            raise RegionLookupError(f"lexRegion {lex_region!r} has no bot alias ARN")
        region = lex_region
    epoch = view.decision.epoch if view.decision else 0
    aws_clients.last_decision[_last_decision_key(settings, connect_region)] = (
        region,
        epoch,
        clock.now(),
    )
    return region


def _last_decision_key(settings: GetRegionSettings, connect_region: str) -> str:
    """Where the container keeps the last decision read for this table and
    Connect region (``aws_clients.last_decision``)."""
    return f"{settings.table_name}|{connect_region}"


def _connect_region(event: Any) -> str:
    try:
        value = event["Details"]["Parameters"]["region"]
    except (KeyError, TypeError):
        raise RegionLookupError("event has no Details.Parameters.region") from None
    if not is_region(value):
        raise RegionLookupError("Details.Parameters.region is not a region name")
    return value


def _response(region: str, alias_arn: str) -> dict[str, str]:
    if not alias_arn:
        logger.warning("no bot alias ARN for region", extra={"region": region})
    return {"primaryCode": region, "botAliasArn": alias_arn, "statusCode": "200"}


def _count_fail_open(failed_open: bool) -> None:
    observability.count(telemetry.METRIC_LOOKUP_FAILED_OPEN, int(failed_open))
