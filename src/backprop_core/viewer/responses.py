"""JSON responses that survive NaN and ±Inf, and the API's error shape."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
    (strict JSON has no such numbers; the pages turn them back into gaps or labels)."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if math.isnan(value):
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":"), default=str)


class ApiJSON(JSONResponse):
    """``JSONResponse`` that never fails on NaN/Inf and never caches."""

    def __init__(self, content: Any, status_code: int = 200) -> None:
        super().__init__(content, status_code=status_code, headers={"Cache-Control": "no-store"})

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def api_error(status_code: int, message: str, hint: str | None = None) -> ApiJSON:
    """The API's one error shape: ``{"error": {"status": …, "message": …, "hint": …}}``."""
    body: dict[str, Any] = {"status": status_code, "message": message}
    if hint:
        body["hint"] = hint
    return ApiJSON({"error": body}, status_code=status_code)
