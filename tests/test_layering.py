"""The package's structure: imports run one way, no cycles, no private names across modules.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and are checked by
import-linter. hipct maps its top-level folders (``planner/``, ``beamlines/`` ...) into one
``hipct`` namespace with setuptools' ``package-dir``; import-linter finds a package's modules
by walking its folder, so the test first lays the folders out as the installed namespace (a
copy of the ``.py`` files under a temporary ``hipct/``) and runs import-linter on that copy.
"""

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _package_dirs() -> dict[str, Path]:
    cfg = tomllib.loads(PYPROJECT.read_text())
    return {pkg: ROOT / src for pkg, src in cfg["tool"]["setuptools"]["package-dir"].items()}


def _source_files():
    """``(module name, path inside the installed namespace, path)`` of every module."""
    for pkg, src in _package_dirs().items():
        for path in sorted(src.rglob("*.py")):
            rel = path.relative_to(src)
            parts = [p for p in rel.with_suffix("").parts if p != "__init__"]
            yield ".".join([pkg, *parts]), Path(*pkg.split("."), rel), path


@pytest.fixture(scope="module")
def namespace_copy(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("layout")
    for _, installed, path in _source_files():
        (dst / installed).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst / installed)
    return dst


def test_import_contracts_hold(namespace_copy):
    pytest.importorskip("importlinter")
    env = {**os.environ, "PYTHONPATH": str(namespace_copy)}
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))")
    run = subprocess.run([sys.executable, "-c", code, str(PYPROJECT)], cwd=namespace_copy,
                         env=env, capture_output=True, text=True, timeout=300)
    report = run.stdout + run.stderr
    assert f"Analyzed {sum(1 for _ in _source_files())} files" in report, report
    assert run.returncode == 0, report
    assert "BROKEN" not in report and report.count("KEPT") == 3, report


def test_contracts_name_every_stage():
    cfg = tomllib.loads(PYPROJECT.read_text())
    layers = " ".join(cfg["tool"]["importlinter"]["contracts"][0]["layers"])
    for pkg in _package_dirs():
        if pkg != "hipct":
            assert pkg in layers, f"{pkg} is in no layer of the import contract"


def test_no_private_name_is_imported_from_another_module():
    offenders = []
    for module, _, path in _source_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        offenders.append(f"{module}:{node.lineno} imports {alias.name} "
                                         f"from {node.module}")
    assert not offenders, "\n".join(offenders)


def test_every_package_folder_is_installed():
    cfg = tomllib.loads(PYPROJECT.read_text())
    packages = {module for module, _, path in _source_files() if path.name == "__init__.py"}
    assert packages == set(cfg["tool"]["setuptools"]["packages"])
