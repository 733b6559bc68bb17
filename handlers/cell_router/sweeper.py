"""Sweeper: resends scale-out requests that were never sent or never answered.

Run on a schedule (EventBridge, every minute by default) with any event. It
lists the known markets (one query of the ``MARKET#`` partition), reads
their scale-out episodes (batched), and for each open episode that is due
(``scaleout.resend_due``: unsent for ``SCALE_OUT_RESEND_SECONDS``, or sent
``SCALE_OUT_EPISODE_TIMEOUT_SECONDS`` ago with no cell yet) claims and
performs the resend, with the episode's own ``episodeId``. Every resend is
counted (``ScaleOutResent``, alarmed): a resend means something upstream
lost a request.

With ``SLOTS_PER_CELL`` above 1 it also rolls each known market's slots up
into its cell items and shards the placeable index (``rollup``; issue #14),
adding ``"rolledUpCells"`` (cell items written) to its answer.

Returns ``{"markets": int, "openEpisodes": int, "resent": int, "failed": int}``.
A failed send is counted (``ProvisioningFailed``, alarmed) and retried on the
next run; the function itself fails only when the table cannot be read.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import rollup, scaleout, settings
from handlers.cell_router.budget import Deadline
from handlers.cell_router.errors import ServiceUnavailable
from handlers.cell_router.observability import instrument_handler, logger
from handlers.cell_router.scaler import timing
from handlers.cell_router.store import RouterStore


@instrument_handler
def handler(event: Any, context: LambdaContext) -> dict[str, int]:
    store = RouterStore(settings.table_name(), deadline=Deadline.from_context(context))
    queue_url = settings.provisioning_queue_url()
    when = timing()
    markets = store.known_markets()
    episodes = [episode for episode in store.get_episodes(markets) if episode.open]
    now = scaleout.wall_clock()
    resent = failed = 0
    for episode in episodes:
        if not scaleout.resend_due(episode, now, when):
            continue
        try:
            if scaleout.resend(store, episode, queue_url, now, when):
                resent += 1
        except (scaleout.ProvisioningFailure, ServiceUnavailable):
            failed += 1
    summary = {
        "markets": len(markets),
        "openEpisodes": len(episodes),
        "resent": resent,
        "failed": failed,
    }
    if settings.slots_per_cell() > 1:
        buffer = settings.capacity_buffer()
        summary["rolledUpCells"] = sum(
            rollup.roll_up_market(store, market, buffer).cells_written for market in markets
        )
    logger.info("sweep done", extra=summary)
    return summary
