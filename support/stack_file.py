"""Read ``Pulumi.<stack>.yaml`` the way the Pulumi CLI does.

The CLI is written in Go and reads stack files with ``gopkg.in/yaml.v3``,
which follows the YAML 1.2 core schema: only ``true``/``false`` (any case
variant the spec lists) are booleans, ``off``, ``no``, ``NO`` and ``y`` are
plain strings, and there are no implicit timestamps. PyYAML's ``safe_load``
follows YAML 1.1, where ``cellRouterEnabled: off`` is ``False`` and
``phoneNumberCountryCode: NO`` (Norway) is ``False`` as well, so the drill would
rehearse a different stack than ``pulumi up`` deploys. ``CoreSchemaLoader``
is PyYAML with the 1.2 core schema's implicit types instead.

What the drill cannot read is an error with the file, line and key named:
malformed YAML, a ``config`` that is not a mapping, and ``secure:`` values
of our namespace (the drill has no access to the stack's secrets provider).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from config import PROJECT


class StackFileError(Exception):
    """The stack file cannot be read as the Pulumi CLI would read it."""


class CoreSchemaLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the YAML 1.2 core schema's implicit types."""


CoreSchemaLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:merge"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_IMPLICIT = {
    "tag:yaml.org,2002:bool": (r"true|True|TRUE|false|False|FALSE", "tTfF"),
    "tag:yaml.org,2002:int": (r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    "tag:yaml.org,2002:float": (
        r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
        r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
        "-+.0123456789",
    ),
    "tag:yaml.org,2002:null": (r"~|null|Null|NULL|", ["~", "n", "N", ""]),
}
for _tag, (_pattern, _first) in _IMPLICIT.items():
    CoreSchemaLoader.add_implicit_resolver(_tag, re.compile(f"^(?:{_pattern})$"), list(_first))


def _construct_int(loader: CoreSchemaLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # "017" is 17 in YAML 1.2, not octal


def _construct_float(loader: CoreSchemaLoader, node: yaml.Node) -> float:
    text = loader.construct_scalar(node).lower()
    if text.lstrip("+-") == ".inf":
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    return float(text)


CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
CoreSchemaLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def parse_stack_yaml(text: str, *, source: str = "stack file") -> dict[str, Any]:
    """Every config key of a stack file's text, as written (``ns:key``).

    Raises ``StackFileError`` for malformed YAML, a top level or ``config``
    that is not a mapping, and ``secure:`` values in our namespace."""
    try:
        data = yaml.load(text, Loader=CoreSchemaLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise StackFileError(
            f"{source} is not valid YAML{where}: {problem} (fix the file; `pulumi up` would "
            "refuse it too)"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StackFileError(f"{source}: the top level must be a mapping with a 'config' key")
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{source}: 'config' must be a mapping of 'namespace:key: value'")
    values: dict[str, Any] = {}
    for key, value in config.items():
        key = str(key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            if key.startswith(f"{PROJECT}:"):
                raise StackFileError(
                    f"{source}: {key} is a secret (secure:); the drill runs offline without the "
                    "stack's secrets provider and cannot decrypt it. Run the drill with a stack "
                    "file that holds no secrets of ours (e.g. --stack dev), or keep the secret "
                    "only in the stack you deploy"
                )
            continue  # another namespace's secret: the program never reads it
        values[key] = value
    return values


def read_stack_file(path: Path) -> dict[str, Any]:
    """``parse_stack_yaml`` of a file (its name in every message)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise StackFileError(f"cannot read {path.name}: {exc}") from None
    return parse_stack_yaml(text, source=path.name)


def project_values(values: dict[str, Any]) -> dict[str, Any]:
    """Our namespace's keys unqualified; every other key left qualified (so
    ``config.parse_settings`` can report a misspelt namespace)."""
    prefix = f"{PROJECT}:"
    return {k.removeprefix(prefix): v for k, v in values.items()}
