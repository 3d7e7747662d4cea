"""Scalars in TensorBoard events, both ways.

Written: each value as a rank-0 ``DT_DOUBLE`` tensor marked for the scalars plugin, which
TensorBoard charts like any scalar and which keeps the 64-bit value exactly (``simple_value`` is
a 32-bit float: 0.1 would come back as 0.10000000149011612 and 1e300 as +Inf). The marker
(summary metadata) goes with a tag's first value in each file, as TensorFlow's writers do.

Read: ``simple_value`` scalars (``SummaryWriter.add_scalar``, Lightning, Keras) and rank-0
numeric tensors of the scalars plugin (TensorFlow 2's ``tf.summary.scalar``, our own export).
Images, histograms, text and the rest are not metrics and are skipped; the hparams plugin's
session start gives the run's parameters.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from backprop_tensorboard.event_file import Protos, event_bytes, varint, wall_time_field

SCALARS_PLUGIN = "scalars"
HPARAMS_PLUGIN = "hparams"
_SENTINEL = struct.pack("<d", -1.2345678901234567e-291)
_DOUBLE = struct.Struct("<d")
_TIME = struct.Struct("<Bd")  # field 1 (wall_time) as a fixed 64-bit double: tag 0x09, value


class ScalarEncoder:
    """Event records for points, one tag at a time, as fast as bytes can be joined."""

    def __init__(self, protos: Protos) -> None:
        self._protos = protos
        self._parts: dict[tuple[str, bool], tuple[bytes, bytes] | None] = {}
        self._step_fields: dict[int, bytes] = {}  # step -> its field, for every tag

    def _value(self, tag: str, value: float, first: bool) -> Any:
        summary = self._protos.summary.Summary()
        item = summary.value.add()
        item.tag = tag
        if first:
            item.metadata.plugin_data.plugin_name = SCALARS_PLUGIN
        item.tensor.dtype = self._protos.types.DT_DOUBLE
        item.tensor.tensor_shape.SetInParent()
        item.tensor.double_val.append(value)
        return summary

    def _template(self, tag: str, first: bool) -> tuple[bytes, bytes] | None:
        """The serialised summary around its value, or ``None`` when the value's bytes cannot
        be told apart (then every point of the tag goes through the library)."""
        key = (tag, first)
        if key not in self._parts:
            raw = self._value(tag, struct.unpack("<d", _SENTINEL)[0], first).SerializeToString()
            at = raw.find(_SENTINEL)
            self._parts[key] = (
                (raw[:at], raw[at + 8 :]) if at >= 0 and raw.count(_SENTINEL) == 1 else None
            )
            if self._parts[key] is not None:
                self._check(tag, first)
        return self._parts[key]

    def _check(self, tag: str, first: bool) -> None:
        """Falls back to the library for ``tag`` unless the fast encoding matches its bytes."""
        key = (tag, first)
        parts = self._parts[key]
        assert parts is not None
        for wall_time, step, value in ((1.5e9, 2**40, math.nan), (0.25, 0, -0.0)):
            fast = event_bytes(wall_time, step, parts[0] + _DOUBLE.pack(value) + parts[1])
            if fast != self._library(tag, wall_time, step, value, first):
                self._parts[key] = None
                return

    def _library(self, tag: str, wall_time: float, step: int, value: float, first: bool) -> bytes:
        event = self._protos.event.Event(wall_time=wall_time, step=step)
        event.summary.CopyFrom(self._value(tag, value, first))
        data: bytes = event.SerializeToString()
        return data

    def file_version(self, wall_time: float) -> bytes:
        """The first record of every event file."""
        event = self._protos.event.Event(wall_time=wall_time, file_version="brain.Event:2")
        data: bytes = event.SerializeToString()
        return data

    def points(
        self, tag: str, steps: list[int], times: list[float], values: list[float], first: bool
    ) -> list[bytes]:
        """The records of a run of points of one tag; ``first``: the first run of the tag in
        its file (its first point carries the scalars marker)."""
        out: list[bytes] = []
        if first and steps:
            out.append(self._one(tag, times[0], steps[0], values[0], True))
            steps, times, values = steps[1:], times[1:], values[1:]
        parts = self._template(tag, False)
        if parts is None:
            out += [self._library(tag, t, s, v, False) for s, t, v in zip(steps, times, values)]
            return out
        prefix, suffix = parts
        # event_bytes, inlined: the summary's field header and body are the same for every
        # point of the tag but for the value, and each step's varint is made once.
        head = b"\x2a" + varint(len(prefix) + 8 + len(suffix)) + prefix
        pack, pack_time, time_field = _DOUBLE.pack, _TIME.pack, wall_time_field
        step_fields = self._step_fields
        if len(step_fields) > 1_000_000:
            step_fields.clear()
        for s, t, v in zip(steps, times, values):
            step_field = step_fields.get(s)
            if step_field is None:
                step_field = step_fields[s] = b"\x10" + varint(s) if s else b""
            when = pack_time(9, t) if t else time_field(t)
            out.append(when + step_field + head + pack(v) + suffix)
        return out

    def _one(self, tag: str, wall_time: float, step: int, value: float, first: bool) -> bytes:
        parts = self._template(tag, first)
        if parts is None:
            return self._library(tag, wall_time, step, value, first)
        return event_bytes(wall_time, step, parts[0] + _DOUBLE.pack(value) + parts[1])


class ScalarDecoder:
    """Scalar values out of events. A tag's plugin is known from its first value's metadata,
    for the file being read (writers send it once per file)."""

    def __init__(self, protos: Protos) -> None:
        self._protos = protos
        types = protos.types
        self._plugins: dict[str, str] = {}
        self._tags: dict[bytes, str] = {}
        self._double = types.DT_DOUBLE
        self._parse = protos.event.Event.FromString
        self._readers = {
            types.DT_DOUBLE: ("double_val", "<d"),
            types.DT_FLOAT: ("float_val", "<f"),
            types.DT_HALF: ("half_val", "<e"),
            types.DT_INT32: ("int_val", "<i"),
            types.DT_INT64: ("int64_val", "<q"),
        }
        self.params: dict[str, Any] = {}

    def new_file(self) -> None:
        self._plugins.clear()

    def read(self, data: bytes) -> tuple[float, int, dict[str, float]]:
        """Wall time, step and scalars of one record (no scalars: an empty dict)."""
        try:
            fast = _plain(data, self._plugins, self._tags)
        except (IndexError, ValueError, struct.error):  # not a plain record after all
            fast = None
        if fast is not None:
            return fast
        event = self._parse(data)
        values = self.values(event) if event.HasField("summary") else {}
        return event.wall_time, event.step, values

    def values(self, event: Any) -> dict[str, float]:
        """The scalars of one event (an empty dict for events that hold none)."""
        out: dict[str, float] = {}
        plugins = self._plugins
        for item in event.summary.value:
            tag = item.tag
            plugin = plugins.get(tag)
            if plugin is None:
                plugin = plugins[tag] = self._plugin(item)
            kind = item.WhichOneof("value")
            if kind == "simple_value":
                out[tag] = item.simple_value
            elif kind == "tensor" and plugin == SCALARS_PLUGIN:
                tensor = item.tensor
                if tensor.dtype == self._double and not tensor.tensor_content:
                    doubles = tensor.double_val  # our own export: the fast path
                    if len(doubles) == 1 and not tensor.tensor_shape.dim:
                        out[tag] = doubles[0]
                        continue
                value = self._tensor(tensor)
                if value is not None:
                    out[tag] = value
        return out

    def _plugin(self, item: Any) -> str:
        """The plugin of a tag new to this file, from its metadata (sent with its first value,
        and only the first counts, as in TensorBoard)."""
        if not item.HasField("metadata"):
            return ""
        plugin: str = item.metadata.plugin_data.plugin_name
        if plugin == HPARAMS_PLUGIN:
            self._hparams(item.metadata.plugin_data.content)
        return plugin

    def _tensor(self, tensor: Any) -> float | None:
        if tensor.tensor_shape.dim:
            return None
        reader = self._readers.get(tensor.dtype)
        if reader is None:
            return None
        name, fmt = reader
        if tensor.tensor_content:
            return float(struct.unpack(fmt, tensor.tensor_content[: struct.calcsize(fmt)])[0])
        values = getattr(tensor, name)
        if not values:
            return None
        if name == "half_val":  # the bits of a 16-bit float, in an int32
            return float(struct.unpack("<e", struct.pack("<H", values[0] & 0xFFFF))[0])
        return float(values[0])

    def _hparams(self, content: bytes) -> None:
        try:
            data = self._protos.hparams.HParamsPluginData.FromString(content)
        except Exception:  # another version of the plugin: no parameters, nothing worse
            return
        if data.WhichOneof("data") != "session_start_info":
            return
        for name, value in data.session_start_info.hparams.items():
            kind = value.WhichOneof("kind")
            if kind in ("number_value", "string_value", "bool_value"):
                self.params[name] = getattr(value, kind)


# --- the common records, read without building messages ------------------------------------
# Reading a field of a protobuf message from Python costs about a microsecond; an event holds
# a dozen of them, which made reading take four times as long as storing. The records almost
# every file is made of are recognised here from their bytes: an Event of wall_time (field 1,
# fixed64), step (2, varint) and a summary (5) of values that are a tag (1) and either a
# simple_value (2, fixed32) or, for a tag whose metadata named the scalars plugin, our rank-0
# DT_DOUBLE tensor (8). Anything else -- metadata, other fields, other tensors -- returns None
# and goes through the protobuf library.
_F64 = struct.Struct("<d").unpack_from
_F32 = struct.Struct("<f").unpack_from
_DOUBLE_TENSOR = b"\x42\x0e\x08\x02\x12\x00\x32\x08"  # tensor{dtype, shape{}, double_val[1]}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _plain(
    data: bytes, plugins: dict[str, str], tags: dict[bytes, str]
) -> tuple[float, int, dict[str, float]] | None:
    size = len(data)
    pos, wall, step = 0, 0.0, 0
    start = end = -1
    while pos < size:
        key = data[pos]
        if key == 0x09:
            wall = _F64(data, pos + 1)[0]
            pos += 9
        elif key == 0x10:  # _varint inlined: a call per record costs more than the loop
            pos += 1
            step = shift = 0
            while True:
                byte = data[pos]
                pos += 1
                step |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 63:
                    return None
            if step >= 1 << 63:
                step -= 1 << 64
        elif key == 0x2A and start < 0:
            length = data[pos + 1]
            if length < 0x80:  # one-byte lengths (under 128) are the rule: no call for them
                start = pos + 2
            else:
                length, start = _varint(data, pos + 1)
            pos = end = start + length
        else:
            return None
    if pos != size:
        return None
    values: dict[str, float] = {}
    pos = start
    while pos < end:  # Summary.value, each a Value of a tag and one scalar
        if data[pos] != 0x0A:
            return None
        length = data[pos + 1]
        if length < 0x80:
            pos += 2
        else:
            length, pos = _varint(data, pos + 1)
        stop = pos + length
        if data[pos] != 0x0A:
            return None
        n = data[pos + 1]
        if n < 0x80:
            pos += 2
        else:
            n, pos = _varint(data, pos + 1)
        raw = data[pos : pos + n]
        tag = tags.get(raw)
        if tag is None:
            tag = tags[raw] = raw.decode("utf-8")
        pos += n
        kind = data[pos]
        if kind == 0x15 and pos + 5 == stop:
            values[tag] = _F32(data, pos + 1)[0]
        elif (
            pos + 16 == stop
            and data[pos : pos + 8] == _DOUBLE_TENSOR
            and plugins.get(tag) == SCALARS_PLUGIN
        ):
            values[tag] = _F64(data, pos + 8)[0]
        else:
            return None
        pos = stop
    if pos != end:
        return None
    return wall, step, values
