"""The scripts, submissions and readers the Slurm tests share: what each scenario's job runs,
and how a test sees its run (as stored, as ``show`` reconciles it, once it has ended)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import Any

import psutil

from backprop_core.settings.model import Settings
from backprop_core.store.opening import open_store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from tests.conftest import wait_for

from .conftest import SlurmBp

#: Counts steps from its checkpoint; on SIGTERM saves one and leaves (a well-behaved script).
#: In the session named by FINISH_IN_SESSION it finishes instead and reports done.
TRAIN = """
import json, os, signal, time
resume = os.environ.get("BACKPROP_RESUME_FROM")
step = int(open(resume).read()) if resume else 0
finish_in = os.environ.get("FINISH_IN_SESSION")
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
def save():
    path = os.path.join(os.environ["BACKPROP_CHECKPOINT_DIR"], "step-%d" % step)
    with open(path, "w") as fh:
        fh.write(str(step))
    print(json.dumps({"event": "checkpoint_saved", "path": path, "step": step}), flush=True)
while True:
    step += 1
    print(json.dumps({"step": step, "loss": 1.0 / step}), flush=True)
    if finish_in == os.environ["BACKPROP_SESSION"] and step % 5 == 0:
        save()
        print(json.dumps({"event": "done"}), flush=True)
        raise SystemExit(0)
    if stop:
        save()
        raise SystemExit(0)
    time.sleep(0.1)
"""

#: ``TRAIN``, after leaving behind a process that escapes it (double fork, ``setsid``, ignores
#: SIGTERM), whose pid it writes to ``$ESCAPED.<session>``: what Slurm's ``proctrack/pgid``
#: cannot find, and backprop must end.
ESCAPING = (
    """
import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        path = os.environ["ESCAPED"] + "." + os.environ["BACKPROP_SESSION"]
        with open(path + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.rename(path + ".tmp", path)
        while True:
            time.sleep(1)
    os._exit(0)
os.wait()
"""
    + TRAIN
)

#: Ignores SIGTERM: only the SIGKILL after the grace period ends it.
STUBBORN = """
import json, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
step = 0
while True:
    step += 1
    print(json.dumps({"step": step}), flush=True)
    time.sleep(0.1)
"""

#: Logs the same step in every session and saves no checkpoint: it never moves on.
STUCK = """
import json, os, signal, time
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
print(json.dumps({"step": 7, "loss": 1.0}), flush=True)
while True:
    time.sleep(0.1)
"""

LATER = "--slurm=--begin=now+1hour"  # a job that stays pending
NO_TIMEBOX = ("-m", "10")  # far from any time limit while the test acts on the job


@dataclass
class Submitted:
    name: str
    result: subprocess.CompletedProcess[str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    bp: SlurmBp | None = None  # the home it was submitted to
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def job_id(self) -> str:
        assert self.result is not None
        assert self.result.returncode == 0, self.result.stderr
        found = re.search(r"submitted as Slurm job (\d+)", self.result.stderr)
        assert found, self.result.stderr
        return found.group(1)


def submit(sbp: SlurmBp, name: str, *args: str, **env: str) -> Submitted:
    result = sbp.run("run", "--launcher", "slurm", "-n", name, *args, env=env, timeout=120)
    return Submitted(name, result, bp=sbp)


def example_gpu(index: int) -> dict[str, Any]:
    return {
        "index": index,
        "uuid": f"GPU-{index}",
        "name": "Example",
        "memory_total_mib": 81920,
        "memory_used_mib": 0,
        "memory_free_mib": 81920,
        "temperature_c": 40,
    }


def records(sbp: SlurmBp, name: str) -> tuple[RunRecord, list[SessionRecord]]:
    """The run and its sessions as stored, read without reconciling anything."""
    with open_store(Settings.from_config({}, home=sbp.home), reconcile=False) as store:
        run = store.resolve(name)
        return run, store.sessions(run.id)


def shown(sbp: SlurmBp, name: str, *wrap: str, **env: str) -> dict[str, Any]:
    """``backprop show NAME --json``, which reconciles the run with Slurm first."""
    result = subprocess.run(
        [*wrap, *sbp.argv("show", name, "--json")],
        cwd=sbp.work,
        env={**sbp.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    view: dict[str, Any] = json.loads(result.stdout)
    return view


def ended(sbp: SlurmBp, name: str, timeout: float = 240) -> dict[str, Any]:
    view = wait_for(
        lambda: (v := shown(sbp, name))["status"] not in ("queued", "running", "paused") and v,
        timeout=timeout,
        what=f"run {name} to end",
    )
    return dict(view)


def running(sbp: SlurmBp, name: str, steps: int = 5) -> SessionRecord:
    """The run's session once its supervisor runs it and it has logged ``steps`` steps."""

    def ready() -> SessionRecord | None:
        run, sessions = records(sbp, name)
        live = sessions and sessions[-1].status is RunStatus.RUNNING
        return sessions[-1] if live and (run.last_step or 0) >= steps else None

    session: SessionRecord = wait_for(ready, timeout=240, what=f"run {name} to be running")
    return session


def gone(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def escaped(sbp: SlurmBp, name: str, session: int) -> int:
    """The pid of the process ``ESCAPING`` left behind in run ``name``'s session."""
    path = sbp.work / f"escaped-{name}.{session}"
    wait_for(path.exists, timeout=240, what=f"the escaped process of {name} session {session}")
    return int(path.read_text())


def listed_on_terminal(sbp: SlurmBp) -> str:
    """``backprop list`` as a terminal shows it (where each active run's job is)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        sbp.argv("list"), cwd=sbp.work, env={**sbp.env, "COLUMNS": "300"}, stdout=slave
    )
    os.close(slave)
    seen = b""
    while chunk := _read(master):
        seen += chunk
    assert proc.wait(120) == 0
    os.close(master)
    return seen.decode()


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal closed: the command is gone
        return b""
