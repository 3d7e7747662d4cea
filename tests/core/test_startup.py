"""Start-up stays cheap: what the first commands a user types import, and what they need not."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from backprop_core.__about__ import __version__
from tests.conftest import REPO, run_cli

# Modules that take longer to import than a small script takes to start on a slow machine, and
# that a run does not need before its script is running.
HEAVY = ("psutil", "jsonschema", "importlib.metadata")

# Starts `backprop run` in-process and reports which HEAVY modules are loaded at the launch.
AT_LAUNCH = f"""
import sys
import backprop_core.supervisor.session as session
launch = session.launch
def reporting_launch(*args, **kwargs):
    print("LOADED AT LAUNCH", [m for m in {HEAVY!r} if m in sys.modules], flush=True)
    return launch(*args, **kwargs)
session.launch = reporting_launch
from backprop_core.cli.entry import main
main(["run", "noop.py"])
"""


def test_version_is_answered_without_click() -> None:
    code = (
        "import sys; sys.modules['click'] = None\n"
        "from backprop_core.cli.entry import main; main(['--version'])"
    )
    fast = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert fast.returncode == 0, fast.stderr
    through_click = run_cli("--debug", "--version")  # not the shortcut: click prints it
    assert through_click.returncode == 0, through_click.stderr
    assert fast.stdout == through_click.stdout == f"backprop, version {__version__}\n"
    assert run_cli("-V").stdout == fast.stdout


def test_a_run_starts_its_script_before_importing_heavy_modules(tmp_path: Path) -> None:
    (tmp_path / "noop.py").write_text("print('ran')\n")
    assert run_cli("plugins").returncode == 0  # the entry-point index exists, as after a first run
    env = {**os.environ, "BACKPROP_GPU__PROBE": "none", "BACKPROP_MIN_FREE_RAM_GB": "0"}
    result = subprocess.run(
        [sys.executable, "-c", AT_LAUNCH],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED AT LAUNCH []" in result.stdout, result.stdout
    assert "ran" in result.stdout


def test_every_dataclass_has_a_docstring() -> None:
    """``dataclass`` writes a missing docstring from ``inspect.signature`` when the class is
    created: an import-time cost every command would pay for each such class."""
    missing = []
    for path in sorted([*REPO.glob("src/**/*.py"), *REPO.glob("plugins/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or ast.get_docstring(node) is not None:
                continue
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if isinstance(target, ast.Name) and target.id == "dataclass":
                    missing.append(f"{path.relative_to(REPO)}: {node.name}")
    assert not missing, missing
