"""Where test support may be imported, and where private APIs may be used.

* The Pulumi program and the handlers import neither ``support`` nor
  ``drill`` (they are deployed; support is not).
* ``support`` does not import the drill (the drill imports support).
* Every private Pulumi or moto API is reached through
  ``support/private_apis.py`` alone.
* Tests take helpers from ``support``, never from the drill's modules: only
  the tests about the drill (``tests/drill/``) import ``drill``, and
  ``tests/offline/emf_capture.py``, which drives the drill's scenarios (their
  public ``run``) to make the handlers emit every metric.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "support" / "private_apis.py"
#: The adapter and its own test (which checks the method it replaces is back).
ADAPTER_FILES = {ADAPTER, ROOT / "tests" / "support" / "test_private_apis.py"}
#: Attributes that are private to Pulumi or moto (not ours).
PRIVATE_ATTRIBUTES = {
    "_invoke_lambda",
    "_sync_await",
    "rpc_manager",
    "default_user_config",
}
#: Modules of pulumi and moto whose import is public API.
PUBLIC_MODULES = {"pulumi", "pulumi.runtime", "pulumi.automation", "moto", "moto.server"}


def _python_files(*folders: str) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        path = ROOT / folder
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return [f for f in files if ".venv" not in f.parts and "venv" not in f.parts]


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute imports)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize(
    "path",
    _python_files("__main__.py", "config.py", "regions.py", "components", "handlers"),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_program_and_the_handlers_import_no_test_support(path):
    assert not _top(_imports(path)) & {"support", "drill", "tests"}


@pytest.mark.parametrize("path", _python_files("support"), ids=lambda p: str(p.relative_to(ROOT)))
def test_support_does_not_import_the_drill(path):
    assert "drill" not in _top(_imports(path))


#: Names a public module of theirs exports that are submodules, not API.
PRIVATE_SUBMODULES = {"settings", "mocks", "stack", "rpc", "rpc_manager", "core", "backends"}


def _private_uses(path: Path) -> list[str]:
    """Private Pulumi/moto modules imported and private attributes used."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            if node.module in PUBLIC_MODULES:
                modules += [
                    f"{node.module}.{a.name}" for a in node.names if a.name in PRIVATE_SUBMODULES
                ]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
            found.append(node.attr)
            continue
        else:
            continue
        found += [
            m
            for m in modules
            if m.split(".")[0] in ("pulumi", "moto")
            and (m not in PUBLIC_MODULES or m.rsplit(".", 1)[-1] in PRIVATE_SUBMODULES)
        ]
    return sorted(set(found))


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in _python_files("drill", "support", "tests", "bench", "ops")
        if p not in ADAPTER_FILES
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_private_pulumi_and_moto_apis_only_in_the_adapter(path):
    assert _private_uses(path) == []


def test_the_adapter_is_where_the_private_apis_are():
    """The check above can fail: it finds the adapter's own private uses."""
    assert {"_invoke_lambda", "_sync_await", "rpc_manager"} <= set(_private_uses(ADAPTER))
    assert {"moto.awslambda.models", "pulumi.runtime.settings"} <= set(_private_uses(ADAPTER))


TESTS_ABOUT_THE_DRILL = ROOT / "tests" / "drill"
DRIVES_THE_DRILL = {ROOT / "tests" / "offline" / "emf_capture.py"}


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in _python_files("tests")
        if TESTS_ABOUT_THE_DRILL not in p.parents and p not in DRIVES_THE_DRILL
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_tests_take_helpers_from_support_not_the_drill(path):
    assert "drill" not in _top(_imports(path))


def test_bench_takes_helpers_from_support_not_the_drill():
    for path in _python_files("bench"):
        assert "drill" not in _top(_imports(path)), path
