"""JSON responses that survive NaN and ±Inf, and the API's error shape."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

from backprop_core.store.records import json_safe


def dumps(value: Any) -> str:
    return json.dumps(json_safe(value), ensure_ascii=False, separators=(",", ":"), default=str)


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
