"""Remote benchmark: ``ui --ssh``, ``--remote list`` and ``pull`` through a real sshd.

    python benchmarks/bench_remote.py [--runs 1000] [--steps 250] [--keys 4] [--repeat 5]

Starts Debian's sshd on a loopback port (the test suite's ``tests/sshd.py``) with a second
backprop home as the other machine, and measures, each a median of ``--repeat``:

- ``ui --ssh`` ready: from starting ``backprop ui --ssh HOST --no-open`` to the URL printed
  (printed once the viewer answers ``/api/health`` through the tunnel); beside it, what users do
  by hand today: ``ssh -L`` plus ``backprop ui`` started there, to the first answer through it;
- ``--remote list`` against ``list`` run on that home directly (``--limit 50``);
- ``pull``: a first pull of ``--runs`` runs holding ``--runs`` x ``--steps`` x ``--keys`` metric
  points (1,000,000 by default) into an empty home, and a no-change pull of the same; beside
  them ``rsync -a`` of the whole home (copying the files by hand, which merges nothing).

Reference lines: ``python -c pass`` and ``ssh HOST true`` through an open master connection
(what one step over SSH costs on this machine: the login shell's start-up is part of it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import backprop, cpu_model

from backprop_core.events.event import Event
from backprop_core.settings.model import Settings
from backprop_core.store.opening import open_store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests/sshd.py
from tests.sshd import Sshd, missing_tools, start_sshd

os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # users have byte-code caches


def median(fn: Callable[[], float], repeat: int) -> tuple[float, float]:
    times = [fn() for _ in range(repeat)]
    return statistics.median(times), max(times)


def fill(home: Path, runs: int, steps: int, keys: int) -> int:
    """``runs`` finished runs, each with one session, ``steps`` metrics events of ``keys``
    values, a checkpoint event and a 2 KB log. Returns the number of points."""
    store = open_store(Settings.from_config({}, home=home), reconcile=False)
    names = [f"metric_{k}" for k in range(keys)]
    t0 = time.time() - runs * 60
    with store:
        for i in range(runs):
            created = t0 + i * 60
            run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(created))}-b{i:03d}"
            store.create_run(
                RunRecord(
                    id=run_id,
                    status=RunStatus.COMPLETED,
                    created_at=created,
                    started_at=created,
                    ended_at=created + 50,
                    name=f"sweep-{i}",
                    tags={"lr": str(i % 7)},
                    script="train.py",
                    cwd="/work",
                )
            )
            store.add_session(
                SessionRecord(run_id, 1, RunStatus.COMPLETED, created, created + 50, host="gpu")
            )
            events = [
                Event("metrics", created + s * 0.1, s, {"data": {n: 1.0 / (s + 1) for n in names}})
                for s in range(steps)
            ]
            events.append(Event("checkpoint_saved", created + 50, steps, {"path": "ckpt.pt"}))
            store.append_events(run_id, events)
            store.update_run(run_id, active_seconds=50.0)
            folder = home / "runs" / run_id
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "session-1.log").write_text(f"epoch {i}: training…\n" * 90)
    return runs * steps * keys


class Bench:
    def __init__(self, sshd: Sshd, base: Path) -> None:
        self.sshd = sshd
        self.remote_home = base / "remote"
        self.remote_env = {"BACKPROP_HOME": str(self.remote_home), "BACKPROP_GPU__PROBE": "none"}
        assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in self.remote_env.items())
        self.remote_command = (
            f"env {assignments} {shlex.quote(sys.executable)} -m backprop_core.cli"
        )
        self.env = dict(
            os.environ,
            BACKPROP_SSH_COMMAND=sshd.ssh_command(),
            BACKPROP_REMOTE__COMMAND=self.remote_command,
            BACKPROP_GPU__PROBE="none",
        )
        self.base = base

    def run(self, *args: str, home: Path | None = None, remote_env: bool = False) -> float:
        env = dict(self.env, **(self.remote_env if remote_env else {}))
        if home is not None:
            env["BACKPROP_HOME"] = str(home)
        started = time.perf_counter()
        self.last = subprocess.run(backprop(*args), env=env, check=True, capture_output=True)
        return time.perf_counter() - started

    def pull(self, home: Path) -> tuple[float, float, float]:
        """(wall seconds, CPU seconds here, CPU seconds there) of one ``pull``."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = self.run("pull", self.sshd.host, "--json", home=home)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        here = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        report = json.loads(self.last.stdout.decode().splitlines()[-1])
        return wall, here, float(report["remote_cpu_seconds"])

    def ssh_true(self) -> float:
        ssh = shlex.split(self.sshd.ssh_command())
        folder = tempfile.mkdtemp(prefix="bp-bench-")
        control = ["-o", f"ControlPath={folder}/m"]
        subprocess.run(
            [*ssh, *control, "-oControlMaster=yes", "-oControlPersist=30", "-fN", self.sshd.host],
            check=True,
        )
        started = time.perf_counter()
        subprocess.run([*ssh, *control, self.sshd.host, "true"], check=True)
        took = time.perf_counter() - started
        subprocess.run([*ssh, *control, "-O", "exit", self.sshd.host], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
        return took

    def ui_ssh(self) -> float:
        started = time.perf_counter()
        proc = subprocess.Popen(
            backprop("ui", "--ssh", self.sshd.host, "--no-open"),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        took = time.perf_counter() - started
        assert "http://127.0.0.1:" in line, line + proc.stderr.read().decode()  # type: ignore[union-attr]
        proc.send_signal(2)
        proc.wait(timeout=60)
        return took

    def ui_by_hand(self) -> float:
        import httpx

        port = free_port()
        remote_port = free_port()
        started = time.perf_counter()
        proc = subprocess.Popen(
            [
                *shlex.split(self.sshd.ssh_command()),
                "-tt",  # a terminal there: the viewer gets SIGHUP when this ssh ends
                "-L",
                f"127.0.0.1:{port}:127.0.0.1:{remote_port}",
                self.sshd.host,
                f"{self.remote_command} ui --port {remote_port} --no-open",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.PIPE,
        )
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.02)
        took = time.perf_counter() - started
        proc.terminate()
        proc.wait()
        return took

    def rsync_home(self, target: Path) -> float:
        ssh = self.sshd.ssh_command()
        started = time.perf_counter()
        subprocess.run(
            ["rsync", "-a", "-e", ssh, f"{self.sshd.host}:{self.remote_home}/", f"{target}/"],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    why = missing_tools()
    if why:
        sys.exit(f"bench_remote: {why}")
    print(f"# {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("# load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="bp-bench-remote-") as tmp:
        base = Path(tmp)
        sshd = start_sshd(base / "sshd")
        try:
            bench = Bench(sshd, base)
            t = time.perf_counter()
            points = fill(bench.remote_home, args.runs, args.steps, args.keys)
            print(
                f"# filled {args.runs} runs, {points:,} points in {time.perf_counter() - t:.0f} s"
            )
            rows = measure(bench, args.repeat, points, args.runs)
        finally:
            sshd.stop()
    print()
    print("| measurement | median | max | n | goal |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def measure(bench: Bench, repeat: int, points: int, runs: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []

    def ms(label: str, values: tuple[float, float], goal: str = "", n: int = repeat) -> None:
        rows.append(
            (label, f"{values[0] * 1000:.0f} ms", f"{values[1] * 1000:.0f} ms", str(n), goal)
        )

    ms("reference: `python -c pass`", median(lambda: timed([sys.executable, "-c", "pass"]), repeat))
    ms("reference: `ssh HOST true` through an open master", median(bench.ssh_true, repeat))
    ms("`backprop ui --ssh HOST` ready (URL printed)", median(bench.ui_ssh, repeat), "≤ 2 s")
    ms("peer: `ssh -L` + `backprop ui` there, first answer", median(bench.ui_by_hand, repeat))
    local = median(lambda: bench.run("list", "--limit", "50", remote_env=True), repeat)
    remote = median(lambda: bench.run("--remote", bench.sshd.host, "list", "--limit", "50"), repeat)
    ms("`backprop list --limit 50` on that home", local)
    ms("`backprop --remote HOST list --limit 50`", remote)
    rows.append(("ratio --remote list / list", f"{remote[0] / local[0]:.1f}x", "", "", ""))
    firsts = [bench.pull(bench.base / f"local-{i}") for i in range(max(1, repeat // 2))]
    first = statistics.median(f[0] for f in firsts), max(f[0] for f in firsts)
    ms(f"first `pull`: {runs:,} runs, {points:,} points", first, "", len(firsts))
    rows.append(
        ("first `pull`: points/s", f"{points / first[0]:,.0f}", "", "", "≥ 200,000 points/s")
    )
    cpu_here = statistics.median(f[1] for f in firsts)
    cpu_there = statistics.median(f[2] for f in firsts)
    rows.append(
        ("first `pull`: CPU here / there", f"{cpu_here:.1f} s / {cpu_there:.1f} s", "", "", "")
    )
    rows.append(
        (
            "first `pull`: points per CPU second, busier side",
            f"{points / max(cpu_here, cpu_there):,.0f}",
            "",
            "",
            "",
        )
    )
    home = bench.base / "local-0"
    again = [bench.pull(home) for _ in range(repeat)]
    ms(
        f"no-change `pull` ({runs:,} runs)",
        (statistics.median(a[0] for a in again), max(a[0] for a in again)),
        "≤ 1 s",
    )
    rows.append(
        (
            "no-change `pull`: CPU here / there",
            f"{statistics.median(a[1] for a in again):.2f} s / "
            f"{statistics.median(a[2] for a in again):.2f} s",
            "",
            "",
            "",
        )
    )
    if shutil.which("rsync"):
        copy = bench.base / "rsync-copy"
        ms("peer: first `rsync -a` of the whole home", (bench.rsync_home(copy),) * 2, "", 1)
        ms(
            "peer: no-change `rsync -a` of the whole home",
            median(lambda: bench.rsync_home(copy), repeat),
        )
    return rows


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
