"""``--resume-arg``: what is added to a script's command line when a session resumes. A preset
name for the flags of well-known scripts, or a template of your own ("Resuming scripts that
take a flag" in docs/unmodified-scripts.md)."""

from __future__ import annotations

import re
import shlex

from backprop_core.errors import UsageError

PLACEHOLDER = "{checkpoint}"

#: Preset name -> template. ``self``: the script resumes by itself, nothing is added.
PRESETS: dict[str, str] = {
    "lightning": "--ckpt_path {checkpoint}",
    "hf": "--resume_from_checkpoint {checkpoint}",
    "huggingface": "--resume_from_checkpoint {checkpoint}",
    "nanogpt": "--init_from=resume",
    "resume": "--resume {checkpoint}",
    "self": "",
}

_FIELD = re.compile(r"\{([^{}]*)\}")


def resume_template(value: str) -> str:
    """The template ``value`` stands for: a preset's, or ``value`` itself once checked (it
    must split like a shell command line, and ``{checkpoint}`` is its only placeholder)."""
    text = value.strip()
    if text in PRESETS:
        return PRESETS[text]
    names = ", ".join(PRESETS)
    if text and not any(c in text for c in " -={}"):
        raise UsageError(
            f"unknown --resume-arg preset '{text}'",
            hint=f'use one of {names}, or a template such as "--resume {PLACEHOLDER}"',
        )
    try:
        shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--resume-arg '{value}' cannot be split: {exc}") from exc
    unknown = sorted({f for f in _FIELD.findall(text) if f != "checkpoint"})
    if unknown:
        raise UsageError(
            f"--resume-arg '{value}' names {', '.join('{' + f + '}' for f in unknown)}",
            hint=f"{PLACEHOLDER} is the only placeholder (the checkpoint's path)",
        )
    return text


def resume_argv(template: str, checkpoint: str) -> list[str]:
    """The arguments ``template`` adds for ``checkpoint``."""
    return shlex.split(template.replace(PLACEHOLDER, shlex.quote(checkpoint)))
