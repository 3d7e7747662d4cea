"""The environment of every session, captured by the supervisor while the script runs
(docs/unmodified-scripts.md): no code in the script needed, and the script never waits for it.

A thread started right after launch waits ``START_DELAY_S`` (or until the session ends, if
that comes first), so that it does not compete with the script's own start-up. Then it takes:
the script's Python and installed distributions (read from the ``*.dist-info`` folder names on
its ``sys.path``; when the script runs in another interpreter than backprop's, that one is asked
for its version and path in a subprocess); the git commit, branch and dirty state of the
script's folder and, when dirty, a SHA-256 of ``git diff HEAD`` (never remote URLs); the host;
and the GPUs handed to the run with the driver, from the probe the supervisor already uses (plus
the CUDA version ``nvidia-smi`` reports, where it exists). Helper processes run at a lower
priority. The result goes to the event sink as an ``environment`` event, merged into the run's
``environment``. The session waits for it before its last write, so a script that ends first
still gets it.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backprop_core.admission.resources import Snapshot
from backprop_core.events.event import Event
from backprop_core.launch.spec import LaunchSpec
from backprop_core.sdk.environment import (
    GIT_STATUS,
    GIT_TIMEOUT_S,
    NVIDIA_SMI_TIMEOUT_S,
    installed_distributions,
    output_of,
    parse_git_status,
    start_quietly,
)
from backprop_core.store.process_identity import hostname
from backprop_core.units import MIB

START_DELAY_S = 1.0
HELPER_NICENESS = 10  # helper processes yield the CPU to the script
PYTHON_TIMEOUT_S = 10.0
SNAPSHOT_WAIT_S = 5.0
#: What the script's interpreter is asked (``-c``): as ``sdk.environment`` records it.
_ASK_PYTHON = (
    "import json, sys; print(json.dumps({'version': sys.version.split()[0],"
    " 'implementation': sys.implementation.name, 'executable': sys.executable,"
    " 'path': sys.path}))"
)
_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy"}
_PYTHON_NAME = re.compile(r"^python[0-9.]*$")
_CUDA = re.compile(r"CUDA Version:\s*([0-9.]+)")


def interpreter_of(spec: LaunchSpec) -> str:
    """The Python that runs the script: the command's own when it starts one (``python3
    train.py``), else the one backprop runs in."""
    program = spec.argv[0] if spec.argv else ""
    if spec.script is not None or _PYTHON_NAME.match(os.path.basename(program)):
        return program
    return sys.executable


def _is_this_python(interpreter: str) -> bool:
    """Whether the script runs in the interpreter backprop runs in (the usual case): then its
    answers are known without starting it. Compared as given, not resolved: a virtual
    environment's ``python`` is a link to another whose packages are not the same."""
    found = interpreter if os.sep in interpreter else shutil.which(interpreter)
    return found == sys.executable


def _this_python() -> dict[str, Any]:
    """What ``_ASK_PYTHON`` prints, for this interpreter (the script's own folder is added as
    ``sys.path[0]`` is for it)."""
    return {
        "version": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "path": ["", *sys.path[1:]],
    }


def script_folder(spec: LaunchSpec) -> Path:
    """Where the script lives (its git repository), else the run's working directory."""
    script = spec.script or next((Path(a) for a in spec.argv if a.lower().endswith(".py")), None)
    if script is None:
        return Path(spec.cwd)
    folder = (Path(spec.cwd) / script).parent
    return folder if folder.is_dir() else Path(spec.cwd)


class EnvironmentCapture(threading.Thread):
    """Captures the session's environment once and hands it to ``emit`` as an event.

    ``ignore(pid)`` is called for every helper process it starts, so that the supervisor never
    mistakes one for the run's; ``snapshot()`` returns the governor's latest reading.
    """

    def __init__(
        self,
        spec: LaunchSpec,
        emit: Callable[[list[Event]], None],
        ignore: Callable[[int], None],
        snapshot: Callable[[], Snapshot | None],
    ) -> None:
        super().__init__(name="backprop-environment", daemon=True)
        self.spec = spec
        self.emit = emit
        self.ignore = ignore
        self.snapshot = snapshot
        self.seconds: float | None = None
        self._ending = threading.Event()

    def run(self) -> None:
        self._ending.wait(START_DELAY_S)
        started = time.perf_counter()
        try:
            environment = self.collect()
        except Exception as exc:  # a capture problem never touches the run
            environment = {"capture_error": f"{type(exc).__name__}: {exc}"}
        self.seconds = time.perf_counter() - started
        payload = {"data": environment, "source": "backprop"}
        self.emit([Event("environment", time.time(), None, payload, self.spec.session)])

    def finish(self, timeout: float = 30.0) -> None:
        """Wait until the environment is handed over (each helper has its own timeout)."""
        self._ending.set()
        if self.is_alive():
            self.join(timeout)

    # the parts ---------------------------------------------------------------------------
    def _start(self, argv: list[str], cwd: Path) -> subprocess.Popen[str] | None:
        proc = start_quietly(argv, cwd)
        if proc is not None:
            self._helper(proc.pid)
        return proc

    def _helper(self, pid: int) -> None:
        self.ignore(pid)
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, HELPER_NICENESS)

    def collect(self) -> dict[str, Any]:
        folder = script_folder(self.spec)
        git = shutil.which("git")
        status = self._start([git, *GIT_STATUS[1:]], folder) if git else None
        interpreter = interpreter_of(self.spec)
        info = _this_python() if _is_this_python(interpreter) else None
        asked = None if info else self._start([interpreter, "-c", _ASK_PYTHON], folder)
        env: dict[str, Any] = {"python": None, "packages": {}}
        answer = output_of(asked, PYTHON_TIMEOUT_S) if asked else None
        if answer:
            info = json.loads(answer.strip().splitlines()[-1])
        if info:
            path = [os.path.join(folder, p) if not os.path.isabs(p) else p for p in info["path"]]
            env["python"] = {
                "version": info["version"],
                "implementation": _IMPLEMENTATIONS.get(
                    info["implementation"], info["implementation"]
                ),
                "executable": info["executable"],
            }
            env["packages"] = installed_distributions(path)
        git_out = output_of(status, GIT_TIMEOUT_S)
        repo = parse_git_status(git_out) if git_out is not None and git else None
        if repo is not None and git:
            repo["diff_sha256"] = self._diff_hash(git, folder) if repo["dirty"] else None
        env["git"] = repo
        env.update(host_facts())
        env.update(self._gpus())
        return env

    def _diff_hash(self, git: str, folder: Path) -> str | None:
        """SHA-256 of ``git diff HEAD`` (tracked changes, as bytes): tells two dirty trees
        apart without storing the diff. ``None`` if git fails or takes too long."""
        import hashlib  # only here: OpenSSL is slow to load and most runs are clean

        argv = [git, "diff", "HEAD", "--no-ext-diff", "--no-color", "--binary"]
        try:
            proc = subprocess.Popen(
                argv,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
            )
        except OSError:
            return None
        self._helper(proc.pid)
        stdout = proc.stdout
        assert stdout is not None  # a pipe
        digest = hashlib.sha256()
        deadline = time.monotonic() + GIT_TIMEOUT_S
        with stdout:
            while block := stdout.read(1 << 16):
                digest.update(block)
                if time.monotonic() > deadline:
                    proc.kill()
                    break
        ok = proc.wait() == 0 and time.monotonic() <= deadline
        return digest.hexdigest() if ok else None

    def _gpus(self) -> dict[str, Any]:
        """The run's GPUs as the supervisor's probe sees them, the driver and CUDA versions."""
        if not self.spec.gpus:
            return {"gpus": []}
        deadline = time.monotonic() + SNAPSHOT_WAIT_S
        snapshot = self.snapshot()
        while snapshot is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the governor takes its first reading as the session starts
            snapshot = self.snapshot()
        out: dict[str, Any] = {"gpus": []}
        if snapshot is None:
            return out
        for index in self.spec.gpus:
            gpu = snapshot.gpu(index)
            if gpu is not None:
                total = gpu.memory_total_bytes
                out["gpus"].append(
                    {
                        "index": gpu.index,
                        "name": gpu.name,
                        "uuid": gpu.uuid,
                        "memory_total_mb": None if total is None else round(total / MIB),
                    }
                )
        out["driver_version"] = snapshot.driver_version
        smi = shutil.which("nvidia-smi")
        if smi:
            text = output_of(self._start([smi], Path(self.spec.cwd)), NVIDIA_SMI_TIMEOUT_S)
            found = _CUDA.search(text or "")
            out["cuda_version"] = found.group(1) if found else None
        return out


def host_facts() -> dict[str, Any]:
    try:
        user: str | None = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {"hostname": hostname(), "platform": sys.platform, "user": user}
