"""The stack the drill rehearses: its settings and what its program deploys.

The drill does not restate how a function is configured. It runs the Pulumi
program under the mock engine (``support.mock_engine``, about a second) for the
current stack file and reads what the components declare: each Lambda
function's handler and environment, the tables' physical names, the seed of
the failover state item, the provisioning queue and its dead-letter queue, and
the probe loop's round offsets. A change of stack configuration therefore
shows up in the drill exactly as it would be deployed.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from support.mock_engine import (
    DEV_REGIONS,
    PROJECT,
    ROOT,
    ProgramRun,
    Recorded,
    run_program,
    stack_file_config,
)

if TYPE_CHECKING:
    from support.sfn import FakeLambdaContext

DEFAULT_STACK = "dev"
#: Used when the stack has no ``Pulumi.<stack>.yaml``: the dev stack's pair.
FALLBACK_REGIONS = dict(DEV_REGIONS)

LAMBDA_FUNCTION = "aws:lambda/function:Function"
DYNAMODB_TABLE_ITEM = "aws:dynamodb/tableItem:TableItem"
SQS_QUEUE = "aws:sqs/queue:Queue"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"


class StackError(Exception):
    """The stack cannot be read (missing file, invalid configuration)."""


class EngineFailure(StackError):
    """The program raised under the mock engine although its configuration
    validated: a bug, or a limit ``config.py`` does not check yet. The message
    leads with the innermost cause (the engine wraps it in "While processing
    input ..." layers)."""

    def __init__(self, exc: BaseException) -> None:
        self.cause = root_cause(exc)
        outer = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = f"the Pulumi program failed under the mock engine: {_describe(self.cause)}"
        if self.cause is not exc:
            message += f"\n  (reported by the engine as: {type(exc).__name__}: {outer})"
        super().__init__(message)


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of ``exc``'s ``__cause__``/``__context__`` chain."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__ or exc.__context__
        if inner is None or id(inner) in seen:
            return exc
        seen.add(id(inner))
        exc = inner


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    # An error re-raised as text (a gRPC error carrying a Python traceback)
    # ends with the real "Type: message" line.
    if "Traceback (most recent call last)" in text:
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1].strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def default_stack() -> str:
    return os.environ.get("PULUMI_STACK", "").strip() or DEFAULT_STACK


def stack_file(stack: str) -> Path:
    return ROOT / f"Pulumi.{stack}.yaml"


@dataclass(frozen=True)
class DeployedFunction:
    """One Lambda function as the stack declares it."""

    logical_name: str
    physical_name: str
    arn: str
    handler_path: str  # "handlers.cell_router.dispatcher.handler"
    environment: Mapping[str, str]
    timeout_seconds: int
    region: str

    @property
    def module(self) -> str:
        return self.handler_path.rsplit(".", 1)[0]

    def context(self) -> FakeLambdaContext:
        """A Lambda context naming this function, as its runtime would pass."""
        from support.sfn import FakeLambdaContext  # moto is heavy; only when invoked

        return FakeLambdaContext(
            function_name=self.physical_name,
            invoked_function_arn=self.arn,
            timeout_seconds=float(self.timeout_seconds),
        )

    def load(self) -> Callable[[Any, Any], Any]:
        """The handler callable, resolved the way the Lambda runtime does."""
        module_name, attribute = self.handler_path.rsplit(".", 1)
        return getattr(importlib.import_module(module_name), attribute)


@dataclass
class StackModel:
    """Settings and declared resources of one stack (from the mock engine)."""

    name: str
    source: str  # the stack file, or a note that defaults were used
    raw_config: dict[str, Any]
    settings: Any  # config.Settings
    run: ProgramRun
    functions: dict[str, DeployedFunction] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        return self.settings.primary_region

    @property
    def secondary(self) -> str:
        return self.settings.secondary_region

    def function(self, family: str, module: str, region: str | None = None) -> DeployedFunction:
        """The function running ``handlers.<family>.<module>`` in ``region``
        (default: the primary; the router runs in both regions since #13)."""
        path = f"handlers.{family}.{module}.handler"
        region = region or self.primary
        for function in self.functions.values():
            if function.handler_path == path and function.region == region:
                return function
        raise StackError(f"the stack declares no function with handler {path} in {region}")

    def seed_items(self, table_name: str) -> list[dict[str, Any]]:
        """Items the stack writes into ``table_name`` on deployment."""
        return [
            json.loads(r.inputs["item"])
            for r in self.run.of_type(DYNAMODB_TABLE_ITEM)
            if r.inputs.get("tableName") == table_name
        ]

    def _in_region(self, typ: str, logical_suffix: str, region: str | None) -> list[Recorded]:
        """The stack's ``typ`` resources named ``*<suffix>`` in ``region``
        (default: the primary)."""
        region = region or self.primary
        return [
            r
            for r in self.run.of_type(typ)
            if r.name.endswith(logical_suffix) and (r.region or self.primary) == region
        ]

    def queue(self, logical_suffix: str, region: str | None = None) -> Recorded:
        found = self._in_region(SQS_QUEUE, logical_suffix, region)
        if len(found) != 1:
            raise StackError(f"expected one queue named *{logical_suffix}, found {len(found)}")
        return found[0]

    def event_pattern(
        self, logical_suffix: str, region: str | None = None
    ) -> dict[str, Any] | None:
        """The event pattern of the stack's rule named ``*<suffix>`` (None
        when the stack declares no such rule)."""
        found = self._in_region(EVENT_RULE, logical_suffix, region)
        return json.loads(found[0].inputs["eventPattern"]) if len(found) == 1 else None

    def state_machine_definition(
        self, logical_suffix: str, region: str | None = None
    ) -> dict[str, Any]:
        found = self._in_region(STATE_MACHINE, logical_suffix, region)
        if len(found) != 1:
            raise StackError(
                f"expected one state machine named *{logical_suffix}, found {len(found)}"
            )
        return json.loads(found[0].inputs["definition"])


def read_stack_config(
    stack: str, config_file: str | Path | None = None
) -> tuple[dict[str, Any], str]:
    """The config values of ``Pulumi.<stack>.yaml`` (or ``config_file``; ours
    unqualified) and where they came from."""
    from support.stack_file import StackFileError

    path = Path(config_file) if config_file is not None else stack_file(stack)
    if config_file is not None and not path.is_file():
        raise StackError(f"no config file {path}")
    if path.exists():
        try:
            return stack_file_config(path), path.name
        except StackFileError as exc:
            raise StackError(str(exc)) from None
    if stack != DEFAULT_STACK:
        raise StackError(f"no stack file {path.name} (stacks: {', '.join(known_stacks())})")
    return dict(FALLBACK_REGIONS), f"defaults ({path.name} not found)"


def known_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


def load_stack(stack: str | None = None, *, config_file: str | Path | None = None) -> StackModel:
    """Parse the stack's settings and run its program under the mock engine."""
    from config import ConfigError, parse_settings

    name = stack or default_stack()
    raw, source = read_stack_config(name, config_file)
    try:
        settings = parse_settings(raw, stack=name, project=PROJECT)
    except ConfigError as exc:
        raise StackError(str(exc)) from None
    try:
        run = run_program(raw, stack=name)
    except Exception as exc:  # the program itself failed: say so, plainly
        raise EngineFailure(exc) from exc
    model = StackModel(name=name, source=source, raw_config=raw, settings=settings, run=run)
    for resource in run.of_type(LAMBDA_FUNCTION):
        variables = (resource.inputs.get("environment") or {}).get("variables") or {}
        model.functions[resource.name] = DeployedFunction(
            logical_name=resource.name,
            physical_name=str(resource.outputs["name"]),
            arn=str(resource.outputs["arn"]),
            handler_path=str(resource.inputs["handler"]),
            environment={k: str(v) for k, v in variables.items()},
            timeout_seconds=int(resource.inputs.get("timeout") or 3),
            region=resource.region or settings.primary_region,
        )
    return model
