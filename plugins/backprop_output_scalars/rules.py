"""The built-in rules: which numbers of a printed line are metrics, under which keys, at which
step (docs/unmodified-scripts.md).

``plan(line)`` reads one line and returns a ``Plan``: the character spans of its metric values
with their keys, and how to compute its step. Lines printed by the same ``print`` call differ
only in their digits, so the scanner keeps one plan per line shape and applies it to every
line of that shape without reading it again.

What counts:

* ``key: value`` (a space after the colon), ``key=value``, and, after a step marker,
  ``key value``. Keys are one to four words (``train loss`` becomes ``train_loss``;
  ``D(G(z))`` becomes ``D_G_z``); a unit glued to the value goes into the key
  (``time 139.49ms`` → ``time_ms``, ``mfu 3.2%`` → ``mfu_pct``, ``40 tok/s`` → ``…_tok_per_s``).
* Step markers: ``step N``/``iter N``/``iteration N``/``global_step N``; ``epoch E``; a line
  starting with ``[E/…][I/N]`` (or ``[I/N]``); a progress bar's ``I/N`` counter. With an epoch
  and a counter ``I/N`` after it, the step is ``E * N + I``.
* A line counts when it has a step marker and at least one pair, or two pairs without one
  (and then no ``key=text`` pair, which marks a configuration echo). A line holding only a
  step marker (``Epoch 3/10``) sets the step of the lines after it.
* Python/JSON dict lines (``{'loss': 1.0, 'epoch': 0.5}``, quoted numbers too) count when all
  their values are numbers and there are at least two.
* Never metrics: anything inside parentheses (``Namespace(lr=0.1)``, ``(1%)``), URLs, paths
  (``file.py:196``), dates, times of day, versions, IP addresses, hexadecimal ids, and the
  counters and rates of progress bars.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE_CHARS = 2000
MAX_KEY_WORDS = 4
MAX_KEY_CHARS = 64
MARKER_WORDS = frozenset({"step", "steps", "iter", "iters", "iteration", "epoch", "global_step"})

#: A step computed from spans of the line: one span (the step itself) or three (E, I, N:
#: the step is E * N + I).
StepSpans = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Metric:
    """A metric value at ``line[start:end]``, its key read from ``line[key_start:key_end]``."""

    key: str
    start: int
    end: int
    key_start: int = 0
    key_end: int = 0
    thousands: bool = False  # written with thousands separators (1,234)
    constant: float | None = None  # written as a word (nan, inf): the same in every line


@dataclass(frozen=True)
class Plan:
    """What a line of this shape holds: its metrics, and its step when it names one."""

    metrics: tuple[Metric, ...]
    step: StepSpans | None


_URL = re.compile(r"[A-Za-z][\w+.-]*://\S*")
_STEP_MARKER = re.compile(
    r"(?<![\w./-])(?:global[_ ]step|step|iteration|iter)(?![\w-])\s*[:=#]?\s*\[?\s*(\d+)"
    r"(?:\s*/\s*(\d+))?(?![\w.])\s*\]?",
    re.IGNORECASE,
)
_EPOCH_MARKER = re.compile(
    r"(?<![\w.-])epoch(?![\w-])\s*[:=#]?\s*\[?\s*(\d+)(?:\s*/\s*(\d+))?(?![\w.])\s*\]?",
    re.IGNORECASE,
)
_LEADING_BRACKETS = re.compile(
    r"^\s*\[\s*(\d+)\s*/\s*(\d+)\s*\](?:\s*\[\s*(\d+)\s*/\s*(\d+)\s*\])?"
)
_FRACTION = re.compile(r"(?<![\w./:-])(\d+)\s*/\s*(\d+)(?![\w./:-]|\s*/)")
_BAR = re.compile(r"\|\s*(\d+)/(\d+)\s*\[")
_VALUE = re.compile(
    r"(?<![\w.@/:-])(?P<q>['\"]?)(?P<num>[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.?\d*"
    r"(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|(?i:[-+]?(?:nan|inf(?:inity)?)))(?P=q)"
    r"(?P<unit>\s?%|[A-Za-zµμ]+(?:/[A-Za-z]+)?)?"
    r"(?=$|[\s,;|)\]}'\"]|\.(?![\w]))"
)
_WORD = r"[A-Za-z_][\w.@/-]*(?:\((?:[^()\s]|\([^()\s]*\))*\))*"
_WORD_RE = re.compile(_WORD)
# Where a key may start: after one of these (or the start, or a previous value).
_HARD = re.compile(r"[,;|\[\]{}<>\t:=]|\s-{1,2}\s|\s\.\s")
_NON_NUMBER_ASSIGN = re.compile(r"(?<![=!<>])=(?!=)\s*(?P<v>[^\s,;)\]}]+)")
_DICT_ITEM = re.compile(
    r"""(?P<q>['"])(?P<key>[^'"]{1,64})(?P=q)\s*:\s*(?P<value>'[^']*'|"[^"]*"|[^\s,{}]+)\s*(?=[,}])"""
)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)$")
_FILE_EXTENSIONS = frozenset(
    {"py", "json", "txt", "bin", "pt", "pth", "ckpt", "csv", "log", "yaml", "yml", "npy", "npz"}
    | {"h5", "pkl", "safetensors", "tar", "gz", "zip"}
)
_TIME_UNITS = {
    "ms": "ms", "s": "s", "sec": "s", "secs": "s", "us": "us", "µs": "us", "μs": "us",
    "ns": "ns", "min": "min", "mins": "min", "h": "h", "hr": "h", "hrs": "h",
}  # fmt: skip
_SIZE_UNITS = frozenset({"kb", "mb", "gb", "tb", "kib", "mib", "gib", "tib", "b"})


def _unit_suffix(unit: str) -> str | None:
    """The key suffix for a unit glued to a value, or ``None`` when it is no known unit (the
    value is then no metric: ``3f9a`` is an id, ``0.10M`` a count in words)."""
    unit = unit.strip()
    if unit == "%":
        return "pct"
    if "/" in unit:
        top, _, bottom = unit.partition("/")
        return f"{top.lower()}_per_{bottom.lower()}"
    if unit in _TIME_UNITS:
        return _TIME_UNITS[unit]
    if unit.lower() in _SIZE_UNITS and unit != "b":
        return unit.lower()
    return None


def normalise_key(words: str) -> str:
    """``train loss`` → ``train_loss``; ``D(G(z))`` → ``D_G_z``; ``Acc@1`` stays."""
    key = re.sub(r"[\s()]+", "_", words.strip())
    return re.sub(r"_+", "_", key).strip("_")


def _protected(line: str) -> list[tuple[int, int]]:
    """Spans whose numbers are never metrics: parenthesised text (``Namespace(…)``, ``(1%)``)
    unless it ends a key (``D(x): 0.5``), and URLs."""
    spans = [m.span() for m in _URL.finditer(line)]
    depth, start = 0, 0
    for i, ch in enumerate(line):
        if ch == "(":
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0:
                attached = start > 0 and (line[start - 1].isalnum() or line[start - 1] in "_)")
                after = line[i + 1 :].lstrip()
                if attached and after[:1] in (":", "=") and line[start + 1 : i].count(",") == 0:
                    continue  # a key such as D(x): or D(G(z)):
                spans.append((start, i + 1))
    if depth:
        spans.append((start, len(line)))  # an unclosed parenthesis protects the rest
    return spans


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


@dataclass
class _Markers:
    """Where a line's step markers are, and where its metric pairs may start."""

    step: StepSpans | None
    spans: list[tuple[int, int]]  # what the markers cover: never pairs
    end: int  # where pairs without a separator may start (after the first marker)


def _markers(line: str, protected: list[tuple[int, int]]) -> _Markers:
    spans: list[tuple[int, int]] = []
    step_m = next(
        (m for m in _STEP_MARKER.finditer(line) if not _inside(m.start(), protected)), None
    )
    epoch_m = next(
        (m for m in _EPOCH_MARKER.finditer(line) if not _inside(m.start(), protected)), None
    )
    lead = _LEADING_BRACKETS.match(line)
    epoch: tuple[int, int] | None = None
    after = 0
    if epoch_m is not None:
        epoch, after = epoch_m.span(1), epoch_m.end()
        spans.append(epoch_m.span())
    elif lead is not None and lead.group(3) is not None:
        epoch, after = lead.span(1), lead.end(2)
    counter: tuple[tuple[int, int], tuple[int, int]] | None = None
    if lead is not None:
        spans.append(lead.span())
        if lead.group(3) is not None:
            counter = (lead.span(3), lead.span(4))
        elif epoch is None:
            counter = (lead.span(1), lead.span(2))
    if counter is None and epoch is not None:
        found = next(
            (m for m in _FRACTION.finditer(line, after) if not _inside(m.start(), protected)),
            None,
        )
        if found is not None:
            counter = (found.span(1), found.span(2))
            spans.append(found.span())
    if counter is None:
        bar = _BAR.search(line)
        if bar is not None:
            counter = (bar.span(1), bar.span(2))
            spans.append(bar.span())
    ends = [m.end() for m in (step_m, epoch_m, lead) if m is not None]
    end = min(ends) if ends else -1
    if step_m is not None:
        spans.append(step_m.span())
        if step_m.group(2) is not None and epoch is not None:
            return _Markers((epoch, step_m.span(1), step_m.span(2)), spans, end)
        return _Markers((step_m.span(1),), spans, end)
    if epoch is not None:
        if counter is not None:
            return _Markers((epoch, counter[0], counter[1]), spans, end)
        return _Markers((epoch,), spans, end)
    if counter is not None:
        return _Markers((counter[0],), spans, end)
    return _Markers(None, spans, end)


def _key_before(line: str, left: int, right: int) -> tuple[str, int] | None:
    """The key that ends at ``right``, and where it starts: the words of ``line[left:right]``
    after its last hard boundary and its last token that is no word (a number, ``…``), at
    most four of them."""
    text = line[left:right]
    cut = 0
    for m in _HARD.finditer(text):
        cut = m.end()
    tokens = text[cut:].split()
    words: list[str] = []
    for token in reversed(tokens):
        if _WORD_RE.fullmatch(token) is None:
            break
        words.append(token)
    if not words or len(words) > MAX_KEY_WORDS:
        return None
    key = " ".join(reversed(words))
    if len(key) > MAX_KEY_CHARS:
        return None
    last = key.rsplit(".", 1)
    if len(last) == 2 and last[1].lower() in _FILE_EXTENSIONS:
        return None  # a file name
    return key, line.rindex(words[-1], left, right)


def _pairs(line: str, protected: list[tuple[int, int]], markers: _Markers) -> list[Metric] | None:
    """The line's ``key value`` pairs as metrics."""
    found: list[Metric] = []
    left = 0
    for m in _VALUE.finditer(line):
        start, end = m.start(), m.end()
        if _inside(start, protected) or _inside(start, markers.spans):
            left = max(left, end)
            continue
        # The key lies after the previous value and after any marker before it.
        left = max([left] + [b for _, b in markers.spans if b <= start])
        gap = line[left:start]
        stripped = gap.rstrip()
        sep = stripped[-1:]
        key_end = left + len(stripped)
        colon = sep == ":" and len(gap) > len(stripped)  # "key: value" (never host:port)
        if colon or (sep == "=" and stripped[-2:-1] not in ("=", "!", "<", ">")):
            key_end -= 1
        elif not (0 <= markers.end <= left and len(gap) > len(stripped)):
            left = max(left, end)
            continue  # "key value" counts only after a step marker
        found_key = _key_before(line, left, key_end)
        left = max(left, end)
        if found_key is None:
            continue
        words, key_start = found_key
        key = normalise_key(words)
        if not key or key.lower() in MARKER_WORDS:
            continue
        unit = m.group("unit")
        if unit:
            suffix = _unit_suffix(unit)
            if suffix is None:
                continue
            if not key.lower().endswith("_" + suffix):
                key = f"{key}_{suffix}"
        num = m.group("num")
        constant = None
        if num.strip("+-")[:1].isalpha():
            constant = float(num)
        found.append(
            Metric(key, *m.span("num"), key_start, key_start + len(words), "," in num, constant)
        )
    return found


def _configuration_echo(line: str, protected: list[tuple[int, int]]) -> bool:
    """Whether the line assigns text to a key (``device=cpu``, ``name='x'``): settings."""
    for m in _NON_NUMBER_ASSIGN.finditer(line):
        if _inside(m.start(), protected):
            continue
        value = m.group("v").strip("'\"")
        if not _NUMBER.match(value):
            return True
    return False


def _only_markers(line: str, spans: list[tuple[int, int]]) -> bool:
    rest = list(line)
    for a, b in spans:
        rest[a:b] = " " * (b - a)
    return not any(ch.isalnum() for ch in rest)


def _dict_plan(line: str, ignore: frozenset[str]) -> Plan | None:
    """A flat dict printed by Python or as JSON whose values are all numbers (quoted or
    not): ``{'loss': 1.0, 'learning_rate': '4e-05', 'epoch': 0.5}``."""
    import ast
    import json

    body = line.strip()
    try:
        value = ast.literal_eval(body)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        try:
            value = json.loads(body)
        except ValueError:
            return None
    if not isinstance(value, dict) or not value:
        return None
    for item in value.values():
        if isinstance(item, bool) or not isinstance(item, (int, float, str)):
            return None
        if isinstance(item, str) and not _NUMBER.match(item.strip()):
            return None  # a setting that is text: a configuration dict
    items = list(_DICT_ITEM.finditer(line))
    if len(items) != len(value):
        return None
    metrics: list[Metric] = []
    for m in items:
        key = normalise_key(m.group("key"))
        start, end = m.span("value")
        text = line[start:end]
        if text[:1] in "'\"":
            start, end = start + 1, end - 1
        if key and key.lower() not in ignore and key not in {x.key for x in metrics}:
            metrics.append(Metric(key, start, end, *m.span("key")))
    if len(metrics) < 2:
        return None
    return Plan(tuple(metrics), None)


def plan(line: str, ignore: frozenset[str] = frozenset()) -> Plan | None:
    """The metrics and step of one line (after ``\\r`` frames and colours are removed), or
    ``None`` when it holds none. ``ignore``: keys (lower case) never recorded."""
    if len(line) > MAX_LINE_CHARS or not any(ch.isdigit() for ch in line):
        return None
    stripped = line.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        return _dict_plan(line, ignore)
    protected = _protected(line)
    markers = _markers(line, protected)
    pairs = _pairs(line, protected, markers) or []
    seen: set[str] = set()
    metrics = []
    for metric in pairs:
        if metric.key in seen or metric.key.lower() in ignore:
            continue
        seen.add(metric.key)
        metrics.append(metric)
    if markers.step is not None:
        if metrics:
            return Plan(tuple(metrics), markers.step)
        if _only_markers(line, markers.spans):
            return Plan((), markers.step)
        return None
    if len(metrics) >= 2 and not _configuration_echo(line, protected):
        return Plan(tuple(metrics), None)
    return None
