"""Copying checkpoint files for ``pull --with-checkpoints``: with rsync when both machines have
it (through the same SSH connection, partial files kept aside and resumed), else through the
SSH connection itself (``remote-helper send-files``). Either way a file appears under its final
name only once it is complete, with the host's modification time, so the next pull skips it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from backprop_core.errors import RemoteError
from backprop_core.remote.commands import StderrRelay, end
from backprop_core.remote.pull_apply import FileNeed
from backprop_core.remote.ssh import SshConnection

BLOCK = 1 << 20
PARTIAL_DIR = ".pull-partial"


def _same(path: Path, size: int | None, mtime: float | None) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_size == size and mtime is not None and abs(st.st_mtime - mtime) < 1.0


def wanted(needs: list[FileNeed]) -> list[FileNeed]:
    """The files not here yet (or changed); folders are always looked into."""
    return [n for n in needs if n.is_dir or not _same(n.local_path, n.size, n.mtime)]


# rsync ------------------------------------------------------------------------------------------
def _rsync(conn: SshConnection, source_root: str, dest_root: Path, relative: list[str]) -> None:
    dest_root.mkdir(parents=True, exist_ok=True)
    argv = [
        "rsync",
        "--archive",
        "--recursive",
        "--secluded-args" if _rsync_knows_secluded() else "--protect-args",
        f"--partial-dir={PARTIAL_DIR}",
        "--files-from=-",
        "--from0",
        "-e",
        conn.shell_for_rsync(),
        f"{conn.host}:{source_root.rstrip('/')}/",
        f"{dest_root}/",
    ]
    done = subprocess.run(
        argv, input=b"\0".join(r.encode() for r in relative), capture_output=True, check=False
    )
    if done.returncode not in (0, 24):  # 24: some files vanished there meanwhile
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise RemoteError(
            f"rsync from {conn.host} failed ({detail[-1] if detail else done.returncode})",
            hint="run the pull again; copied files are kept",
        )


def _rsync_knows_secluded() -> bool:
    try:
        out = subprocess.run(["rsync", "--help"], capture_output=True, text=True, check=False)
    except OSError:
        return False
    return "--secluded-args" in out.stdout


def copy_with_rsync(
    conn: SshConnection, needs: list[FileNeed], remote_home: str, local_runs: Path
) -> None:
    """One rsync for everything inside the host's run folders (kept at the same place under
    ``local_runs``), one per run for files elsewhere (under its ``remote-files``)."""
    inside: list[str] = []
    outside: dict[Path, list[str]] = {}
    runs_there = PurePosixPath(remote_home) / "runs"
    for need in needs:
        origin = PurePosixPath(need.origin_path)
        try:
            inside.append(str(origin.relative_to(runs_there)))
        except ValueError:
            root = local_runs / need.run_id / "remote-files"
            outside.setdefault(root, []).append(str(origin.relative_to(origin.anchor)))
    if inside:
        _rsync(conn, str(runs_there), local_runs, inside)
    for root, relative in outside.items():
        _rsync(conn, "/", root, relative)


# through ssh -------------------------------------------------------------------------------------
def _walk(root: str) -> Iterator[tuple[str, os.stat_result]]:
    try:
        st = os.stat(root)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode):
        yield root, st
        return
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                st = os.stat(path)
                if stat.S_ISREG(st.st_mode):
                    yield path, st


def send_files(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The host's side: list the files under the asked roots, then send the wanted ones, each
    as a JSON header line, its bytes, and a JSON trailer line saying whether all came."""
    roots = json.loads(stdin.readline())["roots"]
    listing = [(path, st.st_size, st.st_mtime) for root in roots for path, st in _walk(root)]
    stdout.write(json.dumps({"files": listing}).encode() + b"\n")
    stdout.flush()
    want = set(json.loads(stdin.readline())["want"])
    for path, size, _ in listing:
        if path not in want:
            continue
        stdout.write(json.dumps({"path": path, "size": size}).encode() + b"\n")
        left, ok = size, True
        try:
            with open(path, "rb") as fh:
                while left > 0:
                    block = fh.read(min(BLOCK, left))
                    if not block:
                        break
                    stdout.write(block)
                    left -= len(block)
        except OSError:
            pass
        if left > 0:  # shrank or vanished while being sent: pad, and say so
            ok = False
            while left > 0:
                pad = min(BLOCK, left)
                stdout.write(b"\0" * pad)
                left -= pad
        stdout.write(json.dumps({"ok": ok}).encode() + b"\n")
    stdout.flush()


def _receive(stream: IO[bytes], header: dict[str, Any], target: Path) -> bool:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.pull-partial"
    left = int(header["size"])
    with open(partial, "wb") as fh:
        while left > 0:
            block = stream.read(min(BLOCK, left))
            if not block:
                raise EOFError
            fh.write(block)
            left -= len(block)
    trailer = json.loads(stream.readline())
    if not trailer.get("ok"):
        partial.unlink()
        return False
    os.replace(partial, target)
    return True


def copy_over_ssh(conn: SshConnection, needs: list[FileNeed]) -> int:
    """Copy ``needs`` through the SSH connection; how many bytes came."""
    by_origin = {n.origin_path: n for n in needs}
    proc = conn.popen(["remote-helper", "send-files"], stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    relay = StderrRelay(conn.host)
    relay.drain(proc.stderr)
    copied = 0
    try:
        proc.stdin.write(json.dumps({"roots": list(by_origin)}).encode() + b"\n")
        proc.stdin.flush()
        listing = json.loads(proc.stdout.readline() or b'{"files": []}')["files"]
        targets: dict[str, tuple[Path, float]] = {}
        for path, size, mtime in listing:
            need = _owner(by_origin, path)
            if need is None:
                continue
            target = _target(need, path)
            if not _same(target, size, mtime):
                targets[path] = (target, mtime)
        proc.stdin.write(json.dumps({"want": list(targets)}).encode() + b"\n")
        proc.stdin.flush()
        for _ in targets:
            header = json.loads(proc.stdout.readline())
            target, mtime = targets[header["path"]]
            if _receive(proc.stdout, header, target):
                os.utime(target, (mtime, mtime))
                copied += int(header["size"])
    except (EOFError, ValueError, BrokenPipeError) as exc:
        end(proc)
        conn.raise_for_launch(proc.returncode, relay.text)
        raise RemoteError(
            f"copying checkpoints from {conn.host} stopped ({exc or 'connection closed'})",
            hint="run the pull again; copied files are kept",
        ) from exc
    end(proc)
    return copied


def _owner(by_origin: dict[str, FileNeed], path: str) -> FileNeed | None:
    if path in by_origin:
        return by_origin[path]
    for parent in PurePosixPath(path).parents:
        if str(parent) in by_origin:
            return by_origin[str(parent)]
    return None


def _target(need: FileNeed, path: str) -> Path:
    if path == need.origin_path:
        return need.local_path
    return need.local_path / PurePosixPath(path).relative_to(need.origin_path)


def copy_files(
    conn: SshConnection,
    needs: list[FileNeed],
    remote_home: str,
    local_runs: Path,
    *,
    rsync_there: bool,
) -> tuple[int, int]:
    """Copy what is missing here; (files or folders looked at, bytes copied through ssh)."""
    todo = wanted(needs)
    if not todo:
        return 0, 0
    if rsync_there and shutil.which("rsync"):
        copy_with_rsync(conn, todo, remote_home, local_runs)
        return len(todo), 0
    return len(todo), copy_over_ssh(conn, todo)
