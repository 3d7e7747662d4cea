"""Every hookspec is typed, documented in docs/plugins.md, and has a test of its own."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from backprop_core.plugin import hookspecs
from tests.conftest import REPO

HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("backprop_"))


def test_there_is_a_hook_for_every_family() -> None:
    assert HOOKS == [
        "backprop_admission_vote",
        "backprop_parse_line",
        "backprop_parse_lines",
        "backprop_register_commands",
        "backprop_register_exporters",
        "backprop_register_frameworks",
        "backprop_register_importers",
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


def _test_functions() -> set[str]:
    """Names of the test functions defined under tests/ (parsed, so a name in a comment, a
    string or a call does not count)."""
    names: set[str] = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names.update(
            node.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name.startswith("test_")
        )
    return names


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_has_a_test(name: str) -> None:
    """Every hook has a test of its own, ``test_hook_<name without backprop_>``, that makes a
    real plugin implement it (the rule datasette keeps for its hooks)."""
    wanted = "test_hook_" + name.removeprefix("backprop_")
    assert wanted in _test_functions(), f"no test under tests/ is named {wanted}"


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_documents_every_parameter_and_its_result(name: str) -> None:
    func = getattr(hookspecs, name)
    doc = inspect.cleandoc(func.__doc__ or "")
    sig = inspect.signature(func)
    for param in sig.parameters:
        assert re.search(rf"^:param {param}: \S", doc, re.MULTILINE), (
            f"{name} does not document parameter {param} (:param {param}: ...)"
        )
    documented = set(re.findall(r"^:param (\w+):", doc, re.MULTILINE))
    assert documented <= set(sig.parameters), f"{name} documents parameters it does not take"
    if sig.return_annotation != "None":
        assert re.search(r"^:return: \S", doc, re.MULTILINE), f"{name} has no :return:"
