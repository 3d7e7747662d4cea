"""Plugins take part in a real run: parsers (``backprop_parse_line``), monitors
(``backprop_register_monitors``), listeners (``backprop_run_event``), framework adapters
(``backprop_register_frameworks``) and the launcher (``backprop_register_launchers``).

The run happens in this process (the supervisor needs the main thread), with a plugin
registered on the process-wide plugin manager.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import pytest

from backprop_core import hookimpl
from backprop_core.events.event import Event, ParseContext
from backprop_core.launch.spec import (
    FrameworkAdapter,
    LaunchSpec,
    Monitor,
    MonitorAction,
    Preparation,
)
from backprop_core.plugin.manager import get_plugins
from backprop_core.settings import resolve_settings
from backprop_core.store.records import RunRecord, RunStatus

SCRIPT = """
import os, time
print("MYFW_CAP=" + os.environ.get("MYFW_CAP", "-"), flush=True)
for step in range(1, 200):
    print("STEP %d" % step, flush=True)
    time.sleep(0.02)
"""


class MyAdapter(FrameworkAdapter):
    name = "myfw"
    priority = 1

    def detect(self, script: Path) -> bool:
        return "myfw" in script.read_text()

    def prepare(self, spec: LaunchSpec) -> Preparation:
        return Preparation(env={"MYFW_CAP": "applied"}, note="myfw: test cap")


class StopAtStep(Monitor):
    name = "stop-at-step"
    limit: ClassVar[int] = 5

    def on_event(self, event: Event, now: float) -> MonitorAction | None:
        if event.step is not None and event.step >= self.limit:
            return MonitorAction(
                alert=f"step {event.step} reached",
                stop=True,
                status=RunStatus.FAILED,
                reason="stopped by the test monitor",
            )
        return None


class Plugin:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.runs: list[RunRecord] = []

    @hookimpl
    def backprop_parse_line(self, line: str, context: ParseContext) -> Event | None:
        if line.startswith("STEP "):
            step = int(line.split()[1])
            return Event("metrics", time.time(), step, {"data": {"custom": float(step)}})
        return None

    @hookimpl
    def backprop_register_monitors(self) -> list[type[Monitor]]:
        return [StopAtStep]

    @hookimpl
    def backprop_register_frameworks(self) -> list[type[FrameworkAdapter]]:
        return [MyAdapter]

    @hookimpl
    def backprop_run_event(self, run: RunRecord, event: Event) -> None:
        self.seen.append(event.kind)


@pytest.mark.timeout(120)
def test_plugins_take_part_in_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop_core.run.runner import RunOptions, open_run_store
    from backprop_core.run.start import start_run

    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text("# uses myfw\n" + SCRIPT)
    monkeypatch.chdir(work)
    plugin = Plugin()
    pm = get_plugins()
    pm.register(plugin, "test-run-plugin")
    assert "local" in pm.launchers()  # backprop_register_launchers: the built-in launcher
    settings = resolve_settings(
        {
            "home": str(tmp_path / "home"),
            "gpu": {"probe": "none"},
            "minFreeRamGB": 0,
            "stop": {"graceSeconds": 2},
        },
        cwd=work,
    )
    result = start_run(
        settings,
        RunOptions(),
        ("train.py",),
        python=None,
        run_id="plugged",
        resume_from=None,
        resume_arg=None,
    )
    assert result.status == RunStatus.FAILED and result.exit_code == 1
    assert result.reason == "stopped by the test monitor"
    assert "metrics" in plugin.seen
    with open_run_store(settings) as store:
        run = store.get_run("plugged")
        kinds = [e.event.kind for e in store.events("plugged")]
        custom = store.metric_series("plugged", "custom")
    assert run.framework == "myfw"
    assert "alert" in kinds
    assert 5.0 in custom.values and max(custom.values) < 100
    log = (tmp_path / "home" / "runs" / "plugged" / "session-1.log").read_text()
    assert "MYFW_CAP=applied" in log
