"""Step Functions definitions: statelint, then cross-references to the program."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tests.offline.artifact_checks.common import allows, as_json, statements_of


def check_state_machine(
    definition: str | Mapping[str, Any],
    *,
    function_arns: Iterable[str] | None = None,
    role_policies: Iterable[str | Mapping[str, Any]] = (),
) -> list[str]:
    """statelint's problems, then cross-references.

    With ``function_arns`` (every Lambda ARN in the program): each function a
    Task invokes must be one of them, and one of ``role_policies`` (the state
    machine role's inline policies) must allow ``lambda:InvokeFunction`` on it.
    """
    from statelint.linter import Linter

    try:
        parsed = as_json(definition)
    except json.JSONDecodeError as error:
        return [f"definition is not JSON: {error}"]
    problems = list(Linter.validate(parsed))
    if function_arns is None:
        return problems
    known = set(function_arns)
    statements = [s for p in role_policies for s in statements_of(as_json(p))]
    for where, target in _invoked_functions(parsed):
        if target not in known:
            problems.append(f"{where} invokes {target!r}, which is not a function of this program")
        elif not allows(statements, "lambda:InvokeFunction", target):
            problems.append(
                f"{where} invokes {target!r} but the state machine's role may not invoke it"
            )
    return problems


def _invoked_functions(
    definition: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, str]]:
    """(state path, function ARN) for every Lambda task, nested states included."""
    for name, state in (definition.get("States") or {}).items():
        where = f"{prefix}{name}"
        resource = state.get("Resource", "")
        if state.get("Type") == "Task":
            params = state.get("Parameters") or state.get("Arguments") or {}
            if resource.startswith("arn:aws:states:::lambda:invoke") and "FunctionName" in params:
                yield where, params["FunctionName"]
            elif ":lambda:" in resource and ":function:" in resource:
                yield where, resource
        for nested in ("Iterator", "ItemProcessor"):
            if nested in state:
                yield from _invoked_functions(state[nested], f"{where}/")
        for index, branch in enumerate(state.get("Branches") or []):
            yield from _invoked_functions(branch, f"{where}[{index}]/")
