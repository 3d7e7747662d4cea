"""Every hookspec is typed, documented in docs/plugins.md, and exercised by some test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from backprop_core.plugin import hookspecs
from tests.conftest import REPO

HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("backprop_"))
THIS_FILE = Path(__file__).resolve()


def test_there_is_a_hook_for_every_family() -> None:
    assert HOOKS == [
        "backprop_admission_vote",
        "backprop_parse_line",
        "backprop_parse_lines",
        "backprop_register_commands",
        "backprop_register_exporters",
        "backprop_register_frameworks",
        "backprop_register_launchers",
        "backprop_register_monitors",
        "backprop_register_probes",
        "backprop_register_stores",
        "backprop_register_watchers",
        "backprop_run_event",
        "backprop_run_finished",
        "backprop_run_started",
    ]


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_is_typed_and_has_a_docstring(name: str) -> None:
    func = getattr(hookspecs, name)
    sig = inspect.signature(func)
    assert sig.return_annotation is not inspect.Signature.empty, f"{name} has no return type"
    for param in sig.parameters.values():
        assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name}) is untyped"
    assert func.__doc__ and len(func.__doc__.strip()) > 40


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_is_documented(name: str) -> None:
    docs = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    heading = re.search(rf"^### `{name}\(", docs, re.MULTILINE)
    assert heading, f"docs/plugins.md has no '### `{name}(...)`' section"
    section = docs[heading.start() :].split("\n### ", 1)[0]
    params = list(inspect.signature(getattr(hookspecs, name)).parameters)
    for param in params:
        assert param in section, f"docs for {name} do not mention parameter {param}"
    assert re.search(r"(first result wins|all implementations are called)", section, re.I), (
        f"docs for {name} do not say how results combine"
    )


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_has_a_test(name: str) -> None:
    for path in (REPO / "tests").rglob("test_*.py"):
        if path.resolve() == THIS_FILE:
            continue
        if name in path.read_text(encoding="utf-8", errors="replace"):
            return
    pytest.fail(f"no test under tests/ mentions {name}")
