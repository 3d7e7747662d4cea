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
from itertools import chain, cycle, repeat
from pathlib import Path
from typing import Any

from backprop_core import Event, ParseContext, ParsedLines, Settings
from backprop_core.plugin_kit import MetricLines
from backprop_output_scalars.rules import Plan, normalise_key, plan

MEMO_KEY = "output_scalars"
MAX_SHAPES = 4096
_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_JSON_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_ONE_DIGIT_JSON = re.compile(r"-?[0-9](?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LEADING_ZERO = re.compile(r"(?:^|,)-?0[0-9]")
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.?")


@dataclass(frozen=True, eq=False)
class Compiled:
    """A ``Plan``, ready to apply to all lines of its shape at once (lines as ``str``)."""

    keys: tuple[str, ...]
    get: Callable[[str], tuple[str, ...]] | None  # the values as printed
    converters: tuple[Callable[[str], float] | None, ...]  # None: a constant (nan, inf)
    constants: tuple[float, ...]
    step: tuple[slice, ...]  # (): no step; (s,): the step; (e, i, n): e * n + i
    checks: tuple[tuple[int, str], ...]  # (offset, digit) of digits inside keys
    template: str  # the event's JSON text: %d for the step, %s for each value
    template_no_step: str
    #: Per value, how its printed form becomes JSON: "as is" (always valid), "check" (valid
    #: unless it has a leading zero), "repr" (never valid as printed: 1., .5, +1, 1,234).
    json_forms: tuple[str, ...] = ()

    @property
    def plain(self) -> bool:
        """Every value a plain number (no thousands separators, no nan/inf words)."""
        return all(c is float for c in self.converters)

    def steps(self, lines: list[str], current: int | None) -> list[int | None]:
        if not self.step:
            return [current] * len(lines)
        if len(self.step) == 1:
            return list(map(int, map(operator.itemgetter(self.step[0]), lines)))
        e, i, n = (map(int, map(operator.itemgetter(part), lines)) for part in self.step)
        return list(map(operator.add, map(operator.mul, e, n), i))

    def values(self, lines: list[str]) -> tuple[list[str], list[float]]:
        """The values of lines of this shape, line after line: as printed, and as numbers
        (raises ``ValueError`` for a line that is not what its shape promised)."""
        if self.get is None:
            return [], []
        printed = list(chain.from_iterable(map(self.get, lines)))
        if self.plain:
            return printed, list(map(float, printed))
        convert = cycle(self.converters)
        constant = cycle(self.constants)
        return printed, [
            c(text) if c is not None else k for c, k, text in zip(convert, constant, printed)
        ]

    def json_values(self, printed: list[str], numbers: list[float]) -> list[str]:
        """The values as JSON number text: as printed where the shape shows that is valid
        JSON (or a search finds no leading zero), else written from the number."""
        forms = self.json_forms
        if "repr" not in forms and (
            "check" not in forms or not _LEADING_ZERO.search(",".join(printed))
        ):
            return printed
        return [
            text
            if form == "as is" or (form == "check" and not _LEADING_ZERO.search(text))
            else repr(n)
            for form, text, n in zip(cycle(forms), printed, numbers)
        ]


def _getter(spans: Sequence[tuple[int, int]]) -> Callable[[str], tuple[str, ...]] | None:
    if not spans:
        return None
    if len(spans) == 1:
        (a, b) = spans[0]
        return lambda line: (line[a:b],)
    get: Callable[[str], tuple[str, ...]] = operator.itemgetter(*(slice(a, b) for a, b in spans))
    return get


def _float_with_commas(raw: str) -> float:
    return float(raw.replace(",", ""))


def compile_plan(line: str, found: Plan) -> Compiled:
    metrics = found.metrics
    keys = tuple(m.key for m in metrics)
    converters = tuple(
        None if m.constant is not None else _float_with_commas if m.thousands else float
        for m in metrics
    )
    constants = tuple(m.constant if m.constant is not None else 0.0 for m in metrics)
    checks = tuple(
        (i, line[i]) for m in metrics for i in range(m.key_start, m.key_end) if line[i].isdigit()
    )
    data = ", ".join(f"{json.dumps(k).replace('%', '%%')}: %s" for k in keys)
    template = '{"step": %d, "data": {' + data + '}, "source": "output"}'
    forms = []
    for m in metrics:
        printed = line[m.start : m.end]
        if m.constant is None and _ONE_DIGIT_JSON.fullmatch(printed):
            forms.append("as is")  # every line of this shape prints it the same valid way
        elif m.constant is None and _JSON_NUMBER_RE.fullmatch(printed.lstrip("0") or "0"):
            forms.append("check")
        else:
            forms.append("repr")
    return Compiled(
        keys,
        _getter([(m.start, m.end) for m in metrics]),
        converters,
        constants,
        tuple(slice(a, b) for a, b in found.step or ()),
        checks,
        template,
        template.replace("%d", "null", 1),
        tuple(forms),
    )


def _text(step: int | None, data: dict[str, float]) -> str:
    """The event's JSON text for values that are not all finite: NaN and ±Infinity as
    Python's JSON writes them (and the stores read them back)."""
    return json.dumps({"step": step, "data": data, "source": "output"})


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

    def _plan(self, line: str) -> Compiled | None:
        found = plan(line, self.ignore)
        return compile_plan(line, found) if found is not None else None

    def _plans(self, lines: list[str], shapes: list[bytes]) -> list[Any]:
        """Each line's compiled plan (``None``: no metrics), from the shape cache."""
        cache = self.shapes
        plans: list[Any] = list(map(cache.get, shapes, repeat(_MISS, len(shapes))))
        if _MISS in plans:
            for i, found in enumerate(plans):
                if found is _MISS:
                    shape = shapes[i]
                    if shape not in cache:
                        if len(cache) >= MAX_SHAPES:
                            cache.clear()  # bounded: scripts print few templates
                        cache[shape] = self._plan(lines[i])
                    plans[i] = cache[shape]
        return plans

    def scan(self, lines: list[bytes], context: ParseContext) -> ParsedLines | None:
        state = context.state
        if not self.enabled or state.reported_metrics or context.stream == "events":
            return None
        data = b"\n".join(lines)
        if b"\r" in data or b"\x1b" in data:
            lines = [_normalise(line) for line in lines]
            data = b"\n".join(lines)
        shapes = data.translate(_DIGITS).split(b"\n")
        texts = data.decode("utf-8", "surrogateescape").split("\n")
        plans = self._plans(texts, shapes) if self.builtin else [None] * len(lines)
        if self.patterns:
            for i, line in enumerate(texts):
                found = self._user(line)
                if found is not None:
                    plans[i] = found
        items: list[Event | MetricLines] = []
        step = state.step
        now = time.time()
        position = 0
        for found, size in _runs(plans):
            chunk = texts[position : position + size]
            position += size
            if found is None:
                continue
            if isinstance(found, _UserLine):
                step = found.step if found.step is not None else step
                self._append(items, context, [step], [dict(found.values)], None, now)
                continue
            step = self._apply(found, chunk, step, items, context, now)
        state.step = step
        return ParsedLines(items, claimed=()) if items else None

    def _apply(
        self,
        compiled: Compiled,
        lines: list[str],
        step: int | None,
        items: list[Event | MetricLines],
        context: ParseContext,
        now: float,
    ) -> int | None:
        """Read a run of lines of one shape; returns the step after them."""
        if compiled.checks:
            # Keys with digits share a shape with other keys (top1 / top5): check each line.
            for line in lines:
                if all(line[offset] == byte for offset, byte in compiled.checks):
                    step = self._apply_all(compiled, [line], step, items, context, now)
                else:
                    other = self._plan(line)  # a key with other digits (top1 / top5)
                    if other is not None:
                        step = self._apply_all(other, [line], step, items, context, now)
            return step
        return self._apply_all(compiled, lines, step, items, context, now)

    def _apply_all(
        self,
        compiled: Compiled,
        lines: list[str],
        step: int | None,
        items: list[Event | MetricLines],
        context: ParseContext,
        now: float,
    ) -> int | None:
        try:
            steps = compiled.steps(lines, step)
            printed, numbers = compiled.values(lines)
        except (ValueError, IndexError):
            if len(lines) == 1:
                return step
            for line in lines:  # find the line that is not what its shape promised
                step = self._apply_all(compiled, [line], step, items, context, now)
            return step
        keys = compiled.keys
        if keys:
            k = len(keys)
            datas = list(map(dict, map(zip, repeat(keys), zip(*[iter(numbers)] * k))))
            values = compiled.json_values(printed, numbers)
            if compiled.step or step is not None:
                texts = list(map(compiled.template.__mod__, zip(steps, *[iter(values)] * k)))
            else:
                texts = list(map(compiled.template_no_step.__mod__, zip(*[iter(values)] * k)))
            if not math.isfinite(sum(numbers)):
                texts = [
                    text if math.isfinite(sum(data.values())) else _text(s, data)
                    for text, s, data in zip(texts, steps, datas)
                ]
            self._append(items, context, steps, datas, texts, now)
        return steps[-1] if steps else step

    @staticmethod
    def _append(
        items: list[Event | MetricLines],
        context: ParseContext,
        steps: list[int | None],
        datas: list[dict[str, float]],
        texts: list[str] | None,
        now: float,
    ) -> None:
        if texts is None:
            texts = [_text(s, d) for s, d in zip(steps, datas)]
        items.append(MetricLines(context.session, [now] * len(steps), steps, datas, texts))

    def _user(self, line: str) -> _UserLine | None:
        for pattern in self.patterns:
            values, step = pattern.read(line)
            values = {k: v for k, v in values.items() if k.lower() not in self.ignore}
            if values:
                return _UserLine(tuple(values.items()), step)
        return None


@dataclass(frozen=True, eq=False)
class _UserLine:
    """A line read by one of the user's patterns."""

    values: tuple[tuple[str, float], ...]
    step: int | None


_MISS = object()


def _runs(plans: list[Any]) -> list[tuple[Any, int]]:
    """Consecutive equal plans as (plan, how many)."""
    out: list[tuple[Any, int]] = []
    start = 0
    n = len(plans)
    while start < n:
        found = plans[start]
        end = start + 1
        # Most chunks hold long runs of one shape: jump ahead while the run goes on.
        step = 64
        while end < n and plans[end] is found:
            probe = min(n, end + step)
            if plans[probe - 1] is found and plans[end:probe].count(found) == probe - end:
                end = probe
                step *= 2
            else:
                end += 1
                step = 64
        out.append((found, end - start))
        start = end
    return out


def scanner_for(context: ParseContext) -> Scanner:
    memo = context.state.memo
    scanner = memo.get(MEMO_KEY)
    if not isinstance(scanner, Scanner):
        scanner = memo[MEMO_KEY] = Scanner(context.settings)
    return scanner
