"""What backprop itself establishes for ``artifact`` and ``use_artifact`` events (docs/events.md)
before they are stored: the content it stored, or the version a use resolves to, attached as
``Event.artifact``. A script's payload alone never makes a version or a use.

Called where backprop receives a run's events (the supervisor, the standalone SDK), like
``events.file_identity.witness``. An event that cannot be honoured (no such file, no such
version, a bad name) is kept and followed by an ``alert`` saying why.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from backprop_core.artifacts.objects import Content, ObjectStore
from backprop_core.artifacts.records import (
    ArtifactVersion,
    check_alias,
    check_name,
    is_digest,
    name_from_path,
    parse_ref,
)
from backprop_core.errors import BackpropError
from backprop_core.events.event import Event
from backprop_core.events.file_identity import announced_path

if TYPE_CHECKING:
    from backprop_core.events.ingest import Item
    from backprop_core.store.contract import Store

KINDS = frozenset({"artifact", "use_artifact"})


class Ignored(Exception):
    """Why an artifact event is not honoured (the text of its alert)."""


def has_artifact_events(items: Sequence[Item]) -> bool:
    return any(isinstance(i, Event) and i.kind in KINDS and i.artifact is None for i in items)


def witness_artifacts(
    items: Sequence[Item],
    store: Store,
    objects: ObjectStore,
    cwd: str | os.PathLike[str] | None,
) -> list[Item]:
    """``items`` with each ``artifact`` event carrying the content backprop stored for it and
    each ``use_artifact`` event the version it resolves to (see the module docstring)."""
    if not has_artifact_events(items):
        return list(items)
    out: list[Item] = []
    for item in items:
        if not isinstance(item, Event) or item.kind not in KINDS or item.artifact is not None:
            out.append(item)
            continue
        try:
            if item.kind == "artifact":
                out.append(replace(item, artifact=_produced(item.payload, objects, cwd)))
            else:
                version, ref = _used(item.payload, store)
                payload = {**item.payload, "ref": ref}
                out.append(replace(item, artifact=version, payload=payload))
        except Ignored as why:
            text = f"{item.kind} event ignored: {why}"
            out.append(item)
            out.append(
                Event(
                    "alert", item.time, item.step, {"level": "warning", "text": text}, item.session
                )
            )
    return out


def _produced(
    payload: Any, objects: ObjectStore, cwd: str | os.PathLike[str] | None
) -> ArtifactVersion:
    path = payload.get("path")
    path = path if isinstance(path, str) and path else None
    digest, kind = payload.get("digest"), payload.get("kind")
    content: Content | None = None
    if is_digest(digest) and kind in ("file", "folder"):
        content = objects.describe(digest, kind)  # stored already by the SDK
    source = None if path is None else str(announced_path(path, cwd))
    if content is None:
        if source is None:
            raise Ignored("it has no 'path' string (and no stored 'digest')")
        try:
            with objects.lock():
                content = objects.put(source)
        except BackpropError as exc:
            raise Ignored(exc.message) from exc
    raw_name = payload.get("name")
    try:
        name = check_name(raw_name) if raw_name is not None else name_from_path(source or "")
        aliases = [check_alias(a) for a in payload.get("aliases") or ()]
    except (BackpropError, TypeError) as exc:
        raise Ignored(getattr(exc, "message", str(exc))) from exc
    kind_name = payload.get("type")
    metadata = payload.get("metadata")
    return ArtifactVersion(
        name=name,
        digest=content.digest,
        kind=content.kind,
        size=content.size,
        files=content.files,
        type=kind_name if isinstance(kind_name, str) and kind_name else "file",
        aliases=aliases,
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
        source=source,
    )


def _used(payload: Any, store: Store) -> tuple[ArtifactVersion, str]:
    from backprop_core.artifacts.lookup import find_version

    name, version = payload.get("name"), payload.get("version")
    if not isinstance(name, str) or not name:
        raise Ignored("it has no 'name' string")
    if version is not None and not isinstance(version, (str, int)):
        raise Ignored(f"'version' must be a string such as v3 or best, not {version!r}")
    try:
        name, selector = parse_ref(name, version)
        found = find_version(store, name, selector)
    except BackpropError as exc:
        raise Ignored(exc.message) from exc
    claimed = payload.get("digest")
    if is_digest(claimed) and claimed != found.digest:
        raise Ignored(f"the script read {claimed}, but {found.label} holds {found.digest}")
    ref = payload.get("ref")
    return found, ref if isinstance(ref, str) and ref else selector


class ArtifactWitness:
    """``witness_artifacts`` for one session's events, from any of its reading threads: the
    store that resolves uses is opened on the first artifact event (most runs have none)."""

    def __init__(
        self,
        home: str | os.PathLike[str],
        open_store: Callable[[], Store],
        cwd: str | os.PathLike[str] | None,
    ) -> None:
        self.objects = ObjectStore(home)
        self._open_store = open_store
        self._store: Store | None = None
        self._cwd = cwd
        self._lock = threading.Lock()

    def __call__(self, items: list[Item]) -> list[Item]:
        if not has_artifact_events(items):
            return items
        with self._lock:
            if self._store is None:
                self._store = self._open_store()
            return witness_artifacts(items, self._store, self.objects, self._cwd)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
