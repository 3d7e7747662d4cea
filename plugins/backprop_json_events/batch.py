"""The JSON event parser for a whole chunk of output lines at once (the supervisor's hot path).

Same rules and results as ``parse_line`` on each line, at a fraction of the cost:

* only lines whose first non-blank byte is ``{`` are candidates (when all of them are, as in
  an instrumented script's output, that is settled by one count at C speed);

* the chunk's candidate lines are decoded from UTF-8 once (invalid bytes replaced, as
  ``parse_line`` callers do) and decoded from JSON in ONE ``json.loads`` call, as the elements
  of an array joined with ``",\\n"``. That is exactly per-line parsing: a JSON string cannot
  hold a raw newline, an object cannot continue with ``,{``, so one value can only span two
  lines inside an array: lines holding ``[`` are therefore parsed one by one, and when the
  batch fails or yields a different number of values than lines, every line is parsed alone;
* plain ``metrics`` events (``{"event": "metrics", "step": <int>, "data": {<numbers>}}``,
  optionally with a numeric ``time``, as the SDK writes them; other keys allowed) are
  collected in columns (``MetricLines``) instead of one ``Event`` each; everything else goes
  through ``parse_object``.
"""

from __future__ import annotations

import json
import math
import time
from itertools import chain, repeat
from typing import Any, cast

from backprop_core import Event, ParseContext, ParsedLines
from backprop_core.plugin_kit import MetricLines
from backprop_json_events import parse_object

_loads = json.loads


def _decode_each(texts: list[str]) -> list[Any]:
    out: list[Any] = []
    for text in texts:
        try:
            out.append(_loads(text))
        except (ValueError, RecursionError):
            out.append(None)
    return out


def _decode_batch(texts: list[str]) -> list[Any] | None:
    """All texts in one call, or ``None`` when that cannot be exactly per-line parsing (a text
    holds ``[``, some text is not JSON, or a text holds more than one value)."""
    try:
        values = _loads("[" + ",\n".join(texts) + "]")
    except (ValueError, RecursionError):
        return None
    return values if len(values) == len(texts) else None


def _decode(texts: list[str]) -> list[Any]:
    """One decoded value per text (``None`` where a text is not JSON)."""
    simple = [i for i, text in enumerate(texts) if "[" not in text]
    values = [None] * len(texts)
    if len(simple) < len(texts):
        for i, text in enumerate(texts):
            if "[" in text:
                values[i] = _decode_each([text])[0]
    batch = _decode_batch([texts[i] for i in simple]) if simple else []
    if batch is None:
        batch = _decode_each([texts[i] for i in simple])
    for i, value in zip(simple, batch):
        values[i] = value
    return values


_STEP_TYPES = frozenset({int, type(None)})
_NUMBER_TYPES = frozenset({int, float})
_INT64 = 1 << 63


def _steps_fit(steps: list[Any]) -> bool:
    """Whether the int steps fit the stores' 64-bit integers."""
    ints = [s for s in steps if s is not None]
    return not ints or (min(ints) >= -_INT64 and max(ints) < _INT64)


def _time_value(t: Any, now: float) -> float | None:
    """A ``time`` field as ``parse_object`` reads it (absent or null: ``now``), or ``None``
    when it is not a plain finite number (such lines take the general path)."""
    if t is None:
        return now
    tt = type(t)
    if (tt is float or tt is int) and -1e300 < t < 1e300:
        return float(t)
    return None


def _times(values: list[dict[str, Any]], now: float) -> list[float] | None:
    """Each object's ``time`` (see ``_time_value``); ``None`` if any of them is not plain."""
    raw: list[Any] = list(map(dict.get, values, repeat("time", len(values))))
    if set(map(type, raw)) == {float}:
        # A finite sum rules out NaN and ±Inf, which makes min and max meaningful.
        if math.isfinite(sum(raw)) and min(raw) > -1e300 and max(raw) < 1e300:
            return raw
        return None
    out = [_time_value(t, now) for t in raw]
    return None if None in out else cast("list[float]", out)


def _all_plain(
    values: list[Any], may_have_time: bool, now: float
) -> tuple[list[int | None], list[dict[str, Any]], list[float]] | None:
    """(steps, data, times) when every value is a plain metrics object, checked a column at a
    time. ``may_have_time=False``: the text shows no object can have a ``time`` key."""
    # map() over C functions: no Python bytecode per line.
    if set(map(type, values)) != {dict}:
        return None
    n = len(values)
    if list(map(dict.get, values, repeat("event", n))).count("metrics") != n:
        return None
    times = _times(values, now) if may_have_time else [now] * n
    if times is None:
        return None
    steps: list[Any] = list(map(dict.get, values, repeat("step", n)))
    step_types = set(map(type, steps))
    if step_types == {int}:
        if min(steps) < -_INT64 or max(steps) >= _INT64:
            return None
    elif not step_types <= _STEP_TYPES or not _steps_fit(steps):
        return None
    data: list[Any] = list(map(dict.get, values, repeat("data", n)))
    if set(map(type, data)) != {dict}:
        return None
    types = set(map(type, chain.from_iterable(map(dict.values, data))))
    if not types <= _NUMBER_TYPES:
        return None
    if int in types and not all(-1e300 < x < 1e300 for d in data for x in d.values()):
        return None
    return steps, data, times


def _candidates(lines: list[bytes]) -> list[int] | None:
    """Indexes of the lines that can be JSON objects (first non-blank byte ``{``); ``None``
    when every line can (counted at C speed: the usual chunk of an instrumented script)."""
    joined = b"\n".join(lines)
    if joined.count(b"\n{") + joined.startswith(b"{") == len(lines):
        return None
    if b"{" not in joined:
        return []  # plain text: nothing to decode
    return [
        i
        for i, line in enumerate(lines)
        if line[:1] == b"{" or (line[:1] in b" \t\r" and line.lstrip()[:1] == b"{")
    ]


def parse_chunk(
    lines: list[bytes], context: ParseContext, now: float | None = None
) -> ParsedLines | None:
    """The events of a chunk of output lines, and which lines they came from. Only lines whose
    first non-blank byte is ``{`` are decoded; everything else is left to later parsers."""
    wanted = _candidates(lines)
    if wanted is None:
        items, claimed = parse_lines(lines, context, now)
        return ParsedLines(items, claimed)
    if not wanted:
        return None
    items, claimed = parse_lines([lines[i] for i in wanted], context, now)
    if not items:
        return None
    return ParsedLines(items, [wanted[j] for j in (claimed or range(len(wanted)))])


def parse_lines(
    lines: list[bytes], context: ParseContext, now: float | None = None
) -> tuple[list[Event | MetricLines], list[int] | None]:
    """Events of a chunk of candidate lines, in order, and the indexes of the lines that were
    events (``None``: all of them)."""
    now = time.time() if now is None else now
    # Lines hold no "\n" and a replaced byte never becomes one: one text per line.
    joined = b"\n".join(lines).decode("utf-8", "replace")
    texts = joined.split("\n")
    values = None if "[" in joined else _decode_batch(texts)
    if values is None:
        # Texts are stored as printed when all of them are JSON as they are; otherwise only
        # stripped ones are (``str.strip`` also drops blanks JSON does not allow around).
        texts = [text.strip() for text in texts]
        values = _decode(texts)
    session = context.session
    # A "time" key shows in the text as such, or escaped (\u0074ime).
    may_have_time = '"time"' in joined or "\\u" in joined
    plain = _all_plain(values, may_have_time, now) if values else None
    if plain is not None:  # the usual chunk: metrics lines only
        steps, datas, times = plain
        return [MetricLines(session, times, steps, datas, texts)], None
    out: list[Event | MetricLines] = []
    claimed: list[int] = []
    run: MetricLines | None = None
    for index, (text, obj) in enumerate(zip(texts, values)):
        if type(obj) is not dict:
            continue
        kind = obj.get("event")
        t = _time_value(obj.get("time"), now) if kind == "metrics" else None
        if t is not None:
            # The plain form: an int (or no) step, numbers only in "data", a plain time.
            step = obj.get("step")
            data: Any = obj.get("data")
            plain_one = (step is None or (type(step) is int and -_INT64 <= step < _INT64)) and (
                type(data) is dict
            )
            if plain_one:
                for value in data.values():
                    vt = type(value)
                    if vt is not float and (vt is not int or not -1e300 < value < 1e300):
                        plain_one = False
                        break
            if plain_one:
                if run is None:
                    run = MetricLines(session)
                    out.append(run)
                run.times.append(t)
                run.steps.append(step)
                run.data.append(data)
                run.texts.append(text)
                claimed.append(index)
                continue
        try:
            event = parse_object(obj, context, now)
        except (ValueError, OverflowError):  # e.g. an integer too large for a float
            continue
        if event is not None:
            run = None
            out.append(event)
            claimed.append(index)
    return out, claimed
