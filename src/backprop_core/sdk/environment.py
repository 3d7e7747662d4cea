"""What ``init`` records about where a run ran: Python, packages, git state, command, host, GPUs.

Kept cheap because ``init`` sits on a training script's start-up path: the subprocesses (git,
nvidia-smi) are started in ``init`` without waiting and collected later on the writer thread;
installed packages are read from the names of ``*.dist-info`` folders instead of parsing every
``METADATA`` file. Remote URLs are never recorded, so credentials embedded in them cannot leak.
The supervisor captures every run's environment with the same pieces
(``backprop_core.supervisor.capture``); under ``backprop run`` the SDK leaves it to it.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from backprop_core.store.process_identity import hostname

GIT_TIMEOUT_S = 2.0
GIT_STATUS = ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"]
_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy"}
NVIDIA_SMI_TIMEOUT_S = 2.0


def script_dir() -> Path:
    """The folder of the running script (``sys.argv[0]``), else the working directory."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and argv0 not in ("-c", "-m") and os.path.exists(argv0):
        return Path(os.path.abspath(argv0)).parent
    return Path.cwd()


def start_quietly(argv: list[str], cwd: Path) -> subprocess.Popen[str] | None:
    """``argv`` started with its output piped and nothing to read or prompt; ``None`` when it
    cannot start."""
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            # A git that would prompt for anything must fail instead of waiting.
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
        )
    except OSError:
        return None


def output_of(proc: subprocess.Popen[str] | None, timeout: float) -> str | None:
    """What ``proc`` printed, if it succeeded within ``timeout`` seconds (else it is killed)."""
    if proc is None:
        return None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    return out if proc.returncode == 0 else None


def parse_git_status(text: str) -> dict[str, Any]:
    """``git status --porcelain=v2 --branch`` → commit, branch and dirty state."""
    info: dict[str, Any] = {"commit": None, "branch": None, "dirty": False}
    for line in text.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2].strip()
            info["commit"] = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2].strip()
            info["branch"] = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            info["dirty"] = True
    return info


def installed_distributions(path: Iterable[str] | None = None) -> dict[str, str]:
    """``{distribution: version}`` from the ``*.dist-info`` folder names on ``path`` (default
    ``sys.path``: this interpreter's)."""
    from backprop_core.plugin.entry_index import metadata_folders

    found: dict[str, str] = {}
    for entry in sys.path if path is None else path:
        try:
            folders = metadata_folders(entry)
        except NotADirectoryError:
            continue
        for folder in folders:
            if not folder.name.endswith(".dist-info"):
                continue
            dist, sep, version = folder.name[: -len(".dist-info")].partition("-")
            key = dist.replace("_", "-").lower()
            if sep and key not in found:  # first on sys.path wins, as for imports
                found[key] = version
    return dict(sorted(found.items()))


class EnvironmentProbe:
    """Starts the slow parts of the capture now; ``collect()`` (any thread) finishes it."""

    def __init__(self) -> None:
        self.started_dir = script_dir()
        git = shutil.which("git")
        self._git = start_quietly([git, *GIT_STATUS[1:]], self.started_dir) if git else None
        smi = shutil.which("nvidia-smi")
        self._smi = start_quietly([smi, "-L"], self.started_dir) if smi else None
        self._basic = basic_environment()

    def collect(self) -> dict[str, Any]:
        env = dict(self._basic)
        git_out = output_of(self._git, GIT_TIMEOUT_S)
        env["git"] = parse_git_status(git_out) if git_out is not None else None
        smi_out = output_of(self._smi, NVIDIA_SMI_TIMEOUT_S)
        env["gpus"] = [line.strip() for line in (smi_out or "").splitlines() if line.strip()]
        env["packages"] = installed_distributions()
        return env


def basic_environment() -> dict[str, Any]:
    try:
        user: str | None = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {
        "python": {
            # What platform.python_version()/python_implementation() say, without importing
            # platform (~2 ms of start-up).
            "version": sys.version.split()[0],
            "implementation": _IMPLEMENTATIONS.get(
                sys.implementation.name, sys.implementation.name
            ),
            "executable": sys.executable,
        },
        "command": [sys.executable, *sys.argv],
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "hostname": hostname(),
        "user": user,
        "platform": sys.platform,
        "pid": os.getpid(),
    }
