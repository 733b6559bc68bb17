"""The deploy venv holds only the program: ``requirements.txt`` is exactly
what ``__main__.py`` and everything it imports import; the rest (tests,
drill, benchmarks, artifact checks) is in ``requirements-dev.txt``."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Tools that must never reach the deploy venv.
TEST_TOOLS = {
    "moto",
    "pytest",
    "pytest-xdist",
    "hypothesis",
    "ruff",
    "statelint",
    "parliament",
    "cfn-lint",
    "matplotlib",
    "airspeed-ext",
    "boto3",
    "aws-lambda-powertools",
    "aws-xray-sdk",
    "pyyaml",
}


#: Distributions loaded when present but required by nobody in the deploy venv.
PRESENT_ANYWAY = {
    "setuptools": "its _distutils_hack .pth runs at start-up in every venv that has it",
    "certifi": "botocore.httpsession imports it only if it is installed",
}


def _names(path: Path) -> set[str]:
    """Distribution names a requirements file lists (normalised, no extras)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        names.add(_normalise(re.split(r"[\[<>=!~;\s]", line, maxsplit=1)[0]))
    return names


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _local_module(name: str) -> Path | None:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:i])
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py")
        if (base / "__init__.py").is_file():
            return base / "__init__.py"
    return None


def program_imports() -> tuple[set[Path], set[str]]:
    """(our files, third-party top-level modules) reachable from ``__main__.py``
    through every import statement, function-level ones included."""
    files: set[Path] = set()
    third_party: set[str] = set()
    todo = [ROOT / "__main__.py"]
    while todo:
        path = todo.pop()
        if path in files:
            continue
        files.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                if local := _local_module(name):
                    todo.append(local)
                elif name.split(".")[0] not in sys.stdlib_module_names:
                    third_party.add(name.split(".")[0])
    return files, third_party


def _distribution_of(module: str) -> str:
    found = metadata.packages_distributions().get(module)
    assert found, f"no installed distribution provides {module!r}"
    return _normalise(found[0])


def test_requirements_txt_is_exactly_what_the_program_imports():
    files, modules = program_imports()
    assert ROOT / "config.py" in files and ROOT / "components" / "lex_bot.py" in files
    imported = {_distribution_of(m) for m in modules}
    assert imported == _names(ROOT / "requirements.txt")


def test_requirements_txt_has_no_test_tool():
    assert not _names(ROOT / "requirements.txt") & TEST_TOOLS


def test_dev_requirements_include_the_program_and_every_tool():
    text = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in text.splitlines()
    assert _names(ROOT / "requirements-dev.txt") >= TEST_TOOLS


def test_ci_and_the_quick_start_install_the_dev_requirements():
    assert "pip install --quiet -r requirements-dev.txt" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "pip install -r requirements-dev.txt && python -m drill" in readme


def test_the_program_runs_without_importing_any_dev_distribution():
    """The program under the mock engine, in a fresh interpreter: every module
    it loads belongs to requirements.txt's distributions or their dependencies."""
    script = (
        "import json, sys\n"
        "from support.mock_engine import run_program\n"
        "run_program({'primaryRegion': 'us-east-1', 'secondaryRegion': 'us-west-2'})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    allowed = _closure(_names(ROOT / "requirements.txt"))
    distributions = metadata.packages_distributions()
    owners = {
        m: _normalise(distributions[m][0])
        for m in loaded
        if m not in sys.stdlib_module_names and m in distributions
    }
    outside = {m: dist for m, dist in owners.items() if dist not in allowed | set(PRESENT_ANYWAY)}
    assert "pulumi_aws_native" in owners  # the check saw the program's own imports
    assert not outside, f"the program loaded modules of dev-only distributions: {outside}"


def _closure(names: set[str]) -> set[str]:
    """``names`` and every distribution they require, transitively (no extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for requirement in metadata.requires(name) or []:
            if "extra ==" in requirement:
                continue
            todo.append(_normalise(re.split(r"[\[<>=!~;\s(]", requirement, maxsplit=1)[0]))
    return seen
