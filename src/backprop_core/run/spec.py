"""From a command line, settings and an admission decision to a ``LaunchSpec`` (lifecycle
step 4 in docs/architecture.md)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from backprop_core.admission.resources import Snapshot
from backprop_core.env_vars import CONTRACT_VARS
from backprop_core.errors import RunStateError, UsageError
from backprop_core.launch.spec import FrameworkAdapter, LaunchSpec, Preparation
from backprop_core.plugin.manager import get_plugins
from backprop_core.run.resume_args import resume_argv, resume_template
from backprop_core.settings.model import Settings
from backprop_core.store.home import Home
from backprop_core.store.records import RunRecord


@dataclass(frozen=True)
class Command:
    """What to run: a Python script (``script`` set) or any command (``script`` is ``None``)."""

    args: tuple[str, ...]
    script: Path | None
    python: str
    resume_arg: str | None = None

    @classmethod
    def parse(
        cls, args: tuple[str, ...], python: str, cwd: Path, resume_arg: str | None
    ) -> Command:
        if not args:
            raise UsageError("nothing to run", hint="backprop run SCRIPT [ARGS...]")
        template = resume_template(resume_arg) if resume_arg is not None else None
        first = args[0]
        if first.lower().endswith(".py"):
            script = Path(first)
            if not (cwd / script).is_file():
                raise UsageError(f"script not found: {first}", hint="check the path")
            return cls(tuple(args[1:]), script, python, template)
        return cls(tuple(args), None, python, template)

    def argv(self, checkpoint: str | None) -> list[str]:
        base = [self.python, str(self.script), *self.args] if self.script else list(self.args)
        if checkpoint and self.resume_arg:
            base += resume_argv(self.resume_arg, checkpoint)
        return base

    def script_args(self) -> tuple[str, ...]:
        """The training script's own arguments (where its parameters are): those after the
        script, or in a command those after its first ``.py`` argument (``torchrun
        --nproc-per-node 4 train.py --lr 1``), else those after the program."""
        if self.script is not None:
            return self.args
        for i, arg in enumerate(self.args):
            if arg.lower().endswith(".py"):
                return self.args[i + 1 :]
        return self.args[1:]

    def python_file(self) -> Path | None:
        if self.script is not None:
            return self.script
        return next((Path(a) for a in self.args if a.lower().endswith(".py")), None)


def stored_command(run: RunRecord) -> tuple[Command, Path]:
    """The command and folder a stored run was started with, for its next session."""
    import sys

    launch = run.environment.get("launch") if isinstance(run.environment, dict) else None
    launch = launch if isinstance(launch, dict) else {}
    cwd = Path(run.cwd or ".")
    if not cwd.is_dir():
        raise RunStateError(f"the run's folder {cwd} no longer exists")
    python = str(launch.get("python") or (run.command[0] if run.command else sys.executable))
    if launch.get("mode", "script" if run.script else "command") == "script" and run.script:
        command = Command(tuple(run.argv), Path(run.script), python, launch.get("resumeArg"))
    else:
        command = Command(tuple(run.argv), None, python, launch.get("resumeArg"))
    if command.script is not None and not (cwd / command.script).is_file():
        raise RunStateError(f"the run's script {cwd / command.script} no longer exists")
    return command, cwd


@dataclass
class GpuChoice:
    """The GPUs handed to a session and how: device variable, labels, memory cap."""

    indices: tuple[int, ...] = ()
    visible: str | None = None  # CUDA_VISIBLE_DEVICES, None = leave as inherited
    labels: tuple[str, ...] = ()
    limit_bytes: int | None = None
    total_bytes: int | None = None
    notes: list[str] = field(default_factory=list)


def choose_gpus(settings: Settings, gpus: tuple[int, ...], snapshot: Snapshot) -> GpuChoice:
    if settings.gpu.count <= 0:
        return GpuChoice(visible="", notes=['CPU only (gpu.count is 0): CUDA_VISIBLE_DEVICES=""'])
    if not gpus:
        return GpuChoice(notes=["no GPU seen by the probe; CUDA_VISIBLE_DEVICES left as it is"])
    ids: list[str] = []
    labels: list[str] = []
    totals: list[int] = []
    for index in gpus:
        gpu = snapshot.gpu(index)
        mig = gpu.mig_devices if gpu is not None and gpu.mig_enabled else ()
        if mig:
            ids.append(mig[0].uuid)
            labels.append(mig[0].uuid)
            if mig[0].memory_total_bytes:
                totals.append(mig[0].memory_total_bytes)
            continue
        ids.append(str(index))
        labels.append(gpu.uuid if gpu is not None and gpu.uuid else str(index))
        if gpu is not None and gpu.memory_total_bytes:
            totals.append(gpu.memory_total_bytes)
    total = min(totals) if totals else None
    return GpuChoice(
        indices=gpus,
        visible=",".join(ids),
        labels=tuple(labels),
        limit_bytes=settings.gpu_memory_limit_bytes(total),
        total_bytes=total,
    )


def select_framework(settings: Settings, command: Command, cwd: Path) -> FrameworkAdapter:
    adapters = get_plugins().frameworks()
    wanted = settings.framework
    if wanted != "auto":
        if wanted not in adapters:
            raise UsageError(
                f"unknown framework '{wanted}'", hint=f"choose one of: auto, {', '.join(adapters)}"
            )
        return adapters[wanted]()
    script = command.python_file()
    for name, cls in adapters.items():
        if name == "generic":
            continue
        adapter = cls()
        if script is not None and adapter.detect(cwd / script):
            return adapter
    if "generic" in adapters:
        return adapters["generic"]()
    raise UsageError("no framework adapter is installed", hint="reinstall backprop")


def build_spec(
    *,
    run_id: str,
    session: int,
    command: Command,
    cwd: Path,
    settings: Settings,
    gpus: GpuChoice,
    adapter: FrameworkAdapter,
    resume_from: str | None,
    resume_step: int | None = None,
    resume_epoch: int | None = None,
    create_dirs: bool = True,
    stop_by: float | None = None,
) -> tuple[LaunchSpec, Preparation]:
    home = Home(settings.home)
    run_dir = home.run_dir(run_id)
    checkpoint_dir = home.checkpoint_dir(run_id)
    if create_dirs:
        home.ensure_run_dir(run_id)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_VARS}
    box = settings.time_box_seconds
    deadline = time.time() + box if box is not None else None
    if stop_by is not None:
        deadline = stop_by if deadline is None else min(deadline, stop_by)
    env.update(
        PYTHONUNBUFFERED="1",
        BACKPROP_RUN_ID=run_id,
        BACKPROP_SESSION=str(session),
        BACKPROP_RUN_DIR=str(run_dir),
        BACKPROP_CHECKPOINT_DIR=str(checkpoint_dir),
        BACKPROP_HOME=str(settings.home),
        BACKPROP_STORE=settings.store,
        BACKPROP_FRAMEWORK=adapter.name,
    )
    if resume_from:
        env["BACKPROP_RESUME_FROM"] = resume_from
        if resume_step is not None:
            env["BACKPROP_RESUME_STEP"] = str(resume_step)
        if resume_epoch is not None:
            env["BACKPROP_RESUME_EPOCH"] = str(resume_epoch)
    env["BACKPROP_GRACE_SECONDS"] = f"{settings.stop.grace_seconds:g}"
    if deadline is not None:
        env["BACKPROP_DEADLINE"] = f"{deadline:.3f}"
    every = settings.checkpoint_every_seconds
    if every:
        env["BACKPROP_CHECKPOINT_EVERY"] = f"{every:g}"
    if gpus.visible is not None:
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        env["CUDA_VISIBLE_DEVICES"] = gpus.visible
    if gpus.limit_bytes:
        env["BACKPROP_GPU_MEMORY_LIMIT"] = str(gpus.limit_bytes)
    spec = LaunchSpec(
        run_id=run_id,
        session=session,
        argv=command.argv(resume_from),
        cwd=cwd,
        env=env,
        settings=settings,
        script=command.script,
        framework=adapter.name,
        gpus=gpus.indices,
        gpu_memory_limit_bytes=gpus.limit_bytes,
        gpu_memory_total_bytes=gpus.total_bytes,
        resume_from=resume_from,
        deadline=deadline,
        stop_by=stop_by,
    )
    prep = adapter.prepare(spec)
    env.update(prep.env)
    if prep.pythonpath:
        parts = [*prep.pythonpath, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        env["PYTHONPATH"] = os.pathsep.join(parts)
    return spec, prep
