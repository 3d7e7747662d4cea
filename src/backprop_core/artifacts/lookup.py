"""Finding artifact versions by ``NAME[:VERSION]`` (``v3``, ``latest``, ``best``, any alias)."""

from __future__ import annotations

from backprop_core.artifacts.records import (
    ArtifactVersion,
    parse_ref,
    version_number,
)
from backprop_core.errors import ArtifactNotFound
from backprop_core.store.contract import Store


def find_version(store: Store, name: str, selector: str) -> ArtifactVersion:
    """The version of ``name`` that ``selector`` (``vN`` or an alias) names;
    ``ArtifactNotFound`` saying what exists otherwise."""
    versions = store.artifact_versions(name)
    number = version_number(selector)
    for v in versions:
        if (v.version == number) if number is not None else (selector in v.aliases):
            return v
    if not versions:
        raise ArtifactNotFound(f"no artifact named '{name}'", hint="see: backprop artifacts list")
    known = sorted({a for v in versions for a in v.aliases})
    shown = ", ".join(f"v{v.version}" for v in versions[-5:])
    raise ArtifactNotFound(
        f"{name} has no version {selector}",
        hint=f"its newest versions are {shown}; aliases: {', '.join(known)}",
    )


def resolve_ref(store: Store, ref: str, version: str | int | None = None) -> ArtifactVersion:
    """``NAME[:VERSION]`` → the version it names (``UsageError`` for a malformed one)."""
    name, selector = parse_ref(ref, version)
    return find_version(store, name, selector)
