"""What differs between a run and a rerun of it now (docs/artifacts.md, "Reproducible
reruns"): the git commit and uncommitted changes of its folder, its interpreter and packages,
the checkpoint it started from, and the content of every artifact it read, as the same
reference (``latest``, ``best``, ``v3``…) resolves today."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backprop_core.render.artifacts import short_digest
from backprop_core.run.manifest import git_of
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord

#: Package changes listed one by one; beyond this many, the rest are counted.
MAX_PACKAGES = 10


def _short(commit: Any) -> str:
    return str(commit)[:12] if commit else "no commit"


def git_mismatches(run: RunRecord) -> list[str]:
    from backprop_core.sdk.environment import EnvironmentProbe

    then = git_of(run)
    if then is None or run.cwd is None or not Path(run.cwd).is_dir():
        return []
    now = EnvironmentProbe(Path(run.cwd), gpus=False).source()["git"]
    if now is None:
        was = _short(then["commit"])
        return [f"git: {run.cwd} is no longer a git repository (the run was at {was})"]
    out = []
    if now.get("commit") != then.get("commit"):
        out.append(
            f"git commit: the run was at {_short(then.get('commit'))}, "
            f"{run.cwd} is now at {_short(now.get('commit'))}"
        )
    if then.get("diff_sha256") and now.get("diff_sha256") != then["diff_sha256"]:
        state = "has uncommitted changes" if now.get("dirty") else "has none"
        before = "had uncommitted changes" if then.get("dirty") else "had none"
        was, now_hash = short_digest(then["diff_sha256"]), short_digest(str(now.get("diff_sha256")))
        out.append(
            f"uncommitted changes: the run's diff hash was {was}, now {now_hash} "
            f"(the run {before}; the folder {state})"
        )
    return out


def interpreter_mismatches(run: RunRecord) -> list[str]:
    """Python version and packages, when the run used backprop's own interpreter (the only
    one whose packages can be listed here)."""
    from backprop_core.sdk.environment import installed_distributions

    env: Mapping[str, Any] = run.environment if isinstance(run.environment, Mapping) else {}
    found = env.get("python")
    python: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    executable = python.get("executable")
    if not executable or os.path.realpath(str(executable)) != os.path.realpath(sys.executable):
        return []
    out = []
    version = sys.version.split()[0]
    if python.get("version") and python["version"] != version:
        out.append(f"python: the run had {python['version']}, now {version}")
    then = env.get("packages")
    if isinstance(then, Mapping) and then:
        now = installed_distributions()
        changed = sorted(set(then) | set(now))
        lines = [
            f"package {name}: the run had {then.get(name) or 'none'}, now {now.get(name) or 'none'}"
            for name in changed
            if then.get(name) != now.get(name)
        ]
        out += lines[:MAX_PACKAGES]
        if len(lines) > MAX_PACKAGES:
            out.append(f"… and {len(lines) - MAX_PACKAGES} more packages differ")
    return out


def input_mismatches(store: Store, run: RunRecord) -> list[str]:
    from backprop_core.artifacts.lookup import find_version
    from backprop_core.artifacts.objects import ObjectStore
    from backprop_core.errors import ArtifactNotFound

    objects = ObjectStore(store.home.root)
    out = []
    for use in store.artifact_uses(run_id=run.id):
        asked = f"{use.name}:{use.ref}"
        read = f"{use.label} ({short_digest(use.digest)})"
        try:
            now = find_version(store, use.name, use.ref)
        except ArtifactNotFound:
            out.append(f"input {asked}: no longer exists; the run read {read}")
            continue
        if now.digest != use.digest:
            out.append(
                f"input {asked}: now {now.label} ({short_digest(now.digest)}); the run read {read}"
            )
        elif not objects.has(now.digest):
            out.append(f"input {asked}: its content is missing from the object store")
    return out


def resumed_from(store: Store, run: RunRecord) -> str | None:
    """The checkpoint the run's first session started from (``run -r PATH``)."""
    sessions = store.sessions(run.id)
    return sessions[0].resumed_from if sessions else None


def mismatches(store: Store, run: RunRecord) -> list[str]:
    """Every difference a rerun of ``run`` would start with, one line each."""
    out = git_mismatches(run) + interpreter_mismatches(run) + input_mismatches(store, run)
    start = resumed_from(store, run)
    if start is not None:
        path = Path(start).expanduser()
        if not path.is_absolute() and run.cwd:
            path = Path(run.cwd) / path
        if not path.exists():
            out.append(f"checkpoint: {start}, which the run started from, no longer exists")
    return out
