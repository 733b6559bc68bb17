"""Scheduled once a minute in each region: write this region's heartbeat
(and, only when ``WRITER_AUTO_PROMOTION`` is on, promote this region for
markets whose writer's heartbeat has been stale too long).

Env: ``TABLE_NAME`` and the writer settings of ``writer_gate``. Event: any
(the schedule sends ``{}``). Returns ``{"region", "markets": int,
"promoted": [market, ...]}``.
"""

from __future__ import annotations

import time
from typing import Any

from handlers.cell_router import aws_clients, settings, writer, writer_gate, writer_store


def handler(event: Any, context: Any, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    policy = writer_gate.policy_from_env()
    table = settings.table_name()
    client = aws_clients.dynamodb()
    regions = [policy.local_region] + ([policy.peer_region] if policy.peer_region else [])
    markets = writer_store.registered_markets(client, table, regions)
    records = writer_store.read_records(client, table, markets)
    previous = writer_store.read_own_heartbeat(client, table, policy.local_region)
    # Read the records first, then write: seenEpoch >= e acknowledges that
    # this region's table already held epoch e when the beat was written.
    item = writer.next_heartbeat_item(policy.local_region, records, now, previous)
    writer_store.write_heartbeat(client, table, item)
    promoted = []
    if policy.auto_promotion and policy.peer_region:
        peer_item = writer_store.read_own_heartbeat(client, table, policy.peer_region)
        for market, record in sorted(records.items()):
            peer = writer.market_heartbeat(peer_item, market) if peer_item else None
            if not writer.auto_promotion_due(market, record, peer, now, policy):
                continue
            new = writer.promote(market, record, policy.local_region, now, policy, force=True)
            try:
                writer_store.put_record(client, table, new, record)
            except writer_store.RecordChanged:
                continue
            promoted.append(market)
    return {"region": policy.local_region, "markets": len(records), "promoted": promoted}
