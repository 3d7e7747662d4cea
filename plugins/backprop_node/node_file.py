"""Reading a Node-tool ``experiments.json`` into its entries, one entry at a time when needed.

The file is an object of records keyed by id, the same wrapped as ``{"experiments": ...}``, or
an array of records. When the whole file cannot be decoded at once because some value is nested
too deeply for the JSON decoder, the top level is split without decoding (an iterative scan),
so only the entries that are too deep are lost, each with a message naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from backprop_core import UsageError

#: A record nested deeper than this is not a Node-tool record (they are a few levels deep), and
#: stores and viewers would have to refuse it later: it is rejected at import.
MAX_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SPACE = re.compile(r"\s*")

Entry = tuple[str, Any]  # a label naming the entry in messages, and its decoded value


class TooDeep(ValueError):
    pass


def depth(value: Any) -> int:
    """How deeply ``value`` nests objects and arrays (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item
        if isinstance(item, (Mapping, list)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in children)
    return deepest


def _space(text: str, i: int) -> int:
    match = _SPACE.match(text, i)
    return match.end() if match else i


def _string_end(text: str, i: int) -> int:
    match = _STRING.match(text, i)
    if match is None:
        raise ValueError(f"a string was expected at character {i}")
    return match.end()


def _value_end(text: str, i: int) -> int:
    """Where the JSON value starting at ``text[i]`` ends, found without decoding it."""
    nesting = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _string_end(text, i)
            if nesting == 0:
                return i
            continue
        if ch in "[{":
            nesting += 1
        elif ch in "]}":
            if nesting == 0:
                return i
            nesting -= 1
            if nesting == 0:
                return i + 1
        elif ch == "," and nesting == 0:
            return i
        i += 1
    raise ValueError("the file ends inside a value")


def _members(text: str, i: int) -> list[tuple[str, str]]:
    """(label, raw text) of each member of the object or array starting at ``text[i]``."""
    is_object = text[i] == "{"
    closing = "}" if is_object else "]"
    out: list[tuple[str, str]] = []
    i = _space(text, i + 1)
    while i < len(text) and text[i] != closing:
        label = f"#{len(out) + 1}"
        if is_object:
            key_end = _string_end(text, i)
            label = json.loads(text[i:key_end])
            i = _space(text, key_end)
            if text[i : i + 1] != ":":
                raise ValueError(f"':' was expected at character {i}")
            i = _space(text, i + 1)
        end = _value_end(text, i)
        out.append((label, text[i:end].strip()))
        i = _space(text, end)
        if text[i : i + 1] == ",":
            i = _space(text, i + 1)
    return out


def _decode_each(text: str) -> tuple[list[Entry], list[str]]:
    """The top level split into entries, each decoded alone."""
    start = _space(text, 0)
    if text[start : start + 1] not in ("{", "["):
        raise ValueError("not a JSON object or array")
    members = _members(text, start)
    if text[start] == "{":
        wrapped = [raw for label, raw in members if label == "experiments"]
        if wrapped and wrapped[0][:1] in ("{", "["):
            members = _members(wrapped[0], 0)
    entries: list[Entry] = []
    problems: list[str] = []
    for label, raw in members:
        try:
            entries.append((label, json.loads(raw)))
        except RecursionError:
            problems.append(f"record '{label}' was not imported: it is nested too deeply")
    return entries, problems


def entries_of(data: Any) -> list[Entry]:
    """The entries of a decoded file (records keyed by id, wrapped or not, or an array)."""
    if isinstance(data, Mapping) and isinstance(data.get("experiments"), (Mapping, list)):
        data = data["experiments"]
    if isinstance(data, Mapping):
        return [(str(key), value) for key, value in data.items()]
    if isinstance(data, list):
        return [(f"#{i}", value) for i, value in enumerate(data, start=1)]
    raise UsageError("this is not a Node-tool experiments.json", hint="expected an object of runs")


def read_entries(text: str) -> tuple[list[Entry], list[str]]:
    """The file's entries, and a message for each entry that could not be decoded."""
    try:
        return entries_of(json.loads(text)), []
    except RecursionError:
        pass
    try:
        return _decode_each(text)
    except (ValueError, IndexError) as exc:
        raise UsageError(
            f"cannot read the file: {exc}", hint="is it the Node tool's experiments.json?"
        ) from exc
