"""A one-node Slurm cluster on loopback, started without systemd for the tests (and the
benchmark): ``munged``, ``slurmctld -D -i`` and ``slurmd -D`` with a generated ``slurm.conf``
under a temporary folder, stopped by pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
#: CPUs the node announces (SlurmdParameters=config_overrides lets it claim more than it has),
#: so that every test's job runs at once.
NODE_CPUS = 32


class ClusterUnavailable(Exception):
    """Slurm or munge is missing, or the cluster did not come up; the message says why."""


def missing_programs() -> list[str]:
    found = {name: shutil.which(name) or _sbin(name) for name in DAEMONS}
    return [name for name, path in found.items() if path is None]


def _sbin(name: str) -> str | None:
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        path = Path(folder) / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def _program(name: str) -> str:
    path = shutil.which(name) or _sbin(name)
    if path is None:
        raise ClusterUnavailable(f"{name} is not installed (Debian: slurm-wlm, munge)")
    return path


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class SlurmCluster:
    """A cluster rooted at ``root``; ``env`` is what a client (sbatch, backprop) needs."""

    root: Path
    name: str = "backproptest"
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 60) -> SlurmCluster:
        if os.geteuid() != 0:
            raise ClusterUnavailable("starting slurmd needs root")
        missing = missing_programs()
        if missing:
            raise ClusterUnavailable(
                f"not installed: {', '.join(missing)} (Debian: slurm-wlm, munge)"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        try:
            self._start_munge()
            self._write_conf()
            self._spawn("slurmctld", [_program("slurmctld"), "-D", "-i", "-f", str(self.conf)])
            self._spawn("slurmd", [_program("slurmd"), "-D", "-f", str(self.conf), "-N", self.node])
            self._wait_idle(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_munge(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(mode=0o700, exist_ok=True)
        key = munge / "munge.key"
        subprocess.run(
            [_program("mungekey"), "--create", "--force", "--keyfile", str(key)],
            check=True,
            capture_output=True,
        )
        os.chmod(key, 0o400)
        self.munge_socket = munge / "munge.sock"
        self._spawn(
            "munged",
            [
                _program("munged"),
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
        )
        deadline = time.monotonic() + 20
        while not self.munge_socket.exists():
            self._check_alive("munged")
            if time.monotonic() > deadline:
                raise ClusterUnavailable("munged did not create its socket in 20 s")
            time.sleep(0.05)

    def _write_conf(self) -> None:
        ctld_port, slurmd_port = _free_ports(2)
        for folder in ("state", "spool", "log"):
            (self.root / folder).mkdir(exist_ok=True)
        lines = {
            "ClusterName": self.name,
            "SlurmctldHost": f"{self.node}(127.0.0.1)",
            "SlurmctldPort": ctld_port,
            "SlurmdPort": slurmd_port,
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket},cred_expire=10",
            "StateSaveLocation": self.root / "state",
            "SlurmdSpoolDir": self.root / "spool",
            "SlurmctldPidFile": self.root / "slurmctld.pid",
            "SlurmdPidFile": self.root / "slurmd.pid",
            "SlurmctldLogFile": self.root / "log" / "slurmctld.log",
            "SlurmdLogFile": self.root / "log" / "slurmd.log",
            "ProctrackType": "proctrack/pgid",
            "TaskPlugin": "task/none",
            "SchedulerType": "sched/backfill",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core",
            "AccountingStorageType": "accounting_storage/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "JobCompType": "jobcomp/filetxt",
            "JobCompLoc": self.root / "log" / "jobcomp.txt",
            "KillWait": 5,
            "ReturnToService": 2,
            "SlurmdParameters": "config_overrides",
            "MpiDefault": "none",
            "PlugStackConfig": self.root / "plugstack.conf",
        }
        text = "".join(f"{k}={v}\n" for k, v in lines.items())
        text += (
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory=1000 "
            "State=UNKNOWN\n"
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP\n"
        )
        (self.root / "plugstack.conf").write_text("")
        self.conf.write_text(text)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / f"{name}.out", "wb")  # noqa: SIM115 - the daemon keeps it
        env = {**os.environ, **self.env}
        self.procs[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()

    def _check_alive(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            out = (self.root / f"{name}.out").read_text(errors="replace")[-2000:]
            raise ClusterUnavailable(f"{name} exited with code {proc.returncode}: {out}")

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name in self.procs:
                self._check_alive(name)
            done = self.client("sinfo", "-h", "-N", "-o", "%T", check=False)
            last = (done.stdout + done.stderr).strip()
            if done.returncode == 0 and last.startswith("idle"):
                return
            time.sleep(0.1)
        raise ClusterUnavailable(f"the node did not become idle in {timeout:g} s: {last}")

    def client(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_program(argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            check=check,
            timeout=60,
        )

    def job_processes(self) -> list[int]:
        """Pids of every process that runs in one of this cluster's jobs (by its environment:
        Slurm sets ``SLURM_CLUSTER_NAME`` for a job and everything it starts inherits it)."""
        import psutil

        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if proc.environ().get("SLURM_CLUSTER_NAME") == self.name:
                    found.append(proc.pid)
        return found

    def _end_jobs(self, timeout: float = 30) -> None:
        """Cancel every job still there and wait for its processes; kill what remains. Jobs
        outlive slurmd, so they must be gone before it stops."""
        if "slurmctld" not in self.procs:
            return
        with contextlib.suppress(OSError, subprocess.SubprocessError, ClusterUnavailable):
            self.client("scancel", f"--user={os.getuid()}", check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.job_processes():
            time.sleep(0.2)
        for pid in self.job_processes():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """Cancel the jobs left, then stop every daemon this cluster started, by pid."""
        self._end_jobs()
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
