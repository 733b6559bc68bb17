"""Durable scale-out requests: one episode per market, sent at least once.

A market's scale-out *episode* is an item in the router table (``store``).
It is opened, unsent, by whoever first finds the market needs a cell (the
scaler after a sign-up crosses the threshold, the dispatcher when a sign-up
is refused), then its ``CellRequested`` message is sent and the episode
marked sent. The registrar closes it when the cell is ready.

Nothing is lost on the way: an episode whose message was not sent (the send
failed, the function timed out in between) or whose cell never came (the
message was lost downstream) is *due* (:func:`resend_due`), and the next
caller who finds it due -- a later sign-up, or the scheduled sweeper --
claims the resend with a conditional write and sends it again with the same
``episodeId``. The provisioning layer deduplicates on ``episodeId``, so a
request is delivered at least once and acted on once.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers.cell_router import aws_clients, budget, events, model
from handlers.cell_router.errors import ServiceUnavailable
from handlers.cell_router.model import utc_timestamp
from handlers.cell_router.observability import count, logger
from handlers.cell_router.store import Episode, RouterStore

REASON_THRESHOLD = "threshold"
REASON_NO_CAPACITY = "no-capacity"

#: Wall clock (epoch seconds) of episode times; tests may replace it.
wall_clock = time.time


@dataclass(frozen=True)
class Timing:
    """When an open episode is due for another send: unsent for
    ``unsent_after`` seconds (its sender died or failed), or sent
    ``stale_after`` seconds ago with no cell yet (the request was lost)."""

    unsent_after: int
    stale_after: int


def resend_due(episode: Episode, now: float, timing: Timing) -> bool:
    """Whether ``episode`` should be sent (again) now (pure)."""
    if not episode.open:
        return False
    waited = now - episode.last_sent_at_epoch
    return waited >= (timing.stale_after if episode.sent else timing.unsent_after)


@dataclass(frozen=True)
class Outcome:
    """What :func:`request_capacity` did: ``sent`` a message (first send or a
    resend), or found the request already in hand (``deduplicated``)."""

    sent: bool
    resent: bool = False
    deduplicated: bool = False
    episode_id: str | None = None


def request_capacity(
    store: RouterStore,
    *,
    market_id: str,
    queue_url: str,
    timing: Timing,
    reason: str,
    triggering_cell_id: str | None = None,
    trigger_load: tuple[int, int] | None = None,
) -> Outcome:
    """Ask for a new cell of ``market_id`` unless its open episode already
    has (deduplicated); resend when that episode is due.

    Raises ``ProvisioningFailure`` when the message could not be sent; the
    episode stays open and unsent, so a later caller or the sweeper resends.
    """
    now = wall_clock()
    episode_id = uuid.uuid4().hex
    opened_at = utc_timestamp(now)
    opened, existing = store.open_or_get_episode(
        market_id=market_id,
        episode_id=episode_id,
        triggering_cell_id=triggering_cell_id,
        opened_at=opened_at,
        opened_at_epoch=int(now),
        reason=reason,
        trigger_load=trigger_load,
    )
    if opened:
        # The sweeper lists episodes by market: make sure this one is listed.
        store.remember_market(market_id, opened_at)
        episode = Episode(
            market_id=market_id,
            episode_id=episode_id,
            open=True,
            sent=False,
            opened_at_epoch=int(now),
            last_sent_at_epoch=int(now),
            sends=0,
            triggering_cell_id=triggering_cell_id,
            reason=reason,
            trigger_current_capacity=trigger_load[0] if trigger_load else None,
            trigger_max_capacity=trigger_load[1] if trigger_load else None,
            opened_at=opened_at,
        )
        send(store, episode, queue_url)
        count(model.METRIC_PROVISIONING_REQUESTED)
        return Outcome(sent=True, episode_id=episode_id)

    if (
        existing is not None
        and resend_due(existing, now, timing)
        and resend(store, existing, queue_url, now, timing)
    ):
        return Outcome(sent=True, resent=True, episode_id=existing.episode_id)
    count(model.METRIC_SCALE_OUT_DEDUPLICATED)
    return Outcome(
        sent=False, deduplicated=True, episode_id=existing.episode_id if existing else None
    )


def resend(
    store: RouterStore, episode: Episode, queue_url: str, now: float, timing: Timing
) -> bool:
    """Claim and perform a due resend of ``episode``; False when another
    caller claimed it first."""
    wait = timing.stale_after if episode.sent else timing.unsent_after
    if not store.claim_resend(episode, int(now), int(now) - wait + 1):
        return False
    send(store, episode, queue_url)
    count(model.METRIC_SCALE_OUT_RESENT)
    logger.warning(
        "scale-out request resent",
        extra={
            "marketId": episode.market_id,
            "episodeId": episode.episode_id,
            "previouslySent": episode.sent,
            "sends": episode.sends,
        },
    )
    return True


class ProvisioningFailure(Exception):
    """The ``CellRequested`` message could not be sent (the episode stays
    open and unsent, so it is resent later)."""


def send(store: RouterStore, episode: Episode, queue_url: str) -> None:
    """Send the episode's ``CellRequested`` message within the store's
    deadline, then record it as sent."""
    now = wall_clock()
    load = None
    if episode.trigger_current_capacity is not None and episode.trigger_max_capacity is not None:
        load = (episode.trigger_current_capacity, episode.trigger_max_capacity)
    message = events.cell_requested_message(
        market_id=episode.market_id,
        episode_id=episode.episode_id,
        triggering_cell_id=episode.triggering_cell_id,
        current_capacity=load[0] if load else None,
        max_capacity=load[1] if load else None,
        requested_at=utc_timestamp(now),
        reason=episode.reason,
    )

    def attempt(seconds_left: float) -> Any:
        return aws_clients.sqs(seconds_left).send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(message),
            MessageAttributes={
                "type": {"DataType": "String", "StringValue": events.CELL_REQUESTED_TYPE},
                "marketId": {"DataType": "String", "StringValue": episode.market_id},
                "episodeId": {"DataType": "String", "StringValue": episode.episode_id},
            },
        )

    try:
        budget.retrying(attempt, store.deadline, what="the provisioning queue")
    except (ClientError, BotoCoreError, ServiceUnavailable) as error:
        count(model.METRIC_PROVISIONING_FAILED)
        logger.exception(
            "provisioning request not sent; it stays due for a resend",
            extra={"marketId": episode.market_id, "episodeId": episode.episode_id},
        )
        raise ProvisioningFailure(
            f"could not request a new cell for market {episode.market_id}"
        ) from error
    try:
        store.mark_sent(episode.market_id, episode.episode_id, utc_timestamp(now), int(now))
    except (ClientError, BotoCoreError, ServiceUnavailable):
        # The message is out; an unrecorded send only means one more resend,
        # which the provisioning layer deduplicates by episodeId.
        logger.exception(
            "provisioning request sent but not recorded",
            extra={"marketId": episode.market_id, "episodeId": episode.episode_id},
        )
