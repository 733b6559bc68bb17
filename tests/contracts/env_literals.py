"""Where an environment variable's name is spelt as a string in code."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Product and drill code: everything that deploys, runs or drives a function.
PRODUCT = (
    "__main__.py",
    "config.py",
    "regions.py",
    "components",
    "handlers",
    "drill",
    "support",
    "bench",
    "ops",
)
CONTRACT_MODULES = frozenset(
    ROOT / "handlers" / family / "contract.py"
    for family in ("common", "lex_dr", "cell_router", "router_auth")
)


def product_files() -> Iterator[Path]:
    for entry in PRODUCT:
        path = ROOT / entry
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(path.rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def literal_uses(names: Iterable[str], files: Iterable[Path]) -> dict[str, list[str]]:
    """name -> ``path:line`` of every string literal (docstrings excepted:
    documentation) that spells it as a whole word."""
    names = list(names)
    pattern = re.compile(
        r"(?<![A-Za-z0-9_])(" + "|".join(map(re.escape, names)) + r")(?![A-Za-z0-9_])"
    )
    found: dict[str, list[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docs
            ):
                for match in pattern.finditer(node.value):
                    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                    where = f"{shown}:{node.lineno}"
                    found.setdefault(match.group(1), []).append(where)
    return found
