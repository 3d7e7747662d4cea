"""``log_artifact`` and ``use_artifact`` (docs/artifacts.md, docs/sdk.md).

The script's own process hashes and stores the content (so ``log_artifact`` returns once the
bytes are safe, and the supervisor never hashes on the script's behalf), then sends an
``artifact`` event naming the stored digest; ``use_artifact`` resolves the version, hands back
a local read-only path and sends a ``use_artifact`` event. Standalone, the events go to the
store at once; under ``backprop run`` the supervisor records them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backprop_core.artifacts.records import (
    LATEST,
    ArtifactVersion,
    check_alias,
    check_name,
    name_from_path,
    parse_ref,
)
from backprop_core.errors import UsageError

if TYPE_CHECKING:
    from backprop_core.sdk.run import Run
    from backprop_core.store.contract import Store


def home_of(run: Run) -> Path:
    """The backprop home the run records into."""
    backend = run._backend
    if backend is not None:
        return Path(backend.settings.home)
    home = os.environ.get("BACKPROP_HOME", "").strip()
    if home:
        return Path(home)
    from backprop_core.settings import resolve_settings

    return resolve_settings().home


def log_artifact(
    run: Run,
    path: str | os.PathLike[str],
    name: str | None,
    type: str,
    aliases: Iterable[str],
    metadata: Mapping[str, Any] | None,
    link: bool,
) -> ArtifactVersion:
    from backprop_core.artifacts.objects import ObjectStore

    source = os.path.abspath(os.fspath(path))
    name = check_name(name) if name is not None else name_from_path(source)
    wanted = [check_alias(a) for a in ([aliases] if isinstance(aliases, str) else aliases)]
    if not isinstance(type, str) or not type:
        raise UsageError(f"invalid artifact type {type!r}", hint="use a word such as model")
    meta = dict(metadata or {})
    objects = ObjectStore(home_of(run))
    step = run._next_step - 1 if run._next_step > 0 else None
    # Shared with other writers, exclusive to gc: the object must not be swept before the
    # version naming it is recorded.
    with objects.lock():
        content = objects.put(source, link=link)
        now = time.time()
        payload: dict[str, Any] = {
            "path": source,
            "name": name,
            "type": type,
            "aliases": wanted,
            "metadata": meta,
            "digest": content.digest,
            "kind": content.kind,
        }
        run._append(("artifact", now, step, payload))
        run._writer.flush()
    draft = ArtifactVersion(
        name=name,
        digest=content.digest,
        kind=content.kind,
        size=content.size,
        files=content.files,
        type=type,
        run_id=run.id,
        created_at=now,
        step=step,
        aliases=sorted({*wanted, LATEST}),
        metadata=meta,
        source=source,
    )
    if run._backend is None:
        return draft  # the supervisor numbers it moments later
    recorded = [
        v
        for v in run._backend.store.artifact_versions(name, run_id=run.id)
        if v.digest == content.digest
    ]
    return recorded[-1] if recorded else draft


def use_artifact(run: Run, ref: str, version: str | int) -> Path:
    from backprop_core.artifacts.checkout import checkout
    from backprop_core.artifacts.lookup import find_version
    from backprop_core.artifacts.objects import ObjectStore

    if not isinstance(ref, str):
        raise UsageError(f"an artifact reference is a string such as 'data:v3', not {ref!r}")
    if ":" in ref and version not in (LATEST, None):
        raise UsageError(f"{ref!r} names a version already", hint="drop the version argument")
    name, selector = parse_ref(ref, version)
    store, opened = _store(run)
    try:
        found = find_version(store, name, selector)
    finally:
        if opened:
            store.close()
    local = checkout(ObjectStore(home_of(run)), found)
    payload = {
        "name": name,
        "version": f"v{found.version}",
        "digest": found.digest,
        "ref": selector,
    }
    run._append(("use_artifact", time.time(), None, payload))
    run._writer.flush()
    return local


def _store(run: Run) -> tuple[Store, bool]:
    """The store to resolve versions in, and whether it was opened here (to close)."""
    if run._backend is not None:
        return run._backend.store, False
    from backprop_core.settings import resolve_settings
    from backprop_core.store.opening import open_store

    return open_store(resolve_settings(), reconcile=False, create=False), True
