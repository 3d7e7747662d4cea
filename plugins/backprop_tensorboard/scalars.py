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

from backprop_tensorboard.event_file import Protos, event_bytes

SCALARS_PLUGIN = "scalars"
HPARAMS_PLUGIN = "hparams"
_SENTINEL = struct.pack("<d", -1.2345678901234567e-291)
_DOUBLE = struct.Struct("<d")


class ScalarEncoder:
    """Event records for points, one tag at a time, as fast as bytes can be joined."""

    def __init__(self, protos: Protos) -> None:
        self._protos = protos
        self._parts: dict[tuple[str, bool], tuple[bytes, bytes] | None] = {}

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
        pack = _DOUBLE.pack
        out += [
            event_bytes(t, s, prefix + pack(v) + suffix) for s, t, v in zip(steps, times, values)
        ]
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

    def values(self, event: Any) -> dict[str, float]:
        """The scalars of one event (an empty dict for events that hold none)."""
        out: dict[str, float] = {}
        for item in event.summary.value:
            kind = item.WhichOneof("value")
            tag = item.tag
            if item.HasField("metadata"):
                plugin = item.metadata.plugin_data.plugin_name
                self._plugins.setdefault(tag, plugin)
                if plugin == HPARAMS_PLUGIN:
                    self._hparams(item.metadata.plugin_data.content)
            if kind == "simple_value":
                out[tag] = item.simple_value
            elif kind == "tensor" and self._plugins.get(tag) == SCALARS_PLUGIN:
                value = self._tensor(item.tensor)
                if value is not None:
                    out[tag] = value
        return out

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
