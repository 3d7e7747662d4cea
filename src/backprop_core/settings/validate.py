"""Validation of settings sources against ``schemas/backprop.config.schema.json``.

Every problem of every source is reported at once: where (file or variable), the JSON path,
what is wrong, what is allowed, and "did you mean" for misspelled keys.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from backprop_core.settings.schemas import CONFIG_SCHEMA, load_schema


def json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _suggest(key: str, allowed: list[str]) -> str | None:
    lowered = {a.lower(): a for a in allowed}
    if key.lower() in lowered:
        return lowered[key.lower()]
    import difflib  # only when a key is wrong

    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def _allowed(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "oneOf" in schema or "pattern" in schema:
        return str(schema.get("description", "see `backprop config schema`"))
    types = schema.get("type")
    kind = (" or ".join(types) if isinstance(types, list) else str(types)) if types else ""
    bounds = [
        f"{sign} {schema[word]}"
        for word, sign in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        )
        if word in schema
    ]
    text = " ".join(filter(None, [kind, ", ".join(bounds)]))
    return text or str(schema.get("description", ""))


def _describe(error: Any) -> list[str]:
    """One line per problem in a jsonschema ``ValidationError`` (several for unknown keys)."""
    path = json_path(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(k for k in schema.get("properties", {}) if not k.startswith("$"))
        unknown = sorted(set(error.instance) - set(schema.get("properties", {})))
        lines = []
        for key in unknown:
            suggestion = _suggest(key, allowed)
            hint = f"did you mean '{suggestion}'? " if suggestion else ""
            lines.append(
                f"{json_path([*error.absolute_path, key])}: unknown key '{key}' "
                f"({hint}allowed: {', '.join(allowed)})"
            )
        return lines
    if error.validator == "type":
        what = f"{error.instance!r} is not of type {schema['type']!r}"
    elif error.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        what = f"{error.instance!r} is out of range"
    elif error.validator in ("oneOf", "anyOf", "pattern"):
        what = f"{error.instance!r} is not valid here"
    elif error.validator == "enum":
        what = f"{error.instance!r} is not allowed"
    else:
        what = error.message
    return [f"{path}: {what} (allowed: {_allowed(schema)})"]


_TYPES: dict[str, Any] = {
    "string": str,
    "object": dict,
    "array": list,
    "boolean": bool,
    "null": type(None),
}
_UNDERSTOOD = {
    "type", "description", "default", "enum", "minimum", "exclusiveMinimum", "maximum",
    "additionalProperties", "properties", "minLength", "pattern", "oneOf", "items", "$schema",
    "$id", "title",
}  # fmt: skip


def _understood(schema: Mapping[str, Any]) -> bool:
    if set(schema) - _UNDERSTOOD:
        return False
    subs = [*schema.get("oneOf", []), *schema.get("properties", {}).values()]
    if "items" in schema:
        subs.append(schema["items"])
    return all(_understood(sub) for sub in subs)


def _type_ok(value: Any, types: Any) -> bool:
    for name in [types] if isinstance(types, str) else list(types):
        if name in ("number", "integer"):
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if is_number and (name == "number" or float(value).is_integer()):
                return True
        elif isinstance(value, _TYPES[name]):
            return True
    return False


def _obviously_valid(value: Any, schema: Mapping[str, Any]) -> bool:
    """An exact check of the few keywords our config schema uses.

    ``True`` only when the value is certainly valid; a schema using anything else answers
    ``False`` so that jsonschema decides. This keeps the ~60 ms jsonschema import off the
    start-up path of every command whose settings are fine; jsonschema still produces every
    error message.
    """
    if not _understood(schema):
        return False
    if "type" in schema and not _type_ok(value, schema["type"]):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "oneOf" in schema and sum(_obviously_valid(value, sub) for sub in schema["oneOf"]) != 1:
        return False
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return False
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and not value >= schema["minimum"]:
            return False
        if "exclusiveMinimum" in schema and not value > schema["exclusiveMinimum"]:
            return False
        if "maximum" in schema and not value <= schema["maximum"]:
            return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key not in properties or not _obviously_valid(item, properties[key]):
                return False
    if isinstance(value, list) and "items" in schema:
        return all(_obviously_valid(item, schema["items"]) for item in value)
    return True


def _non_finite(
    data: Mapping[str, Any], schema: Mapping[str, Any], parts: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], float, Mapping[str, Any]]]:
    """NaN and ±Infinity values of known keys, with their path and schema.

    JSON Schema cannot refuse them: every comparison with NaN is false, so ``minimum`` lets it
    through, and Python's json, TOML and ``float()`` all accept them. A NaN grace period or
    an infinite time box would silently disable the governor.
    """
    properties = schema.get("properties", {})
    for key, value in data.items():
        sub = properties.get(key)
        if sub is None:
            continue  # an unknown key is reported as such
        if isinstance(value, float) and not math.isfinite(value):
            yield (*parts, key), value, sub
        elif isinstance(value, Mapping):
            yield from _non_finite(value, sub, (*parts, key))


def _pattern_problems(data: Mapping[str, Any]) -> list[str]:
    """``outputScalars.patterns`` that are not usable regular expressions."""
    section = data.get("outputScalars")
    patterns = section.get("patterns") if isinstance(section, Mapping) else None
    if not isinstance(patterns, list):
        return []
    problems = []
    for i, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            continue  # the schema reports it
        where = json_path(["outputScalars", "patterns", i])
        try:
            groups = set(re.compile(pattern).groupindex)
        except re.error as exc:
            problems.append(f"{where}: {pattern!r} is not a valid regular expression: {exc}")
            continue
        if not groups - {"step", "key"} or ("key" in groups) != ("value" in groups):
            problems.append(
                f"{where}: {pattern!r} names no metric (allowed: named groups 'key' and "
                "'value', or one group per metric such as (?P<loss>...), and optionally 'step')"
            )
    return problems


def validate_data(data: Mapping[str, Any]) -> list[str]:
    """Problems in one settings object, as ``$.path: what (allowed: …)`` lines."""
    schema = load_schema(CONFIG_SCHEMA)
    if isinstance(data, dict) and _obviously_valid(data, schema):
        return _pattern_problems(data)
    problems = []
    if isinstance(data, Mapping):
        for parts, value, sub in _non_finite(data, schema):
            problems.append(
                f"{json_path(parts)}: {value!r} is not a finite number (allowed: {_allowed(sub)})"
            )
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        if isinstance(error.instance, float) and not math.isfinite(error.instance):
            continue  # already reported above, once
        problems.extend(_describe(error))
    if isinstance(data, Mapping):
        problems.extend(_pattern_problems(data))
    return problems
