"""Command line of the drill (``python -m drill --help``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from importlib import metadata

from drill.report import Check, Report
from handlers.cell_router.input_parsing import MAX_CAPACITY as _REGISTRAR_MAX_CAPACITY
from support.argtypes import integer_in
from support.environment import offline_environment, scoped_environ

DESCRIPTION = """\
The offline drill: resilient-routing's data plane on an embedded AWS emulator.

Runs the real Lambda handlers and the real state machine definition against
moto, started in this process on 127.0.0.1. Needs no AWS account and no
network: fake credentials are set, ~/.aws is never read. The stack's settings
come from Pulumi.<stack>.yaml (default: $PULUMI_STACK, else "dev"), and each
function's environment is what the stack's components give it (read from a
Pulumi mock-engine run of the program).

With no command, every scenario runs (failover, then cells; cells is skipped,
and the drill says so, when the stack sets cellRouterEnabled: false), except
router-region, which runs only when asked for (it takes about a minute). The
exit status is 0 when every invariant held, 1 when one broke (the reasons are
printed), 2 for a usage or configuration error (an unreadable or malformed
stack file, a setting `pulumi up` would reject), 3 when the program itself
failed under the mock engine although its configuration is valid."""

FAILOVER_HELP = """\
Lex V2 failover on a simulated clock: the health-check handler runs one probe
round at each offset of the stack's probe loop (every probeIntervalSeconds),
the lookup handler answers a Connect-shaped event after every round. Lex is
SIMULATED at the botocore level (moto has no lexv2-runtime). Story: healthy;
the primary's alias disappears -> failover after failoverThreshold failed
rounds (detection time printed); both regions down -> state kept (fail open);
recovery -> failback after failbackThreshold good rounds; an operator sets and
clears overrideRegion. Both regions' checkers and lookups run on two replicas of
the state table (global table emulated: lag, last-writer-wins). Then: the whole
primary region is lost (every service faulted) and returns; one checker is
partitioned from both bots. Every DynamoDB write is checked: no item is written
from both regions."""

CELLS_HELP = """\
Cell router: cells registered through the registrar (CellReady events), N
users signing up concurrently through the dispatcher and scaler against a moto
server that serves one request at a time (DynamoDB's atomicity), refusals once
cells reach their assignable limit, one provisioning request on the queue, a
new cell announced through the registrar, then a batch of API requests through
the Orchestrator definition on moto's Step Functions interpreter (statuses as
the API maps them). Invariants are checked on the table."""

ROUTER_REGION_HELP = """\
The cell router in two regions when its home region is lost. Both regions'
routing tables (global table emulated: 1 s lag, per-item last-writer-wins) and
both regions' handlers (dispatcher, scaler, mapper, validator, registrar,
heartbeat) with their own environment, concurrently on threads. Clients hold
both router URLs (the README's client guidance). Story: a planned promotion of
one market to the secondary; sign-ups and known users' /mapper and /validate in
both regions; the primary fails mid-phase (every call to its endpoints times
out); reads fail over; the operator promotes the primary's markets with
`python -m ops`'s code (refused without --force, then fenced); sign-ups succeed
in the secondary; the primary recovers and is healed. Checked on both replicas
after replication drains: placed == sum(currentCapacity) == mapping items, no
cell over its limit, nobody in two cells, no lost increment, one writer per
market, round trips. Not part of the default run (about a minute on 2 busy
cores)."""

PLAN_HELP = """\
What `pulumi up` would create for the stack, offline: the effective settings
(each key's value and whether the stack file or the default set it), then the
program run under the Pulumi mock engine with Pulumi.<stack>.yaml, resources
listed per region and per component that creates them."""

PLOT_HELP = (
    "write a PNG chart (matplotlib): region over simulated time for failover, users per "
    "cell over the sign-ups for cells; with no command, both panels in one figure"
)


def _shared_options(*, top_level: bool) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Options accepted before and after the command. After the command they
    default to "not given" so ``python -m drill --stack eu cells`` keeps eu."""
    default = None if top_level else argparse.SUPPRESS
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack",
        metavar="NAME",
        default=default,
        help='stack whose Pulumi.<NAME>.yaml to read (default: $PULUMI_STACK, else "dev")',
    )
    common.add_argument(
        "--config-file",
        metavar="PATH",
        default=default,
        help="read the stack's configuration from PATH instead of Pulumi.<NAME>.yaml "
        "(as `pulumi up --config-file`)",
    )
    scenario = argparse.ArgumentParser(add_help=False)
    scenario.add_argument("--plot", metavar="FILE.png", default=default, help=PLOT_HELP)
    scenario.add_argument(
        "--faults",
        metavar="SPEC",
        type=_fault_spec,
        default=default,
        help=(
            "AWS failure modes at the botocore level (support/faults.py syntax), e.g. "
            "'dynamodb:TransactWriteItems=cancel:TransactionConflict@0.3,"
            "dynamodb=ThrottlingException@0.1,sqs:SendMessage=timeout@1'; "
            "the invariants must hold all the same"
        ),
    )
    scenario.add_argument(
        "--fault-seed",
        metavar="N",
        type=int,
        default=default,
        help="seed of the random draws of --faults (default 0)",
    )
    # A self-test of the drill's own checks: breaks the system on purpose in
    # this process so that an invariant must fail. Deliberately not in --help.
    scenario.add_argument(
        "--inject-fault",
        dest="fault",
        default=default,
        choices=("slow-failover", "double-count", "skip-transaction", "two-writers"),
        help=argparse.SUPPRESS,
    )
    return common, scenario


def build_parser() -> argparse.ArgumentParser:
    top_common, top_scenario = _shared_options(top_level=True)
    common, scenario = _shared_options(top_level=False)

    parser = argparse.ArgumentParser(
        prog="python -m drill",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[top_common, top_scenario],
        epilog="Commands: failover, cells, router-region, plan (python -m drill COMMAND --help).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "failover",
        parents=[common, scenario],
        help="Lex V2 cross-region failover on a simulated clock",
        description=FAILOVER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cells = commands.add_parser(
        "cells",
        parents=[common, scenario],
        help="concurrent sign-ups into cells, scale-out, the Orchestrator",
        description=CELLS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cells.add_argument(
        "--users",
        type=integer_in(1, MAX_USERS),
        default=150,
        metavar="N",
        help=f"concurrent sign-ups, 1-{MAX_USERS:,} (default 150)",
    )
    cells.add_argument(
        "--cells",
        type=integer_in(1, MAX_CELLS),
        default=3,
        metavar="K",
        help=f"cells registered before the burst, 1-{MAX_CELLS} (default 3)",
    )
    cells.add_argument(
        "--capacity",
        type=integer_in(1, MAX_CAPACITY),
        default=50,
        metavar="C",
        help=f"maxCapacity of each cell, 1-{MAX_CAPACITY:,} (the registrar's bound; default 50)",
    )
    cells.add_argument(
        "--threads",
        type=integer_in(1, MAX_THREADS),
        default=16,
        metavar="T",
        help=f"threads signing users up at once, 1-{MAX_THREADS} (default 16)",
    )
    cells.add_argument(
        "--api-users",
        type=integer_in(0, MAX_API_USERS),
        default=10,
        metavar="M",
        help=f"sign-ups through the Orchestrator after the new cell, 0-{MAX_API_USERS} "
        "(default 10)",
    )
    router_region = commands.add_parser(
        "router-region",
        parents=[common, scenario],
        help="the cell router in two regions: home region lost, promotion, recovery, heal",
        description=ROUTER_REGION_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    router_region.add_argument(
        "--users",
        type=integer_in(4, MAX_ROUTER_REGION_USERS),
        default=12,
        metavar="N",
        help=f"new sign-ups in each phase, 4-{MAX_ROUTER_REGION_USERS} (default 12)",
    )
    router_region.add_argument(
        "--threads",
        type=integer_in(1, MAX_THREADS),
        default=8,
        metavar="T",
        help=f"client threads, 1-{MAX_THREADS} (default 8)",
    )
    router_region.add_argument(
        "--seed", type=int, default=13, metavar="S", help="seed of the story's draws (default 13)"
    )
    router_region.add_argument(
        "--replication-cut",
        action="store_true",
        help="the loss also cuts replication to and from the primary until it returns: its "
        "last writes then meet the new writer's (the forced-promotion risk; checks fail)",
    )
    plan = commands.add_parser(
        "plan",
        parents=[common],
        help="offline preview: resources per region and component",
        description=PLAN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan.add_argument("-v", "--verbose", action="store_true", help="list every resource")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    report = Report()
    # Offline from the first moment: nothing below may find real credentials.
    with scoped_environ(offline_environment("us-east-1")):
        try:
            return _run(args, report)
        except BrokenPipeError:  # `python -m drill plan | head`
            return 0


def _run(args: argparse.Namespace, report: Report) -> int:
    from drill.stack import EngineFailure, StackError

    started = time.monotonic()
    try:
        if args.command == "plan":
            from drill import plan

            plan.run(args.stack, report=report, verbose=args.verbose, config_file=args.config_file)
            return 0
        return _scenarios(args, report, started)
    except EngineFailure as exc:
        print(f"drill: {exc}", file=sys.stderr)
        return 3
    except StackError as exc:
        print(f"drill: {exc}", file=sys.stderr)
        return 2


def _scenarios(args: argparse.Namespace, report: Report, started: float) -> int:
    from drill import cells, failover, router_region
    from drill.session import DrillSession
    from drill.stack import load_stack

    command = args.command
    fault = args.fault
    scenario_faults = (
        ("failover", failover.FAULTS),
        ("cells", cells.FAULTS),
        ("router-region", router_region.FAULTS),
    )
    for name, faults in scenario_faults:
        if fault in faults and command not in (None, name):
            print(f"drill: fault {fault!r} belongs to the {name} scenario", file=sys.stderr)
            return 2
    if command == "router-region" and (args.faults or args.plot):
        print(
            "drill: router-region takes neither --faults (its fault is the region loss) nor "
            "--plot (the chart draws failover and cells)",
            file=sys.stderr,
        )
        return 2
    if command is None and fault in router_region.FAULTS:
        print(
            f"drill: fault {fault!r} belongs to the router-region scenario, which the default "
            "run does not include: python -m drill router-region --inject-fault "
            f"{fault}",
            file=sys.stderr,
        )
        return 2

    model = load_stack(args.stack, config_file=args.config_file)
    with DrillSession.open(model, report=report) as session:
        stack = session.stack
        router_deployed = stack.settings.cell_router.enabled
        if command in ("cells", "router-region") and not router_deployed:
            print(
                f"drill: stack {stack.name!r} sets cellRouterEnabled: false, so it deploys no "
                "cell router to drill (run `python -m drill failover`, or enable the router)",
                file=sys.stderr,
            )
            return 2
        report.line(
            f"resilient-routing drill -- stack {stack.name!r} ({stack.source}): "
            f"{stack.primary} primary, {stack.secondary} secondary"
        )
        report.line(
            f"Embedded AWS emulator: moto {metadata.version('moto')} on "
            f"{session.server.endpoint_url.removeprefix('http://')}, serving one request at a "
            "time. Fake credentials; no AWS account, no network."
        )
        report.line(
            f"Handlers configured from a Pulumi mock-engine run of the stack "
            f"({len(stack.run.resources)} resources declared)."
        )
        results: list[tuple[str, list[Check], float]] = []
        failover_result = cells_result = None
        if command in (None, "failover"):
            failover_result = failover.run(
                session,
                fault=fault if fault in failover.FAULTS else None,
                faults=args.faults,
                fault_seed=args.fault_seed or 0,
            )
            results.append(("failover", failover_result.checks, failover_result.elapsed_seconds))
        if command is None and not router_deployed:
            report.line()
            report.line(
                f"== Cell router -- skipped: stack {stack.name!r} sets cellRouterEnabled: false "
                "(the stack deploys no router) =="
            )
        if command == "cells" or (command is None and router_deployed):
            sizes = {}
            if command == "cells":
                sizes = dict(
                    users=args.users,
                    cells=args.cells,
                    capacity=args.capacity,
                    threads=args.threads,
                    api_users=args.api_users,
                )
            cells_result = cells.run(
                session,
                fault=fault if fault in cells.FAULTS else None,
                faults=args.faults,
                fault_seed=args.fault_seed or 0,
                **sizes,
            )
            results.append(("cells", cells_result.checks, cells_result.elapsed_seconds))
        if command == "router-region":
            region_result = router_region.run(
                session,
                users=args.users,
                threads=args.threads,
                seed=args.seed,
                fault=fault if fault in router_region.FAULTS else None,
                replication_cut=args.replication_cut,
            )
            results.append(("router-region", region_result.checks, region_result.elapsed_seconds))

    if args.plot:
        from drill.plot import write_plot

        path = write_plot(args.plot, failover=failover_result, cells=cells_result)
        report.line()
        report.line(f"Chart written to {path}")

    report.line()
    failed = [(name, c) for name, checks, _ in results for c in checks if not c.ok]
    timing = ", ".join(f"{name} {seconds:.1f} s" for name, _, seconds in results)
    total = time.monotonic() - started
    if failed:
        report.line(f"DRILL FAILED ({timing}; {total:.1f} s in all):")
        for name, check in failed:
            report.line(f"  {name}: {check.name} -- {check.detail}")
        for name, check in failed:
            print(
                f"drill: {name}: invariant broke: {check.name} -- {check.detail}", file=sys.stderr
            )
        return 1
    count = sum(len(checks) for _, checks, _ in results)
    report.line(f"All {count} checks passed ({timing}; {total:.1f} s in all).")
    return 0


def _fault_spec(text: str) -> str:
    from support.faults import FaultSpecError, parse_faults

    try:
        parse_faults(text)
    except FaultSpecError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


#: Upper bounds of the cells scenario's sizes: the registrar's own maxCapacity
#: bound, and sizes the embedded emulator finishes in minutes, not hours (one
#: request at a time, ~20 ms a sign-up).
MAX_USERS = 20_000
MAX_CELLS = 200
MAX_CAPACITY = _REGISTRAR_MAX_CAPACITY
MAX_THREADS = 64
#: New sign-ups per phase of router-region (six phases, two regions).
MAX_ROUTER_REGION_USERS = 2_000
MAX_API_USERS = 200
