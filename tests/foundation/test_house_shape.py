"""The house's shape (#9): one observability shape, one client builder, one
meaning per name, and every original name findable from its component.

Read from the source (``ast``), so each rule names the file that breaks it.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ROOT / "handlers"

#: Powertools utilities that build a logger, metrics or a tracer.
POWERTOOLS_BUILDERS = {"Logger", "Metrics", "Tracer", "EphemeralMetrics", "single_metric"}

#: Entry points without ``instrument_handler``, and why.
NOT_INSTRUMENTED = {
    # API Gateway's contract is an exception named exactly "Unauthorized";
    # it records no metrics and logs through the shape's logger.
    "handlers/router_auth/authorizer.py": "TOKEN authorizer",
    "handlers/router_auth/jwks_refresher.py": "no logs or metrics of its own",
    # Not deployed by a component (ops and the drill call it).
    "handlers/cell_router/heartbeat.py": "called by ops and the drill",
}

#: Class names still defined twice; their owner (#9's settings contracts,
#: branch s9-contract) replaces both copies with one contract per family.
KNOWN_DUPLICATE_CLASSES = {"ConfigurationError", "HealthCheckSettings"}


def _modules(*roots: str) -> list[Path]:
    paths: list[Path] = []
    for root in roots:
        path = ROOT / root
        paths += [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
    return [p for p in paths if "__pycache__" not in p.parts]


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imports(tree: ast.Module) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
    return found


def test_only_the_common_shape_builds_loggers_metrics_and_tracers() -> None:
    offenders = [
        f"{_name(path)} imports {module}.{name}"
        for path in _modules("handlers")
        if path != HANDLERS / "common" / "observability.py"
        for module, name in _imports(ast.parse(path.read_text()))
        if module.startswith("aws_lambda_powertools") and name in POWERTOOLS_BUILDERS
    ]
    assert offenders == [], "use handlers.common.observability.Observability"


def test_only_the_common_builder_makes_boto3_clients() -> None:
    offenders = [
        f"{_name(path)} imports {module}{'.' + name if name else ''}"
        for path in _modules("handlers")
        if path != HANDLERS / "common" / "clients.py"
        for module, name in _imports(ast.parse(path.read_text()))
        # boto3.dynamodb.types (TypeSerializer) builds no client
        if (module == "boto3" or module.startswith("boto3.session"))
    ]
    assert offenders == [], "use handlers.common.clients"


def test_every_deployed_entry_point_is_instrumented() -> None:
    bare = []
    for path in _modules("handlers"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name == "handler"):
                continue
            decorators = [ast.unparse(d).rsplit(".", 1)[-1] for d in node.decorator_list]
            if "instrument_handler" not in decorators and _name(path) not in NOT_INSTRUMENTED:
                bare.append(_name(path))
    assert bare == []
    # The cell router's decorator no longer borrows the entry point's name.
    observability = importlib.import_module("handlers.cell_router.observability")
    assert not hasattr(observability, "lambda_handler")


def test_class_names_are_unique_across_the_house() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in _modules("handlers", "components", "ops", "config.py", "regions.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(_name(path))
    duplicates = {
        name: paths
        for name, paths in where.items()
        if len(paths) > 1 and name not in KNOWN_DUPLICATE_CLASSES
    }
    assert duplicates == {}


def test_probe_validator_and_lookup_each_name_one_thing() -> None:
    handler_modules = {_name(p) for p in _modules("handlers", "components")}
    ambiguous = {
        "handlers/lex_dr/probe.py",
        "handlers/cell_router/probe.py",
        "components/probe_loop_asl.py",
        "handlers/cell_router/validation.py",
        "handlers/cell_router/lookup.py",
        "handlers/cell_router/endpoint_check.py",
    }
    assert handler_modules & ambiguous == set()
    assert not (ROOT / "tests" / "offline" / "validators").exists()


def _first_docstring_lines(path: Path) -> list[str]:
    """The first line of the module's docstring and of each class's."""
    tree = ast.parse(path.read_text())
    nodes = [tree, *(n for n in tree.body if isinstance(n, ast.ClassDef))]
    return [(ast.get_docstring(n) or "").splitlines()[0] for n in nodes if ast.get_docstring(n)]


def test_each_original_name_is_in_its_components_first_docstring_line() -> None:
    components = {
        "tbl_router": "components/router_data.py",
        "CellProvisioning": "components/router_data.py",
        "lexDR": "components/health_check.py",
        "CellRouterPool": "components/cell_router_api.py",
        "CellRouter": "components/cell_router_api.py",
        "Orchestrator": "components/orchestrator.py",
    }
    missing = {
        original: path
        for original, path in components.items()
        if not any(f"``{original}``" in line for line in _first_docstring_lines(ROOT / path))
    }
    assert missing == {}
