"""Chunks of printed lines → metric points, fast (the output hot path).

A script prints the same few templates over and over with other digits. Each line's *shape*
(the line with every digit replaced by ``0``, computed for a whole chunk with one
``bytes.translate``) keys a cache of compiled plans, so the rules read each template once;
every other line of that shape costs a dictionary lookup, a few slices and ``float`` calls.
A plan whose keys hold digits (``Acc@1``, ``top5``) checks them on each line, since ``top1``
and ``top5`` share a shape.

Points come out as ``MetricLines`` (columns, like the JSON parser's hot path), each line
stored as a ``metrics`` event whose payload is ``{"step": …, "data": {…}, "source":
"output"}``.
"""

from __future__ import annotations

import json
import math
import operator
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backprop_core import ParseContext, ParsedLines, Settings
from backprop_core.plugin_kit import MetricLines
from backprop_output_scalars.rules import Plan, normalise_key, plan

MEMO_KEY = "output_scalars"
MAX_SHAPES = 4096
_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.?")


@dataclass(frozen=True)
class Compiled:
    """A ``Plan`` in byte offsets, ready to apply to any line of its shape."""

    keys: tuple[str, ...]
    values: Callable[[bytes], list[float]]
    step: Callable[[bytes], int] | None
    checks: tuple[tuple[int, int], ...]  # (offset, byte) of digits inside keys
    template: str  # the event's JSON text, with %s for the step and %r for each value


def _byte_offsets(text: str) -> list[int]:
    """For each character offset of ``text`` (and its end), the byte offset in its UTF-8."""
    offsets = [0]
    total = 0
    for ch in text:
        total += len(ch.encode("utf-8", "surrogateescape"))
        offsets.append(total)
    return offsets


def _getter(spans: Sequence[tuple[int, int]]) -> Callable[[bytes], tuple[bytes, ...]]:
    get = operator.itemgetter(*(slice(a, b) for a, b in spans))
    if len(spans) == 1:
        return lambda line: (get(line),)
    return get


def _float_with_commas(raw: bytes) -> float:
    return float(raw.replace(b",", b""))


def compile_plan(line: bytes, found: Plan) -> Compiled:
    text = line.decode("utf-8", "surrogateescape")
    at = list(range(len(line) + 1)) if text.isascii() else _byte_offsets(text)
    metrics = found.metrics
    keys = tuple(m.key for m in metrics)
    spans = [(at[m.start], at[m.end]) for m in metrics]
    converters = [_float_with_commas if m.thousands else float for m in metrics]
    constants = [m.constant for m in metrics]
    get = _getter(spans) if spans else None
    values: Callable[[bytes], list[float]]
    if get is None:
        values = _no_values
    elif all(c is float for c in converters) and all(c is None for c in constants):
        values = lambda raw: list(map(float, get(raw)))  # noqa: E731 - the usual case
    else:
        values = lambda raw: [  # noqa: E731
            convert(item) if constant is None else constant
            for convert, item, constant in zip(converters, get(raw), constants)
        ]

    step = None
    if found.step is not None:
        step_spans = [(at[a], at[b]) for a, b in found.step]
        if len(step_spans) == 1:
            ((s0, s1),) = step_spans
            step = lambda raw: int(raw[s0:s1])  # noqa: E731
        else:
            (e0, e1), (i0, i1), (n0, n1) = step_spans
            step = lambda raw: int(raw[e0:e1]) * int(raw[n0:n1]) + int(raw[i0:i1])  # noqa: E731
    checks = tuple(
        (i, line[i])
        for m in metrics
        for i in range(at[m.key_start], at[m.key_end])
        if 48 <= line[i] <= 57
    )
    data = ", ".join(f"{json.dumps(k).replace('%', '%%')}: %r" for k in keys)
    template = '{"step": %s, "data": {' + data + '}, "source": "output"}'
    return Compiled(keys, values, step, checks, template)


def _no_values(raw: bytes) -> list[float]:
    return []


def _normalise(line: bytes) -> bytes:
    """What a terminal finally shows of the line: its last ``\\r`` frame, without escapes."""
    if b"\r" in line:
        line = line.rstrip(b"\r").rpartition(b"\r")[2]
    if b"\x1b" in line:
        line = _ESCAPES.sub(b"", line)
    return line


class UserPattern:
    """One ``outputScalars.patterns`` entry: named groups ``step``, ``key``/``value``, or one
    group per metric (validated with the settings)."""

    def __init__(self, source: str) -> None:
        self.regex = re.compile(source)
        names = set(self.regex.groupindex)
        self.pairs = "key" in names and "value" in names
        self.metric_groups = sorted(names - {"step", "key", "value"})

    def read(self, line: str) -> tuple[dict[str, float], int | None]:
        data: dict[str, float] = {}
        step = None
        for m in self.regex.finditer(line):
            groups = m.groupdict()
            if step is None and groups.get("step") is not None:
                try:
                    step = int(float(groups["step"]))
                except ValueError:
                    pass
            pairs = [(groups["key"], groups["value"])] if self.pairs else []
            pairs += [(name, groups[name]) for name in self.metric_groups]
            for key, value in pairs:
                if key is None or value is None:
                    continue
                try:
                    number = float(value.replace(",", ""))
                except ValueError:
                    continue
                data.setdefault(normalise_key(key), number)
        return data, step


class Scanner:
    """The output scalars parser of one session (kept in the session's ``ParseState``)."""

    def __init__(self, settings: Settings | None) -> None:
        options = (settings or Settings(home=Path("."))).output_scalars
        self.enabled = options.enabled
        self.builtin = options.builtin_rules
        self.ignore = frozenset(k.lower() for k in options.ignore_keys)
        self.patterns = [UserPattern(p) for p in options.patterns]
        self.shapes: dict[bytes, Compiled | None] = {}

    def _compiled(self, line: bytes, shape: bytes) -> Compiled | None:
        if shape in self.shapes:
            found = self.shapes[shape]
        else:
            if len(self.shapes) >= MAX_SHAPES:
                self.shapes.clear()  # bounded: scripts print few templates
            found = self.shapes[shape] = self._plan(line)
        if found is not None and found.checks:
            for offset, byte in found.checks:
                if line[offset] != byte:
                    return self._plan(line)  # a key with other digits (top1 / top5)
        return found

    def _plan(self, line: bytes) -> Compiled | None:
        text = line.decode("utf-8", "surrogateescape")
        found = plan(text, self.ignore)
        return compile_plan(line, found) if found is not None else None

    def scan(self, lines: list[bytes], context: ParseContext) -> ParsedLines | None:
        state = context.state
        if not self.enabled or state.reported_metrics or context.stream == "events":
            return None
        data = b"\n".join(lines)
        if b"\r" in data or b"\x1b" in data:
            lines = [_normalise(line) for line in lines]
            data = b"\n".join(lines)
        shapes = data.translate(_DIGITS).split(b"\n")
        out = MetricLines(context.session)
        step = state.step
        templates: list[str] = []
        rows: list[tuple[Any, ...]] = []
        for line, shape in zip(lines, shapes):
            if self.patterns:
                values, found_step = self._user(line)
                if values:
                    step = found_step if found_step is not None else step
                    self._add(out, templates, rows, step, values, None)
                    continue
                if not self.builtin:
                    continue
            compiled = self._compiled(line, shape)
            if compiled is None:
                continue
            try:
                if compiled.step is not None:
                    step = compiled.step(line)
                if not compiled.keys:
                    continue  # a line holding only a step marker (Epoch 3/10)
                numbers = compiled.values(line)
            except (ValueError, IndexError):
                continue
            self._add(out, templates, rows, step, dict(zip(compiled.keys, numbers)), compiled)
        state.step = step
        if not out.steps:
            return None
        now = time.time()
        out.times = [now] * len(out.steps)
        out.texts = [_text(t, r) for t, r in zip(templates, rows)]
        return ParsedLines([out], claimed=())

    def _user(self, line: bytes) -> tuple[dict[str, float], int | None]:
        text = line.decode("utf-8", "replace")
        for pattern in self.patterns:
            values, step = pattern.read(text)
            values = {k: v for k, v in values.items() if k.lower() not in self.ignore}
            if values:
                return values, step
        return {}, None

    @staticmethod
    def _add(
        out: MetricLines,
        templates: list[str],
        rows: list[tuple[Any, ...]],
        step: int | None,
        values: dict[str, float],
        compiled: Compiled | None,
    ) -> None:
        out.steps.append(step)
        out.data.append(values)
        templates.append(compiled.template if compiled is not None else "")
        rows.append((step, values))


def _text(template: str, row: tuple[Any, ...]) -> str:
    step, values = row
    if template and math.isfinite(sum(values.values())):
        return template % ("null" if step is None else step, *values.values())
    # NaN and ±Infinity as Python's JSON writes them (and the stores read them back).
    return json.dumps({"step": step, "data": values, "source": "output"})


def scanner_for(context: ParseContext) -> Scanner:
    memo = context.state.memo
    scanner = memo.get(MEMO_KEY)
    if not isinstance(scanner, Scanner):
        scanner = memo[MEMO_KEY] = Scanner(context.settings)
    return scanner
