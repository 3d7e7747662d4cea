"""backprop-example: a file-driven GPU probe and a CLI command, registered like any plugin."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backprop_core import (
    MIB,
    Availability,
    GpuInfo,
    GpuProbe,
    GpuReading,
    ProbeError,
    hookimpl,
)

if TYPE_CHECKING:
    import click

ENV = "BACKPROP_EXAMPLE_GPUS"


def _mib(value: Any) -> int | None:
    return None if value is None else int(float(value) * MIB)


class ExampleGpuProbe(GpuProbe):
    """GPUs described by a JSON file, re-read on every snapshot."""

    name = "example-gpu"
    priority = 5

    def available(self) -> Availability:
        path = os.environ.get(ENV)
        if not path:
            return Availability(False, f"{ENV} is not set")
        if not Path(path).is_file():
            return Availability(False, f"{path} does not exist")
        return Availability(True)

    def snapshot(self) -> GpuReading:
        path = os.environ.get(ENV, "")
        try:
            items = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProbeError(f"cannot read {path}: {exc}") from exc
        gpus = tuple(
            GpuInfo(
                index=int(item["index"]),
                uuid=item.get("uuid"),
                name=item.get("name"),
                memory_total_bytes=_mib(item.get("memory_total_mib")),
                memory_used_bytes=_mib(item.get("memory_used_mib")),
                memory_free_bytes=_mib(item.get("memory_free_mib")),
                temperature_c=item.get("temperature_c"),
                utilization_pct=item.get("utilization_pct"),
            )
            for item in items
        )
        return GpuReading(gpus=gpus, driver_version="example")


@hookimpl
def backprop_register_probes() -> list[type[GpuProbe]]:
    return [ExampleGpuProbe]


@hookimpl
def backprop_register_commands(cli: click.Group) -> None:
    import click  # only the CLI needs it; training scripts load plugins too

    @cli.command("example-hello")
    @click.argument("who", default="world")
    def example_hello(who: str) -> None:
        """Say hello (an example plugin command)."""
        click.echo(f"hello, {who}, from backprop-example")
