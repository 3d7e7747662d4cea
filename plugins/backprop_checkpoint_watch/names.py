"""What a checkpoint file's place and name say: which checkpoint it belongs to (a file, or a
Hugging Face ``checkpoint-N`` folder) and its step."""

from __future__ import annotations

import re

#: A Hugging Face ``Trainer`` checkpoint: the folder is the checkpoint.
CHECKPOINT_FOLDER = re.compile(r"^checkpoint-(\d+)$")
#: A checkpoint folder the ``Trainer`` is still writing before renaming it.
STAGING_FOLDER = re.compile(r"^tmp-checkpoint-\d+$")
# In a name: step=1664, step_300, global_step100, iter-5000, iteration_7 (Lightning writes
# epoch=12-step=1664: the step wins over the epoch).
_STEP = re.compile(r"(?:^|[^a-z])(?:global_step|steps?|iters?|iterations?)[=_-]?(\d+)", re.I)
_EPOCH = re.compile(r"(?:^|[^a-z])epochs?[=_-]?(\d+)", re.I)
# A number closing the name after a separator: ckpt_1000, model-05 (Keras' model-{epoch}).
# resnet50 or model_v2 have none.
_TRAILING = re.compile(r"[-_=.](\d+)$")


def checkpoint_of(rel: str) -> str | None:
    """The checkpoint a matching file belongs to, relative to the watched folder: its
    ``checkpoint-N`` folder when it lies in one, else the file itself; ``None`` while the
    folder is still being written (``tmp-checkpoint-N``)."""
    parts = rel.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if CHECKPOINT_FOLDER.match(parts[i]):
            return "/".join(parts[: i + 1])
        if STAGING_FOLDER.match(parts[i]):
            return None
    return rel


def step_of(rel: str) -> int | None:
    """The step a checkpoint's name gives (``checkpoint-900``, ``epoch=12-step=1664.ckpt``,
    ``ckpt_1000.pt``, ``model-05.keras``), or ``None`` (``ckpt.pt``, ``last.ckpt``)."""
    name = rel.rsplit("/", 1)[-1]
    folder = CHECKPOINT_FOLDER.match(name)
    if folder:
        return int(folder.group(1))
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = stem.removesuffix(".weights")  # Keras' model-05.weights.h5
    for pattern in (_STEP, _EPOCH):
        found = pattern.findall(stem)
        if found:
            return int(found[-1])
    trailing = _TRAILING.search(stem)
    return int(trailing.group(1)) if trailing else None
