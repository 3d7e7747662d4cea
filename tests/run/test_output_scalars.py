"""Metrics from printed lines (the output scalars parser), through the installed parser chain:
real captures of unmodified scripts, and samples of what other scripts print."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from backprop_core.events.event import ParseContext, ParseState
from backprop_core.events.ingest import expand
from backprop_core.plugin.manager import PluginManager
from backprop_core.settings.model import Settings
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "training-output"

Point = tuple[Any, str, float]  # (step, key, value)


def read(text: str, config: dict[str, Any] | None = None, chunk: int = 3000) -> list[Point]:
    """Every metric point the parser chain records from ``text``, read in chunks."""
    settings = Settings.from_config(config or {}, home=Path("."))
    context = ParseContext("r", 1, "stdout", ".", settings, ParseState())
    chain = PluginManager().parser_chain()
    lines = [line.encode() for line in text.split("\n")]
    points: list[Point] = []
    for i in range(0, len(lines), chunk):
        result = chain.parse(lines[i : i + chunk], context)
        for event in expand(result.items):
            assert event.kind == "metrics"
            # The stored form of each event is JSON that reads back to the same values.
            payload = json.loads(json.dumps(dict(event.payload)))
            assert payload["source"] == "output" and payload["step"] == event.step
            points.extend((event.step, k, v) for k, v in event.data.items())
    return points


def lines_read(
    text: str, config: dict[str, Any] | None = None
) -> list[tuple[Any, dict[str, float]]]:
    """Each recorded line's (step, metrics), in order."""
    settings = Settings.from_config(config or {}, home=Path("."))
    context = ParseContext("r", 1, "stdout", ".", settings, ParseState())
    result = (
        PluginManager().parser_chain().parse([line.encode() for line in text.split("\n")], context)
    )
    return [(e.step, dict(e.data)) for e in expand(result.items)]


def by_step(points: list[Point]) -> dict[Any, dict[str, float]]:
    out: dict[Any, dict[str, float]] = {}
    for step, key, value in points:
        out.setdefault(step, {})[key] = value
    return out


# Real captures --------------------------------------------------------------------------------
def test_nanogpt_output_yields_exactly_its_metrics_at_their_iterations() -> None:
    text = (FIXTURES / "nanogpt-shakespeare-char.log").read_text()
    points = read(text)
    iters = [
        m.groups()
        for m in re.finditer(
            r"^iter (\d+): loss ([\d.]+), time ([\d.]+)ms, mfu ([-\d.]+)%$", text, re.M
        )
    ]
    evals = [
        m.groups()
        for m in re.finditer(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)$", text, re.M)
    ]
    assert len(iters) == 21 and len(evals) == 3
    expected = [
        (int(i), key, float(v))
        for i, *values in iters
        for key, v in zip(("loss", "time_ms", "mfu_pct"), values)
    ] + [
        (int(s), key, float(v))
        for s, *values in evals
        for key, v in zip(("train_loss", "val_loss"), values)
    ]
    # Every real metric, and nothing else: no point from the config echo, the warnings, the
    # parameter counts or the checkpoint messages.
    assert sorted(points) == sorted(expected)
    assert {key for _, key, _ in points} == {"loss", "time_ms", "mfu_pct", "train_loss", "val_loss"}
    assert by_step(points)[75] == {"loss": 3.1198, "time_ms": 139.49, "mfu_pct": 0.0}
    assert by_step(points)[0]["mfu_pct"] == -100.0


def test_dcgan_output_yields_its_losses_at_epoch_times_batches_plus_batch() -> None:
    text = (FIXTURES / "pytorch-examples-dcgan.log").read_text()
    points = read(text)
    rows = re.findall(
        r"^\[(\d+)/50\]\[(\d+)/63\] Loss_D: ([\d.]+) Loss_G: ([\d.]+) D\(x\): ([\d.]+) "
        r"D\(G\(z\)\): ([\d.]+) / [\d.]+$",
        text,
        re.M,
    )
    assert len(rows) == 16
    expected = [
        (int(e) * 63 + int(b), key, float(v))
        for e, b, *values in rows
        for key, v in zip(("Loss_D", "Loss_G", "D_x", "D_G_z"), values)
    ]
    # Not the Namespace(...) echo, not the model printout (eps=1e-05, momentum=0.1...).
    assert sorted(points) == sorted(expected)


def test_a_chunk_boundary_anywhere_changes_nothing() -> None:
    text = (FIXTURES / "nanogpt-shakespeare-char.log").read_text()
    whole = read(text)
    assert read(text, chunk=1) == whole
    assert read(text, chunk=7) == whole


# Samples of other scripts ---------------------------------------------------------------------
SAMPLES: list[tuple[str, str, list[tuple[Any, dict[str, float]]]]] = [
    # (what, printed lines, each line's metrics in order: (step, {key: value}))
    (
        "keras, one line per epoch after its marker",
        "Epoch 3/10\n"
        "1875/1875 [==============================] - 3s 2ms/step - loss: 0.2987 - "
        "accuracy: 0.9136 - val_loss: 0.1500 - val_accuracy: 0.9500\n"
        "Epoch 4/10\n"
        "1875/1875 ━━━━━━━━━━━━━━━━━━━━ 3s 1ms/step - accuracy: 0.8617 - loss: 0.4832",
        [
            (3, {"loss": 0.2987, "accuracy": 0.9136, "val_loss": 0.15, "val_accuracy": 0.95}),
            (4, {"accuracy": 0.8617, "loss": 0.4832}),
        ],
    ),
    (
        "keras, marker and metrics on one line",
        "Epoch 3/10 … loss: 0.45 - accuracy: 0.91",
        [(3, {"loss": 0.45, "accuracy": 0.91})],
    ),
    (
        "hugging face Trainer dicts, quoted numbers too",
        "{'loss': 1.005, 'grad_norm': 2.3, 'learning_rate': 4e-05, 'epoch': 0.5}\n"
        "{'loss': '0.9', 'grad_norm': '2.1', 'learning_rate': '3.9e-05', 'epoch': '1.0'}\n"
        "{'eval_loss': 0.5, 'eval_runtime': 1.2, 'eval_samples_per_second': 100.0}",
        [
            (None, {"loss": 1.005, "grad_norm": 2.3, "learning_rate": 4e-05, "epoch": 0.5}),
            (None, {"loss": 0.9, "grad_norm": 2.1, "learning_rate": 3.9e-05, "epoch": 1.0}),
            (None, {"eval_loss": 0.5, "eval_runtime": 1.2, "eval_samples_per_second": 100.0}),
        ],
    ),
    (
        "lightning bar: epoch times batches, the postfix, not v_num",
        "Epoch 3: 100%|██████████| 63/63 [00:01<00:00, 40.12it/s, v_num=0, train_loss=0.512]",
        [(3 * 63 + 63, {"train_loss": 0.512})],
    ),
    (
        "tqdm bar with a postfix: its counter is the step",
        " 50%|█████     | 250/500 [00:10<00:10, 24.9it/s, loss=0.345, lr=0.001]",
        [(250, {"loss": 0.345, "lr": 0.001})],
    ),
    (
        "plain epoch lines",
        "epoch 3 train_loss 0.45 acc 0.91\nepoch 4 ... acc 0.93",
        [(3, {"train_loss": 0.45, "acc": 0.91}), (4, {"acc": 0.93})],
    ),
    (
        "pytorch mnist",
        "Train Epoch: 1 [640/60000 (1%)]\tLoss: 0.300412",
        [(60640, {"Loss": 0.300412})],
    ),
    (
        "pytorch imagenet, values before their running averages",
        "Epoch: [0][  10/5005]\tTime  0.123 ( 0.456)\tData  0.001 ( 0.002)\t"
        "Loss 6.9e+00 (6.9e+00)\tAcc@1   0.00 (  0.00)\tAcc@5   1.50 (  0.39)",
        [(10, {"Time": 0.123, "Data": 0.001, "Loss": 6.9, "Acc@1": 0.0, "Acc@5": 1.5})],
    ),
    (
        "pytorch word language model",
        "| epoch   1 |   200/ 2983 batches | lr 20.00 | ms/batch 25.67 | loss  7.62 | ppl  2041.28",
        [(2983 + 200, {"lr": 20.0, "ms/batch": 25.67, "loss": 7.62, "ppl": 2041.28})],
    ),
    (
        "logging prefix with a date and time",
        "2024-01-05 12:30:45,123 - INFO - epoch 3 loss 0.5 acc 0.9\n"
        "[2024-01-05 12:30:45] step 100: loss=0.3 lr=1e-4",
        [(3, {"loss": 0.5, "acc": 0.9}), (100, {"loss": 0.3, "lr": 0.0001})],
    ),
    (
        "units into keys",
        "global_step: 1200 | loss: 2.31 | tok/s: 5123.4 | mem 3.1GiB | step_time 41ms | mfu 38%",
        [
            (
                1200,
                {
                    "loss": 2.31,
                    "tok/s": 5123.4,
                    "mem_gib": 3.1,
                    "step_time_ms": 41.0,
                    "mfu_pct": 38.0,
                },
            )
        ],
    ),
    (
        "two pairs and no marker: the run's last step",
        "Step 7/100, loss 0.3\nloss=0.5 acc=0.9",
        [(7, {"loss": 0.3}), (7, {"loss": 0.5, "acc": 0.9})],
    ),
    (
        "keys with digits that share a shape",
        "step 1: top1: 0.5\nstep 2: top5: 0.9\nstep 3: top1: 0.6",
        [(1, {"top1": 0.5}), (2, {"top5": 0.9}), (3, {"top1": 0.6})],
    ),
    (
        "numbers in parentheses are no metrics, keys ending in them are",
        "Adam(lr=0.001, weight_decay=0.01) loss: 0.3 (best 0.25) D(G(z)): 0.4 acc: 0.9 (99%)",
        [(None, {"loss": 0.3, "D_G_z": 0.4, "acc": 0.9})],
    ),
    (
        "numbers printed in forms JSON does not allow are stored as valid JSON",
        "step 3: loss 007.5, acc +0.5, lr 1., wd .01\nstep 4: loss 012.5, acc +0.6, lr 2., wd .02",
        [
            (3, {"loss": 7.5, "acc": 0.5, "lr": 1.0, "wd": 0.01}),
            (4, {"loss": 12.5, "acc": 0.6, "lr": 2.0, "wd": 0.02}),
        ],
    ),
    (
        "thousands separators",
        "step 5: tokens_seen: 1,234,567, loss: 0.3",
        [(5, {"tokens_seen": 1234567.0, "loss": 0.3})],
    ),
]

JUNK = """\
Namespace(dataset='fake', dataroot=None, workers=2, batchSize=16, imageSize=64, lr=0.0002)
    (1): BatchNorm2d(128, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
/home/user/nanogpt/train.py:196: FutureWarning: `torch.cuda.amp.GradScaler(args...)` is deprecated.
Downloading https://huggingface.co/gpt2/resolve/main/config.json: 100%|██| 665/665 [00:00, 1.2MB/s]
Loading data/train.bin: 100%|██| 5/5 [00:00<00:00, 12.3it/s]
Validation DataLoader 0: 100%|██████████| 16/16 [00:00<00:00, 80.00it/s]
100%|██████████| 30/30 [00:03<00:00,  9.87it/s]
torch 2.1.0+cu118, python 3.11.7, transformers==4.40.0, cuda: 12.1.105
Connecting to 192.168.1.10:29500 (rank 0, world_size 2)
MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 WORLD_SIZE=2
Serving on localhost:8080, pid: 1234
commit a3f9e2b1c, build 20240105, id: 3fa9c2d1, seed: 42
Run id: 3fa9c2, seed: 42
Started at 2024-01-05T10:11:12Z, ETA 0:12:30
Epoch 3 took 12:03:04
number of parameters: 0.10M
tokens per iteration will be: 768
num decayed parameter tensors: 10, with 108,032 parameters
Memory: 3.2GB / 16GB
{"lr": 0.001, "model": "gpt2", "layers": 12}
{'output_dir': 'out', 'per_device_train_batch_size': 8, 'learning_rate': 5e-05}
Test set: Average loss: 0.0330, Accuracy: 9890/10000 (99%)
saving checkpoint to out-shakespeare-char at 2024-01-05 10:11:12
the best val loss so far: 0.3, after 12 evaluations
Step 7 of 10: warming up
"""


@pytest.mark.parametrize("name,text,expected", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_samples_yield_exactly_their_metrics(
    name: str, text: str, expected: list[tuple[Any, dict[str, float]]]
) -> None:
    assert lines_read(text) == expected


def test_paths_dates_versions_urls_addresses_ids_and_bars_are_no_metrics() -> None:
    assert read(JUNK) == []
    for line in JUNK.splitlines():  # alone too, not only after other lines
        assert read(line) == [], line


def test_not_a_number_is_kept_and_stored_as_json() -> None:
    points = read("iter 3: loss nan, lr 0.1\niter 4: loss inf, lr 0.1")
    values = {(step, key): value for step, key, value in points}
    assert math.isnan(values[3, "loss"]) and values[4, "loss"] == math.inf
    assert values[3, "lr"] == 0.1


# Settings -------------------------------------------------------------------------------------
def test_your_patterns_come_first_and_can_stand_alone() -> None:
    text = "RESULT ep=4 fid=12.5\niter 5: loss 0.25, acc 0.5"
    patterns = [r"RESULT ep=(?P<step>\d+) fid=(?P<fid>[\d.]+)"]
    both = by_step(read(text, {"outputScalars": {"patterns": patterns}}))
    assert both == {4: {"fid": 12.5}, 5: {"loss": 0.25, "acc": 0.5}}
    alone = {"outputScalars": {"patterns": patterns, "builtinRules": False}}
    assert by_step(read(text, alone)) == {4: {"fid": 12.5}}
    pairs = [r"(?P<key>[a-z]+)~(?P<value>[\d.]+)"]
    assert by_step(read("a~1 b~2.5", {"outputScalars": {"patterns": pairs}})) == {
        None: {"a": 1.0, "b": 2.5}
    }


def test_ignored_keys_and_turning_it_off() -> None:
    text = "step 1: loss 0.5, lr 0.1"
    assert by_step(read(text, {"outputScalars": {"ignoreKeys": ["LR"]}})) == {1: {"loss": 0.5}}
    assert read(text, {"outputScalars": {"enabled": False}}) == []
