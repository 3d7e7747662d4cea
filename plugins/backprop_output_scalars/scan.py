"""Chunks of printed lines → metric points, fast (the output hot path).

A script prints the same few templates over and over with other numbers. Each line's *shape*
(the line with every run of digits replaced by one ``0``, computed for a whole chunk at C
speed) keys a cache of compiled plans, so the rules (``rules.py``) read each template once.
A compiled plan is the template as a regular expression: the line's text and key names
literally, its values and step as groups, any other number as ``[0-9]+``. Consecutive lines
of one shape are matched and converted together with ``map`` (no Python code per line); a
line its plan does not match (``top5`` where the plan was made from ``top1``, which shares the
shape) is planned on its own.

A script that prints fast prints one template chunk after chunk. Once a chunk was one run of
one shape, the next chunk is first matched whole against that shape's plan (one ``findall``
over the chunk's text, anchored at each line): when every line fits, which is the same as
every line having that shape, no shape is computed at all.

Points come out as ``MetricColumns`` (a step per line, a column of values per key), stored as
a few ``metrics`` events per run of lines whose payloads are written from the numbers as
printed when JSON reads them as they are (``backprop_core.events.columns``).
"""

from __future__ import annotations

import json
import operator
import re
import time
from dataclasses import dataclass
from functools import cached_property
from itertools import groupby
from pathlib import Path
from typing import Any

from backprop_core import ParseContext, ParsedLines, Settings
from backprop_core.plugin_kit import MetricColumns
from backprop_output_scalars.patterns import UserLine, UserPattern
from backprop_output_scalars.rules import Plan, plan

MEMO_KEY = "output_scalars"
MAX_SHAPES = 4096
PLANS_PER_SHAPE = 4
# A chunk of lines that hold no metrics is kept as a regex for the next chunk only when it is
# this long: a script printing that fast fills its chunks; for a short one a compile costs more.
WHOLE_PLAIN_LINES = 64
_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_DIGIT_RUN = re.compile(r"[0-9]+")
# Number text JSON refuses whatever its digits: a plus sign, a point at either end of the
# digits, thousands separators, a word. A template's value shows it for all its lines.
_NOT_JSON_FORM = re.compile(r"^[+.]|^-\.|\.$|\.[eE]|,|[A-Za-z]{2}")
# In numbers joined with commas after a comma: one with a leading zero, which JSON refuses.
_LEADING_ZERO = re.compile(r",-?0[0-9]")
_dumps = json.JSONEncoder(separators=(",", ":")).encode
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.?")

Item = Any  # Event | MetricColumns


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


Groups = list[tuple[str, ...]]  # each line's groups, line after line


@dataclass(frozen=True, eq=False)
class Compiled:
    """A ``Plan`` as a template for every line of its shape (lines as ``str``)."""

    keys: tuple[str, ...]
    pattern: str
    regex: re.Pattern[str]
    value_groups: tuple[int, ...]  # where each key's value is among a line's groups
    step_groups: tuple[int, ...]  # (): no step; (s,): the step; (e, i, n): e * n + i
    constants: tuple[float | None, ...]  # a value written as a word (nan, inf)
    #: Whether a value is printed in a form JSON reads (``_NOT_JSON_FORM``); the numbers of
    #: a column are still checked for leading zeros.
    as_printed: tuple[bool, ...]

    @cached_property
    def lines_regex(self) -> re.Pattern[str]:
        """The template for the lines of a whole chunk joined with newlines: ``findall``
        gives one tuple of groups per line that fits (an empty group at the end keeps them
        tuples)."""
        return re.compile(f"^{self.pattern}()$", re.MULTILINE)

    def match_all(self, lines: list[str]) -> Groups | None:
        """The groups of every line, or ``None`` when some line does not fit."""
        found = list(map(self.regex.fullmatch, lines))
        if None in found:
            return None
        return list(map(re.Match.groups, found))  # type: ignore[arg-type]

    def steps(self, columns: list[tuple[str, ...]], n: int, current: int | None) -> list[Any]:
        """Each line's step, from the groups in columns (``n`` lines)."""
        parts = self.step_groups
        if not parts:
            return [current] * n
        if len(parts) == 1:
            return list(map(int, columns[parts[0]]))
        e, i, per = (map(int, columns[part]) for part in parts)
        return list(map(operator.add, map(operator.mul, e, per), i))

    def values(
        self, columns: list[tuple[str, ...]], n: int
    ) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
        """Each key's values (``n`` lines), and the same as JSON number text."""
        data: dict[str, list[float]] = {}
        texts: dict[str, list[str]] = {}
        for key, group, constant, as_printed in zip(
            self.keys, self.value_groups, self.constants, self.as_printed
        ):
            if constant is not None:
                data[key] = [constant] * n
                texts[key] = [_dumps(constant)] * n
                continue
            printed = columns[group]
            try:
                values = list(map(float, printed))
            except ValueError:  # thousands separators
                values = list(map(_number, printed))
            data[key] = values
            if as_printed and not _LEADING_ZERO.search(",".join(("", *printed))):
                texts[key] = list(printed)
            else:
                texts[key] = _dumps(values)[1:-1].split(",")
        return data, texts


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
    template = "".join(out)
    where = {role: n for n, role in enumerate(roles)}
    keys = tuple(m.key for m in metrics)
    return Compiled(
        keys,
        template,
        re.compile(template),
        tuple(where[f"v{i}"] for i in range(len(metrics))),
        tuple(where[f"s{i}"] for i in range(len(found.step or ()))),
        tuple(m.constant for m in metrics),
        tuple(not _NOT_JSON_FORM.search(line[m.start : m.end]) for m in metrics),
    )


def _columns(
    compiled: Compiled, groups: Groups, step: int | None, session: int | None, now: float
) -> MetricColumns:
    """The lines' points in columns (``None`` for lines that only set the step), with their
    JSON text. ``ValueError`` when a number does not read."""
    n = len(groups)
    columns = list(zip(*groups))
    steps = compiled.steps(columns, n, step)
    if not compiled.keys:
        return MetricColumns(session, now, steps, {})
    data, texts = compiled.values(columns, n)
    step_text: list[str]
    if len(compiled.step_groups) == 1:  # the steps as printed, unless one has a leading zero
        printed = columns[compiled.step_groups[0]]
        if _LEADING_ZERO.search(",".join(("", *printed))):
            step_text = list(map(str, steps))
        else:
            step_text = list(printed)
    elif None in steps:
        step_text = ["null" if s is None else str(s) for s in steps]
    else:
        step_text = list(map(str, steps))
    return MetricColumns(session, now, steps, data, step_text, texts)


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
        #: When the last chunk was lines of one shape only: its lines as a regular expression
        #: for a whole chunk, and the shape's first plan (``None``: no metrics).
        self.whole: tuple[re.Pattern[str], Compiled | None] | None = None

    def scan(self, lines: list[bytes], context: ParseContext) -> ParsedLines | None:
        state = context.state
        if not self.enabled or state.reported_metrics or context.stream == "events":
            return None
        data = b"\n".join(lines)
        if b"\r" in data or b"\x1b" in data:
            data = b"\n".join(map(_normalise, lines))
        text = data.decode("utf-8", "surrogateescape")
        items: list[Item] = []
        now = time.time()
        whole = self.whole
        if whole is not None:  # the previous chunk was one shape: is this one too?
            found = whole[0].findall(text)
            if len(found) == len(lines):
                if whole[1] is not None:
                    state.step = self._record(whole[1], found, state.step, items, context, now)
                return ParsedLines(items, claimed=()) if items else None
        state.step = self._shapes(data, text.split("\n"), state.step, items, context, now)
        return ParsedLines(items, claimed=()) if items else None

    def _shapes(
        self,
        data: bytes,
        texts: list[str],
        step: int | None,
        items: list[Item],
        context: ParseContext,
        now: float,
    ) -> int | None:
        """Read the lines run by run of one shape; returns the step after them."""
        self.whole = None
        cache = self.shapes
        position = 0
        for shape, same in groupby(shape_of(data).split(b"\n")):
            size = len(list(same))
            run = texts[position : position + size]
            position += size
            if self.patterns:
                step = self._user_lines(run, step, items, context, now, shape)
                continue
            plans = cache.get(shape) or self._plans(shape, run[0])
            first = plans[0]
            if first is not None and self.builtin:
                step, whole = self._lines(plans, run, step, items, context, now)
                if whole and size == len(texts):
                    self.whole = (first.lines_regex, first)
            elif first is None and size == len(texts) >= WHOLE_PLAIN_LINES:  # no metrics
                self.whole = (re.compile(f"^{_pattern_for(run[0])}$", re.MULTILINE), None)
        return step

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
    ) -> tuple[int | None, bool]:
        """Read a run of lines of one shape: the step after them, and whether the shape's
        first plan fit them all."""
        first = plans[0]
        if first is None:
            return step, False  # lines of this shape hold no metrics
        groups = first.match_all(lines)
        if groups is not None:
            return self._record(first, groups, step, items, context, now), True
        for line in lines:  # some line fits no plan made so far: one at a time
            step = self._line(plans, line, step, items, context, now)
        return step, False

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
        groups: Groups,
        step: int | None,
        items: list[Item],
        context: ParseContext,
        now: float,
    ) -> int | None:
        """Record the points of lines that fit ``compiled``; returns the step after them."""
        try:
            columns = _columns(compiled, groups, step, context.session, now)
        except ValueError:
            return step
        if columns.data:
            _append(items, columns)
        return columns.steps[-1] if columns.steps else step

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
                plans = self._plans(shape, rest[0])
                step = self._lines(plans, rest, step, items, context, now)[0]
            rest = []
            step = found.step if found.step is not None else step
            values = {key: [value] for key, value in found.values}
            _append(items, MetricColumns(context.session, now, [step], values))
        if rest and self.builtin:
            step = self._lines(self._plans(shape, rest[0]), rest, step, items, context, now)[0]
        return step

    def _user(self, line: str) -> UserLine | None:
        for pattern in self.patterns:
            values, step = pattern.read(line)
            values = {k: v for k, v in values.items() if k.lower() not in self.ignore}
            if values:
                return UserLine(tuple(values.items()), step)
        return None


def _append(items: list[Item], columns: MetricColumns) -> None:
    """Add a run of lines, to the run before it when they share its keys."""
    last = items[-1] if items else None
    if not isinstance(last, MetricColumns) or not last.extend(columns):
        items.append(columns)


def scanner_for(context: ParseContext) -> Scanner:
    memo = context.state.memo
    scanner = memo.get(MEMO_KEY)
    if not isinstance(scanner, Scanner):
        scanner = memo[MEMO_KEY] = Scanner(context.settings)
    return scanner
