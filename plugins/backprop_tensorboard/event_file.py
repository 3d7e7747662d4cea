"""TensorBoard event files: records framed as TFRecords, each an ``Event`` protocol buffer.

A record is the data's length (little-endian u64), the masked CRC-32C of those 8 bytes, the
data, and the masked CRC-32C of the data. The ``Event`` messages come from tensorboardX's copy of
TensorBoard's protos; CRC-32C from the ``crc32c`` package. Both are the ``tensorboard`` extra.
"""

from __future__ import annotations

import importlib
import importlib.util
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO

from backprop_core.plugin_kit import missing_extra

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_DOUBLE = struct.Struct("<d")
_ZERO = bytes(8)
_HEADER = 12  # length and its CRC
_MASK_DELTA = 0xA282EAD8


@dataclass(frozen=True)
class Protos:
    """The modules the format needs, loaded once they are first wanted."""

    event: ModuleType  # tensorboardX.proto.event_pb2
    summary: ModuleType  # tensorboardX.proto.summary_pb2
    types: ModuleType  # tensorboardX.proto.types_pb2
    hparams: ModuleType  # tensorboardX.proto.plugin_hparams_pb2
    crc32c: Callable[[bytes], int]


_protos: Protos | None = None


def _proto_modules() -> tuple[ModuleType, ...]:
    """tensorboardX's generated protos, without running ``tensorboardX/__init__.py``: that
    imports its ``SummaryWriter`` and with it PyTorch when installed, seconds that reading or
    writing event files never needs. The package is stood in for by an empty module while its
    ``proto`` subpackage loads, and every module it loaded is then forgotten by ``sys.modules``
    (the protos stay registered, identically, for a later ``import tensorboardX``)."""
    names = ("event_pb2", "summary_pb2", "types_pb2", "plugin_hparams_pb2")
    if "tensorboardX" in sys.modules:
        return tuple(importlib.import_module(f"tensorboardX.proto.{n}") for n in names)
    spec = importlib.util.find_spec("tensorboardX")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'tensorboardX'", name="tensorboardX")
    stand_in = ModuleType("tensorboardX")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["tensorboardX"] = stand_in
    try:
        return tuple(importlib.import_module(f"tensorboardX.proto.{n}") for n in names)
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == "tensorboardX"]:
            del sys.modules[name]


def protos() -> Protos:
    """The protos and CRC-32C, or a one-line error naming the extra that brings them."""
    global _protos
    if _protos is None:
        try:
            from crc32c import crc32c

            event_pb2, summary_pb2, types_pb2, hparams_pb2 = _proto_modules()
        except ImportError as exc:
            raise missing_extra("the tensorboard format", "tensorboard", exc) from exc
        _protos = Protos(event_pb2, summary_pb2, types_pb2, hparams_pb2, crc32c)
    return _protos


def masked_crc(crc32c: Callable[[bytes], int], data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(crc32c: Callable[[bytes], int], records: list[bytes]) -> bytes:
    """``records`` framed as TFRecords, one after the other."""
    headers: dict[int, bytes] = {}  # length -> framed header (records have few lengths)
    pack = _U32.pack
    out: list[bytes] = []
    extend = out.extend
    for data in records:
        n = len(data)
        header = headers.get(n)
        if header is None:
            length = _U64.pack(n)
            header = headers[n] = length + pack(masked_crc(crc32c, length))
        crc = crc32c(data)
        extend((header, data, pack((((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF)))
    return b"".join(out)


class RecordWriter:
    """Writes records to a binary file, many at a time."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._crc32c = protos().crc32c

    def write(self, records: list[bytes]) -> None:
        for at in range(0, len(records), 50_000):
            self._fh.write(frame(self._crc32c, records[at : at + 50_000]))


@dataclass
class Records:
    """What ``read_records`` found: the records' data, where the next read starts, and why it
    stopped early (``None`` at the end of the data or before an incomplete last record, which
    a writer may still be finishing)."""

    data: list[bytes] = field(default_factory=list)
    end: int = 0
    damage: str | None = None


def read_records(buf: bytes, start: int = 0) -> Records:
    """The complete records of ``buf`` from offset ``start``, every CRC checked."""
    crc32c = protos().crc32c
    size = len(buf)
    out = Records(end=start)
    pos = start
    unpack_u64, unpack_u32 = _U64.unpack_from, _U32.unpack_from
    lengths: dict[bytes, int] = {}  # checked headers -> their length (records have few)
    append = out.data.append
    while pos + _HEADER <= size:
        head = buf[pos : pos + _HEADER]
        n = lengths.get(head)
        if n is None:
            if unpack_u32(head, 8)[0] != masked_crc(crc32c, head[:8]):
                out.damage = f"a record header at byte {pos} is damaged"
                break
            n = lengths[head] = unpack_u64(head)[0]
        end = pos + _HEADER + n
        if end + 4 > size:
            break
        data = buf[pos + _HEADER : end]
        crc = crc32c(data)
        if unpack_u32(buf, end)[0] != (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF:
            out.damage = f"the record at byte {pos} is damaged"
            break
        append(data)
        pos = end + 4
    out.end = pos
    return out


def file_records(path: Path, chunk: int = 64 * 1024 * 1024) -> Iterator[Records]:
    """The records of a file, read ``chunk`` bytes at a time (an event file can be larger than
    memory allows); the last ``Records`` says where reading ended and why, as ``read_records``
    does, with ``end`` counted from the start of the file."""
    with open(path, "rb") as fh:
        buf, offset = b"", 0
        while True:
            more = fh.read(chunk)
            data = buf + more if buf else more
            records = read_records(data)
            buf = data[records.end :]
            offset += records.end
            records.end = offset
            if not more or records.damage is not None:
                yield records
                return
            yield records


def varint(value: int) -> bytes:
    """``value`` as a protocol-buffer varint (negative int64s take ten bytes)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def wall_time_field(wall_time: float) -> bytes:
    """Field 1 of an ``Event``; proto3 leaves it out when its bits are all zero."""
    bits = _DOUBLE.pack(wall_time)
    return b"" if bits == _ZERO else b"\x09" + bits


def event_bytes(wall_time: float, step: int, summary: bytes) -> bytes:
    """An ``Event`` with ``wall_time`` (field 1, double), ``step`` (2, int64) and ``summary``
    (5, already serialised), encoded without building a message: exporting a million points
    through message objects costs several times as much. ``ScalarEncoder`` checks the result
    against the protobuf library for each tag's first point."""
    head = wall_time_field(wall_time)
    if step:
        head += b"\x10" + varint(step)
    return head + b"\x2a" + varint(len(summary)) + summary
