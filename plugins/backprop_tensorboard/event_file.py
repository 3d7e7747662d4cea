"""TensorBoard event files: records framed as TFRecords, each an ``Event`` protocol buffer.

A record is the data's length (little-endian u64), the masked CRC-32C of those 8 bytes, the
data, and the masked CRC-32C of the data. The ``Event`` messages come from tensorboardX's copy of
TensorBoard's protos; CRC-32C from the ``crc32c`` package. Both are the ``tensorboard`` extra.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
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


def protos() -> Protos:
    """The protos and CRC-32C, or a one-line error naming the extra that brings them."""
    global _protos
    if _protos is None:
        try:
            from crc32c import crc32c
            from tensorboardX.proto import event_pb2, plugin_hparams_pb2, summary_pb2, types_pb2
        except ImportError as exc:
            raise missing_extra("the tensorboard format", "tensorboard", exc) from exc
        _protos = Protos(event_pb2, summary_pb2, types_pb2, plugin_hparams_pb2, crc32c)
    return _protos


def masked_crc(crc32c: Callable[[bytes], int], data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class RecordWriter:
    """Writes records to a binary file, in large writes."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._crc32c = protos().crc32c
        self._headers: dict[int, bytes] = {}  # length -> framed header (few distinct lengths)
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        n = len(data)
        header = self._headers.get(n)
        if header is None:
            length = _U64.pack(n)
            header = self._headers[n] = length + _U32.pack(masked_crc(self._crc32c, length))
        pending = self._pending
        pending.append(header)
        pending.append(data)
        pending.append(_U32.pack(masked_crc(self._crc32c, data)))
        if len(pending) >= 30_000:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._fh.write(b"".join(self._pending))
            self._pending.clear()


@dataclass
class Records:
    """What ``read_records`` found: the records' data, where the next read starts, and why it
    stopped early (``None`` at the end of the data or before an incomplete last record, which
    a writer may still be finishing)."""

    data: list[bytes] = field(default_factory=list)
    end: int = 0
    damage: str | None = None


def read_records(buf: bytes | memoryview, start: int = 0) -> Records:
    """The complete records of ``buf`` from offset ``start``, every CRC checked."""
    crc32c = protos().crc32c
    view = memoryview(buf)
    size = len(view)
    out = Records(end=start)
    pos = start
    unpack_u64, unpack_u32 = _U64.unpack_from, _U32.unpack_from
    checked: dict[bytes, bool] = {}
    append = out.data.append
    while pos + _HEADER <= size:
        head = bytes(view[pos : pos + _HEADER])
        ok = checked.get(head)
        if ok is None:
            ok = checked[head] = unpack_u32(head, 8)[0] == masked_crc(crc32c, head[:8])
        if not ok:
            out.damage = f"a record header at byte {pos} is damaged"
            break
        n = unpack_u64(head)[0]
        end = pos + _HEADER + n + 4
        if end > size:
            break
        data = bytes(view[pos + _HEADER : end - 4])
        if unpack_u32(view, end - 4)[0] != masked_crc(crc32c, data):
            out.damage = f"the record at byte {pos} is damaged"
            break
        append(data)
        pos = end
    out.end = pos
    return out


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


def event_bytes(wall_time: float, step: int, summary: bytes) -> bytes:
    """An ``Event`` with ``wall_time`` (field 1, double), ``step`` (2, int64) and ``summary``
    (5, already serialised), encoded without building a message: exporting a million points
    through message objects costs several times as much. ``ScalarEncoder`` checks the result
    against the protobuf library for each tag's first point."""
    time_bits = _DOUBLE.pack(wall_time)
    head = b"" if time_bits == _ZERO else b"\x09" + time_bits  # proto3 leaves defaults out
    if step:
        head += b"\x10" + varint(step)
    return head + b"\x2a" + varint(len(summary)) + summary
