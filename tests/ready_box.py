"""A time box for tests that starts once the script has printed its first line (its imports
done, its model built): a test that relies on the time box must not depend on how long
``import torch`` takes on a loaded machine. Installed as a real plugin distribution."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from tests.core.test_plugin_loading import make_dist

#: A time box that starts once the script has printed its first line (torch imported, model
#: built): the chain must not depend on how long ``import torch`` takes on a loaded machine.
#: It stops the session the way the time box does (same graceful stop, status timeboxed). With
#: ``READY_BOX_WHILE_PRINTING`` it stops only while the script is printing: never during its
#: final shutdown, which would make a finished session look cut short.
READY_BOX = """
from __future__ import annotations

import os

from backprop_core import Monitor, MonitorAction, RunStatus, Settings, hookimpl


class BoxAfterReady(Monitor):
    name = "box-after-ready"

    def __init__(self) -> None:
        self.ready_at: float | None = None
        self.last_output = 0.0

    @classmethod
    def create(cls, settings: Settings) -> BoxAfterReady | None:
        return cls() if os.environ.get("READY_BOX_SECONDS") else None

    def on_output(self, now: float) -> None:
        if self.ready_at is None:
            self.ready_at = now
        self.last_output = now

    def on_tick(self, now: float) -> MonitorAction | None:
        box = float(os.environ["READY_BOX_SECONDS"])
        printing = now - self.last_output < 1.0 or not os.environ.get("READY_BOX_WHILE_PRINTING")
        if self.ready_at is not None and now - self.ready_at >= box and printing:
            return MonitorAction(stop=True, status=RunStatus.TIMEBOXED, reason="time box reached")
        return None


@hookimpl
def backprop_register_monitors() -> list[type[Monitor]]:
    return [BoxAfterReady]
"""


def ready_box_env(site: Path, seconds: float, while_printing: bool = False) -> dict[str, str]:
    """Install the plugin under ``site``; the environment that turns it on for ``seconds``."""
    if not (site / "backprop_readybox.py").exists():
        make_dist(site, "backprop-readybox", "backprop_readybox", textwrap.dedent(READY_BOX), "rb")
    return {
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "READY_BOX_SECONDS": str(seconds),
        "READY_BOX_WHILE_PRINTING": "1" if while_printing else "",
    }
