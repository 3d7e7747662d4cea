"""Starting the training process and keeping hold of its whole process tree.

The child gets its own session (so its process group is its pid and terminal Ctrl-C reaches
only the supervisor), stdin closed and ``PR_SET_PDEATHSIG`` = SIGKILL, so it dies if the
supervisor dies. The death signal is set in a ``preexec_fn``: the supervisor calls ``launch``
from its main thread before it starts any thread of its own, which is the situation in which
``preexec_fn`` is safe, and the function only calls a ``prctl`` already resolved through ctypes
before the fork (no imports, no allocation-heavy work in the child). The alternative, a
``python -c`` shim that sets the flag and then execs, would cost a second interpreter start-up
on every launch. The death signal is tied to the thread that forked, which is why the main
thread (alive for the whole session) launches.

The supervisor also makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``): descendants
that call ``setsid`` and lose their parent are re-parented to the supervisor instead of init, so
``psutil.Process().children(recursive=True)`` always sees the whole tree. Where the machine
offers one, the child also enters a cgroup of its own in the same ``preexec_fn`` (see
``cgroup``), and killing the tree kills that cgroup as well.

psutil is imported by ``ProcessTree``, after the launch: importing it takes longer than a small
script's whole start-up on a slow machine, and until the child runs nothing needs it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from backprop_core.errors import LaunchError
from backprop_core.supervisor.cgroup import RunCgroup

if TYPE_CHECKING:
    import psutil

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_prctl: Callable[..., int] | None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux only)."""
    if _prctl is None:
        return False
    return _prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _child_preexec(parent_pid: int, cgroup_fd: int | None) -> Callable[[], None] | None:
    prctl = _prctl
    if prctl is None and cgroup_fd is None:
        return None

    def preexec() -> None:
        if cgroup_fd is not None:
            try:
                os.write(cgroup_fd, b"0")  # "0": the writing process joins the cgroup
            except OSError:
                pass  # the guardian's tracking still covers the tree
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent_pid:  # the supervisor died between fork and prctl
                os._exit(1)

    return preexec


def launch(
    argv: list[str],
    cwd: str,
    env: dict[str, str],
    pass_fds: Iterable[int] = (),
    cgroup: RunCgroup | None = None,
) -> subprocess.Popen[bytes]:
    """Start the child in its own session (and ``cgroup``) with stdout/stderr piped.
    ``LaunchError`` if it cannot."""
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
            preexec_fn=_child_preexec(os.getpid(), cgroup.join_fd if cgroup else None),
            bufsize=0,
        )
    except FileNotFoundError as exc:
        raise LaunchError(
            f"cannot start {argv[0]!r}: not found", hint="check the command or --python"
        ) from exc
    except PermissionError as exc:
        raise LaunchError(f"cannot start {argv[0]!r}: permission denied") from exc
    except OSError as exc:
        raise LaunchError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc


class ProcessTree:
    """The child, its process group, and every descendant seen so far (even after ``setsid``).

    Processes are remembered as ``psutil.Process`` objects, whose liveness checks compare the
    start time, so a reused pid is never signalled by mistake.
    """

    def __init__(
        self, root_pid: int, exclude: Iterable[int] = (), cgroup: RunCgroup | None = None
    ) -> None:
        import psutil

        self.root_pid = root_pid
        self.cgroup = cgroup
        self.pgid = root_pid
        self.exclude = set(exclude)
        self.known: dict[int, psutil.Process] = {}
        with contextlib.suppress(psutil.Error):
            self.known[root_pid] = psutil.Process(root_pid)
        self._me = psutil.Process()

    def ignore(self, pid: int) -> None:
        """Never count ``pid`` as the run's: a helper the supervisor itself started (safe from
        any thread)."""
        self.exclude.add(pid)
        self.known.pop(pid, None)

    def refresh(self) -> None:
        """Remember every current descendant of the supervisor (they are all the run's)."""
        import psutil

        try:
            children = self._me.children(recursive=True)
        except psutil.Error:
            return
        for proc in children:
            if proc.pid not in self.exclude and proc.pid not in self.known:
                self.known[proc.pid] = proc

    def alive(self, include_root: bool = True) -> list[psutil.Process]:
        import psutil

        out = []
        for pid, proc in list(self.known.items()):
            if (not include_root and pid == self.root_pid) or pid in self.exclude:
                continue
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(proc)
            except psutil.Error:
                continue
        return out

    def signal(self, sig: int, include_root: bool = True) -> None:
        """Send ``sig`` to the process group and to every known descendant outside it."""
        import psutil

        if include_root:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)
        for proc in self.alive(include_root=include_root):
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)

    def kill_all(self) -> None:
        """SIGKILL the group, every descendant and the cgroup, then reap the ones re-parented
        to us."""
        self.refresh()
        if self.cgroup is not None:
            self.cgroup.kill()
        self.signal(signal.SIGKILL)
        self.reap()

    def release(self) -> None:
        """The session is over: empty and remove its cgroup, if it has one."""
        if self.cgroup is not None:
            self.refresh()  # reap() waits only for the processes it knows
            self.cgroup.remove()
            self.reap()

    def reap(self) -> None:
        """Collect exit statuses of orphans re-parented to the supervisor (not the root's).

        Only processes ``refresh`` has seen are tried (``waitpid`` on one that is not our child
        fails at once): listing the children would read every process on the machine again.
        """
        for pid in list(self.known):
            if pid == self.root_pid or pid in self.exclude:
                continue
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
