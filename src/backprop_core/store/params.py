"""A run's parameters (docs/store.md): read from the script's arguments, typed, flattened, and
matched by ``backprop list --param``.

Arguments become parameters by these rules, which cover argparse, absl-style flags and
nanoGPT's configurator without knowing the script:

- ``--name value`` and ``--name=value``; a ``--name`` not followed by a value (the next argument
  starts with ``-`` and is not a number, or there is none) is a flag: ``true``;
- ``name=value`` (nanoGPT's configurator, Hydra overrides);
- names keep their spelling except that ``-`` becomes ``_`` (what argparse does), so
  ``--learning-rate`` and a ``learning_rate`` in the SDK's ``config`` are the same parameter;
- other arguments (``config/train_gpt2.py``, ``-v``) stay arguments and are not parameters;
  everything after ``--`` too. A name given twice keeps its last value.

Values are typed: ``true``/``false`` (any case) are booleans, then integers, then floats
(``3e-4``), anything else a string (``nan`` and ``inf`` stay strings: JSON has no such numbers).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
#: Comparison operators of ``--param``, longest first so that ``<=`` is not read as ``<``.
OPERATORS = ("<=", ">=", "!=", "=", "<", ">")


def typed(text: str) -> bool | int | float | str:
    """``text`` as the bool, int or float it spells, else the string itself (stripped)."""
    value = text.strip()
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    if _NUMBER.match(value):
        try:
            return int(value)
        except ValueError:
            number = float(value)
            return number if math.isfinite(number) else value
    return value


def _name(raw: str) -> str | None:
    return raw.replace("-", "_") if _NAME.match(raw) else None


def _is_value(arg: str) -> bool:
    return not arg.startswith("-") or bool(_NUMBER.match(arg))


def params_from_argv(args: Sequence[str]) -> dict[str, Any]:
    """The parameters ``args`` (the script's arguments, without the script) spell out."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if arg.startswith("--"):
            raw, sep, value = arg[2:].partition("=")
            name = _name(raw)
            if name is None:
                continue
            if sep:
                out[name] = typed(value)
            elif i < len(args) and _is_value(args[i]):
                out[name] = typed(args[i])
                i += 1
            else:
                out[name] = True
        elif not arg.startswith("-") and "=" in arg:
            raw, _, value = arg.partition("=")
            name = _name(raw)
            if name is not None:
                out[name] = typed(value)
    return out


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted names (``{"optim": {"lr": 1}}`` → ``{"optim.lr": 1}``), so
    every parameter is one column and one ``--param`` name."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def initial_params(argv: Sequence[str], summary: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a run recorded before runs had them: its arguments, then the SDK's
    ``config`` that older versions kept in the summary (winning on conflict, as it does now)."""
    params = params_from_argv(argv)
    config = summary.get("config")
    if isinstance(config, Mapping):
        params.update(flatten(config))
    return params


@dataclass(frozen=True)
class ParamCondition:
    """One ``--param`` filter: ``name``, an operator from ``OPERATORS`` and the text to compare.

    Both sides are compared as numbers when both are numbers (``lr=3e-4`` matches ``0.0003``);
    otherwise ``=``/``!=`` compare them as text (``true``/``false`` for booleans) and the
    ordering operators never match. A run without the parameter never matches.
    """

    name: str
    op: str
    text: str

    @classmethod
    def parse(cls, raw: str) -> ParamCondition:
        """``NAME=VALUE`` (or ``!=``, ``<``, ``<=``, ``>``, ``>=``); ``ValueError`` otherwise."""
        for op in OPERATORS:
            name, sep, text = raw.partition(op)
            if sep and name.strip() and not any(c in name for c in "<>!="):
                return cls(name.strip(), op, text.strip())
        raise ValueError(f"expected NAME=VALUE (or !=, <, <=, >, >=), got {raw!r}")

    def matches(self, value: Any) -> bool:
        wanted = typed(self.text)
        a, b = _as_number(value), _as_number(wanted)
        if a is not None and b is not None:
            return _compare(a, self.op, b)
        if self.op not in ("=", "!="):
            return False
        same = _as_text(value) in (_as_text(wanted), self.text)
        return same if self.op == "=" else not same

    def matches_params(self, params: Mapping[str, Any]) -> bool:
        return self.name in params and self.matches(params[self.name])


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _compare(a: float, op: str, b: float) -> bool:
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b
