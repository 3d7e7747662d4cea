"""The JSON event-line parser (docs/events.md): one JSON object per line becomes an ``Event``.

Registered ``tryfirst``: a JSON event line is an event whatever other parsers are installed, and
no other parser ever sees it. The supervisor calls it through ``backprop_parse_lines`` on whole
chunks (``batch.py``); ``backprop_parse_line`` gives the same result for one line. Only lines
whose first non-blank character is ``{`` are decoded at all, which keeps plain output cheap.

Rules:

* ``{"event": NAME, ...}``: an event of kind ``NAME`` (unknown names are kept as they are).
* ``{"step": <number>, "loss": <number>, ...}`` without ``event`` (the Node tool's format): a
  ``metrics`` event whose ``data`` holds every numeric field except ``step``/``time``/``epoch``.
* ``checkpoint_saved`` without a usable ``path`` is not a checkpoint: it becomes an ``alert``
  (level ``warning``) saying so, so the mistake is visible without a bogus checkpoint on record.
* ``metrics`` keep numbers (including ``NaN``/``Infinity``) and drop values that are not numbers.
* Anything else (non-objects, broken JSON, an ``event`` that is not a string) is not an event and
  passes through as plain output. Nothing here raises.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

from backprop_core import Event, ParseContext, hookimpl

if TYPE_CHECKING:
    from backprop_core import ParsedLines

_NODE_META = ("step", "time", "epoch", "event")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float: not a usable metric value
        return None


def _step(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _event_time(payload: dict[str, Any], now: float) -> float:
    t = _number(payload.get("time"))
    return t if t is not None and math.isfinite(t) else now


def _numeric_data(data: Any) -> dict[str, float]:
    if not isinstance(data, dict):
        return {}
    out: dict[str, float] = {}
    for key, value in data.items():
        number = _number(value)
        if number is not None:
            out[str(key)] = number
    return out


def parse_object(obj: Any, context: ParseContext, now: float | None = None) -> Event | None:
    """Turn one decoded JSON value into an ``Event``, or ``None`` when it is not one."""
    if not isinstance(obj, dict):
        return None
    now = time.time() if now is None else now
    kind = obj.get("event")
    if kind is None:
        # Node-tool compatibility: {"step": n, "loss": x, ...} is a metrics line.
        if _number(obj.get("step")) is None or _number(obj.get("loss")) is None:
            return None
        data = {k: v for k, v in _numeric_data(obj).items() if k not in _NODE_META}
        payload = {"data": data, "step": obj.get("step")}
        return Event(
            "metrics", _event_time(obj, now), _step(obj.get("step")), payload, context.session
        )
    if not isinstance(kind, str) or not kind:
        return None
    payload = {k: v for k, v in obj.items() if k != "event"}
    step = _step(payload.get("step"))
    if kind == "metrics":
        payload["data"] = _numeric_data(payload.get("data"))
    elif kind == "checkpoint_saved":
        path = payload.get("path")
        if not isinstance(path, str) or not path:
            text = "checkpoint_saved event without a 'path' string was ignored"
            return Event("alert", now, step, {"level": "warning", "text": text}, context.session)
        if "metrics" in payload:
            payload["metrics"] = _numeric_data(payload.get("metrics"))
    elif kind == "summary" and not isinstance(payload.get("data"), dict):
        payload["data"] = {}
    elif kind == "alert":
        payload["text"] = str(payload.get("text", ""))
        payload["level"] = str(payload.get("level", "warning"))
    return Event(kind, _event_time(payload, now), step, payload, context.session)


def parse_line(line: str, context: ParseContext) -> Event | None:
    """Parse one output line; plain text and malformed JSON give ``None``."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parse_object(obj, context)


@hookimpl(tryfirst=True)
def backprop_parse_lines(lines: list[bytes], context: ParseContext) -> ParsedLines | None:
    from backprop_json_events.batch import parse_chunk

    return parse_chunk(lines, context)


@hookimpl(tryfirst=True)
def backprop_parse_line(line: str, context: ParseContext) -> Event | None:
    return parse_line(line, context)
