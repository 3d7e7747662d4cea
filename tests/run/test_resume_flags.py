"""Resuming scripts that take a flag: ``--resume-arg`` presets and templates, given to ``run``
or ``resume`` and remembered; ``-r`` remembered; and a resume that refuses to start a script
from scratch next to checkpoints of its own."""

from __future__ import annotations

import json

import pytest

from backprop_core.errors import UsageError
from backprop_core.run.resume_args import resume_argv, resume_template

from .conftest import Bp

#: Saves like a Hugging Face Trainer (a checkpoint-N folder), announces nothing, reports how it
#: was started, and fails so that it can be resumed.
SCRIPT = """
import json, os, sys
print("STARTED " + json.dumps({"argv": sys.argv[1:],
                               "from": os.environ.get("BACKPROP_RESUME_FROM")}), flush=True)
os.makedirs("out", exist_ok=True)
n = len([d for d in os.listdir("out") if d.startswith("checkpoint-")])
os.makedirs("out/checkpoint-%d" % ((n + 1) * 100))
with open("out/checkpoint-%d/model.safetensors" % ((n + 1) * 100), "wb") as f:
    f.write(b"w" * 10)
sys.exit(3)
"""


def _starts(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line[8:]) for line in stdout.splitlines() if line.startswith("STARTED ")]


def test_resume_refuses_to_start_from_scratch_next_to_found_checkpoints(bp: Bp) -> None:
    bp.script("train.py", SCRIPT)
    first = bp.run("run", "train.py")
    assert first.returncode != 0
    run = bp.only_run()
    refused = bp.run("resume", run.id)
    assert refused.returncode != 0
    assert "nothing tells its script to resume from them" in refused.stderr
    assert "--resume-arg" in refused.stderr and "--from-scratch" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1  # one line that says what to do
    assert len(bp.sessions(run.id)) == 1  # nothing started, nothing lost
    assert (bp.work / "out" / "checkpoint-100").is_dir()

    over = bp.run("resume", run.id, "--from-scratch")
    assert "starting from scratch (--from-scratch)" in over.stderr
    assert _starts(over.stdout) == [{"argv": [], "from": None}]

    # A preset given to resume is used now and remembered for every later session.
    told = bp.run("resume", run.id, "--resume-arg", "hf")
    newest = str(bp.work / "out" / "checkpoint-200")
    assert _starts(told.stdout) == [{"argv": ["--resume_from_checkpoint", newest], "from": newest}]
    again = bp.run("resume", run.id)
    newest = str(bp.work / "out" / "checkpoint-300")
    assert _starts(again.stdout)[0]["argv"] == ["--resume_from_checkpoint", newest]
    sessions = bp.sessions(run.id)
    assert [s.resumed_from for s in sessions] == [
        None,
        None,
        str(bp.work / "out" / "checkpoint-200"),
        newest,
    ]


def test_a_checkpoint_given_with_r_is_remembered_for_resume(bp: Bp) -> None:
    bp.script("train.py", SCRIPT)
    given = bp.work / "pretrained.pt"
    given.write_bytes(b"p")
    first = bp.run("run", "--no-watch-checkpoints", "-r", str(given), "train.py")
    assert _starts(first.stdout) == [{"argv": [], "from": str(given)}]
    run = bp.only_run()
    resumed = bp.run("resume", run.id)
    assert _starts(resumed.stdout) == [{"argv": [], "from": str(given)}]
    assert "no longer exists" not in resumed.stderr
    assert "starting from scratch" not in resumed.stderr


def test_a_free_template_without_placeholder_is_added_as_is(bp: Bp) -> None:
    bp.script("train.py", SCRIPT)
    bp.run("run", "--resume-arg", "--init_from=resume", "train.py")
    resumed = bp.run("resume", bp.only_run().id)
    assert _starts(resumed.stdout)[0]["argv"] == ["--init_from=resume"]


@pytest.mark.parametrize(
    ("value", "argv"),
    [
        ("lightning", ["--ckpt_path", "/c/last.ckpt"]),
        ("hf", ["--resume_from_checkpoint", "/c/last.ckpt"]),
        ("nanogpt", ["--init_from=resume"]),
        ("self", []),
        ("--resume {checkpoint}", ["--resume", "/c/last.ckpt"]),
        (
            "--weights={checkpoint} --fresh-optimizer",
            ["--weights=/c/last.ckpt", "--fresh-optimizer"],
        ),
    ],
)
def test_resume_arg_presets_and_templates(value: str, argv: list[str]) -> None:
    assert resume_argv(resume_template(value), "/c/last.ckpt") == argv


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("lightnin", "unknown --resume-arg preset 'lightnin'"),
        ("--resume {path}", "names {path}"),
        ("--resume '{checkpoint}", "cannot be split"),
    ],
)
def test_bad_resume_args_say_what_to_do(value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("{", r"\{").replace("}", r"\}")):
        resume_template(value)
