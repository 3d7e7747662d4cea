"""Shared fixtures: an isolated environment for every test (home, user config, plugins)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """No test reads the developer's real config or store: XDG dirs and BACKPROP_HOME point
    into a temporary folder, and no BACKPROP_* variable leaks in from outside."""
    base = tmp_path_factory.mktemp("env")
    for name in list(os.environ):
        if name.startswith("BACKPROP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "xdg-cache"))
    monkeypatch.setenv("BACKPROP_HOME", str(base / "home"))
    from backprop_core.plugin.manager import reset_plugins

    reset_plugins()
    yield base
    reset_plugins()


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``backprop ARGS`` in a real subprocess with the test's environment (plus ``env``)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "backprop_core.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        input=input,
    )


def wait_for(
    check: Callable[[], Any],
    timeout: float = 60.0,
    what: str = "condition",
    *,
    ignore: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll ``check`` until it returns something truthy and return that; fail after
    ``timeout`` seconds. Exceptions of the ``ignore`` types mean "not ready yet"."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except ignore as exc:
            last = exc
        if time.monotonic() > deadline:
            detail = f": {last}" if last is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(0.05)


@contextlib.contextmanager
def mounted_tmpfs(where: Path, options: str) -> Iterator[None]:
    """A real, small filesystem at ``where`` (a tmpfs: needs root; skips the test otherwise)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_disk(filler: Path) -> None:
    """Write ``filler`` until its filesystem has no space left."""
    with contextlib.suppress(OSError), open(filler, "wb") as fh:
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
