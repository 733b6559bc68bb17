"""``python -m ops``: operate a deployed stack (cell router writers, cells,
Lex override).

    pulumi stack output --json > outputs.json
    python -m ops --outputs outputs.json writers [--market europe]
    python -m ops --outputs outputs.json promote --market europe --to us-west-2 \
        [--force] [--dry-run]
    python -m ops --outputs outputs.json heal --market europe [--dry-run]
    python -m ops --outputs outputs.json drain --market europe --cell cell-1 [--dry-run]
    python -m ops --outputs outputs.json undrain --market europe --cell cell-1 [--dry-run]
    python -m ops --outputs outputs.json lex-override --set us-west-2 | --clear [--dry-run]

Exit status: 0 done (or planned, with --dry-run), 2 refused or failed with
nothing changed (the message says what to change).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from handlers.cell_router.input_parsing import MARKET_ID_PATTERN
from ops import commands
from ops.commands import Clients, Plan
from ops.outputs import OpsError, load_outputs


def boto3_clients() -> Clients:
    import boto3

    cache: dict[str, Any] = {}

    def client(region: str) -> Any:
        if region not in cache:
            cache[region] = boto3.client("dynamodb", region_name=region)
        return cache[region]

    return client


def _market(value: str) -> str:
    if not MARKET_ID_PATTERN.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a market id (1-64 of A-Za-z0-9_-)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--outputs",
        metavar="FILE",
        help="`pulumi stack output --json` saved to a file (default: $RESILIENT_ROUTING_OUTPUTS)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub = parser.add_subparsers(dest="command", required=True)

    writers = sub.add_parser("writers", help="each market's writer, epoch and heartbeat ages")
    writers.add_argument(
        "--market", type=_market, action="append", help="repeatable; default: scan for all"
    )

    promote = sub.add_parser("promote", help="make a region the writer of a market")
    promote.add_argument("--market", type=_market, required=True)
    promote.add_argument("--to", required=True, metavar="REGION")
    promote.add_argument(
        "--force",
        action="store_true",
        help="the old writer's region is lost: fence by time, not acknowledgement (see README)",
    )
    promote.add_argument("--dry-run", action="store_true")

    heal = sub.add_parser("heal", help="let a region lost by a forced promotion rejoin")
    heal.add_argument("--market", type=_market, required=True)
    heal.add_argument("--dry-run", action="store_true")

    for name, text in (("drain", "stop placing new users in a cell"), ("undrain", "resume")):
        cell = sub.add_parser(name, help=text)
        cell.add_argument("--market", type=_market, required=True)
        cell.add_argument("--cell", required=True)
        cell.add_argument("--region", help="default: the market's writer region")
        cell.add_argument("--dry-run", action="store_true")

    lex = sub.add_parser("lex-override", help="set or clear the Lex overrideRegion")
    action = lex.add_mutually_exclusive_group(required=True)
    action.add_argument("--set", metavar="REGION")
    action.add_argument("--clear", action="store_true")
    lex.add_argument("--connect-region", help="the state item's key (default: the primary)")
    lex.add_argument(
        "--table-region",
        help="the region you work in; only its own override item is written (default: primary)",
    )
    lex.add_argument("--dry-run", action="store_true")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    clients: Clients | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    now: float | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    clients = clients or boto3_clients()
    now = time.time() if now is None else now
    try:
        outputs = load_outputs(args.outputs)
        if args.command == "writers":
            table = outputs.require_router()
            markets = args.market or commands.discover_markets(
                clients, table, outputs.primary_region
            )
            rows = commands.writer_status(clients, outputs, markets, now)
            _print_rows(rows, args.json, out)
            return 0
        if args.command == "promote":
            plan = commands.promote(
                clients,
                outputs,
                args.market,
                args.to,
                now=now,
                force=args.force,
                dry_run=args.dry_run,
            )
        elif args.command == "heal":
            plan = commands.heal(clients, outputs, args.market, dry_run=args.dry_run)
        elif args.command in {"drain", "undrain"}:
            plan = commands.set_cell_status(
                clients,
                outputs,
                args.market,
                args.cell,
                drain=args.command == "drain",
                region=args.region,
                now=now,
                dry_run=args.dry_run,
            )
        else:
            plan = commands.lex_override(
                clients,
                outputs,
                None if args.clear else args.set,
                connect_region=args.connect_region,
                table_region=args.table_region,
                now=now,
                dry_run=args.dry_run,
            )
    except OpsError as error:
        print(f"error: {error}", file=err)
        return 2
    _print_plan(plan, args.json, out)
    return 0


def _print_plan(plan: Plan, as_json: bool, out: TextIO) -> None:
    if as_json:
        json.dump(plan.__dict__, out, indent=2, sort_keys=True, default=str)
        out.write("\n")
        return
    prefix = "done" if plan.applied else "dry run, nothing written"
    out.write(f"{prefix}: {plan.summary}\n  table {plan.table} in {plan.region}\n")
    out.write(f"  before: {json.dumps(plan.before, sort_keys=True, default=str)}\n")
    out.write(f"  after:  {json.dumps(plan.after, sort_keys=True, default=str)}\n")


def _print_rows(rows: list[dict[str, Any]], as_json: bool, out: TextIO) -> None:
    if as_json:
        json.dump(rows, out, indent=2, sort_keys=True)
        out.write("\n")
        return
    if not rows:
        out.write("no markets found\n")
        return
    out.write("market          seen in     writer      epoch  heartbeat ages          verdict\n")
    for row in rows:
        if not row["reachable"]:
            out.write(f"{row['marketId']:<15} {row['region']:<11} UNREACHABLE: {row['error']}\n")
            continue
        ages = ", ".join(f"{r} {a}s" for r, a in row["heartbeatAgeSeconds"].items()) or "none"
        writer_text = row["writerRegion"] + ("*" if row["implicit"] else "")
        out.write(
            f"{row['marketId']:<15} {row['region']:<11} {writer_text:<11} {row['epoch']:>5}  "
            f"{ages:<23} {row['verdict']}" + (f" ({row['reason']})" if row["reason"] else "") + "\n"
        )
    if any(row.get("implicit") for row in rows):
        out.write("* no writer record: the primary writes by default (epoch 0)\n")
