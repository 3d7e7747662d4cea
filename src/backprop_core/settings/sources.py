"""Where settings come from: files (user, project, explicit), the environment, and flags.

Each source is read into a ``Source`` holding a JSON object with config key names; problems
reading a file (missing explicit file, bad JSON/TOML) are collected, never skipped silently.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backprop_core.env_vars import CONTRACT_VARS, SWITCH_VARS
from backprop_core.settings.model import snake

PROJECT_FILE = "backprop.config.json"
PYPROJECT = "pyproject.toml"
TOOL_TABLE = b"[tool.backprop"
# The schema has two levels; anything much deeper is a mistake (or an attack on the parser).
MAX_DEPTH = 8

# The child's contract reuses two setting names (with other units): settings outside a run.
CHILD_CONTRACT_ENV = frozenset({"GPU_MEMORY_LIMIT", "FRAMEWORK"})
# BACKPROP_* variables that are never settings.
RESERVED_ENV = (
    frozenset(name.removeprefix("BACKPROP_") for name in (*SWITCH_VARS, *CONTRACT_VARS))
    - CHILD_CONTRACT_ENV
)
# Short names for settings, besides the ``KEY__CHILD`` form every nested key has.
ENV_ALIASES: dict[str, tuple[str, ...]] = {"SSH_COMMAND": ("remote", "sshCommand")}


@dataclass
class Source:
    """One layer of settings. ``label`` names it in ``config show`` and in error messages."""

    label: str
    origin: str
    data: dict[str, Any]
    base_dir: Path | None = None
    key_labels: dict[str, str] = field(default_factory=dict)


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - py<3.11
        import tomli as tomllib
    with path.open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    return data


def read_file(path: Path, label: str, problems: list[str]) -> Source | None:
    """Read a ``.json`` config or a TOML file (``[tool.backprop]`` if present, else the whole).

    Every way a file can be unusable (missing, unreadable, not UTF-8, not JSON/TOML, nested
    too deeply, not an object) is one line in ``problems``."""
    try:
        if path.suffix == ".toml":
            doc = _load_toml(path)
            tool = doc.get("tool")
            data = tool.get("backprop", {}) if isinstance(tool, dict) else {}
            if path.name != PYPROJECT and not data:
                data = doc
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path}: file not found")
        return None
    except json.JSONDecodeError as exc:
        problems.append(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
        return None
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8")
        return None
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror or exc}")
        return None
    except RecursionError:
        problems.append(f"{path}: nested too deeply to be a settings file")
        return None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        problems.append(f"{path}: invalid TOML: {exc}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}: $: must be a JSON object, not {type(data).__name__}")
        return None
    if _depth(data) > MAX_DEPTH:
        problems.append(f"{path}: nested too deeply to be a settings file")
        return None
    return Source(label=f"{label} {path}", origin=str(path), data=data, base_dir=path.parent)


def _depth(data: Mapping[str, Any]) -> int:
    """How deeply objects and arrays nest in ``data`` (stops counting past ``MAX_DEPTH``)."""
    deepest = 0
    level: list[Any] = [data]
    while level and deepest <= MAX_DEPTH:
        deepest += 1
        nested: list[Any] = []
        for item in level:
            values = item.values() if isinstance(item, Mapping) else item
            nested.extend(v for v in values if isinstance(v, (Mapping, list)))
        level = nested
    return deepest


def _has_tool_section(path: Path) -> bool:
    """Whether ``path`` mentions our table, from its bytes: a pyproject.toml of someone else
    (unreadable, not UTF-8, huge) never stops backprop unless it is meant for it."""
    try:
        with path.open("rb") as fh:
            return TOOL_TABLE in fh.read()
    except OSError:
        return False


def find_project_config(cwd: Path) -> Path | None:
    """``backprop.config.json`` or a ``pyproject.toml`` with ``[tool.backprop]``, in ``cwd`` or
    its nearest ancestor."""
    for folder in (cwd, *cwd.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
        pyproject = folder / PYPROJECT
        if pyproject.is_file() and _has_tool_section(pyproject):
            return pyproject
    return None


def env_keys(schema: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Env suffixes to config paths: ``GPU__MAX_TEMP_C`` → ``("gpu", "maxTempC")``."""
    table: dict[str, tuple[str, ...]] = {}
    for key, sub in schema.get("properties", {}).items():
        if key.startswith("$"):
            continue
        table[snake(key).upper()] = (key,)
        for child in sub.get("properties", {}) if isinstance(sub, dict) else {}:
            table[f"{snake(key).upper()}__{snake(child).upper()}"] = (key, child)
    return table


def subschema(schema: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
    node: Mapping[str, Any] = schema
    for part in path:
        node = node.get("properties", {}).get(part, {})
    return node


def convert_text(raw: str, sub: Mapping[str, Any]) -> Any:
    """A setting given as text (a variable, a flag) in the schema's type; unconvertible values
    pass through so the schema reports them."""
    types = sub.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    text = raw.strip()
    if "null" in types and text.lower() in ("", "null", "none"):
        return None
    if "boolean" in types:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            pass
    if "array" in types:
        try:
            value = json.loads(text)
        except ValueError:
            return raw
        return value if isinstance(value, list) else raw
    if "number" in types or "oneOf" in sub:
        try:
            number = float(text)
        except ValueError:
            return raw
        return int(number) if number.is_integer() and "integer" in types else number
    return raw


def read_env(env: Mapping[str, str], schema: Mapping[str, Any]) -> tuple[Source, list[str]]:
    """Settings from ``BACKPROP_*`` variables, and warnings for unknown ones."""
    table = env_keys(schema)
    data: dict[str, Any] = {}
    labels: dict[str, str] = {}
    warnings: list[str] = []
    # Inside a supervised run the child's contract reuses two setting names with other units
    # (bytes, the resolved framework); they describe the parent run, not settings.
    supervised = "BACKPROP_RUN_ID" in env
    for name, raw in sorted(env.items()):
        if not name.startswith("BACKPROP_"):
            continue
        suffix = name[len("BACKPROP_") :]
        if supervised and suffix in CHILD_CONTRACT_ENV:
            continue
        if suffix in RESERVED_ENV or suffix.startswith(("TEST_", "SDK_", "EXAMPLE_")):
            continue
        path = table.get(suffix) or ENV_ALIASES.get(suffix)
        if path is None:
            import difflib

            close = difflib.get_close_matches(suffix, list(table), n=1, cutoff=0.75)
            hint = f" (did you mean BACKPROP_{close[0]}?)" if close else ""
            warnings.append(f"ignoring unknown environment variable {name}{hint}")
            continue
        value = convert_text(raw, subschema(schema, path))
        if path == ("home",) and isinstance(value, str):
            value = str(Path(value).expanduser())
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
        labels[".".join(path)] = f"env {name}"
    return Source("environment", "environment", data, key_labels=labels), warnings


def text_overrides(
    given: Iterable[tuple[tuple[str, ...], str, Any]], schema: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Overrides from ``(config path, label, value)`` triples (flags, as ``flag --grace``),
    and the label of each dotted key. Text is read like an environment variable, so what a
    flag accepts is decided by the schema, the same check as for every other source."""
    data: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for path, label, value in given:
        if isinstance(value, str):
            value = convert_text(value, subschema(schema, path))
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
        labels[".".join(path)] = label
    return data, labels


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested objects merge key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def leaf_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every non-object value (``gpu.maxTempC``)."""
    keys: list[str] = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            keys.extend(leaf_keys(value, dotted + "."))
        else:
            keys.append(dotted)
    return keys
