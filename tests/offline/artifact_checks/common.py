"""Shared helpers: recorded resources, JSON documents, IAM statement matching."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class RecordedResource(Protocol):
    """What the checks read from a recorded resource (``tests.pulumi_harness.Recorded``)."""

    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    region: str | None


def as_json(value: Any) -> Any:
    """A document that may arrive as a JSON string or already decoded."""
    return json.loads(value) if isinstance(value, str) else value


def short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def statements_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, dict) else list(statements)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def allows(statements: Sequence[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Whether an Allow statement grants ``action`` on ``resource`` (no Deny
    evaluation: the program writes no Deny statements)."""
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = as_list(statement.get("Action"))
        resources = as_list(statement.get("Resource"))
        if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False
