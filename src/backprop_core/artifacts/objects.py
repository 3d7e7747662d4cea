"""The content-addressed object store under the home (docs/artifacts.md, "Storage").

``artifacts/objects/sha256/ab/cdef…`` holds each distinct content once, read-only, named by
its SHA-256. A folder is stored as its files plus a *manifest* object listing them (path,
digest, size, executable bit); the folder's digest is the manifest's. Bytes arrive without a
needless copy:

* on the home's filesystem: a reflink (copy-on-write clone) where the filesystem offers one;
  else a hard link when the caller hands the file over (``link=True``: it is made read-only and
  shared with the store); else the file is hashed first, so bytes already stored cost only the
  hash, and copied only when new;
* from another filesystem: copied while hashing, in one pass.

Writers hold a shared lock (``locks/artifacts.lock``) from the first byte until their version
is recorded; ``gc`` takes it exclusively to delete unreferenced objects.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from backprop_core.artifacts.records import Kind
from backprop_core.artifacts.transfer import copy_hashing, hash_fd, hash_path, reflink
from backprop_core.errors import UsageError
from backprop_core.store.files import os_error_to_store_error

MANIFEST_FORMAT = "backprop-artifact-manifest"
How = Literal["reflink", "hardlink", "copy", "existing"]


@dataclass(frozen=True)
class Content:
    """What the object store holds for one added file or folder. ``stored`` says how the
    bytes of a file got there (a folder: how its last new file did, or ``existing``)."""

    digest: str
    kind: Kind
    size: int
    files: int
    stored: How = "existing"


@dataclass(frozen=True)
class Entry:
    """One file of a folder's manifest."""

    path: str
    digest: str
    size: int
    executable: bool = False


def digest_hex(digest: str) -> str:
    return digest.split(":", 1)[1]


class ObjectStore:
    """``home/artifacts``: ``objects/`` (the content), ``tmp/`` (objects being written) and
    ``checkouts/`` (read-only trees of linked objects handed to scripts)."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        self.root = self.home / "artifacts"
        self.objects = self.root / "objects" / "sha256"
        self.tmp = self.root / "tmp"
        self.checkouts = self.root / "checkouts"
        self.lock_path = self.home / "locks" / "artifacts.lock"

    # paths ---------------------------------------------------------------------------------
    def path_of(self, digest: str) -> Path:
        hex_ = digest_hex(digest)
        return self.objects / hex_[:2] / hex_[2:]

    def has(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def iter_objects(self) -> Iterator[tuple[str, Path]]:
        """Every stored object as (digest, path)."""
        if not self.objects.is_dir():
            return
        for prefix in sorted(self.objects.iterdir()):
            if len(prefix.name) != 2 or not prefix.is_dir():
                continue
            for obj in sorted(prefix.iterdir()):
                if len(obj.name) == 62:
                    yield f"sha256:{prefix.name}{obj.name}", obj

    @contextlib.contextmanager
    def lock(self, exclusive: bool = False) -> Iterator[None]:
        """Writers share it while storing and recording; ``gc`` holds it alone to delete."""
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise os_error_to_store_error(exc, "lock the artifact store") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # adding --------------------------------------------------------------------------------
    def put(self, path: str | os.PathLike[str], *, link: bool = False) -> Content:
        """Store the file or folder at ``path`` (see the module docstring for how)."""
        target = Path(path)
        try:
            if target.is_dir():
                return self._put_folder(target, link)
            return self._put_file(target, link)
        except FileNotFoundError as exc:
            raise UsageError(f"no file or folder at {path}", hint="check the path") from exc
        except PermissionError as exc:
            raise UsageError(f"cannot read {exc.filename or path}: permission denied") from exc
        except OSError as exc:
            raise os_error_to_store_error(exc, "store the artifact") from exc

    def _put_file(self, path: Path, link: bool) -> Content:
        src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            st = os.fstat(src)
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"{path} is not a regular file or a folder")
            hex_, size, how = self._store_fd(src, st, link)
            return Content(f"sha256:{hex_}", "file", size, 1, how)
        finally:
            os.close(src)

    def _new_tmp(self) -> str:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return str(self.tmp / f"{os.getpid()}-{secrets.token_hex(8)}")

    @staticmethod
    def _create(name: str) -> int:
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)

    def _store_fd(self, src: int, st: os.stat_result, link: bool) -> tuple[str, int, How]:
        tmp = self._new_tmp()
        try:
            same_fs = st.st_dev == os.stat(self.tmp).st_dev
            dst = self._create(tmp)
            try:
                if not same_fs:
                    hex_, size = copy_hashing(src, dst)
                    return hex_, size, self._finish(tmp, hex_, "copy")
                if reflink(src, dst):
                    hex_, size = hash_path(tmp)
                    return hex_, size, self._finish(tmp, hex_, "reflink")
            finally:
                os.close(dst)
            if link and self._hard_link(src, tmp):
                hex_, size = hash_path(tmp)
                return hex_, size, self._finish(tmp, hex_, "hardlink")
            hex_, size = hash_fd(src)
            if self.has(f"sha256:{hex_}"):  # stored before: the hash was all it cost
                return hex_, size, "existing"
            os.lseek(src, 0, os.SEEK_SET)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            dst = self._create(tmp)
            try:
                again, size = copy_hashing(src, dst)
            finally:
                os.close(dst)
            if again != hex_:
                raise UsageError("the file changed while it was being added", hint="add it again")
            return hex_, size, self._finish(tmp, hex_, "copy")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    @staticmethod
    def _hard_link(src: int, tmp: str) -> bool:
        """Link the very inode ``src`` was opened on (not whatever its path names now) in
        place of the empty temporary file ``tmp``; ``False`` where links are refused."""
        os.unlink(tmp)
        folder, name = os.path.split(tmp)
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            # A directory fd makes Python call linkat(AT_SYMLINK_FOLLOW), which follows the
            # /proc link to the open file; plain link() would not.
            os.link(f"/proc/self/fd/{src}", name, dst_dir_fd=dir_fd, follow_symlinks=True)
            return True
        except OSError:
            return False
        finally:
            os.close(dir_fd)

    def _finish(self, tmp: str, hex_: str, how: How) -> How:
        """Move ``tmp`` into place as object ``hex_``, read-only; when the object exists
        already, ``tmp`` is dropped (deduplication) and nothing else changes."""
        dest = self.path_of(f"sha256:{hex_}")
        if dest.is_file():
            return "existing"
        os.chmod(tmp, 0o444)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(tmp, dest)
        except FileExistsError:
            return "existing"
        return how

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` (a manifest) and return its digest."""
        tmp = self._new_tmp()
        try:
            with os.fdopen(self._create(tmp), "wb") as fh:
                fh.write(data)
            hex_, _ = hash_path(tmp)
            self._finish(tmp, hex_, "copy")
            return f"sha256:{hex_}"
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _put_folder(self, folder: Path, link: bool) -> Content:
        entries: list[Entry] = []
        how: How = "existing"
        for path, rel in walk_files(folder):
            content = self._put_file(path, link)
            if content.stored != "existing":
                how = content.stored
            executable = bool(os.stat(path).st_mode & 0o111)
            entries.append(Entry(rel, content.digest, content.size, executable))
        digest = self.put_bytes(manifest_bytes(entries))
        return Content(digest, "folder", sum(e.size for e in entries), len(entries), how)

    # reading -------------------------------------------------------------------------------
    def read_manifest(self, digest: str) -> list[Entry]:
        """The files of the folder whose manifest is ``digest``; ``ValueError`` if it is not
        a manifest, ``OSError`` if it is missing."""
        data = json.loads(self.path_of(digest).read_bytes())
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise ValueError("not an artifact manifest")
        return [
            Entry(str(e["path"]), str(e["digest"]), int(e["size"]), bool(e.get("executable")))
            for e in data["files"]
        ]

    def describe(self, digest: str, kind: str) -> Content | None:
        """What the store holds under ``digest`` as a ``kind``, or ``None`` when it holds no
        such thing (missing, or not a manifest where a folder was claimed)."""
        try:
            if kind == "folder":
                entries = self.read_manifest(digest)
                if not all(self.has(e.digest) for e in entries):
                    return None
                return Content(digest, "folder", sum(e.size for e in entries), len(entries))
            if kind == "file":
                return Content(digest, "file", self.path_of(digest).stat().st_size, 1)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return None


def walk_files(folder: Path) -> Iterator[tuple[Path, str]]:
    """Regular files under ``folder`` (symlinks to files followed, symlinked folders not
    entered), in a stable order, with their path relative to it (``/``-separated)."""
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(top) / name
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.stat(path).st_mode):
                    yield path, path.relative_to(folder).as_posix()


def manifest_bytes(entries: list[Entry]) -> bytes:
    """The canonical manifest: the same files give the same bytes, hence the same digest."""
    doc: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "files": [
            {"path": e.path, "digest": e.digest, "size": e.size, "executable": e.executable}
            for e in sorted(entries, key=lambda e: e.path)
        ],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
