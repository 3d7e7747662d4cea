"""One test per hook, named ``test_hook_<hook name without backprop_>``: a third-party plugin
installed as a real distribution (entry point ``backprop``), loaded by the real plugin manager
of a real ``backprop`` process, changes what a user sees through that hook."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.core.test_plugin_loading import make_dist

PLUGIN = '''
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, ClassVar

from backprop_core import (
    MIB, Availability, Event, Exporter, FrameworkAdapter, GpuInfo, GpuProbe, GpuReading,
    Launcher, Monitor, MonitorAction, Preparation, RunStatus, Verdict, Vote, hookimpl,
)


def _log(line: str) -> None:
    with open(os.environ["HOOKTEST_LOG"], "a") as f:
        f.write(line + "\\n")


class FixedGpu(GpuProbe):
    name = "fixed-gpu"
    priority = 90

    def available(self) -> Availability:
        return Availability(True)

    def snapshot(self) -> GpuReading:
        gpu = GpuInfo(index=0, uuid="GPU-fixed", name="Fixed Accelerator 9000",
                      memory_total_bytes=8192 * MIB, memory_used_bytes=0,
                      memory_free_bytes=8192 * MIB, temperature_c=40.0)
        return GpuReading(gpus=(gpu,), driver_version="fixed")


class HookFramework(FrameworkAdapter):
    name = "hookfw"
    priority = 1

    def detect(self, script: Path) -> bool:
        return "# hookfw" in script.read_text()

    def prepare(self, spec: Any) -> Preparation:
        return Preparation(env={"HOOKFW": "prepared"}, note="hookfw: prepared")


class StopAtStepThree(Monitor):
    name = "stop-at-three"

    def on_event(self, event: Event, now: float) -> MonitorAction | None:
        if event.step is not None and event.step >= 3:
            return MonitorAction(alert="step 3 reached", stop=True, status=RunStatus.FAILED,
                                 reason="stopped at step 3 by the hooktest monitor")
        return None


class UpperExporter(Exporter):
    name: ClassVar[str] = "upper-names"

    def export(self, store: Any, runs: Any, out: Any) -> None:
        for run in runs:
            out.write((run.name or run.id).upper() + "\\n")


class NoopLauncher(Launcher):
    name = "hooktest-launcher"

    def launch(self, spec: Any, context: Any) -> Any:
        raise NotImplementedError


@hookimpl
def backprop_register_probes() -> list[type[GpuProbe]]:
    return [FixedGpu]


@hookimpl
def backprop_admission_vote(request: Any, snapshot: Any, settings: Any) -> Vote | None:
    if os.environ.get("HOOKTEST_REFUSE"):
        return Vote("hooktest", Verdict.REFUSE, "the hooktest policy says no")
    return None


@hookimpl
def backprop_register_frameworks() -> list[type[FrameworkAdapter]]:
    return [HookFramework]


@hookimpl
def backprop_parse_line(line: str, context: Any) -> Event | None:
    if line.startswith("STEP "):
        step = int(line.split()[1])
        return Event("metrics", time.time(), step, {"data": {"hooked": float(step)}})
    return None


@hookimpl
def backprop_register_stores() -> list[type[Any]]:
    from backprop_json_store.store import JsonStore

    class NotedStore(JsonStore):
        name: ClassVar[str] = "noted"

        def __init__(self, home: Path) -> None:
            super().__init__(home)
            _log("store opened")

    return [NotedStore]


@hookimpl
def backprop_register_launchers() -> list[type[Launcher]]:
    return [NoopLauncher]


@hookimpl
def backprop_register_monitors() -> list[type[Monitor]]:
    return [StopAtStepThree]


@hookimpl
def backprop_run_started(run: Any, session: Any) -> None:
    _log(f"started {run.id} session {session.number}")


@hookimpl
def backprop_run_event(run: Any, event: Any) -> None:
    _log(f"event {event.kind} {event.step}")


@hookimpl
def backprop_run_finished(run: Any, session: Any) -> None:
    _log(f"finished {run.id} {session.status.value}")


@hookimpl
def backprop_register_exporters() -> list[type[Exporter]]:
    return [UpperExporter]


@hookimpl
def backprop_register_commands(cli: Any) -> None:
    import click

    @cli.command("hooktest-hello")
    def hello() -> None:
        """Say hello from the hooktest plugin."""
        click.echo("hello from hooktest")
'''

SCRIPT = """
# hookfw
import os, time
print("HOOKFW=" + os.environ.get("HOOKFW", "-"), flush=True)
for step in range(1, 100):
    print("STEP %d" % step, flush=True)
    time.sleep(0.05)
"""


@dataclass
class Installed:
    env: dict[str, str]
    log: Path
    work: Path

    def cli(self, *args: str, **extra: str):  # type: ignore[no-untyped-def]
        return run_cli(*args, env={**self.env, **extra}, cwd=self.work)

    def logged(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Installed]:
    site = tmp_path / "site"
    make_dist(site, "backprop-hooktest", "backprop_hooktest", textwrap.dedent(PLUGIN), "hooktest")
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text(SCRIPT)
    log = tmp_path / "hooks.log"
    env = {
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "HOOKTEST_LOG": str(log),
        "BACKPROP_GPU__PROBE": "none",
        "BACKPROP_MIN_FREE_RAM_GB": "0",
        "BACKPROP_STOP__GRACE_SECONDS": "2",
    }
    yield Installed(env, log, work)


@pytest.fixture
def hooked_run(installed: Installed) -> tuple[Installed, dict[str, object]]:
    """One ``backprop run`` with the plugin: its adapter, parser, monitor and listeners act."""
    result = installed.cli("run", "--json", "train.py")
    assert result.returncode == 1, result.stderr  # the plugin's monitor failed it at step 3
    return installed, json.loads(result.stdout)


def test_hook_register_probes(installed: Installed) -> None:
    result = installed.cli("status", "--json", "--gpu-probe", "fixed-gpu")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["gpu_probe"] == "fixed-gpu"
    assert [g["name"] for g in data["gpus"]] == ["Fixed Accelerator 9000"]


def test_hook_admission_vote(installed: Installed) -> None:
    assert installed.cli("status", "--json").returncode == 0
    refused = installed.cli("run", "train.py", HOOKTEST_REFUSE="1")
    assert refused.returncode == 3
    assert "hooktest: the hooktest policy says no" in refused.stderr
    assert "HOOKFW" not in refused.stdout  # nothing started


def test_hook_register_frameworks(hooked_run: tuple[Installed, dict[str, object]]) -> None:
    installed, result = hooked_run
    shown = json.loads(installed.cli("show", "--json", str(result["run_id"])).stdout)
    assert shown["framework"] == "hookfw"
    log = installed.cli("logs", str(result["run_id"])).stdout
    assert "HOOKFW=prepared" in log


def test_hook_parse_line(hooked_run: tuple[Installed, dict[str, object]]) -> None:
    installed, result = hooked_run
    shown = json.loads(installed.cli("show", "--json", str(result["run_id"])).stdout)
    assert shown["last_metrics"]["hooked"] >= 3.0
    assert shown["last_step"] >= 3


BATCH_PLUGIN = """
import time

from backprop_core import Event, ParsedLines, hookimpl


@hookimpl
def backprop_parse_lines(lines, context):
    items, claimed = [], []
    for i, line in enumerate(lines):
        if line.startswith(b"BATCH "):
            _, step, value = line.split()
            data = {"data": {"batched": float(value)}}
            items.append(Event("metrics", time.time(), int(step), data))
            claimed.append(i)
    return ParsedLines(items, claimed) if items else None
"""

BATCH_SCRIPT = """
print("plain before", flush=True)
print("BATCH 1 0.5\\nBATCH 2 0.25\\nplain after", flush=True)
"""


def test_hook_parse_lines(installed: Installed, tmp_path: Path) -> None:
    site = tmp_path / "batch-site"
    make_dist(site, "backprop-hookbatch", "backprop_hookbatch", BATCH_PLUGIN, "hookbatch")
    (installed.work / "batched.py").write_text(BATCH_SCRIPT)
    path = os.pathsep.join([str(site), installed.env["PYTHONPATH"]])
    result = installed.cli("run", "batched.py", PYTHONPATH=path)
    assert result.returncode == 0, result.stderr
    # The lines the batch parser claimed are event lines: recorded, and kept off the terminal.
    assert "plain before" in result.stdout and "plain after" in result.stdout
    assert "BATCH" not in result.stdout
    listed = json.loads(installed.cli("list", "--json", PYTHONPATH=path).stdout)
    shown = json.loads(installed.cli("show", "--json", listed[0]["id"], PYTHONPATH=path).stdout)
    assert shown["last_metrics"]["batched"] == 0.25 and shown["last_step"] == 2


def test_hook_register_monitors(hooked_run: tuple[Installed, dict[str, object]]) -> None:
    _, result = hooked_run
    assert result["status"] == "failed"
    assert result["reason"] == "stopped at step 3 by the hooktest monitor"


def test_hook_run_started(hooked_run: tuple[Installed, dict[str, object]]) -> None:
    installed, result = hooked_run
    assert installed.logged()[0] == f"started {result['run_id']} session 1"


def test_hook_run_event(hooked_run: tuple[Installed, dict[str, object]]) -> None:
    installed, _ = hooked_run
    events = [line for line in installed.logged() if line.startswith("event ")]
    assert {"event metrics 1", "event metrics 2", "event metrics 3"} <= set(events)
    assert "event alert 3" in events  # the monitor's alert is an event too


def test_hook_run_finished(hooked_run: tuple[Installed, dict[str, object]]) -> None:
    installed, result = hooked_run
    assert installed.logged()[-1] == f"finished {result['run_id']} failed"


def test_hook_register_stores(installed: Installed) -> None:
    Path(os.environ["BACKPROP_HOME"]).mkdir(parents=True, exist_ok=True)  # list never makes one
    listed = installed.cli("list", "--json", "--store", "noted")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert "store opened" in installed.logged()


def test_hook_register_exporters(hooked_run: tuple[Installed, dict[str, object]]) -> None:
    installed, result = hooked_run
    exported = installed.cli("export", str(result["run_id"]), "--format", "upper-names")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == str(result["run_id"]).upper() + "\n"


def test_hook_register_launchers(installed: Installed) -> None:
    listed = json.loads(installed.cli("plugins", "--json").stdout)
    hooks = next(p["hooks"] for p in listed if p["name"] == "hooktest")
    assert "backprop_register_launchers" in hooks
    code = (
        "from backprop_core.plugin.manager import get_plugins\n"
        "print(sorted(get_plugins().launchers()))"
    )
    import subprocess
    import sys

    found = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **installed.env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "['hooktest-launcher', 'local']"


def test_hook_register_commands(installed: Installed) -> None:
    assert "hooktest-hello" in installed.cli("--help").stdout
    hello = installed.cli("hooktest-hello")
    assert hello.returncode == 0 and hello.stdout == "hello from hooktest\n"
