"""Output handling: garbage never breaks a run, output is preserved, leftovers never block."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backprop_core.store.records import RunStatus
from tests.conftest import wait_for

from .conftest import Bp, Terminal, alive

GARBAGE = r"""
    import json, os, sys
    out = sys.stdout.buffer
    out.write(b"plain text line\n")
    out.write(b"invalid utf-8: \xff\xfe\xc3\x28 end\n")
    out.write(bytes(range(256)) + b"\n")
    out.write(b"{" + b"x" * (20 * 1024 * 1024) + b"TAIL-OF-HUGE-LINE")
    out.write(b"\n")
    for line in [
        "[1, 2, 3]", '"a string"', "42", "null", "{broken json",
        '{"event": "metrics", "step": 1, "data": {"loss": NaN, "acc": Infinity}}',
        '{"event": "metrics", "step": "two", "data": {"loss": null, "acc": "high"}}',
        '{"event": "metrics", "data": "not an object"}',
        '{"event": "checkpoint_saved", "step": 3}',
        '{"event": 17}',
        '{"event": "progress", "step": null, "total": "many"}',
        '{"event": "my_custom_event", "value": 1}',
        '{"step": 5, "loss": 0.5}',
    ]:
        out.write(line.encode() + b"\n")
    out.flush()
    sys.stderr.write("to stderr\n")
    sys.stdout.buffer.write(b"no newline at the end")
"""


@pytest.mark.slow
def test_garbage_output_completes_and_is_preserved(bp: Bp) -> None:
    bp.script("garbage.py", GARBAGE)
    result = bp.run("run", "garbage.py")
    assert result.returncode == 0, result.stderr[-2000:]
    run = bp.only_run()
    assert run.status == RunStatus.COMPLETED
    log = (bp.home / "runs" / run.id / "session-1.log").read_bytes()
    assert b"invalid utf-8: \xff\xfe\xc3\x28 end\n" in log
    # Binary bytes pass through exactly; the carriage return, backspace and escape among them
    # are applied as a terminal would (the bytes before the "\r" are overwritten).
    assert bytes(range(0x1C, 0x100)) + b"\n" in log
    assert b"TAIL-OF-HUGE-LINE" in log and len(log) > 20 * 1024 * 1024
    assert b"to stderr\n" in log  # stderr is kept in the log
    assert "to stderr" in result.stderr and "to stderr" not in result.stdout  # and stays stderr
    assert b"no newline at the end" in log  # a last line without a newline is kept
    with bp.store() as store:
        kinds = [e.event.kind for e in store.events(run.id)]
        loss = store.metric_series(run.id, "loss")
    assert "my_custom_event" in kinds
    assert kinds.count("metrics") >= 2
    assert "alert" in kinds  # the checkpoint_saved without a path
    assert any(v != v for v in loss.values)  # NaN kept
    assert 0.5 in loss.values  # the Node-tool line


def test_setsid_child_holding_stdout_does_not_keep_backprop_waiting(bp: Bp) -> None:
    bp.script(
        "holder.py",
        """
        import os, subprocess, sys
        child = subprocess.Popen(
            [sys.executable, "-c",
             "import signal, time\\n"
             "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\ntime.sleep(120)"],
            start_new_session=True,
        )
        open(os.path.join(os.environ["BACKPROP_RUN_DIR"], "child.pid"), "w").write(str(child.pid))
        print("script done", flush=True)
        """,
    )
    proc = bp.start("run", "--grace", "30", "holder.py")
    pid_file = wait_for(lambda: next(iter((bp.home / "runs").glob("*/child.pid")), None))
    child_pid = int(wait_for(lambda: pid_file.read_text()))
    script_done = time.monotonic()
    assert proc.wait(30) == 0
    # ~1-2 s on an idle machine; anything under the 30 s grace means it did not wait for the
    # holder (which sleeps 120 s)
    assert time.monotonic() - script_done < 20
    assert bp.only_run().status == RunStatus.COMPLETED
    wait_for(lambda: not alive(child_pid), timeout=5)


@pytest.mark.slow
def test_only_python3_on_path(bp: Bp, tmp_path: Path) -> None:
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    bp.script("hello.py", "import sys\nprint('hello from', sys.version_info[0])\n")
    env = {"PATH": str(bin_dir)}
    first = bp.run("run", "hello.py", env=env)
    assert first.returncode == 0, first.stderr
    assert "hello from 3" in first.stdout
    second = bp.run("run", "--", "python3", "hello.py", env=env)
    assert second.returncode == 0, second.stderr
    assert all(r.status == RunStatus.COMPLETED for r in bp.runs())


NODE_LINES = """
    import json, os, sys, time
    print(json.dumps({"step": 6, "loss": 0.4}), flush=True)
    print('{"step": 7, "loss": NaN}', flush=True)
    while not os.path.exists(sys.argv[1]):  # until the test has seen the status line
        time.sleep(0.05)
"""


def test_a_node_format_line_carries_its_step_to_the_alert_and_the_status_line(
    bp: Bp, tmp_path: Path
) -> None:
    bp.script("node.py", NODE_LINES)
    release = tmp_path / "release"
    term = Terminal(bp, "run", "node.py", str(release))
    wait_for(
        lambda: any("step 7" in line and "loss=nan" in line for line in term.status_lines()),
        timeout=60,
        what="the status line at step 7",
    )
    release.touch()
    assert term.wait(60) == 0
    assert "alert: non-finite loss at step 7: loss=nan" in term.text
    run = bp.only_run()
    with bp.store() as store:
        alerts = [e.event for e in store.events(run.id) if e.event.kind == "alert"]
        assert store.metric_series(run.id, "loss").steps == [6, 7]
    assert [a.step for a in alerts] == [7]
