"""Test doubles for the Lex failover handlers: a fake Lex V2 runtime at the
botocore level, a moto state-table helper, and an EMF metric reader."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from components.schemas import LEX_STATE_TABLE
from support.lex_sim import ResponseBody, error_response, json_response

PRIMARY = "us-east-1"
SECONDARY = "us-west-2"
TABLE_NAME = "lexDR-test"
UTTERANCE = "I would like to order some flowers."
EXPECTED = "What type of flowers would you like to order?"
BOTS = {
    PRIMARY: {"botId": "BOTEAST001", "botAliasId": "ALIASEAST1", "localeId": "en_US"},
    SECONDARY: {"botId": "BOTWEST001", "botAliasId": "ALIASWEST1", "localeId": "en_US"},
}
ALIAS_ARNS = {
    region: f"arn:aws:lex:{region}:123456789012:bot-alias/{b['botId']}/{b['botAliasId']}"
    for region, b in BOTS.items()
}
KEY = LEX_STATE_TABLE.hash_key.name

#: Behaviours of the fake per call.
OK, WRONG, ERROR, NOT_FOUND, TIMEOUT = "ok", "wrong", "error", "not_found", "timeout"


@dataclass
class FakeLex:
    """Answers Lex V2 runtime calls per region: ok / wrong reply / service
    error / not found / timeout. ``script`` queues behaviours for the next
    calls of a region; ``mode`` is the behaviour after the queue is empty."""

    mode: dict[str, str] = field(default_factory=lambda: {PRIMARY: OK, SECONDARY: OK})
    queued: dict[str, list[str]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    sessions: dict[str, list[str]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    timeout_delay: float = 0.0
    delete_mode: str = OK
    #: Concurrency by construction: when set, every call of these operations
    #: waits at the barrier until all its parties arrive. Calls that run one
    #: after another never meet, so the wait breaks (its timeout only ends
    #: the deadlock) and ``broken`` counts it; ``met`` counts passed waits.
    rendezvous: threading.Barrier | None = None
    rendezvous_operations: tuple[str, ...] = ()
    met: int = 0
    broken: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def meet_at(self, parties: int, *operations: str, timeout: float = 10.0) -> None:
        """Make ``operations`` wait for ``parties`` concurrent calls."""
        self.rendezvous = threading.Barrier(parties, timeout=timeout)
        self.rendezvous_operations = operations

    def set(self, region: str, mode: str) -> None:
        self.mode[region] = mode

    def script(self, region: str, *modes: str) -> None:
        self.queued.setdefault(region, []).extend(modes)

    def count(self, region: str, operation: str) -> int:
        return self.calls[(region, operation)]

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        region = request.context["client_region"]
        session_id = unquote(urlparse(request.url).path.split("/sessions/")[1].split("/")[0])
        with self._lock:
            self.calls[(region, operation)] += 1
            if operation == "DeleteSession":
                behaviour = self.delete_mode
                if behaviour == OK:
                    self.deleted.append(session_id)
            else:
                queue = self.queued.get(region) or []
                behaviour = queue.pop(0) if queue else self.mode[region]
                self.sessions.setdefault(region, []).append(session_id)
        if self.rendezvous is not None and operation in self.rendezvous_operations:
            try:
                self.rendezvous.wait()
                with self._lock:
                    self.met += 1
            except threading.BrokenBarrierError:
                with self._lock:
                    self.broken += 1
                self.rendezvous.reset()
        if behaviour == TIMEOUT:
            time.sleep(self.timeout_delay)
            raise ReadTimeoutError(endpoint_url=request.url)
        if behaviour == ERROR:
            return error_response(request, "InternalServerException")
        if behaviour == NOT_FOUND:
            return error_response(request, "ResourceNotFoundException")
        bot = BOTS[region]
        if operation == "RecognizeText":
            reply = EXPECTED if behaviour == OK else "Sorry, can you please repeat that?"
            body = {
                "messages": [{"content": reply, "contentType": "PlainText"}],
                "sessionId": session_id,
                "sessionState": {"dialogAction": {"type": "ElicitSlot", "slotToElicit": "Flower"}},
            }
            return json_response(request, body)
        if operation == "PutSession":
            headers = {"Content-Type": "application/json"}
            if behaviour == OK:
                headers["x-amz-lex-session-id"] = session_id
            return AWSResponse(request.url, 200, headers, ResponseBody(b""))
        if operation == "DeleteSession":
            return json_response(request, {"botId": bot["botId"], "sessionId": session_id})
        raise AssertionError(f"unexpected Lex operation {operation}")


class StateTable:
    """The moto state table, addressed only through the shared schema."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name
        self.client.create_table(**LEX_STATE_TABLE.create_table_request(name))

    def key(self, connect_region: str = PRIMARY) -> dict[str, Any]:
        return {KEY: {"S": connect_region}}

    def seed(self, connect_region: str = PRIMARY, **attributes: Any) -> None:
        item = {KEY: {"S": connect_region}}
        for name, value in attributes.items():
            item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
        self.client.put_item(TableName=self.name, Item=item)

    def set(self, connect_region: str = PRIMARY, **attributes: str) -> None:
        names = {f"#a{i}": n for i, n in enumerate(attributes)}
        values = {f":v{i}": {"S": v} for i, v in enumerate(attributes.values())}
        self.client.update_item(
            TableName=self.name,
            Key=self.key(connect_region),
            UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(names))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def item(self, connect_region: str = PRIMARY) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.name, Key=self.key(connect_region), ConsistentRead=True
        )
        return response.get("Item")

    def lex_region(self, connect_region: str = PRIMARY) -> str | None:
        item = self.item(connect_region) or {}
        return item.get("lexRegion", {}).get("S")

    def version(self, connect_region: str = PRIMARY) -> int:
        item = self.item(connect_region) or {}
        return int(item.get("version", {}).get("N", 0))

    def streak(self, region: str, connect_region: str = PRIMARY) -> tuple[int, int]:
        entry = (self.item(connect_region) or {})["regions"]["M"][region]["M"]
        return int(entry["okStreak"]["N"]), int(entry["failStreak"]["N"])


def emitted_metrics(stdout: str) -> list[dict[str, Any]]:
    """EMF blobs printed by Powertools, as {name: value, "dims": {...}} per metric."""
    found = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{") or "_aws" not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dims = {d: blob[d] for group in directive["Dimensions"] for d in group}
            for metric in directive["Metrics"]:
                found.append(
                    {
                        "name": metric["Name"],
                        "unit": metric.get("Unit"),
                        "value": _scalar(blob[metric["Name"]]),
                        "dims": dims,
                        "namespace": directive["Namespace"],
                    }
                )
    return found


def _scalar(value: Any) -> Any:
    # Powertools writes a metric's values as a list, one entry per add_metric.
    return value[0] if isinstance(value, list) and len(value) == 1 else value
