"""What the handlers really emit: run them on moto and keep their EMF output.

``python -m tests.offline.emf_capture OUT.json`` runs, in a fresh process
(module-level Powertools objects read the environment once, at import):

* both drill scenarios (``drill.failover``, ``drill.cells``): every handler
  with the environment the stack declares for it, on the embedded moto
  server, through failover, failback, an operator override, both regions
  failing, a market filling up, scale-out, CellReady and the API paths;
* a few extra invocations for paths the drill does not take (a provisioning
  request that cannot be sent, a caller whose cell turned unhealthy).

Powertools writes each flush as one embedded-metric-format JSON document on
stdout -- exactly what CloudWatch Logs turns into metrics in Lambda -- and
this module parses those documents (several threads may interleave them).
OUT.json gets one record per distinct (namespace, metric, dimension names)
with the dimension values seen.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any


class _Capture(io.TextIOBase):
    """A thread-safe text sink for everything the handlers print."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


def emf_documents(text: str) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``text`` that carries an ``_aws`` EMF directive,
    even when documents printed by different threads are glued together."""
    decoder = json.JSONDecoder()
    index = 0
    while True:
        start = text.find("{", index)
        if start < 0:
            return
        try:
            document, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        index = end
        if isinstance(document, dict) and "_aws" in document:
            yield document


def metric_identities(documents: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (namespace, metric, dimension names), as CloudWatch
    extracts them: every metric of a directive under each dimension set."""
    seen: dict[tuple[str, str, tuple[str, ...]], dict[str, Any]] = {}
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            namespace = directive["Namespace"]
            for dimension_set in directive["Dimensions"]:
                names = tuple(sorted(dimension_set))
                values = {name: str(document[name]) for name in names}
                for definition in directive["Metrics"]:
                    key = (namespace, definition["Name"], names)
                    record = seen.setdefault(
                        key,
                        {
                            "namespace": namespace,
                            "metric": definition["Name"],
                            "dimensions": list(names),
                            "unit": definition.get("Unit"),
                            "values": [],
                        },
                    )
                    if values not in record["values"] and len(record["values"]) < 50:
                        record["values"].append(values)
    return sorted(seen.values(), key=lambda r: (r["namespace"], r["metric"], r["dimensions"]))


@contextmanager
def _captured(sink: _Capture) -> Iterator[None]:
    with redirect_stdout(sink):  # type: ignore[type-var]
        yield


def _extra_paths(session: Any) -> None:
    """Paths the drill does not take, driven through the real handlers."""
    from drill.environment import handler_environment, scoped_environ

    stack = session.stack
    functions = {m: stack.function("cell_router", m) for m in ("dispatcher", "scaler", "validator")}
    environment = handler_environment(*(f.environment for f in functions.values()))
    # A queue that does not exist: the send fails (ProvisioningFailed) and
    # the scaler raises ProvisioningUnavailable, as it would in Lambda.
    environment["PROVISIONING_QUEUE_URL"] = (
        f"{session.server.endpoint_url}/123456789012/no-such-queue"
    )
    ddb = session.client("dynamodb")
    table = environment["TABLE_NAME"]
    for cell_id, load in (("capture-1", 9), ("capture-2", 0)):
        ddb.put_item(
            TableName=table,
            Item={
                "marketId": {"S": "capture"},
                "cellId": {"S": cell_id},
                "currentCapacity": {"N": str(load)},
                "maxCapacity": {"N": "10"},
                "IsHealthy": {"BOOL": True},
                "endPoint_1": {"S": f"https://{cell_id}-a.example.com"},
                "endPoint_2": {"S": f"https://{cell_id}-b.example.com"},
                "regionCode_1": {"S": stack.primary},
                "regionCode_2": {"S": stack.secondary},
            },
        )

    def call(module: str, event: dict[str, Any]) -> Any:
        return functions[module].load()(event, functions[module].context())

    with scoped_environ(environment):
        try:
            call(
                "scaler",
                {
                    "cellId": "capture-1",
                    "marketId": "capture",
                    "newAssignment": True,
                    "cellLoad": {"currentCapacity": 9, "maxCapacity": 10},
                },
            )
        except Exception as error:  # the failure is the path under test
            if type(error).__name__ != "ProvisioningUnavailable":
                raise
        # A caller whose cell turns unhealthy asks /validate (CellUnhealthy).
        caller = {"path": "/cells", "httpMethod": "POST", "email": "capture@example.com"}
        placed = call("dispatcher", {**caller, "body": {"marketId": "capture"}})
        ddb.update_item(
            TableName=table,
            Key={"marketId": {"S": "capture"}, "cellId": {"S": placed["cellId"]}},
            UpdateExpression="SET IsHealthy = :false",
            ExpressionAttributeValues={":false": {"BOOL": False}},
        )
        urls = [endpoint["url"] for endpoint in placed["endpoints"]]
        call(
            "validator",
            {
                **caller,
                "path": "/validate",
                "body": {"cellId": placed["cellId"], "cellUrl": urls[0], "cellUrl2": urls[1]},
            },
        )


def capture(stack: str | None = None) -> list[dict[str, Any]]:
    from drill import cells, failover
    from drill.report import Report
    from drill.session import DrillSession

    sink = _Capture()
    report = Report(io.StringIO())
    with DrillSession.open(stack, report=report) as session, _captured(sink):
        failover.run(session, report=report)
        cells.run(session, users=60, cells=3, capacity=20, threads=8, report=report)
        _extra_paths(session)
    return metric_identities(emf_documents(sink.text()))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.offline.emf_capture OUT.json", file=sys.stderr)
        return 2
    records = capture()
    Path(argv[0]).write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
