"""Run the whole Pulumi program under the mock engine and record everything.

``RecordingMocks`` keeps every resource's type, name, inputs, provider and
parent, so tests assert on recorded inputs instead of inside ``apply``.
``run_program(config)`` runs ``__main__.py`` with a fresh event loop,
``set_mocks(..., preview=False)`` and ``set_all_config``, and returns a
``ProgramRun`` with the resources, resolved stack outputs and helpers to find
resources and the region each one lands in.

Computed outputs (ARNs, ids, auto-names) are synthesised per resource type in
``_computed_outputs`` so that downstream inputs (policy documents, env vars)
resolve to realistic strings.

This module is the engine core shared by the tests (``tests/pulumi_harness.py``
re-exports it and adds the pytest fixtures) and by ``python -m drill plan``,
so it must not import pytest. Each ``Recorded`` also carries its URN and its
parent's URN, read from the ``RegisterResource`` request (the mock monitor
keeps only the parent's *type* in a URN), so a resource can be attributed to
the component instance that created it (``ProgramRun.ancestry``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import runpy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from config import PROJECT
from support import private_apis

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "__main__.py"
ACCOUNT = "123456789012"
#: The dev stack's region pair (``Pulumi.dev.yaml``): the drill's fallback when
#: a stack has no file, and the tests' default configuration.
DEV_REGIONS = {"primaryRegion": "us-east-1", "secondaryRegion": "us-west-2"}


@dataclass
class Recorded:
    """One registered resource as the engine saw it."""

    type: str
    name: str
    inputs: dict[str, Any]
    provider: str | None
    custom: bool
    id: str
    outputs: dict[str, Any] = field(default_factory=dict)
    region: str | None = None
    #: this resource's URN and its parent's (None for the stack's children)
    urn: str | None = None
    parent: str | None = None
    #: the ``retain_on_delete`` resource option (left in the cloud on destroy)
    retain_on_delete: bool = False
    #: the ``aliases`` resource option as the SDK sent it (alias specs as
    #: dicts: ``name``, ``type``, ``parentUrn`` or ``noParent``; or ``urn``)
    aliases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def package(self) -> str:
        return self.type.split(":", 1)[0]


def _suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:7]


def _physical_name(name: str) -> str:
    """What Pulumi auto-naming would produce: logical name + random suffix."""
    return f"{name}-{_suffix(name)}"


def _computed_outputs(typ: str, name: str, inputs: Mapping[str, Any], region: str) -> dict:
    """Outputs the cloud would compute, for the types this program uses."""
    out: dict[str, Any] = {}
    physical = inputs.get("name") or _physical_name(name)
    short = _suffix(name).upper() + "XYZ"  # 10-char ids like Lex's
    arn_prefix = f"arn:aws:{{svc}}:{region}:{ACCOUNT}"
    service = typ.split(":")[1].split("/")[0] if ":" in typ else "unknown"

    if typ.startswith("aws:"):
        out.setdefault("name", physical)
        out["arn"] = f"{arn_prefix.format(svc=service)}:{service}/{physical}"
    if typ == "aws:lambda/function:Function":
        out["arn"] = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{physical}"
        out["invokeArn"] = (
            f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{out['arn']}/invocations"
        )
        out["qualifiedArn"] = out["arn"] + ":$LATEST"
    elif typ == "aws:iam/role:Role":
        out["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{physical}"
        out["id"] = physical
    elif typ == "aws:dynamodb/table:Table":
        out["arn"] = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{physical}"
        out["streamArn"] = out["arn"] + "/stream/2026-01-01T00:00:00.000"
    elif typ == "aws:sqs/queue:Queue":
        out["arn"] = f"arn:aws:sqs:{region}:{ACCOUNT}:{physical}"
        out["url"] = f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{physical}"
    elif typ == "aws:sns/topic:Topic":
        out["arn"] = f"arn:aws:sns:{region}:{ACCOUNT}:{physical}"
    elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
        out["arn"] = f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{physical}"
    elif typ == "aws:cloudwatch/dashboard:Dashboard":
        dashboard = inputs.get("dashboardName")
        out["dashboardArn"] = f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{dashboard}"
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        out["arn"] = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{physical}"
    elif typ == "aws:sfn/stateMachine:StateMachine":
        out["arn"] = f"arn:aws:states:{region}:{ACCOUNT}:stateMachine:{physical}"
    elif typ == "aws:cloudwatch/eventRule:EventRule":
        bus = inputs.get("eventBusName") or "default"
        # A rule on a custom bus has the bus in its ARN.
        path = physical if bus == "default" else f"{bus}/{physical}"
        out["arn"] = f"arn:aws:events:{region}:{ACCOUNT}:rule/{path}"
    elif typ == "aws:cognito/userPool:UserPool":
        pool_id = f"{region}_{_suffix(name)}Ab"
        out.update(
            id=pool_id,
            arn=f"arn:aws:cognito-idp:{region}:{ACCOUNT}:userpool/{pool_id}",
            endpoint=f"cognito-idp.{region}.amazonaws.com/{pool_id}",
        )
    elif typ == "aws:cognito/userPoolClient:UserPoolClient":
        out["id"] = _suffix(name) * 3
    elif typ == "aws:apigateway/restApi:RestApi":
        out.update(id=_suffix(name), rootResourceId=_suffix(name + "root"))
        out["executionArn"] = f"arn:aws:execute-api:{region}:{ACCOUNT}:{out['id']}"
    elif typ == "aws:apigateway/stage:Stage":
        out["invokeUrl"] = f"https://api-{_suffix(name)}.execute-api.{region}.amazonaws.com/" + str(
            inputs.get("stageName", "")
        )
        out["executionArn"] = (
            f"arn:aws:execute-api:{region}:{ACCOUNT}:api/{inputs.get('stageName')}"
        )
    elif typ == "aws:connect/instance:Instance":
        out["id"] = f"{_suffix(name)}-0000-4000-8000-000000000000"[:36]
        out["arn"] = f"arn:aws:connect:{region}:{ACCOUNT}:instance/{out['id']}"
    elif typ == "aws:connect/contactFlow:ContactFlow":
        out["contactFlowId"] = _suffix(name)
        out["arn"] = f"arn:aws:connect:{region}:{ACCOUNT}:instance/x/contact-flow/{_suffix(name)}"
    elif typ == "aws:connect/phoneNumber:PhoneNumber":
        out["id"] = f"{_suffix(name)}-phone"
        out["arn"] = f"arn:aws:connect:{region}:{ACCOUNT}:phone-number/{out['id']}"
        out["phoneNumber"] = "+15555550100"
    elif typ == "aws:kms/key:Key":
        out["id"] = out["keyId"] = f"{_suffix(name)}-0000-4000-8000-000000000000"[:36]
        out["arn"] = f"arn:aws:kms:{region}:{ACCOUNT}:key/{out['keyId']}"
    elif typ == "aws-native:lex:Bot":
        out.update(id=short, arn=f"arn:aws:lex:{region}:{ACCOUNT}:bot/{short}")
    elif typ == "aws-native:lex:BotVersion":
        out["botVersion"] = "1"
    elif typ == "aws-native:lex:BotAlias":
        alias_id = _suffix(name + "alias").upper() + "ALI"
        bot_id = inputs.get("botId", "BOT")
        out.update(
            botAliasId=alias_id,
            arn=f"arn:aws:lex:{region}:{ACCOUNT}:bot-alias/{bot_id}/{alias_id}",
        )
    elif typ == "aws-native:secretsmanager:Secret":
        # Ref (the id) of a secret is its ARN, with Secrets Manager's suffix.
        out["id"] = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{physical}-AbCdEf"
        out["awsId"] = out["id"]
    elif typ == "aws:cloudwatch/eventBus:EventBus":
        out["arn"] = f"arn:aws:events:{region}:{ACCOUNT}:event-bus/{physical}"
    elif typ == "aws:wafv2/webAcl:WebAcl":
        out["arn"] = f"arn:aws:wafv2:{region}:{ACCOUNT}:regional/webacl/{physical}/{_suffix(name)}"
    elif typ.startswith("aws-native:"):
        out.setdefault("arn", f"arn:aws:{service}:{region}:{ACCOUNT}:{service}/{physical}")
    return out


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that record every resource and answer the invokes we use."""

    def __init__(self, stack_outputs: Mapping[str, Any] | None = None) -> None:
        #: what a ``StackReference`` reads as outputs: the stack's previous
        #: deployment (empty: never deployed)
        self.stack_outputs = dict(stack_outputs or {})
        self.resources: list[Recorded] = []
        self.provider_regions: dict[str, str] = {}
        self.invokes: list[tuple[str, dict, str | None]] = []

    def _region_of(self, provider_ref: str | None) -> str | None:
        if not provider_ref:
            return None
        return self.provider_regions.get(provider_ref.rsplit("::", 1)[-1])

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        registration = private_apis.current_registration()
        rid = f"{args.name}-id"
        if args.typ == "pulumi:pulumi:StackReference":
            region = None
            outputs = {"name": inputs.get("name"), "outputs": dict(self.stack_outputs)}
        elif args.typ.startswith("pulumi:providers:"):
            self.provider_regions[rid] = inputs.get("region")
            region = inputs.get("region")
            outputs = inputs
        else:
            region = self._region_of(args.provider)
            computed = _computed_outputs(args.typ, args.name, inputs, region or "no-region")
            rid = computed.pop("id", rid)
            outputs = {**computed, **inputs}
        self.resources.append(
            Recorded(
                type=args.typ,
                name=args.name,
                inputs=inputs,
                provider=args.provider,
                custom=args.custom,
                id=rid,
                outputs=outputs,
                region=region,
                urn=registration.urn,
                parent=registration.parent,
                retain_on_delete=registration.retain_on_delete,
                aliases=list(registration.aliases),
            )
        )
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        region = self._region_of(args.provider)
        self.invokes.append((args.token, dict(args.args), region))
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/test",
                "userId": "AIDTEST",
                "id": ACCOUNT,
            }, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if args.token == "aws-native:index:getAccountId":
            return {"accountId": ACCOUNT}, []
        raise NotImplementedError(f"no mock for invoke {args.token}")


@dataclass
class ProgramRun:
    """Everything one mock-engine run of ``__main__.py`` produced."""

    resources: list[Recorded]
    outputs: dict[str, Any]
    mocks: RecordingMocks

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str, predicate: Callable[[Recorded], bool] | None = None) -> Recorded:
        found = [r for r in self.of_type(typ) if predicate is None or predicate(r)]
        if len(found) != 1:
            names = [r.name for r in found]
            raise AssertionError(f"expected one {typ}, found {len(found)}: {names}")
        return found[0]

    def named(self, name: str) -> Recorded:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one resource named {name!r}, found {len(found)}")
        return found[0]

    def cloud_resources(self) -> list[Recorded]:
        """Every aws / aws-native resource (not providers, not components)."""
        return [r for r in self.resources if r.custom and r.package in ("aws", "aws-native")]

    def in_region(self, region: str) -> list[Recorded]:
        return [r for r in self.cloud_resources() if r.region == region]

    def components(self) -> list[Recorded]:
        return [r for r in self.resources if not r.custom]

    def parent_of(self, resource: Recorded) -> Recorded | None:
        """The resource (normally a component) ``resource`` was created under."""
        if resource.parent is None:
            return None
        return next((r for r in self.resources if r.urn == resource.parent), None)

    def ancestry(self, resource: Recorded) -> list[Recorded]:
        """The components ``resource`` is nested in, outermost first."""
        chain: list[Recorded] = []
        current = self.parent_of(resource)
        while current is not None and current not in chain:
            chain.insert(0, current)
            current = self.parent_of(current)
        return chain


def _config_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def run_program(
    config: Mapping[str, Any],
    stack: str = "dev",
    *,
    program: Callable[[], Any] | None = None,
    mocks: RecordingMocks | None = None,
) -> ProgramRun:
    """Run ``__main__.py`` (or ``program``) under the mock engine.

    ``config`` maps unqualified keys (``primaryRegion``) to values; lists and
    booleans are JSON-encoded as the Pulumi CLI would hand them over. Pass
    ``mocks`` to inspect what was registered even when the program raises.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = mocks if mocks is not None else RecordingMocks()
    # Unqualified keys are ours; a qualified one ("aws:region", a misspelt
    # "resilient-routng:x") reaches the program as written, as the CLI would.
    pulumi.runtime.set_all_config(
        {(k if ":" in k else f"{PROJECT}:{k}"): _config_value(v) for k, v in config.items()}, []
    )
    private_apis.forget_root_resource()
    monitor = private_apis.urn_recording_monitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    private_apis.forget_pending_work()
    outputs: dict[str, Any] = {}

    def run_main() -> None:
        runpy.run_path(str(MAIN), run_name="__main__")

    body = program or run_main

    def wrapped() -> Any:
        body()
        root = pulumi.runtime.get_root_resource()
        exported = dict(getattr(root, "outputs", {}) or {})

        def keep(values: dict[str, Any]) -> None:
            outputs.update(values)

        return pulumi.Output.from_input(exported).apply(keep).future()

    try:
        private_apis.run_mocked(wrapped)
    finally:
        pulumi.runtime.set_all_config({}, [])
        asyncio.set_event_loop(None)
        loop.close()
    return ProgramRun(resources=mocks.resources, outputs=outputs, mocks=mocks)


def stack_file_config(path: Path) -> dict[str, Any]:
    """The config values of a ``Pulumi.<stack>.yaml``, read as the Pulumi CLI
    reads them (YAML 1.2 core schema; ``support.stack_file``): ours unqualified,
    other namespaces' keys qualified. Raises ``StackFileError``."""
    from support.stack_file import project_values, read_stack_file

    return project_values(read_stack_file(path))


def types_of(resources: Iterable[Recorded]) -> set[str]:
    return {r.type for r in resources}
