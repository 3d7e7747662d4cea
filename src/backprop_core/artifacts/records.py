"""Artifact records (docs/artifacts.md): versions of named artifacts, and runs' uses of them.

Defined once here; every store persists exactly these objects and every view reads them. The
bytes themselves live in the home's object store (``artifacts.objects``), addressed by
``digest``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from backprop_core.errors import UsageError

Kind = Literal["file", "folder"]

#: Artifact names and aliases: like run ids (they name folders and appear in ``NAME:VERSION``).
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VERSION = re.compile(r"^v(\d{1,18})$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: The alias every name has, on its newest version; moved by the store, never set by hand.
LATEST = "latest"


@dataclass
class ArtifactVersion:
    """One version of a named artifact: what it holds (by content hash) and who made it.

    ``version`` is numbered by the store (0, 1, … per name, never reused) and is ``None`` on a
    version not recorded yet. ``digest`` is the SHA-256 of the file, or of the folder's
    manifest (``kind``); ``size`` and ``files`` count the content. ``aliases`` include
    ``latest`` on the newest version of its name. ``run_id`` is the run that produced it, if
    any; ``source`` the path it was added from.
    """

    name: str
    digest: str
    kind: Kind
    size: int
    files: int
    version: int | None = None
    type: str = "file"
    run_id: str | None = None
    created_at: float = 0.0
    step: int | None = None
    aliases: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def label(self) -> str:
        """``name:vN`` (``name`` before the store numbered it)."""
        return self.name if self.version is None else f"{self.name}:v{self.version}"

    @property
    def filename(self) -> str:
        """The name a file artifact is written out under: its source's file name."""
        if self.source:
            base = self.source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
            if base not in ("", ".", ".."):
                return base
        return self.name


@dataclass(frozen=True)
class ArtifactUse:
    """A run read ``name:v<version>`` (content ``digest``), asked for as ``ref`` (``latest``,
    ``best``, ``v3``…), at ``time``. What ``rerun`` checks and lineage follows."""

    run_id: str
    name: str
    version: int
    digest: str
    ref: str = LATEST
    time: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.name}:v{self.version}"


def version_to_dict(version: ArtifactVersion) -> dict[str, Any]:
    out = {name: getattr(version, name) for name in ArtifactVersion.__dataclass_fields__}
    out["aliases"] = list(version.aliases)
    out["metadata"] = dict(version.metadata)
    return out


def version_from_dict(data: dict[str, Any]) -> ArtifactVersion:
    try:
        return ArtifactVersion(**data)
    except TypeError:  # a record written by a later version, with fields unknown here
        known = {k: v for k, v in data.items() if k in ArtifactVersion.__dataclass_fields__}
        return ArtifactVersion(**known)


def use_to_dict(use: ArtifactUse) -> dict[str, Any]:
    return {name: getattr(use, name) for name in ArtifactUse.__dataclass_fields__}


def use_from_dict(data: dict[str, Any]) -> ArtifactUse:
    known = {k: v for k, v in data.items() if k in ArtifactUse.__dataclass_fields__}
    return ArtifactUse(**known)


def is_valid_name(name: str) -> bool:
    return bool(_NAME.match(name)) and ".." not in name


def is_digest(text: object) -> bool:
    return isinstance(text, str) and bool(_DIGEST.match(text))


def check_name(name: str) -> str:
    """``name`` if it can name an artifact, else ``UsageError`` (exit 2) saying what can."""
    if not isinstance(name, str) or not is_valid_name(name):
        raise UsageError(
            f"invalid artifact name {name!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 128, no '..'), e.g. mnist-data",
        )
    return name


def check_alias(alias: str) -> str:
    """An alias a user may set: a name that is not a version (``v3``) and not ``latest``."""
    if not isinstance(alias, str) or not is_valid_name(alias) or _VERSION.match(alias):
        raise UsageError(
            f"invalid alias {alias!r}",
            hint="use a word such as best or production (letters, digits, '.', '_', '-'), "
            "not a version like v3",
        )
    if alias == LATEST:
        raise UsageError(
            "the alias 'latest' is moved automatically to the newest version",
            hint="choose another alias, such as best or production",
        )
    return alias


def name_from_path(path: str) -> str:
    """The default name of an artifact added from ``path``: its file name, with characters a
    name cannot hold replaced by ``-``."""
    base = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "artifact"
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", base).lstrip("._-")[:128].replace("..", "-")
    return cleaned or "artifact"


def parse_ref(text: str, version: str | int | None = None) -> tuple[str, str]:
    """``NAME[:VERSION]`` → (name, selector): ``vN``, an alias, or ``latest`` when none is
    given (``version`` is the selector when the text has none; an int ``3`` means ``v3``)."""
    name, sep, selector = text.partition(":")
    if not sep:
        selector = f"v{version}" if isinstance(version, int) else (version or LATEST)
    elif not selector:
        raise UsageError(f"nothing after ':' in {text!r}", hint="write NAME:v3 or NAME:best")
    check_name(name)
    if re.fullmatch(r"\d{1,18}", selector):
        selector = f"v{selector}"
    if not _VERSION.match(selector) and not is_valid_name(selector):
        raise UsageError(
            f"invalid version {selector!r} of {name}", hint="write v3, latest, or an alias"
        )
    return name, selector


def version_number(selector: str) -> int | None:
    """``v3`` → 3; an alias → ``None``."""
    match = _VERSION.match(selector)
    return int(match.group(1)) if match else None
