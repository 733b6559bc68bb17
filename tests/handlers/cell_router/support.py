"""Helpers for the cell router tests: a moto table built from the shared
schema, cell seeding, table snapshots, and event builders."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3

from components.schemas import ROUTER_TABLE
from handlers.cell_router import placement, store
from handlers.cell_router import slots as slot_policy
from handlers.cell_router.attribute_values import dump
from handlers.cell_router.model import Cell
from support.queues import drain

TABLE = "tbl_router_test"
QUEUE = "CellProvisioning-test"
#: The user-key HMAC key the tests' secret holds (what the stack generates).
USER_KEY = "test-user-key-0123456789abcdef"


@dataclass
class Router:
    """Direct access to the moto table and queue, for arranging and asserting."""

    ddb: Any
    sqs: Any
    queue_url: str
    table: str = TABLE
    secret_arn: str = ""

    def put_cell(
        self,
        cell_id: str,
        *,
        market: str = "europe",
        current: int = 0,
        maximum: int = 50,
        healthy: bool = True,
        status: str | None = None,
        urls: tuple[str, str] | None = None,
        regions: tuple[str, str] = ("eu-west-1", "eu-central-1"),
        listed: bool | None = None,
        slots: int = 1,
    ) -> tuple[str, str]:
        """Put a cell item. ``listed`` (default: whether the cell is placeable
        under the environment's buffer) puts it in the placeable index, as
        the registrar and the dispatcher keep it; ``False`` for a cell whose
        entry is missing (a cell from before the index), ``True`` for a stale
        one (an operator marked it unhealthy without removing it).

        ``slots`` above 1 (issue #14) writes the cell as the registrar does
        with ``SLOTS_PER_CELL``: its ``slots`` attribute, an entry in shard 0
        of the sharded placeable index, and its slot items with ``current``
        users spread over them."""
        urls = urls or (f"https://{cell_id}-a.example.com", f"https://{cell_id}-b.example.com")
        item: dict[str, Any] = {
            "marketId": {"S": market},
            "cellId": {"S": cell_id},
            "currentCapacity": {"N": str(current)},
            "maxCapacity": {"N": str(maximum)},
            "endPoint_1": {"S": urls[0]},
            "endPoint_2": {"S": urls[1]},
            "regionCode_1": {"S": regions[0]},
            "regionCode_2": {"S": regions[1]},
            "IsHealthy": {"BOOL": healthy},
        }
        if status is not None:
            item["status"] = {"S": status}
        if listed is None:
            buffer = Decimal(os.environ.get("CAPACITY_BUFFER") or "0.2")
            limit = placement.assignable_limit(maximum, buffer)
            listed = healthy and status in (None, "ACTIVE") and current < limit
        if listed:
            shard = market if slots <= 1 else slot_policy.placeable_partition(market, 0)
            item["placeableMarketId"] = {"S": shard}
        if slots > 1:
            item["slots"] = {"N": str(slots)}
            buffer = Decimal(os.environ.get("CAPACITY_BUFFER") or "0.2")
            limits = slot_policy.slot_limits(placement.assignable_limit(maximum, buffer), slots)
            loads = slot_policy.spread_load(current, limits)
            cell = Cell(market, cell_id, current, maximum, healthy, status or "ACTIVE")
            for k, (limit, load) in enumerate(zip(limits, loads, strict=True)):
                slot = dump(store.slot_item(cell, k, limit, load))
                self.ddb.put_item(TableName=self.table, Item=slot)
        self.ddb.put_item(TableName=self.table, Item=item)
        return urls

    def slot_loads(self, cell_id: str, market: str = "europe") -> list[int]:
        """The loads of a slotted cell's slot items, in slot order."""
        count = int(self.cell(cell_id, market).get("slots", {"N": "1"})["N"])
        return [
            int(
                self.ddb.get_item(
                    TableName=self.table, Key=dump(slot_policy.slot_key(market, cell_id, k))
                )["Item"]["slotLoad"]["N"]
            )
            for k in range(count)
        ]

    def users(self, cell_id: str, market: str = "europe") -> int:
        """Users counted on a cell: its slots' sum when slotted (the cell
        item's ``currentCapacity`` is then a roll-up), else its counter."""
        if "slots" in self.cell(cell_id, market):
            return sum(self.slot_loads(cell_id, market))
        return self.load(cell_id, market)

    def items(self) -> list[dict[str, Any]]:
        pages = self.ddb.get_paginator("scan").paginate(TableName=self.table)
        items = list(itertools.chain.from_iterable(page["Items"] for page in pages))
        return sorted(items, key=lambda i: (i["marketId"]["S"], i["cellId"]["S"]))

    def snapshot(self) -> str:
        return json.dumps(self.items(), sort_keys=True)

    def cell(self, cell_id: str, market: str = "europe") -> dict[str, Any]:
        return self.ddb.get_item(
            TableName=self.table, Key={"marketId": {"S": market}, "cellId": {"S": cell_id}}
        )["Item"]

    def load(self, cell_id: str, market: str = "europe") -> int:
        return int(self.cell(cell_id, market)["currentCapacity"]["N"])

    def mappings(self) -> list[dict[str, Any]]:
        return [i for i in self.items() if i["marketId"]["S"].startswith("USER#")]

    def slot_items(self) -> list[dict[str, Any]]:
        return [i for i in self.items() if i["marketId"]["S"].startswith("SLOT#")]

    def marker(self, market: str = "europe") -> dict[str, Any] | None:
        return self.ddb.get_item(
            TableName=self.table,
            Key={"marketId": {"S": f"SCALE#{market}"}, "cellId": {"S": "SCALE_OUT"}},
        ).get("Item")

    def messages(self) -> list[dict[str, Any]]:
        return drain(self.sqs, self.queue_url)


class SimulatedClock:
    """A ``budget.Clock`` whose sleeps take no real time (thread-safe)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


def build_router(table: str = TABLE, queue: str = QUEUE) -> Router:
    """Create the table (from the shared schema), the queue and the user-key
    secret on whatever AWS the environment points at; call inside a mock or
    a moto server. Point ``USER_KEY_SECRET_ARN`` at ``router.secret_arn``."""
    ddb = boto3.client("dynamodb")
    ddb.create_table(**ROUTER_TABLE.create_table_request(table))
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    router = Router(ddb=ddb, sqs=sqs, queue_url=queue_url, table=table)
    router.secret_arn = create_user_key_secret(f"{table}-user-key")
    return router


def create_user_key_secret(name: str, value: str = USER_KEY) -> str:
    """The stack's user-key secret (its SecretString is the HMAC key)."""
    secrets = boto3.client("secretsmanager")
    return secrets.create_secret(Name=name, SecretString=value)["ARN"]


def user_key(user_id: str, key: str = USER_KEY) -> str:
    """What the handlers must store for ``user_id`` (HMAC-SHA256 hex)."""
    return hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def request(user_id: str | None = "ada", body: Any = None, path: str = "/cells") -> dict:
    """The orchestrator input for the caller whose token's ``sub`` is ``user_id``."""
    event: dict[str, Any] = {
        "path": path,
        "httpMethod": "POST",
        "body": {} if body is None else body,
    }
    if user_id is not None:
        event["userId"] = user_id
    return event


def cell_ready(
    cell_id: str = "cell-new",
    *,
    market: str = "europe",
    maximum: int = 50,
    episode_id: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "marketId": market,
        "cellId": cell_id,
        "maxCapacity": maximum,
        "endpoints": [
            {"url": f"https://{cell_id}-a.example.com", "region": "eu-west-1"},
            {"url": f"https://{cell_id}-b.example.com", "region": "eu-central-1"},
        ],
    }
    if episode_id is not None:
        detail["episodeId"] = episode_id
    detail.update(overrides)
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "CellReady",
        "source": "resilient-routing.provisioning",
        "account": "123456789012",
        "time": "2025-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }
