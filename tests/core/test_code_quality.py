"""The code stays lint-clean, formatted and type-checked (ruff and mypy as configured)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_check_is_clean() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_format_is_clean() -> None:
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    pytest.importorskip("mypy")
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_is_far_over_400_lines() -> None:
    too_long = [
        f"{path.relative_to(REPO)}: {n} lines"
        for path in [*REPO.glob("src/**/*.py"), *REPO.glob("plugins/**/*.py")]
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 450
    ]
    assert not too_long, too_long


def test_core_never_imports_click_outside_cli() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in REPO.glob("src/backprop_core/**/*.py")
        if "cli" not in path.relative_to(REPO / "src" / "backprop_core").parts
        and any(
            line.startswith(("import click", "from click"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert not offenders, offenders


PUBLIC_MODULES = {"backprop_core", "backprop_core.plugin_kit"}


def test_plugins_import_only_the_public_api() -> None:
    """The default plugins are written like third-party ones: they import ``backprop_core``
    and ``backprop_core.plugin_kit``, and only names those modules export."""
    import ast

    import backprop_core
    import backprop_core.plugin_kit

    exported = {
        "backprop_core": set(backprop_core.__all__),
        "backprop_core.plugin_kit": set(backprop_core.plugin_kit.__all__),
    }
    offenders = []
    for path in sorted(REPO.glob("plugins/**/*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(REPO)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                offenders += [
                    f"{where}:{node.lineno}: import {a.name}"
                    for a in node.names
                    if a.name.startswith("backprop_core.")
                ]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "backprop_core"
            ):
                module = node.module or ""
                if module not in PUBLIC_MODULES:
                    offenders.append(f"{where}:{node.lineno}: from {module} import …")
                    continue
                offenders += [
                    f"{where}:{node.lineno}: {a.name} is not exported by {module}"
                    for a in node.names
                    if a.name not in exported[module]
                ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("module", sorted(PUBLIC_MODULES))
def test_every_public_name_resolves(module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    missing = [name for name in mod.__all__ if name != "__version__" and not hasattr(mod, name)]
    assert not missing, missing
