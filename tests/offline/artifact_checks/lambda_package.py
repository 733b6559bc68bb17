"""Lambda packages: handler resolution and imports limited to runtime + layer."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.hang_guard import HANG_GUARD_SECONDS

#: What the Lambda Python runtime provides besides the standard library
#: (boto3 and its dependencies; "Lambda runtimes" in the Lambda guide).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six")
#: What the public Powertools layer adds: Powertools, its tracer's X-Ray SDK
#: (and wrapt, which that imports), and typing_extensions, a hard dependency
#: of aws-lambda-powertools v3 (its Requires-Dist), so the layer ships it.
LAYER_PACKAGES = ("aws_lambda_powertools", "aws_xray_sdk", "wrapt", "typing_extensions")
ALLOWED_PACKAGES = frozenset(RUNTIME_PACKAGES + LAYER_PACKAGES)

#: Modules removed from the standard library in Python 3.13 (PEP 594 and
#: lib2to3): importable on the 3.11 test machines, missing in python3.13.
REMOVED_IN_313 = frozenset(
    {
        "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "lib2to3", "mailcap",
        "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau",
        "telnetlib", "uu", "xdrlib",
    }
)  # fmt: skip


def archive_files(code: Any) -> dict[str, Path]:
    """Archive path -> source file of a ``pulumi.AssetArchive`` of FileAssets."""
    files: dict[str, Path] = {}
    for archive_path, asset in (getattr(code, "assets", None) or {}).items():
        path = getattr(asset, "path", None)
        if path is None:
            raise ValueError(f"{archive_path}: only FileAssets are expected in a code archive")
        files[archive_path] = Path(path)
    return files


def _module_file(module: str, files: Mapping[str, Path]) -> str | None:
    base = module.replace(".", "/")
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if candidate in files:
            return candidate
    return None


def check_handler_resolves(handler: str, files: Mapping[str, Path]) -> list[str]:
    """``module.function`` names a top-level function of a packaged module, in
    a package whose every level has an ``__init__.py`` in the archive."""
    module, _, function = handler.rpartition(".")
    if not module or not function:
        return [f"handler {handler!r} is not 'module.function'"]
    path = _module_file(module, files)
    if path is None:
        return [f"handler {handler!r}: no {module.replace('.', '/')}.py in the archive"]
    parts = module.split(".")
    problems = [
        f"handler {handler!r}: {'/'.join(parts[:n])}/__init__.py is not in the archive"
        for n in range(1, len(parts))
        if f"{'/'.join(parts[:n])}/__init__.py" not in files
    ]
    defined = _top_level_names(ast.parse(files[path].read_text(), filename=path))
    if defined is not None and function not in defined:
        problems.append(f"handler {handler!r}: {path} defines no top-level {function!r}")
    return problems


def _guarded(node: ast.AST, parents: Mapping[ast.AST, ast.AST]) -> bool:
    """Inside ``if TYPE_CHECKING:`` or ``try: ... except ImportError``."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test):
            return node in parent.body
        if isinstance(parent, ast.Try) and node in parent.body:
            for h in parent.handlers:
                names = ast.unparse(h.type) if h.type is not None else ""
                if "ImportError" in names or "ModuleNotFoundError" in names:
                    return True
        node = parent
    return False


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """Names a module binds at import time (None: a star import, anything goes)."""
    names: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if any(alias.name == "*" for alias in node.names):
                return None
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.If | ast.Try | ast.With):
            pending += [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", [])]
            pending += [stmt for h in getattr(node, "handlers", []) for stmt in h.body]
    return names


def _imported_modules(
    node: ast.Import | ast.ImportFrom, package: str
) -> list[tuple[str, str | None]]:
    """(module, name imported from it or None) for one import statement."""
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names]
    if node.level:
        base = package.split(".")
        base = base[: len(base) - node.level + 1] if node.level > 1 else base
        module = ".".join([*base, *([node.module] if node.module else [])])
    else:
        module = node.module or ""
    return [(module, alias.name) for alias in node.names]


def check_package_imports(files: Mapping[str, Path], runtime: str = "python3.13") -> list[str]:
    """Every import of every packaged file (function-level ones included, which
    an import test would miss) resolves: in the package (module, submodule or
    a name the module defines), the standard library, the runtime's boto3 or
    the Powertools layer."""
    problems = []
    packaged_tops = {p.split("/")[0].removesuffix(".py") for p in files}
    trees = {
        path: ast.parse(source.read_text(), filename=path)
        for path, source in sorted(files.items())
        if path.endswith(".py")
    }
    for archive_path, tree in trees.items():
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        package = archive_path.rsplit("/", 1)[0].replace("/", ".") if "/" in archive_path else ""
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or _guarded(node, parents):
                continue
            where = f"{archive_path}:{node.lineno}"
            for module, name in _imported_modules(node, package):
                top = module.split(".")[0]
                if top in packaged_tops:
                    problems.extend(_packaged_import_problems(where, module, name, files, trees))
                elif top in ALLOWED_PACKAGES:
                    continue
                elif top in sys.stdlib_module_names:
                    if runtime == "python3.13" and top in REMOVED_IN_313:
                        problems.append(f"{where}: {top} is not in Python 3.13's standard library")
                else:
                    problems.append(
                        f"{where}: imports {top}, which neither the Lambda runtime nor the "
                        "Powertools layer provides"
                    )
    return problems


def _packaged_import_problems(
    where: str,
    module: str,
    name: str | None,
    files: Mapping[str, Path],
    trees: Mapping[str, ast.Module],
) -> list[str]:
    path = _module_file(module, files)
    if path is None:
        return [f"{where}: imports {module}, which is not in the archive"]
    if name is None or name == "*" or _module_file(f"{module}.{name}", files):
        return []
    defined = _top_level_names(trees[path])
    if defined is not None and name not in defined:
        return [
            f"{where}: imports {module}.{name}: neither a packaged module nor defined in {path}"
        ]
    return []


def _sandbox_site(root: Path) -> Path:
    """A site directory holding only the runtime's and the layer's packages,
    linked from this interpreter's installation."""
    site = root / "site"
    site.mkdir()
    for name in sorted(ALLOWED_PACKAGES):
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise RuntimeError(f"{name} is not installed; the sandbox cannot provide it")
        if spec.submodule_search_locations:
            source = Path(next(iter(spec.submodule_search_locations)))
            (site / name).symlink_to(source, target_is_directory=True)
        else:
            (site / Path(spec.origin or "").name).symlink_to(Path(spec.origin or ""))
    return site


_SANDBOX_PROBE = """
import importlib, json, sys
package, site, handler = sys.argv[1:4]
sys.path[:0] = [package, site]
module_name, _, function = handler.rpartition(".")
report = {}
try:
    module = importlib.import_module(module_name)
    report["callable"] = callable(getattr(module, function, None))
except BaseException as error:
    report["error"] = f"{type(error).__name__}: {error}"
outside = []
for name, module in list(sys.modules.items()):
    origin = getattr(module, "__file__", None) or ""
    if origin and not origin.startswith((package, site, sys.base_prefix)):
        outside.append(f"{name} ({origin})")
report["outside"] = sorted(outside)
print(json.dumps(report))
"""


class LambdaSandbox:
    """A temporary directory with the allowed packages; one package per call."""

    def __init__(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="lambda-sandbox-"))
        self.site = _sandbox_site(self._root)

    def close(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> LambdaSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stage(self, files: Mapping[str, Path]) -> Path:
        package = Path(tempfile.mkdtemp(prefix="package-", dir=self._root))
        for archive_path, source in files.items():
            target = package / archive_path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return package

    def import_handler(
        self,
        handler: str,
        files: Mapping[str, Path],
        environment: Mapping[str, str] | None = None,
        region: str = "us-east-1",
    ) -> list[str]:
        """Import the handler's module in ``python -I -S`` whose path is the
        stdlib, the package and the sandbox site only, with the function's
        environment. Problems: the import failed, the handler is not callable,
        a module was loaded from anywhere else."""
        package = self.stage(files)
        env = {
            **(environment or {}),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        completed = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                _SANDBOX_PROBE,
                str(package),
                str(self.site),
                handler,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=HANG_GUARD_SECONDS,
            check=False,
        )
        if completed.returncode != 0 or not completed.stdout.strip():
            return [f"handler {handler!r}: sandbox failed: {completed.stderr.strip()[-500:]}"]
        report = json.loads(completed.stdout.strip().splitlines()[-1])
        problems = []
        if "error" in report:
            problems.append(
                f"handler {handler!r} does not import in the Lambda sandbox: {report['error']}"
            )
        elif not report.get("callable"):
            problems.append(f"handler {handler!r} is not callable")
        problems.extend(
            f"handler {handler!r} loaded {m} from outside the sandbox" for m in report["outside"]
        )
        return problems
