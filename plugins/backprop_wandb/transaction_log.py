"""The records of a W&B run file (``run-<id>.wandb``), read with W&B's own protos.

W&B has no supported reader for these files (``wandb sync`` uploads them; its Go core reads
them), so this module is the one place that knows their layout, and ``tests/interop/
test_wandb.py`` fails loudly when a W&B release changes it. The layout, as W&B writes it
(version 0): a 7-byte header (``:W&B``, the magic 0xBEE1 as a little-endian u16, the version
byte), then LevelDB's log format: 32 KiB blocks of chunks, each a CRC-32 (seeded with the CRC of
its type byte, unmasked), a u16 length and a type (1 full, 2 first, 3 middle, 4 last); a block's
last bytes are padding when fewer than 7 remain. A record is one ``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backprop_core.plugin_kit import SourceError, missing_extra

HEADER = struct.Struct("<4sHB")
IDENT, MAGIC, VERSION = b":W&B", 0xBEE1, 0
BLOCK = 32 * 1024
CHUNK = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_TYPE_CRC = {kind: zlib.crc32(bytes([kind])) for kind in (FULL, FIRST, MIDDLE, LAST)}


def record_class() -> Any:
    """W&B's ``Record`` message (importing ``wandb`` takes a second or two)."""
    try:
        # Typed as Any: the module star-imports the protos of the installed protobuf's version.
        protos: Any = importlib.import_module("wandb.proto.wandb_internal_pb2")
    except ImportError as exc:
        raise missing_extra("the wandb format", "wandb", exc) from exc
    return protos.Record


def is_run_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER.size)
    except OSError:
        return False
    return len(head) == HEADER.size and HEADER.unpack(head)[:2] == (IDENT, MAGIC)


@dataclass
class Chunks:
    """The raw records of a file, and why reading stopped early, if it did."""

    records: Iterator[bytes]
    problems: list[str]


def read_chunks(data: bytes, path: Path) -> Chunks:
    """Every complete record of ``data``; a damaged chunk or an unfinished record ends the
    reading with a note in ``problems``."""
    if len(data) < HEADER.size:
        raise SourceError(f"{path} is too short to be a W&B run file")
    ident, magic, version = HEADER.unpack_from(data)
    if (ident, magic) != (IDENT, MAGIC):
        raise SourceError(f"{path} is not a W&B run file")
    if version != VERSION:
        raise SourceError(
            f"{path} is a W&B run file of version {version}; backprop reads version {VERSION}"
        )
    problems: list[str] = []
    return Chunks(_records(data, path, problems), problems)


def _records(data: bytes, path: Path, problems: list[str]) -> Iterator[bytes]:
    pos, size = HEADER.size, len(data)
    pending: list[bytes] | None = None
    while pos + CHUNK.size <= size:
        left = BLOCK - pos % BLOCK
        if left < CHUNK.size:
            pos += left  # padding at the end of a block
            continue
        crc, length, kind = CHUNK.unpack_from(data, pos)
        start = pos + CHUNK.size
        body = data[start : start + length]
        if kind == 0 and length == 0 and crc == 0:
            pos += left  # zeros: the writer stopped in this block
            continue
        if len(body) < length or kind not in _TYPE_CRC:
            problems.append(f"{path.name} ends in an unfinished record")
            return
        if zlib.crc32(body, _TYPE_CRC[kind]) & 0xFFFFFFFF != crc:
            problems.append(f"{path.name} is damaged at byte {pos}; what came before was read")
            return
        pos = start + length
        if kind == FULL:
            yield body
        elif kind == FIRST:
            pending = [body]
        elif pending is not None:
            pending.append(body)
            if kind == LAST:
                yield b"".join(pending)
                pending = None
    # A record cut short, or the first bytes of a chunk header (not the zeros of a block's end)
    if pending is not None or data[pos:].strip(b"\0"):
        problems.append(f"{path.name} ends in an unfinished record")
