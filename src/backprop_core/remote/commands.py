"""Running a backprop command on another machine and reading its JSON answer.

The other side answers in ``--json``; its warnings come through on stderr with the host named,
its error becomes ``RemoteCommandFailed`` with its exit code, and ssh's own failures become
``RemoteError`` (exit 2).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import IO, Any

from backprop_core.errors import RemoteCommandFailed, RemoteError
from backprop_core.remote.ssh import SshConnection, is_noise, useful_stderr

ERROR_PREFIX = "backprop: error: "
WARNING_PREFIX = "backprop: warning: "
#: Runs a command there until it ends or this side goes away (its stdin closes), so following
#: a log or watching the status never leaves a process behind on the other machine.
GUARD = ("remote-helper", "guard", "--")


class StderrRelay:
    """Reads the other side's stderr: warnings go on to ours with the host named, the error
    line is kept for the exception."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.lines: list[str] = []
        self.error: str | None = None

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        self.lines.append(line)
        if line.startswith(ERROR_PREFIX):
            self.error = line[len(ERROR_PREFIX) :]
        elif line.startswith(WARNING_PREFIX):
            print(f"{WARNING_PREFIX}on {self.host}: {line[len(WARNING_PREFIX) :]}", file=sys.stderr)
        elif not is_noise(line):
            print(line, file=sys.stderr)

    def drain(self, stream: IO[bytes]) -> threading.Thread:
        def run() -> None:
            for raw in stream:
                self.feed(raw.decode(errors="replace"))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def failure(self, returncode: int) -> RemoteCommandFailed:
        shown = useful_stderr(self.text)
        message = self.error or (shown[-1] if shown else f"exited with status {returncode}")
        return RemoteCommandFailed(f"on {self.host}: {message}", returncode)


class RemoteBackprop:
    """backprop on the host at the other end of ``conn``."""

    def __init__(self, conn: SshConnection) -> None:
        self.conn = conn

    @property
    def host(self) -> str:
        return self.conn.host

    def json(self, args: Sequence[str]) -> Any:
        """Run ``args`` (a command with ``--json``) there and parse what it printed."""
        done = self.conn.run(args)
        relay = StderrRelay(self.host)
        for line in done.stderr.decode(errors="replace").splitlines():
            relay.feed(line)
        if done.returncode != 0:
            raise relay.failure(done.returncode)
        try:
            return json.loads(done.stdout)
        except ValueError as exc:
            raise self.unexpected(done.stdout) from exc

    def json_lines(self, args: Sequence[str], *, guard: bool = True) -> Iterator[Any]:
        """Run ``args`` there and yield each JSON line it prints, as it prints it. With
        ``guard`` the command ends when this side stops reading (Ctrl-C, a closed generator)."""
        argv = [*GUARD, *args] if guard else list(args)
        proc = self.conn.popen(argv, stdin=subprocess.PIPE)
        relay = StderrRelay(self.host)
        assert proc.stdout is not None and proc.stderr is not None
        drained = relay.drain(proc.stderr)
        finished = False
        try:
            for raw in proc.stdout:
                if not raw.strip():
                    continue
                try:
                    item = json.loads(raw)
                except ValueError as exc:
                    raise self.unexpected(raw) from exc
                yield item
            finished = True
        finally:
            end(proc)
            drained.join(timeout=10)
        if finished and proc.returncode != 0:
            self.conn.raise_for_launch(proc.returncode, relay.text)
            raise relay.failure(proc.returncode)

    def unexpected(self, output: bytes) -> RemoteError:
        sample = output.decode(errors="replace").strip().splitlines()
        return RemoteError(
            f"unexpected answer from backprop on {self.host}: {sample[0][:120] if sample else ''}",
            hint="is remote.command a backprop of the same version?",
        )


def end(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Close the command's stdin (which ends a guarded command there) and wait for it."""
    if proc.stdin is not None and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
