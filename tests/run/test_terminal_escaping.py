"""Names, tags, metric keys, alerts and paths recorded from a script are shown with their control
characters escaped in every terminal view, so they cannot rewrite the screen; the script's own
output (``logs``) stays as it was written."""

from __future__ import annotations

import json

from backprop_core.store.records import RunStatus

from .conftest import Bp, Terminal

ESC = "\x1b"
CSI_C1 = "\x9b"
EVIL_NAME = "job\x1b[2J\x1b]0;pwned\x07"
EVIL_KEY = "loss\x1b[31m"
EVIL_TAG = "red\x9b1m"
EVIL_ALERT = "alert\x1b[1A\x1b[Kforged line\nbackprop: run completed"

SCRIPT = f"""
    import os, time
    import backprop_core as bp
    run = bp.init(name={EVIL_NAME!r}, tags={{"team": {EVIL_TAG!r}}})
    ckpt = os.path.join(os.environ["BACKPROP_CHECKPOINT_DIR"], "ck\\x1b[8mpt")
    for step in range(30):
        bp.log({{{EVIL_KEY!r}: 1.0 / (step + 1)}}, step=step)
        time.sleep(0.1)
    open(ckpt, "w").write("weights")
    bp.checkpoint(ckpt, step=29)
    run.event("alert", {{"text": {EVIL_ALERT!r}, "level": "warning"}})
    print("raw script output \\x1b[1mbold\\x1b[0m", flush=True)
    bp.finish()
"""


def _no_control(text: str) -> None:
    assert ESC not in text and CSI_C1 not in text, repr(text)


def test_recorded_text_is_escaped_in_every_view_but_logs(bp: Bp) -> None:
    bp.script("evil.py", SCRIPT)
    result = bp.run("run", "evil.py")
    assert result.returncode == 0, result.stderr
    run = bp.only_run()
    assert run.name == EVIL_NAME and run.status == RunStatus.COMPLETED

    # the run's own messages: the alert arrives as one escaped line, never a forged one
    _no_control(result.stderr)
    assert "alert\\x1b[1A\\x1b[Kforged line\\nbackprop: run completed" in result.stderr

    listed = bp.run("list")
    _no_control(listed.stdout)
    assert "job\\x1b[2J\\x1b]0;pwned\\x07" in listed.stdout
    assert len(listed.stdout.splitlines()) == 1  # one line per run, whatever the name holds

    shown = bp.run("show", run.id)
    _no_control(shown.stdout)
    assert "team=red\\x9b1m" in shown.stdout and "loss\\x1b[31m=" in shown.stdout
    assert "ck\\x1b[8mpt" in shown.stdout

    as_json = bp.run("list", "--json")
    _no_control(as_json.stdout)
    assert json.loads(as_json.stdout)[0]["name"] == EVIL_NAME  # the same value, escaped in JSON

    missing = bp.run("show", "no\x1b[2Jsuch")
    assert missing.returncode == 2
    _no_control(missing.stderr)
    assert "no\\x1b[2Jsuch" in missing.stderr

    logs = bp.run("logs", run.id)
    assert "raw script output \x1b[1mbold\x1b[0m" in logs.stdout  # the script's own, as written

    pruned = bp.run("gc", "--keep-last", "0")
    assert pruned.returncode == 0, pruned.stderr
    _no_control(pruned.stdout)
    assert "ck\\x1b[8mpt" in pruned.stdout


def test_the_live_status_line_escapes_metric_keys(bp: Bp) -> None:
    """On a terminal the status line shows the last metrics: their keys come from the script."""
    bp.script("evil.py", SCRIPT)
    term = Terminal(bp, "run", "evil.py")
    assert term.wait(120) == 0
    assert any("loss\\x1b[31m=" in line for line in term.status_lines()), term.text[-2000:]
    assert EVIL_KEY not in term.text and "\x1b]0;pwned" not in term.text
    assert CSI_C1 not in term.text
