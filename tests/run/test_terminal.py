"""What the person at the terminal sees: progress bars live and untouched, event lines kept
off it, and a session log that holds what the terminal finally showed."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

from .conftest import Bp

# A real tqdm bar that waits, after each frame, until the test has seen that frame on the
# terminal (or a minute has passed): a frame held back until the line ends cannot be seen.
TQDM_BAR = """
import os, sys, time
from tqdm import tqdm

def wait_for(name):
    deadline = time.monotonic() + 60
    while not os.path.exists(name) and time.monotonic() < deadline:
        time.sleep(0.01)

print("before the bar", flush=True)
wait_for("seen-start")  # stdout and stderr are two pipes: keep their order certain
bar = tqdm(total=3, desc="training", file=sys.stderr, mininterval=0, ascii=True)
for i in range(3):
    bar.update(1)
    wait_for(f"seen-{i}")
bar.close()
print("after the bar", flush=True)
"""


class Terminal:
    """``backprop`` with stdout and stderr on one pseudo-terminal, read as it writes."""

    def __init__(self, bp: Bp, *args: str) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            bp.argv(*args),
            cwd=bp.work,
            env={**bp.env, "COLUMNS": "120"},
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
        )
        os.close(slave)
        self.seen = b""

    def read_until(self, wanted: bytes, timeout: float = 60) -> bytes:
        """Read until ``wanted`` has arrived; return everything read so far."""
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{wanted!r} never reached the terminal; it showed {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                assert chunk, f"the terminal closed before {wanted!r}; it showed {self.seen!r}"
                self.seen += chunk
        return self.seen

    def read_for(self, seconds: float) -> None:
        """Read whatever arrives during ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    return

    def read_all(self, timeout: float = 120) -> bytes:
        assert self.proc.wait(timeout) == 0, self.seen
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        os.close(self.master)
        return self.seen


def test_progress_bar_frames_reach_the_terminal_before_their_line_ends(bp: Bp) -> None:
    bp.script("bar.py", TQDM_BAR)
    term = Terminal(bp, "run", "--run-id", "bar", "bar.py")
    try:
        term.read_until(b"before the bar\r\n")  # with its newline (print writes it apart)
        (bp.work / "seen-start").touch()
        for i in range(3):
            shown = term.read_until(f"| {i + 1}/3 [".encode())
            start = len(shown)
            # Let the status line tick a few times: it must not draw over the unfinished bar.
            term.read_for(1.2)
            between = term.seen[start:]
            assert "⏱".encode() not in between, between
            (bp.work / f"seen-{i}").touch()
        seen = term.read_all()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    bar = seen[seen.index(b"before the bar") : seen.index(b"after the bar")]
    # Byte for byte: every frame arrived, each after a carriage return, and no line of
    # backprop's own was drawn inside the bar.
    assert bar.count(b"\r") >= 3 and b"backprop:" not in bar
    assert b"training: 100%|##########| 3/3" in bar
    log = (bp.home / "runs" / "bar" / "session-1.log").read_bytes()
    # The log keeps what the terminal finally showed: the bar as one line, its last frame.
    bar_lines = [line for line in log.split(b"\n") if b"training:" in line]
    assert len(bar_lines) == 1 and b"\r" not in bar_lines[0], log
    assert bar_lines[0].startswith(b"training: 100%|##########| 3/3")


def test_event_lines_stay_off_the_terminal_and_the_status_line_shows_them(bp: Bp) -> None:
    bp.script(
        "events.py",
        """
        import json, time
        print("hello from the script", flush=True)
        for step in range(1, 41):
            print(json.dumps({"event": "metrics", "step": step, "data": {"loss": 1.0 / step}}))
            print(json.dumps({"event": "progress", "step": step, "total": 40}), flush=True)
            time.sleep(0.05)
        print("bye", flush=True)
        """,
    )
    term = Terminal(bp, "run", "--run-id", "ev", "events.py")
    seen = term.read_all()
    assert b"hello from the script" in seen and b"bye" in seen
    assert b'{"event"' not in seen
    assert b"/40 (" in seen and b"loss=" in seen  # the live status line
    # The end of the session says where it got to.
    assert b"step 40; loss=0.025" in seen
    log = (bp.home / "runs" / "ev" / "session-1.log").read_text()
    assert log.count('{"event": "metrics"') == 40  # the log keeps everything

    shown = bp.run("run", "--show-events", "events.py")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count('{"event": "metrics"') == 40
    hidden = bp.run("run", "events.py")
    assert '{"event"' not in hidden.stdout and "hello from the script" in hidden.stdout


def test_a_long_unfinished_line_is_shown_as_it_grows(bp: Bp, tmp_path: Path) -> None:
    bp.script(
        "dots.py",
        """
        import os, sys, time
        sys.stdout.write("working")
        sys.stdout.flush()
        deadline = time.monotonic() + 60
        while not os.path.exists("seen") and time.monotonic() < deadline:
            time.sleep(0.01)
        sys.stdout.write(" done\\n")
        """,
    )
    term = Terminal(bp, "run", "dots.py")
    try:
        term.read_until(b"working")
        (bp.work / "seen").touch()
        seen = term.read_all()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert b"working done" in seen
