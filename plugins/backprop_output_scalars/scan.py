"""Chunks of printed lines → metric points, fast (the output hot path).

A script prints the same few templates over and over with other numbers. Each line's *shape*
(the line with every run of digits replaced by one ``0``, computed for a whole chunk at C
speed) keys a cache of compiled plans, so the rules (``rules.py``) read each template once.
A compiled plan is the template as a regular expression: the line's text and key names
literally, its values and step as groups, any other number as ``[0-9]+``. Consecutive lines
of one shape are matched and converted together with ``map`` (no Python code per line); a
line its plan does not match (``top5`` where the plan was made from ``top1``, which shares the
shape) is planned on its own.

Points come out as ``MetricLines`` (columns, like the JSON parser's hot path); each line is
stored as a ``metrics`` event whose payload is ``{"step": …, "data": {…}, "source":
"output"}``.
"""

from __future__ import annotations

import json
import math
import operator
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain, groupby, repeat
from pathlib import Path
from typing import Any

from backprop_core import ParseContext, ParsedLines, Settings
from backprop_core.plugin_kit import MetricLines
from backprop_output_scalars.patterns import UserLine, UserPattern
from backprop_output_scalars.rules import Plan, plan

MEMO_KEY = "output_scalars"
MAX_SHAPES = 4096
PLANS_PER_SHAPE = 4
_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_DIGIT_RUN = re.compile(r"[0-9]+")
# Number text JSON refuses: a leading zero, a plus sign, a point at either end, a comma.
_NOT_JSON = re.compile(r"(?:^| )(?:-?0[0-9]|\+|-?\.)|\.(?: |$)|,")
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.?")

Item = Any  # Event | MetricLines


def shape_of(data: bytes) -> bytes:
    """``data`` with every run of digits replaced by one ``0``."""
    shape = data.translate(_DIGITS)
    while b"00" in shape:
        shape = shape.replace(b"00000000", b"0").replace(b"00", b"0")
    return shape


def _pattern_for(text: str) -> str:
    """A literal text as a regex where each run of digits matches any run of digits."""
    out = []
    pos = 0
    for m in _DIGIT_RUN.finditer(text):
        out.append(re.escape(text[pos : m.start()]))
        out.append("[0-9]+")
        pos = m.end()
    out.append(re.escape(text[pos:]))
    return "".join(out)


@dataclass(frozen=True, eq=False)
class Compiled:
    """A ``Plan`` as a template for every line of its shape (lines as ``str``)."""

    keys: tuple[str, ...]
    regex: re.Pattern[str]
    value_groups: Callable[[tuple[str, ...]], tuple[str, ...]]  # a match's values, in order
    step_groups: tuple[int, ...]  # (): no step; (s,): the step; (e, i, n): e * n + i
    constants: tuple[float | None, ...]  # a value written as a word (nan, inf)
    template: str  # the event's JSON text: %s for the step and for each value

    def match_all(self, lines: list[str]) -> list[tuple[str, ...]] | None:
        """The groups of every line, or ``None`` when some line does not fit."""
        found = list(map(self.regex.fullmatch, lines))
        if None in found:
            return None
        return list(map(re.Match.groups, found))  # type: ignore[arg-type]

    def steps(self, groups: list[tuple[str, ...]], current: int | None) -> list[int | None]:
        parts = self.step_groups
        if not parts:
            return [current] * len(groups)
        if len(parts) == 1:
            return list(map(int, map(operator.itemgetter(parts[0]), groups)))
        e, i, n = (map(int, map(operator.itemgetter(part), groups)) for part in parts)
        return list(map(operator.add, map(operator.mul, e, n), i))

    def values(self, groups: list[tuple[str, ...]]) -> tuple[list[str], list[float]]:
        """The values, line after line: as printed, and as numbers."""
        printed = list(chain.from_iterable(map(self.value_groups, groups)))
        if any(c is not None for c in self.constants):
            constants = self.constants * len(groups)
            return printed, [
                c if c is not None else _number(text) for c, text in zip(constants, printed)
            ]
        try:
            return printed, list(map(float, printed))
        except ValueError:  # thousands separators
            return printed, list(map(_number, printed))


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def compile_plan(line: str, found: Plan) -> Compiled:
    """The plan as a regex: keys and text literal, values and step as groups, every other
    run of digits as ``[0-9]+``."""
    metrics = found.metrics
    spans: list[tuple[int, int, str, str]] = []  # (start, end, regex, role) in line order
    for m in metrics:
        if m.key_end > m.key_start:
            spans.append((m.key_start, m.key_end, re.escape(line[m.key_start : m.key_end]), ""))
    for i, m in enumerate(metrics):
        text = line[m.start : m.end]
        pattern = re.escape(text) if m.constant is not None else _pattern_for(text)
        spans.append((m.start, m.end, f"({pattern})", f"v{i}"))
    for i, (start, end) in enumerate(found.step or ()):
        spans.append((start, end, "([0-9]+)", f"s{i}"))
    spans.sort()
    out = []
    roles = []
    pos = 0
    for start, end, pattern, role in spans:
        if start < pos:
            continue  # overlapping spans are never expected; keep the first
        out.append(_pattern_for(line[pos:start]))
        out.append(pattern)
        if role:
            roles.append(role)
        pos = end
    out.append(_pattern_for(line[pos:]))
    regex = re.compile("".join(out))
    where = {role: n for n, role in enumerate(roles)}
    value_index = [where[f"v{i}"] for i in range(len(metrics))]
    step_index = tuple(where[f"s{i}"] for i in range(len(found.step or ())))
    value_groups: Callable[[tuple[str, ...]], tuple[str, ...]]
    if not value_index:
        value_groups = lambda groups: ()  # noqa: E731 - a line holding only a step marker
    elif len(value_index) == 1:
        only = value_index[0]
        value_groups = lambda groups: (groups[only],)  # noqa: E731
    else:
        value_groups = operator.itemgetter(*value_index)
    keys = tuple(m.key for m in metrics)
    data = ",".join(f"{json.dumps(k).replace('%', '%%')}:%s" for k in keys)
    return Compiled(
        keys,
        regex,
        value_groups,
        step_index,
        tuple(m.constant for m in metrics),
        '{"step":%s,"data":{' + data + '},"source":"output"}',
    )


def _json_values(printed: list[str], numbers: list[float]) -> list[str]:
    """The values as JSON number text: as printed when one search finds nothing JSON would
    refuse, else written from the numbers."""
    if not _NOT_JSON.search(" ".join(printed)):
        return printed
    return list(map(repr, numbers))


def _text(step: int | None, data: dict[str, float]) -> str:
    """The event's JSON text for values that are not all finite: NaN and ±Infinity as
    Python's JSON writes them (and the stores read them back)."""
    return json.dumps({"step": step, "data": data, "source": "output"})


def _normalise(line: bytes) -> bytes:
    """What a terminal finally shows of the line: its last ``\r`` frame, without escapes."""
    if b"\r" in line:
        line = line.rstrip(b"\r").rpartition(b"\r")[2]
    if b"\x1b" in line:
        line = _ESCAPES.sub(b"", line)
    return line


class Scanner:
    """The output scalars parser of one session (kept in the session's ``ParseState``)."""

    def __init__(self, settings: Settings | None) -> None:
        options = (settings or Settings(home=Path("."))).output_scalars
        self.enabled = options.enabled
        self.builtin = options.builtin_rules
        self.ignore = frozenset(k.lower() for k in options.ignore_keys)
        self.patterns = [UserPattern(p) for p in options.patterns]
        #: shape → the plans made from lines of that shape (``None``: no metrics)
        self.shapes: dict[bytes, list[Compiled | None]] = {}

    def scan(self, lines: list[bytes], context: ParseContext) -> ParsedLines | None:
        state = context.state
        if not self.enabled or state.reported_metrics or context.stream == "events":
            return None
        data = b"\n".join(lines)
        if b"\r" in data or b"\x1b" in data:
            data = b"\n".join(map(_normalise, lines))
        texts = data.decode("utf-8", "surrogateescape").split("\n")
        items: list[Item] = []
        step = state.step
        now = time.time()
        position = 0
        cache = self.shapes
        for shape, same in groupby(shape_of(data).split(b"\n")):
            size = len(list(same))
            run = texts[position : position + size]
            position += size
            if self.patterns:
                step = self._user_lines(run, step, items, context, now, shape)
                continue
            plans = cache.get(shape) or self._plans(shape, run[0])
            if plans[0] is not None and self.builtin:
                step = self._lines(plans, run, step, items, context, now)
        state.step = step
        return ParsedLines(items, claimed=()) if items else None

    # the built-in rules --------------------------------------------------------------------
    def _plans(self, shape: bytes, line: str) -> list[Compiled | None]:
        """The plans made for lines of ``shape`` (making the first from ``line``)."""
        found = self.shapes.get(shape)
        if found is None:
            if len(self.shapes) >= MAX_SHAPES:
                self.shapes.clear()  # bounded: scripts print few templates
            found = self.shapes[shape] = [self._plan(line)]
        return found

    def _plan(self, line: str) -> Compiled | None:
        found = plan(line, self.ignore)
        return compile_plan(line, found) if found is not None else None

    def _lines(
        self,
        plans: list[Compiled | None],
        lines: list[str],
        step: int | None,
        items: list[Item],
        context: ParseContext,
        now: float,
    ) -> int | None:
        """Read a run of lines of one shape; returns the step after them."""
        first = plans[0]
        if first is None:
            return step  # lines of this shape hold no metrics
        groups = first.match_all(lines)
        if groups is not None:
            return self._record(first, groups, step, items, context, now)
        for line in lines:  # some line fits no plan made so far: one at a time
            step = self._line(plans, line, step, items, context, now)
        return step

    def _line(
        self,
        plans: list[Compiled | None],
        line: str,
        step: int | None,
        items: list[Item],
        context: ParseContext,
        now: float,
    ) -> int | None:
        for compiled in plans:
            if compiled is not None:
                groups = compiled.match_all([line])
                if groups is not None:
                    return self._record(compiled, groups, step, items, context, now)
        compiled = self._plan(line)
        if compiled is None:
            return step
        if len(plans) < PLANS_PER_SHAPE:
            plans.append(compiled)  # another template of the same shape (top1 / top5)
        groups = compiled.match_all([line])
        return self._record(compiled, groups, step, items, context, now) if groups else step

    def _record(
        self,
        compiled: Compiled,
        groups: list[tuple[str, ...]],
        step: int | None,
        items: list[Item],
        context: ParseContext,
        now: float,
    ) -> int | None:
        try:
            steps = compiled.steps(groups, step)
            printed, numbers = compiled.values(groups)
        except ValueError:
            return step
        keys = compiled.keys
        if keys:
            k = len(keys)
            datas = list(map(dict, map(zip, repeat(keys), zip(*[iter(numbers)] * k))))
            values = _json_values(printed, numbers)
            known: Any = steps if step is not None or compiled.step_groups else None
            first = known if known is not None else repeat("null", len(steps))
            texts = list(map(compiled.template.__mod__, zip(first, *[iter(values)] * k)))
            if not math.isfinite(sum(numbers)):
                texts = [
                    text if math.isfinite(sum(d.values())) else _text(s, d)
                    for text, s, d in zip(texts, steps, datas)
                ]
            _append(items, context, steps, datas, texts, now)
        return steps[-1] if steps else step

    # your patterns --------------------------------------------------------------------------
    def _user_lines(
        self,
        lines: list[str],
        step: int | None,
        items: list[Item],
        context: ParseContext,
        now: float,
        shape: bytes,
    ) -> int | None:
        """Lines read by your patterns first, the rest by the built-in rules (if on)."""
        rest: list[str] = []
        for line in lines:
            found = self._user(line)
            if found is None:
                rest.append(line)
                continue
            if rest and self.builtin:
                step = self._lines(self._plans(shape, rest[0]), rest, step, items, context, now)
            rest = []
            step = found.step if found.step is not None else step
            values = dict(found.values)
            _append(items, context, [step], [values], [_text(step, values)], now)
        if rest and self.builtin:
            step = self._lines(self._plans(shape, rest[0]), rest, step, items, context, now)
        return step

    def _user(self, line: str) -> UserLine | None:
        for pattern in self.patterns:
            values, step = pattern.read(line)
            values = {k: v for k, v in values.items() if k.lower() not in self.ignore}
            if values:
                return UserLine(tuple(values.items()), step)
        return None


def _append(
    items: list[Item],
    context: ParseContext,
    steps: list[int | None],
    datas: list[dict[str, float]],
    texts: list[str],
    now: float,
) -> None:
    items.append(MetricLines(context.session, [now] * len(steps), steps, datas, texts))


def scanner_for(context: ParseContext) -> Scanner:
    memo = context.state.memo
    scanner = memo.get(MEMO_KEY)
    if not isinstance(scanner, Scanner):
        scanner = memo[MEMO_KEY] = Scanner(context.settings)
    return scanner
