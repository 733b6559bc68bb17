"""Messages exchanged with the provisioning layer (pure: no boto3).

Two directions:

* **CellRequested** (router -> provisioning), an SQS message body on the
  ``CellProvisioning`` queue, sent by the scaler or the dispatcher, or
  resent by the sweeper::

      {"type": "CellRequested", "version": 1, "marketId": "europe",
       "episodeId": "<uuid4 hex>", "triggeringCellId": "cell-1",
       "triggeringCellLoad": {"currentCapacity": 35, "maxCapacity": 50},
       "requestedAt": "2025-01-01T00:00:00Z", "reason": "threshold"}

  sent at least once per market per scale-out episode (a resend carries the
  same ``episodeId``: deduplicate on it);

* **CellReady** (provisioning -> router), an EventBridge event the registrar
  consumes once the new cell is deployed, put on the stack's own
  provisioning bus (only the stack's ``provisioningPrincipals`` may)::

      source: "resilient-routing.provisioning", detail-type: "CellReady"
      detail: {"routerId": "<project>/<stack>", "marketId": "europe",
               "cellId": "cell-4", "maxCapacity": 500,
               "endpoints": [{"url": "https://...", "region": "eu-west-1"},
                             {"url": "https://...", "region": "eu-central-1"}],
               "episodeId": "<from the CellRequested message, optional>",
               "revision": <int, optional: needed to change an existing cell>}

The Pulumi component builds its rule from ``CELL_READY_EVENT_PATTERN`` (plus
the account and ``detail.routerId``), so the rule and the handler cannot
disagree. Registration semantics: ``registration``.
"""

from __future__ import annotations

import json
from typing import Any

CELL_REQUESTED_TYPE = "CellRequested"
CELL_REQUESTED_VERSION = 1

CELL_READY_SOURCE = "resilient-routing.provisioning"
CELL_READY_DETAIL_TYPE = "CellReady"
CELL_READY_EVENT_PATTERN: dict[str, list[str]] = {
    "source": [CELL_READY_SOURCE],
    "detail-type": [CELL_READY_DETAIL_TYPE],
}


def cell_requested_message(
    *,
    market_id: str,
    episode_id: str,
    triggering_cell_id: str | None,
    current_capacity: int | None,
    max_capacity: int | None,
    requested_at: str,
    reason: str = "threshold",
) -> dict[str, Any]:
    """Body of the SQS message asking the provisioning layer for a new cell.

    ``reason`` is ``threshold`` (a cell reached the scale-out point; the
    triggering cell and its load are given) or ``no-capacity`` (a sign-up
    was refused: no placeable cell, so ``triggeringCellId`` and
    ``triggeringCellLoad`` are null). The same ``episodeId`` may arrive more
    than once (a resend): the provisioning layer acts on it once.
    """
    load = None
    if current_capacity is not None and max_capacity is not None:
        load = {"currentCapacity": current_capacity, "maxCapacity": max_capacity}
    return {
        "type": CELL_REQUESTED_TYPE,
        "version": CELL_REQUESTED_VERSION,
        "marketId": market_id,
        "episodeId": episode_id,
        "reason": reason,
        "triggeringCellId": triggering_cell_id,
        "triggeringCellLoad": load,
        "requestedAt": requested_at,
    }


def cell_ready_detail(
    *,
    market_id: str,
    cell_id: str,
    max_capacity: int,
    endpoints: list[dict[str, str]],
    episode_id: str | None = None,
    router_id: str | None = None,
    revision: int | None = None,
) -> dict[str, Any]:
    """The ``detail`` of a CellReady event."""
    detail: dict[str, Any] = {
        "marketId": market_id,
        "cellId": cell_id,
        "maxCapacity": max_capacity,
        "endpoints": endpoints,
    }
    if episode_id is not None:
        detail["episodeId"] = episode_id
    if router_id is not None:
        detail["routerId"] = router_id
    if revision is not None:
        detail["revision"] = revision
    return detail


def cell_ready_entry(detail: dict[str, Any], event_bus_name: str = "default") -> dict[str, str]:
    """A ``PutEvents`` entry announcing a deployed cell (for the provisioning
    layer, its fakes in tests and the local drill). A deployed stack only
    listens on its provisioning bus: pass its name (output
    ``provisioningBusName``)."""
    return {
        "Source": CELL_READY_SOURCE,
        "DetailType": CELL_READY_DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "EventBusName": event_bus_name,
    }
