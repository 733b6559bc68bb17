"""CloudFormation resource schemas (cfn-lint's copy) and the aws-native mapping."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import pkgutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import regex
from referencing.exceptions import Unresolvable

from tests.offline.artifact_checks.common import short


def _cfnlint_schemas() -> Path:
    import cfnlint

    return Path(cfnlint.__file__).parent / "data" / "schemas"


@functools.cache
def _region_index(region: str) -> dict[str, str]:
    path = _cfnlint_schemas() / "providers" / f"{region}.json"
    if not path.is_file():
        raise ValueError(f"cfn-lint has no schemas for region {region!r}")
    return json.loads(path.read_text())


@functools.cache
def _schema_file(digest: str) -> dict[str, Any]:
    return json.loads((_cfnlint_schemas() / "resources" / f"{digest}.json").read_text())


def cfn_schema(type_name: str, region: str) -> dict[str, Any] | None:
    """The resource schema of ``type_name`` in ``region`` (None: not offered there)."""
    digest = _region_index(region).get(type_name)
    return _schema_file(digest) if digest else None


@dataclass(frozen=True)
class ExtensionRule:
    """One of cfn-lint's schema-based rules beyond the resource schema
    (billing-mode dependencies, reserved environment variable names, ...)."""

    rule_id: str
    description: str
    path: tuple[str, ...]  # below Properties; "*" is every item
    schema: Mapping[str, Any]


#: cfn-lint rules whose schema only makes sense with their own code around it.
#: E3601 parses DefinitionString and applies cfn-lint's ASL schema to it; ASL
#: is statelint's job (and that schema wrongly rejects the OutputPath a
#: Succeed state may carry).
SKIPPED_EXTENSION_RULES = frozenset({"E3601"})


@functools.cache
def _extension_rules() -> dict[str, tuple[ExtensionRule, ...]]:
    """Resource type -> its rules, read from cfn-lint's ``CfnLintJsonSchema``
    rules themselves (their keyword paths say where each schema applies)."""
    import cfnlint.rules.resources
    from cfnlint.rules.jsonschema import CfnLintJsonSchema

    rules: dict[str, list[ExtensionRule]] = {}
    package = cfnlint.rules.resources
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if not (
                inspect.isclass(cls)
                and issubclass(cls, CfnLintJsonSchema)
                and cls.__module__ == module.__name__
            ):
                continue
            try:
                rule = cls()
            except Exception:  # a rule needing cfn-lint's runtime: not ours to run
                continue
            schema = getattr(rule, "schema", None)
            if not isinstance(schema, Mapping) or not schema or rule.id in SKIPPED_EXTENSION_RULES:
                continue
            for keyword in rule.keywords:
                parts = keyword.split("/")
                if len(parts) >= 3 and parts[0] == "Resources" and parts[2] == "Properties":
                    rules.setdefault(parts[1], []).append(
                        ExtensionRule(rule.id, rule.shortdesc, tuple(parts[3:]), schema)
                    )
    return {type_name: tuple(found) for type_name, found in rules.items()}


def _at_path(value: Any, path: Sequence[str]) -> Iterator[tuple[str, Any]]:
    if not path:
        yield "", value
        return
    head, rest = path[0], path[1:]
    if head == "*":
        items = value.items() if isinstance(value, Mapping) else enumerate(value or [])
        for key, item in items if isinstance(value, Mapping | list) else ():
            for where, found in _at_path(item, rest):
                yield f"{key}/{where}".rstrip("/"), found
    elif isinstance(value, Mapping) and head in value:
        for where, found in _at_path(value[head], rest):
            yield f"{head}/{where}".rstrip("/"), found


def _pattern_keyword(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """``pattern`` with the ``regex`` module: CloudFormation schemas use
    ECMA/Java classes (``\\p{L}``) Python's ``re`` does not know."""
    if not isinstance(instance, str):
        return
    try:
        compiled = regex.compile(pattern)
    except regex.error:
        return
    if not compiled.search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern_keyword})


def validate_against_schema(
    properties: Mapping[str, Any],
    schema: Mapping[str, Any],
    where: str,
    *,
    definition: str | None = None,
) -> list[str]:
    """JSON-Schema errors of ``properties`` against a resource schema (or one
    of its ``definitions``), and the type's cfn-lint extension rules."""
    if definition is not None:
        target: dict[str, Any] = {
            "$ref": f"#/definitions/{definition}",
            "definitions": schema.get("definitions", {}),
        }
    else:
        target = {k: v for k, v in schema.items() if k != "handlers"}
    problems = []
    for error in sorted(_Validator(target).iter_errors(properties), key=lambda e: list(e.path)):
        path = "/".join(str(p) for p in error.absolute_path) or "(properties)"
        problems.append(f"{where}: {path}: {short(error.message, 300)}")
    if definition is None:
        for rule in _extension_rules().get(schema.get("typeName", ""), ()):
            for path, instance in _at_path(properties, rule.path):
                try:
                    errors = list(_Validator(rule.schema).iter_errors(instance))
                except (jsonschema.exceptions.SchemaError, Unresolvable):
                    break  # a cfn-lint-only construct jsonschema cannot evaluate
                problems.extend(
                    f"{where}: {path or '(properties)'}: cfn-lint {rule.rule_id} "
                    f"({rule.description}): {short(error.message, 200)}"
                    for error in errors
                )
    return problems


# --------------------------------------------------------------------------- #
# aws-native: SDK names -> CloudFormation names
# --------------------------------------------------------------------------- #
def _upper_acronym_char(ch: str) -> bool:
    return "A" <= ch <= "Z" or "0" <= ch <= "9"


def _first_run_of_uppercase(s: str, min_length: int) -> tuple[int, int]:
    start = -1
    for index, ch in enumerate(s):
        if start == -1:
            if _upper_acronym_char(ch):
                start = index
        elif not _upper_acronym_char(ch):
            if index - start >= min_length:
                return start, index
            start = -1
    return (-1, -1) if start == -1 else (start, len(s))


def _starts_with_isolated_lowercase_s(s: str) -> bool:
    if not s:
        return False
    if len(s) == 1:
        return s[0] == "s"
    return s[0] == "s" and _upper_acronym_char(s[1])


def _lower_acronyms(s: str) -> str:
    start, end = _first_run_of_uppercase(s, 2)
    if start == -1:
        return s
    if end != len(s) and not _starts_with_isolated_lowercase_s(s[end:]):
        end -= 1  # the run's last capital starts the next word
    start += 1  # keep the acronym's first capital
    return s[:start] + s[start:end].lower() + _lower_acronyms(s[end:])


def to_sdk_name(cfn_name: str) -> str:
    """The aws-native SDK's name of a CloudFormation property.

    A port of ``naming.ToSdkName`` (pulumi-aws-native
    ``provider/pkg/naming/naming.go``): lower every acronym run except its
    first letter, then lower the first letter (``IdleSessionTTLInSeconds`` ->
    ``idleSessionTtlInSeconds``, ``S3Bucket`` -> ``s3Bucket``,
    ``ProviderARNs`` -> ``providerArns``). The provider maps back with a
    per-type table of exactly these irreversible names (``ToCfnName``), so
    inverting this function over the schema's property names is exact.
    """
    s = _lower_acronyms(cfn_name)
    return s[:1].lower() + s[1:] if s[:1].isupper() else s


#: Properties aws-native renames beyond the case rule (``Id`` collides with the
#: Pulumi resource id: "Include id resource properties as awsId", #1387).
NATIVE_RENAMES = {"awsId": "Id"}


def native_cfn_type(token: str) -> str:
    """``aws-native:lex:BotAlias`` -> ``AWS::Lex::BotAlias`` (from cfn-lint's index)."""
    _, module, resource = token.split(":")
    module = {"configuration": "config"}.get(module, module)
    for type_name in _region_index("us-east-1"):
        _, service, name = type_name.split("::")
        if service.lower() == module and name == resource:
            return type_name
    raise KeyError(f"no CloudFormation type for {token}")


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while "$ref" in node and seen < 20:
        ref = node["$ref"]
        if not ref.startswith("#/definitions/"):
            return {}
        node = root["definitions"][ref.split("/")[-1]]
        seen += 1
    return node


def _object_branches(node: Mapping[str, Any], root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The object schemas with named properties a value may take."""
    node = _resolve(node, root)
    if "properties" in node:
        return [node]
    branches = []
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in node.get(key, []):
            branches.extend(_object_branches(branch, root))
    return branches


def _to_cfn(
    value: Any, node: Mapping[str, Any], root: Mapping[str, Any], path: str, problems: list[str]
) -> Any:
    """Rename SDK keys to CloudFormation keys along the schema, recursively.

    Keys with no CloudFormation counterpart are reported and dropped (the
    provider drops them silently: ``SdkToCfn`` only copies known inputs).
    Objects without named properties (tag maps, JSON documents) keep their
    keys. Integral floats (protobuf numbers) become ints, as the provider
    sends ``int32`` for integer properties.
    """
    node = _resolve(node, root)
    if isinstance(value, Mapping):
        branches = _object_branches(node, root)
        if not branches:
            extra = node.get("additionalProperties")
            inner = extra if isinstance(extra, Mapping) else {}
            return {k: _to_cfn(v, inner, root, f"{path}/{k}", problems) for k, v in value.items()}

        def fit(branch: Mapping[str, Any]) -> int:
            names = {to_sdk_name(n) for n in branch["properties"]}
            return sum(1 for k in value if k in names or k in NATIVE_RENAMES)

        best = max(branches, key=fit)
        by_sdk = {to_sdk_name(n): n for n in best["properties"]}
        by_sdk.update({k: v for k, v in NATIVE_RENAMES.items() if v in best["properties"]})
        converted = {}
        for key, item in value.items():
            cfn_name = by_sdk.get(key)
            if cfn_name is None:
                problems.append(
                    f"{path or '/'}: unknown property {key!r} (known: {', '.join(sorted(by_sdk))})"
                )
                continue
            converted[cfn_name] = _to_cfn(
                item, best["properties"][cfn_name], root, f"{path}/{cfn_name}", problems
            )
        return converted
    if isinstance(value, list):
        items = node.get("items") if isinstance(node.get("items"), Mapping) else {}
        return [_to_cfn(v, items, root, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _sdk_args_class(token: str) -> type:
    _, module, resource = token.split(":")
    python_module = "lambda_" if module == "lambda" else module  # a Python keyword
    package = importlib.import_module(f"pulumi_aws_native.{python_module}")
    return getattr(package, f"{resource}Args")


def _sdk_required(token: str) -> set[str]:
    """The camelCase inputs the aws-native SDK insists on."""
    args_class = _sdk_args_class(token)
    required = set()
    for name, parameter in inspect.signature(args_class.__init__).parameters.items():
        if name == "__self__" or parameter.default is not inspect.Parameter.empty:
            continue
        getter = getattr(args_class, name, None)
        required.add(getattr(getattr(getter, "fget", None), "_pulumi_name", name))
    return required


def autoname(logical_name: str) -> str:
    """What Pulumi auto-naming produces: the logical name and 7 random characters."""
    return f"{logical_name}-a1b2c3d"


def _with_default_tags(
    properties: dict[str, Any], schema: Mapping[str, Any], tags: Mapping[str, str]
) -> None:
    """Add the provider's default tags the way CloudFormation takes them (a
    list of Key/Value or a map, per the type's tag property); the resource's
    own tags win."""
    tagging = schema.get("tagging") or {}
    if not tags or not tagging.get("taggable"):
        return
    name = str(tagging.get("tagProperty", "/properties/Tags")).split("/")[-1]
    node = _resolve(schema["properties"].get(name, {}), schema)
    if node.get("type") == "array":
        present = {t.get("Key") for t in properties.get(name, [])}
        extra = [{"Key": k, "Value": v} for k, v in tags.items() if k not in present]
        properties[name] = [*properties.get(name, []), *extra]
    else:
        properties[name] = {**tags, **properties.get(name, {})}


def native_to_cfn(
    token: str,
    inputs: Mapping[str, Any],
    region: str,
    logical_name: str,
    default_tags: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any], list[str]]:
    """(CloudFormation type, properties, mapping problems) of an aws-native resource.

    A property CloudFormation requires but the SDK leaves optional is one the
    provider fills in by auto-naming (``AWS::Lex::Bot`` ``Name``); it gets an
    auto-name here, as the provider would. ``default_tags`` (the provider's)
    are added to the type's tag property, as the provider does.
    """
    type_name = native_cfn_type(token)
    schema = cfn_schema(type_name, region)
    if schema is None:
        return type_name, {}, [f"{type_name} is not available in {region}"]
    problems: list[str] = []
    properties = _to_cfn(dict(inputs), schema, schema, "", problems)
    sdk_required = _sdk_required(token)
    for name in schema.get("required", []):
        if name in properties or to_sdk_name(name) in sdk_required:
            continue
        node = _resolve(schema["properties"].get(name, {}), schema)
        if node.get("type") == "string":
            properties[name] = autoname(logical_name)[: node.get("maxLength", 255)]
    read_only = {p.split("/")[-1] for p in schema.get("readOnlyProperties", [])}
    problems.extend(
        f"/{name}: read-only property set as an input"
        for name in sorted(read_only & set(properties))
    )
    _with_default_tags(properties, schema, default_tags or {})
    return type_name, properties, problems


def check_native_resource(
    token: str,
    inputs: Mapping[str, Any],
    region: str,
    logical_name: str,
    default_tags: Mapping[str, str] | None = None,
) -> list[str]:
    """Everything CloudFormation's schema says about an aws-native resource."""
    where = f"{token} {logical_name}"
    type_name, properties, problems = native_to_cfn(
        token, inputs, region, logical_name, default_tags
    )
    schema = cfn_schema(type_name, region)
    if schema is None:
        return [f"{where}: {p}" for p in problems]
    return [f"{where}: {p}" for p in problems] + validate_against_schema(properties, schema, where)
