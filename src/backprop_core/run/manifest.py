"""A run's manifest (docs/artifacts.md, "Reproducible reruns"): one document with everything
needed to run it again and to tell whether a rerun starts from the same place — the command,
the effective settings, the interpreter and packages, the git commit and a hash of the
uncommitted changes, and the artifact versions it read and made, with their content hashes.
``schemas/run-manifest.v1.schema.json`` describes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backprop_core.artifacts.records import ArtifactVersion
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, json_safe

SCHEMA = "run-manifest.v1"


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def git_of(run: RunRecord) -> dict[str, Any] | None:
    """The run's git state: commit, branch, dirty, diff_sha256 (``None``: not a repository,
    or not recorded)."""
    git = run.environment.get("git") if isinstance(run.environment, Mapping) else None
    if not isinstance(git, Mapping):
        return None
    return {k: git.get(k) for k in ("commit", "branch", "dirty", "diff_sha256")}


def _version(v: ArtifactVersion) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "type": v.type,
        "kind": v.kind,
        "digest": v.digest,
        "size": v.size,
        "files": v.files,
        "aliases": list(v.aliases),
    }


def build_manifest(store: Store, run: RunRecord) -> dict[str, Any]:
    env = _mapping(run.environment)
    versions = {(v.name, v.version): v for v in store.artifact_versions()}
    inputs = []
    for use in store.artifact_uses(run_id=run.id):
        found = versions.get((use.name, use.version))
        inputs.append(
            {
                "name": use.name,
                "version": use.version,
                "ref": use.ref,
                "digest": use.digest,
                "type": found.type if found else None,
                "size": found.size if found else None,
                "exists": found is not None,
            }
        )
    sessions = store.sessions(run.id)
    return json_safe(
        {
            "schema": SCHEMA,
            "run": {
                "id": run.id,
                "name": run.name,
                "status": run.status.value,
                "created_at": run.created_at,
                "rerun_of": run.rerun_of,
            },
            "command": list(run.command),
            "script": run.script,
            "argv": list(run.argv),
            "cwd": run.cwd,
            "launch": _mapping(env.get("launch")),
            "settings": dict(run.settings),
            "interpreter": _mapping(env.get("python")),
            "packages": _mapping(env.get("packages")),
            "git": git_of(run),
            "resumed_from": sessions[0].resumed_from if sessions else None,
            "inputs": inputs,
            "outputs": [_version(v) for v in store.artifact_versions(run_id=run.id)],
        }
    )
