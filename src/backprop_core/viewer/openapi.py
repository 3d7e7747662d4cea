"""The OpenAPI 3.1 description of ``/api/`` (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from backprop_core.__about__ import __version__
from backprop_core.viewer.logtail import DEFAULT_TAIL_BYTES, MAX_READ_BYTES
from backprop_core.viewer.params import (
    DEFAULT_MAX_POINTS,
    DEFAULT_RUNS_LIMIT,
    MAX_KEYS,
    MAX_MAX_POINTS,
    MAX_RUNS_LIMIT,
    MIN_MAX_POINTS,
    SORT_KEYS,
)


def _param(
    name: str, description: str, schema: dict[str, Any], where: str = "query"
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
    }


_RUN_ID = _param(
    "run_id",
    "Full run id, unique id prefix, unique name or unique random suffix.",
    {"type": "string"},
    "path",
)
_ERROR = {"description": 'Error: {"error": {"status", "message", "hint"}}'}
_ERRORS = {"404": _ERROR, "409": _ERROR, "422": _ERROR, "503": _ERROR}
_STREAM = {"200": {"description": "text/event-stream", "content": {"text/event-stream": {}}}}


def _get(
    summary: str, params: list[dict[str, Any]], ok: str, streaming: bool = False
) -> dict[str, Any]:
    responses: dict[str, Any] = (
        dict(_STREAM)
        if streaming
        else {"200": {"description": ok, "content": {"application/json": {}}}}
    )
    responses.update(_ERRORS)
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


def openapi_document() -> dict[str, Any]:
    int_schema = {"type": "integer"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "backprop viewer API",
            "version": __version__,
            "description": "Read-only API over the run store. Non-finite metric values are sent as "
            "the strings NaN, Infinity and -Infinity. Reference: docs/viewer.md.",
        },
        "paths": {
            "/api/health": _get("Viewer and store health", [], "{ok, version, runs, time}"),
            "/api/runs": _get(
                "List runs",
                [
                    _param("status", "Comma-separated statuses, or 'active'.", {"type": "string"}),
                    _param("name", "Shell glob on the run name.", {"type": "string"}),
                    _param(
                        "tag", "KEY=VALUE; repeat for several (all must match).", {"type": "string"}
                    ),
                    _param(
                        "host",
                        "Runs pulled from this host, or 'local' for runs recorded here.",
                        {"type": "string"},
                    ),
                    _param(
                        "sort",
                        "|".join(SORT_KEYS),
                        {"type": "string", "default": "created"},
                    ),
                    _param("order", "asc|desc", {"type": "string", "default": "desc"}),
                    _param(
                        "limit",
                        f"Page size, 1..{MAX_RUNS_LIMIT}.",
                        {
                            **int_schema,
                            "default": DEFAULT_RUNS_LIMIT,
                            "minimum": 1,
                            "maximum": MAX_RUNS_LIMIT,
                        },
                    ),
                    _param("offset", "Runs to skip.", {**int_schema, "default": 0, "minimum": 0}),
                ],
                "{total, limit, offset, sort, order, runs: [run summary]}",
            ),
            "/api/runs/stream": _get(
                "Live runs-table updates (server-sent events 'run')",
                [
                    _param(
                        "since",
                        "Unix time; runs created after it are announced.",
                        {"type": "number"},
                    )
                ],
                "",
                streaming=True,
            ),
            "/api/runs/{run_id}": _get(
                "One run with sessions, checkpoints, summary, environment and metric keys",
                [_RUN_ID],
                "run detail",
            ),
            "/api/runs/{run_id}/metrics": _get(
                "Metric series, min/max-preserving downsampling",
                [
                    _RUN_ID,
                    _param(
                        "keys",
                        f"Comma-separated metric names (default: all, at most {MAX_KEYS}).",
                        {"type": "string"},
                    ),
                    _param(
                        "max_points",
                        f"Points per series, {MIN_MAX_POINTS}..{MAX_MAX_POINTS}.",
                        {**int_schema, "default": DEFAULT_MAX_POINTS},
                    ),
                    _param(
                        "all_sessions",
                        "Include points a later session superseded (it started over at an "
                        "earlier step).",
                        {"type": "boolean", "default": False},
                    ),
                ],
                "{run_id, seq, keys, groups: [{title, keys, system}], sessions: [{number, "
                "status, started_at, first_step, boundary}], all_sessions, max_points, "
                "series: {key: {steps, times, values, sessions, total, points}}}",
            ),
            "/api/runs/{run_id}/logs": _get(
                "A session's log by byte offsets",
                [
                    _RUN_ID,
                    _param("session", "Session number (default: the latest).", int_schema),
                    _param("offset", "Byte offset to read from (default: the tail).", int_schema),
                    _param(
                        "limit",
                        f"Bytes to read, at most {MAX_READ_BYTES // 1024} KiB"
                        f" (default {DEFAULT_TAIL_BYTES // 1024} KiB tail).",
                        int_schema,
                    ),
                ],
                "{run_id, sessions, session, exists, offset, next_offset, size, text}",
            ),
            "/api/runs/{run_id}/stream": _get(
                "Live run updates (server-sent events 'points', 'run', 'log', 'end')",
                [
                    _RUN_ID,
                    _param(
                        "after_seq", "Last event seq the client has (from /metrics).", int_schema
                    ),
                    _param("log_session", "Session whose log the client shows.", int_schema),
                    _param("log_offset", "Byte offset where the client's log ends.", int_schema),
                ],
                "",
                streaming=True,
            ),
            "/api/machine": _get(
                "Host and GPUs now, and which active runs hold which GPU", [], "snapshot"
            ),
            "/api/openapi.json": _get("This document", [], "OpenAPI 3.1"),
        },
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "Required when the viewer is bound to a non-loopback address.",
                }
            }
        },
    }
