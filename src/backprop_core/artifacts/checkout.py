"""Getting an artifact version's content out of the object store.

* ``export``: a verified, independent copy in a folder the user names (``artifacts get``):
  every byte is hashed on the way out and compared with the recorded digest, so a damaged
  object is reported (``ArtifactDamaged``) and nothing half-written is left.
* ``checkout``: a read-only tree of hard links to the objects under
  ``artifacts/checkouts/`` (``use_artifact``): no copy, and the file keeps its name.
* ``verify``: re-hash everything a version holds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from backprop_core.artifacts.objects import Entry, ObjectStore, digest_hex
from backprop_core.artifacts.records import ArtifactVersion
from backprop_core.artifacts.transfer import copy_hashing, hash_path, reflink
from backprop_core.errors import ArtifactDamaged, ArtifactNotFound, UsageError


def entries_of(objects: ObjectStore, version: ArtifactVersion) -> list[Entry]:
    """The files ``version`` holds, each with the path it is written out under."""
    if version.kind == "file":
        return [Entry(version.filename, version.digest, version.size)]
    try:
        return objects.read_manifest(version.digest)
    except FileNotFoundError as exc:
        raise _missing(version) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _damaged(version, "its manifest") from exc


def _missing(version: ArtifactVersion) -> ArtifactNotFound:
    return ArtifactNotFound(
        f"the content of {version.label} is no longer in the object store",
        hint="add it again from the original with: backprop artifacts add",
    )


def _damaged(version: ArtifactVersion, what: str) -> ArtifactDamaged:
    return ArtifactDamaged(
        f"{what} of {version.label} no longer matches its content hash (changed in place or "
        "lost by the disk)",
        hint="add it again from the original with: backprop artifacts add",
    )


def verify(objects: ObjectStore, version: ArtifactVersion) -> list[str]:
    """Problems with the stored content of ``version`` (empty: every hash matches)."""
    problems: list[str] = []
    if version.kind == "folder":
        try:
            hex_, _ = hash_path(objects.path_of(version.digest))
            if f"sha256:{hex_}" != version.digest:
                return ["the manifest is damaged"]
        except OSError:
            return ["the manifest is missing"]
    try:
        entries = entries_of(objects, version)
    except (ArtifactNotFound, ArtifactDamaged) as exc:
        return [exc.message]
    for entry in entries:
        try:
            hex_, size = hash_path(objects.path_of(entry.digest))
        except OSError:
            problems.append(f"{entry.path}: missing")
            continue
        if f"sha256:{hex_}" != entry.digest or size != entry.size:
            problems.append(f"{entry.path}: damaged")
    return problems


def _safe_relative(path: str) -> Path:
    rel = Path(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"unsafe path in a manifest: {path!r}")
    return rel


def export(objects: ObjectStore, version: ArtifactVersion, dest: Path) -> list[Path]:
    """Write ``version``'s files into the folder ``dest`` (created), verifying every byte;
    refuses to overwrite. Returns the files written."""
    entries = entries_of(objects, version)
    try:
        targets = [(e, dest / _safe_relative(e.path)) for e in entries]
    except ValueError as exc:
        raise _damaged(version, "the manifest") from exc
    clash = next((t for _, t in targets if t.exists() or t.is_symlink()), None)
    if clash is not None:
        raise UsageError(f"{clash} exists", hint="choose another -o folder, or remove it first")
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for entry, target in targets:
            _copy_verified(objects, version, entry, target)
            written.append(target)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return written


def _copy_verified(
    objects: ObjectStore, version: ArtifactVersion, entry: Entry, target: Path
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = os.open(objects.path_of(entry.digest), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise _missing(version) from exc
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        try:
            hex_, size = copy_hashing(src, fd)
        finally:
            os.close(fd)
        if f"sha256:{hex_}" != entry.digest or size != entry.size:
            raise _damaged(version, f"the stored file {entry.path}")
        os.chmod(tmp, 0o755 if entry.executable else 0o644)
        os.replace(tmp, target)
    finally:
        os.close(src)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def checkout(objects: ObjectStore, version: ArtifactVersion) -> Path:
    """A read-only local path holding ``version``: for a file, the file under its own name;
    for a folder, the folder. Built once per content (hard links to the objects, or copies
    where links are refused) and reused; sizes are checked, ``export`` checks hashes."""
    entries = entries_of(objects, version)
    for entry in entries:
        path = objects.path_of(entry.digest)
        try:
            if path.stat().st_size != entry.size:
                raise _damaged(version, f"the stored file {entry.path}")
        except FileNotFoundError as exc:
            raise _missing(version) from exc
    hex_ = digest_hex(version.digest)
    if version.kind == "file":
        where = objects.checkouts / "file" / hex_
        target = where / _safe_name(version.filename)
        if not target.is_file():
            where.mkdir(parents=True, exist_ok=True)
            _place(objects.path_of(version.digest), target)
        return target
    where = objects.checkouts / "folder" / hex_
    if where.is_dir():
        return where
    where.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{hex_[:12]}.", dir=where.parent))
    try:
        for entry in entries:
            target = staging / _safe_relative(entry.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            _place(objects.path_of(entry.digest), target)
        try:
            os.rename(staging, where)
        except OSError:  # another process built it first
            if not where.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return where


def _safe_name(name: str) -> str:
    return name if name not in ("", ".", "..") and "/" not in name else "content"


def _place(obj: Path, target: Path) -> None:
    """``target`` as a hard link to ``obj``, else a reflink, else a copy (read-only)."""
    try:
        os.link(obj, target)
        return
    except FileExistsError:
        return
    except OSError:
        pass
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    src = os.open(obj, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            if not reflink(src, dst):
                copy_hashing(src, dst)
        finally:
            os.close(dst)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    finally:
        os.close(src)
