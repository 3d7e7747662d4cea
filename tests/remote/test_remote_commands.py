"""``backprop --remote HOST <command>`` against a real sshd: the other side answers in JSON and
this side prints exactly what the command prints for local data."""

from __future__ import annotations

import json
import signal
import time

from backprop_core.store.records import RunStatus
from tests.conftest import wait_for

from .conftest import Remote, leftovers


def test_list_and_show_print_what_they_print_on_that_machine(remote: Remote) -> None:
    remote.seed("baseline", n=1, steps=30)
    remote.seed("tuned", n=2, steps=10, keys=("loss", "acc", "lr"))
    for args in (("list",), ("list", "--json"), ("show", "tuned"), ("show", "--json", "s001")):
        here = remote.remote(*args)
        there = remote.there(*args)
        assert here.returncode == 0, here.stderr
        assert here.stdout == there.stdout, args
    assert "baseline" in remote.remote("list").stdout


def test_list_filters_and_limits_travel_with_the_command(remote: Remote) -> None:
    for n in range(4):
        remote.seed(f"sweep-{n}", n=n)
    # The host from BACKPROP_REMOTE; --remote-command wins over remote.command.
    result = remote.cli(
        "--remote-command",
        remote.command,
        "list",
        "--name",
        "sweep-[12]",
        "--limit",
        "1",
        BACKPROP_REMOTE=remote.host,
        BACKPROP_REMOTE__COMMAND="/nonexistent/backprop",
    )
    assert result.returncode == 0, result.stderr
    assert [line.split("\t")[1] for line in result.stdout.splitlines()] == ["sweep-2"]


def test_errors_there_come_through_with_their_exit_code(remote: Remote) -> None:
    remote.seed("only", n=1)
    result = remote.remote("show", "nothing-like-this")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"backprop: error: on {remote.host}: no run matches 'nothing-like-this'; "
        "give a run id, a unique id prefix or suffix, or a run name, as backprop list shows them"
    ]


def test_logs_print_the_output_byte_for_byte(remote: Remote) -> None:
    text = "epoch 1: héllo\n\x1b[31mred\x1b[0m\nno newline at the end"
    run_id = remote.seed("logged", n=1, log=text)
    (remote.home / "runs" / run_id / "session-1.log").write_bytes(text.encode() + b"\xff\xfe")
    result = remote.cli("--remote", remote.host, "logs", "logged", timeout=120)
    assert result.returncode == 0, result.stderr
    here = remote.remote("logs", "--json", "logged")
    chunks = [json.loads(line) for line in here.stdout.splitlines()]
    assert chunks[0] == {"run_id": run_id, "session": 1, "offset": 0, "text": ""}
    assert "base64" in chunks[-1]  # the bytes that are not UTF-8
    raw = remote.there("logs", "logged")
    assert raw.stdout == result.stdout


def test_logs_follow_an_active_run_until_it_ends(remote: Remote) -> None:
    remote.script(
        "count.py",
        """
        import time
        for i in range(15):
            print(f"line {i}", flush=True)
            time.sleep(0.1)
        """,
    )
    run = remote.start_there("run", "--name", "counter", "count.py")
    with remote.store() as store:
        wait_for(lambda: store.list_runs(), 60, "the run to be recorded")
    follow = remote.remote("logs", "-f", "counter", timeout=180)
    assert follow.returncode == 0, follow.stderr
    assert [f"line {i}" for i in range(15)] == follow.stdout.splitlines()[-15:]
    assert run.wait(timeout=120) == 0


def test_ctrl_c_on_logs_follow_leaves_nothing_running_on_either_side(remote: Remote) -> None:
    remote.script("forever.py", "import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    remote.start_there("run", "--name", "forever", "forever.py")
    with remote.store() as store:
        wait_for(
            lambda: store.list_runs() and store.list_runs()[0].status == RunStatus.RUNNING,
            60,
            "the run to start",
        )
    follow = remote.start("--remote", remote.host, "logs", "-f", "forever")
    assert follow.stdout is not None
    assert follow.stdout.readline() == b"started\n"
    follow.send_signal(signal.SIGINT)
    assert follow.wait(timeout=60) == 0
    wait_for(lambda: not leftovers("remote-helper guard"), 60, "the remote logs -f to end")
    wait_for(lambda: not remote.sshd.sessions(), 60, "the ssh session to close")
    stopped = remote.there("stop", "--now", "forever")
    assert stopped.returncode == 0, stopped.stderr


def test_stop_stops_a_run_there(remote: Remote) -> None:
    remote.script("slow.py", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    run = remote.start_there("run", "--name", "slow", "slow.py")
    with remote.store() as store:
        wait_for(
            lambda: store.list_runs() and store.list_runs()[0].status == RunStatus.RUNNING,
            60,
            "the run to start",
        )
    result = remote.remote("stop", "slow", timeout=180)
    assert result.returncode == 0, result.stderr
    run_id = remote.there("list", "--json").stdout
    rid = json.loads(run_id)[0]["id"]
    assert result.stderr.splitlines() == [
        f"backprop: stopping run {rid}: the script has its grace period to stop, then gets SIGKILL",
        f"backprop: run {rid} is interrupted",
    ]
    assert run.wait(timeout=60) == 130
    again = remote.remote("stop", "slow")
    assert again.returncode == 2
    assert "is not active (it is interrupted)" in again.stderr


def test_status_shows_that_machine_and_its_verdict(remote: Remote) -> None:
    text = remote.remote("status")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("host: ") and lines[1] == "gpus: none visible (probe none)"
    assert any(line.startswith("verdict: admit") for line in lines)
    data = json.loads(remote.remote("status", "--json").stdout)
    assert data["gpu_probe"] == "none" and data["limits"]["governor"]["pollSeconds"] == 0.2


def test_status_watch_streams_until_ctrl_c_and_leaves_nothing(remote: Remote) -> None:
    watch = remote.start("--remote", remote.host, "status", "--watch", "--json")
    assert watch.stdout is not None
    first = json.loads(watch.stdout.readline())
    second = json.loads(watch.stdout.readline())
    assert second["taken_at"] > first["taken_at"]
    watch.send_signal(signal.SIGINT)
    assert watch.wait(timeout=60) == 0
    wait_for(lambda: not leftovers("remote-helper guard"), 60, "the remote status to end")


def test_config_show_shows_the_settings_there_with_their_sources(remote: Remote) -> None:
    here = remote.remote("config", "show")
    there = remote.there("config", "show")
    assert here.returncode == 0, here.stderr
    assert here.stdout == there.stdout
    assert "env BACKPROP_HOME" in here.stdout
    other = remote.remote("config", "schema")
    assert other.returncode == 2 and "runs on this machine only" in other.stderr


def test_commands_that_change_this_machine_are_refused_with_remote(remote: Remote) -> None:
    for args in (("run", "train.py"), ("rm", "x"), ("gc",), ("import", "f.json")):
        result = remote.remote(*args)
        assert result.returncode == 2, args
        assert (
            result.stderr.startswith("backprop: error: `backprop ") and "pull HOST" in result.stderr
        )


def test_names_with_spaces_quotes_and_substitutions_arrive_intact(remote: Remote, tmp_path) -> None:
    marker = tmp_path / "executed"
    nasty = f'it\'s a "test" $(touch {marker}) `touch {marker}` ; touch {marker} \\ * ~'
    remote.seed(nasty, n=1)
    shown = remote.remote("show", nasty)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[1] == f"name         {nasty}"
    listed = remote.remote("list", "--name", nasty.replace("*", "[*]"), "--json")
    assert [r["name"] for r in json.loads(listed.stdout)] == [nasty]
    tagged = remote.remote("list", "--tag", "lr=0.1", "--name", "*$(*")
    assert tagged.returncode == 0 and nasty in tagged.stdout
    time.sleep(0.5)  # a substitution would have run by now: nothing waits on it
    assert not marker.exists()
