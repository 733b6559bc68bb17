"""AWS round trips and bytes read per cell-router request, as the market grows.

Runs the real handlers on in-process moto and counts, through botocore's
event hooks on the handlers' own clients, every HTTP attempt (``before-send``)
and every response body byte (``response-received``). Targets: a new user
signs up in <= 3 round trips, a known user and the mapper take <= 2, and
neither grows with the number of users already placed.

    python -m bench.round_trips            # 100 and 10,000 users
    python -m bench.round_trips 100 1000   # other sizes
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from components.schemas import ROUTER_TABLE  # noqa: E402
from drill.argtypes import integer_in  # noqa: E402
from drill.emulator import FAKE_CREDENTIALS, scoped_environ  # noqa: E402
from drill.sfn import FakeLambdaContext  # noqa: E402

TABLE = "tbl_router_bench"
MARKET = "europe"
SAMPLES = 5
#: The bench stack's user-key HMAC key (what its secret holds).
USER_KEY = "bench-user-key-0123456789abcdef"
SCENARIOS = (
    "new user sign-up",
    "known user sign-up",
    "mapper",
    "validator (no deep check)",
    # Issue #13: the router in two regions, this one the market's writer.
    "two-region sign-up, writer check cached",
    "two-region sign-up, writer check cold",
)
#: The two-region scenarios' settings (this table plays the writer's replica).
TWO_REGIONS = {
    "ROUTER_REGION": "us-east-1",
    "ROUTER_PEER_REGION": "us-west-2",
    "ROUTER_PRIMARY_REGION": "us-east-1",
}


@dataclass
class Cost:
    """Worst case over the samples of one scenario."""

    round_trips: int = 0
    bytes_read: int = 0
    operations: list[str] = field(default_factory=list)

    def worst(self, other: Cost) -> Cost:
        if (other.round_trips, other.bytes_read) > (self.round_trips, self.bytes_read):
            return other
        return self


class _Meter:
    """Counts HTTP attempts and response bytes on the clients it is attached to."""

    def __init__(self) -> None:
        self.current = Cost()

    def attach(self, client: Any) -> None:
        # First, so moto's own before-send (which answers the request) cannot
        # hide the attempt from us.
        client.meta.events.register_first("before-send", self._sent)
        client.meta.events.register("response-received", self._received)

    def _sent(self, request: Any = None, **kwargs: Any) -> None:
        self.current.round_trips += 1
        target = (request.headers.get("X-Amz-Target") or b"") if request is not None else b""
        if isinstance(target, bytes):
            target = target.decode()
        self.current.operations.append(target.rsplit(".", 1)[-1] or "?")

    def _received(self, response_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if response_dict is not None:
            self.current.bytes_read += len(response_dict.get("body") or b"")

    def measure(self, call: Callable[[], Any]) -> tuple[Cost, Any]:
        self.current = cost = Cost()
        try:
            value = call()
        finally:
            self.current = Cost()
        return cost, value


def _environment() -> contextlib.AbstractContextManager[None]:
    """Fake credentials and the handlers' settings; nothing from the caller's shell."""
    return scoped_environ(
        {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "TABLE_NAME": TABLE,
            "VALIDATOR_DEEP_CHECK": "false",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_ENDPOINT_URL": None,
            "AWS_PROFILE": None,
            "DEFAULT_MARKET": None,
            "CAPACITY_BUFFER": None,
        }
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence handler logs and metrics output while measuring."""
    from handlers.cell_router.observability import logger

    level = logger.log_level
    logger.setLevel("ERROR")
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _url(cell: int, n: int) -> str:
    return f"https://cell-{cell:03}-{n}.{MARKET}.example.com"


def _seed(users: int, cells: int, max_capacity: int) -> None:
    from handlers.cell_router import identity, store

    client = boto3.client("dynamodb")
    client.create_table(**ROUTER_TABLE.create_table_request(TABLE))
    loads = [users // cells + (1 if i < users % cells else 0) for i in range(cells)]
    items: list[dict[str, Any]] = []
    for i, load in enumerate(loads):
        items.append(
            {
                "marketId": {"S": MARKET},
                "cellId": {"S": f"cell-{i:03}"},
                "currentCapacity": {"N": str(load)},
                "maxCapacity": {"N": str(max_capacity)},
                "endPoint_1": {"S": _url(i, 1)},
                "endPoint_2": {"S": _url(i, 2)},
                "regionCode_1": {"S": "eu-west-1"},
                "regionCode_2": {"S": "eu-central-1"},
                "IsHealthy": {"BOOL": True},
                # In the placeable index, as the registrar leaves a new cell.
                store.PLACEABLE_ATTRIBUTE: {"S": MARKET},
            }
        )
    user = 0
    for i, load in enumerate(loads):
        for _ in range(load):
            key = store.mapping_key(identity.keyed_user_key(f"user{user}", USER_KEY.encode()))
            items.append(
                {
                    store.PARTITION_KEY: {"S": key[store.PARTITION_KEY]},
                    store.SORT_KEY: {"S": key[store.SORT_KEY]},
                    "assignedMarketId": {"S": MARKET},
                    "assignedCellId": {"S": f"cell-{i:03}"},
                    "assignedAt": {"S": "2025-01-01T00:00:00Z"},
                }
            )
            user += 1
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending: dict[str, Any] = {TABLE: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def measure(users: int, *, cells: int = 30, max_capacity: int = 500) -> dict[str, Cost]:
    """Worst-case cost of each scenario with ``users`` already placed."""
    from handlers.cell_router import aws_clients, dispatcher, identity, mapper, validator
    from handlers.cell_router.budget import ATTEMPT_TIMEOUTS

    context = FakeLambdaContext(function_name="bench")
    with _environment(), mock_aws():
        _seed(users, cells, max_capacity)
        secret = boto3.client("secretsmanager").create_secret(
            Name="bench-user-key", SecretString=USER_KEY
        )["ARN"]
        os.environ["USER_KEY_SECRET_ARN"] = secret
        aws_clients.reset()
        identity.reset()
        meter = _Meter()
        # One cached client per (connect, read) pair: meter them all, since
        # each call picks the pair that fits its function's remaining time.
        for connect, read in ATTEMPT_TIMEOUTS:
            meter.attach(aws_clients.dynamodb(connect + read))
            meter.attach(aws_clients.sqs(connect + read))
            meter.attach(aws_clients.secretsmanager(connect + read))
        # A warm container: the user-key secret is read once per container
        # (one GetSecretValue on its first request), not per request -- a
        # per-request read would show up in every scenario below.
        identity.user_key("warm-up")

        def event(user_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            return {"path": "/", "httpMethod": "POST", "userId": user_id, "body": body or {}}

        known = [f"user{(users * k) // SAMPLES}" for k in range(SAMPLES)]
        costs = dict.fromkeys(SCENARIOS, Cost())

        def record(scenario: str, handler: Callable[..., Any], request: dict[str, Any]) -> Any:
            cost, value = meter.measure(lambda: handler(request, context))
            costs[scenario] = costs[scenario].worst(cost)
            return value

        with _quiet():
            for k in range(SAMPLES):
                record(SCENARIOS[0], dispatcher.handler, event(f"new{k}"))
                record(SCENARIOS[1], dispatcher.handler, event(known[k]))
                placed = record(SCENARIOS[2], mapper.handler, event(known[k]))
                first, second = (endpoint["url"] for endpoint in placed["endpoints"])
                cached = {"cellId": placed["cellId"], "cellUrl": first, "cellUrl2": second}
                verdict = record(SCENARIOS[3], validator.handler, event(known[k], cached))
                if not verdict["valid"]:
                    raise AssertionError(f"seeded cache judged stale: {verdict}")
            _two_region_sign_ups(record, event)
        aws_clients.reset()
        identity.reset()
        os.environ.pop("USER_KEY_SECRET_ARN", None)
        return costs


def _two_region_sign_ups(record: Callable[..., Any], event: Callable[..., Any]) -> None:
    """Sign-ups in the market's writer region of a two-region router: a cold
    writer check costs one BatchGetItem (record + peer heartbeat), a cached
    one nothing (the transaction's condition check re-proves it)."""
    from handlers.cell_router import dispatcher, writer, writer_gate, writer_store

    with scoped_environ(TWO_REGIONS):
        peer = writer.heartbeat_item("us-west-2", time.time(), {})
        writer_store.write_heartbeat(boto3.client("dynamodb"), TABLE, peer)
        for k in range(SAMPLES):
            writer_gate.forget()
            record(SCENARIOS[5], dispatcher.handler, event(f"cold{k}"))
            record(SCENARIOS[4], dispatcher.handler, event(f"warm{k}"))
        writer_gate.forget()


def markdown(results: dict[int, dict[str, Cost]]) -> str:
    sizes = sorted(results)
    header = "| request | " + " | ".join(f"{n:,} users: round trips / bytes read" for n in sizes)
    lines = [header + " | calls |", "|---" * (len(sizes) + 2) + "|"]
    for scenario in SCENARIOS:
        cells = [
            f"{results[n][scenario].round_trips} / {results[n][scenario].bytes_read:,}"
            for n in sizes
        ]
        calls = " + ".join(results[sizes[-1]][scenario].operations)
        lines.append(f"| {scenario} | " + " | ".join(cells) + f" | {calls} |")
    return "\n".join(lines)


#: Largest market measured: seeding is ~1 s per 1,000 users on moto.
MAX_USERS = 100_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.round_trips",
        description=__doc__.split("\n\n")[0],
        epilog=f"Each size is a number of users already placed, 1-{MAX_USERS:,}.",
    )
    parser.add_argument(
        "sizes",
        nargs="*",
        type=integer_in(1, MAX_USERS),
        metavar="USERS",
        help="market sizes to measure (default: 100 10000)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = sorted(set(args.sizes)) or [100, 10_000]
    started = time.monotonic()
    results = {n: measure(n) for n in sizes}
    print(markdown(results))
    print(f"\n({SAMPLES} samples per cell, worst case shown; {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
