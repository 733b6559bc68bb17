"""Checks made by reading the source: component conventions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

COMPONENTS = Path(__file__).resolve().parents[2] / "components"


def _component_classes() -> list[tuple[Path, ast.ClassDef]]:
    found = []
    for path in sorted(COMPONENTS.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Attribute) and b.attr == "ComponentResource" for b in node.bases
            ):
                found.append((path, node))
    return found


def _is_register_outputs(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Attribute)
        and stmt.value.func.attr == "register_outputs"
    )


def test_there_are_components_to_check():
    assert len(_component_classes()) >= 1


@pytest.mark.parametrize(
    "component", _component_classes(), ids=lambda c: f"{c[0].name}:{c[1].name}"
)
def test_component_registers_outputs_once_as_its_last_statement(component):
    _path, cls = component
    init = next(
        (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None
    )
    assert init is not None, f"{cls.name} has no __init__"
    calls = [
        n
        for n in ast.walk(init)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "register_outputs"
    ]
    assert len(calls) == 1, f"{cls.name} calls register_outputs {len(calls)} times"
    assert _is_register_outputs(init.body[-1]), f"{cls.name}: register_outputs is not last"


@pytest.mark.parametrize(
    "component", _component_classes(), ids=lambda c: f"{c[0].name}:{c[1].name}"
)
def test_component_type_token_and_signature(component):
    path, cls = component
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    params = [a.arg for a in init.args.args]
    assert params[:4] == ["self", "name", "args", "opts"], f"{cls.name}{params}"
    source = ast.get_source_segment(path.read_text(), init) or ""
    assert f'"resilient-routing:components:{cls.name}"' in source


def test_components_never_read_configuration():
    for path in COMPONENTS.glob("*.py"):
        assert "pulumi.Config(" not in path.read_text(), path.name
