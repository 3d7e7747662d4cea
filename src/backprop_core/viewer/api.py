"""The JSON API under ``/api/`` (reference: docs/viewer.md, schema: /api/openapi.json)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backprop_core.__about__ import __version__
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord
from backprop_core.viewer.grouping import chart_groups
from backprop_core.viewer.live import run_stream, runs_stream
from backprop_core.viewer.logtail import MAX_READ_BYTES, read_log, session_number
from backprop_core.viewer.openapi import openapi_document
from backprop_core.viewer.params import (
    DEFAULT_MAX_POINTS,
    MAX_KEYS,
    MAX_MAX_POINTS,
    MIN_MAX_POINTS,
    ParamError,
    bool_param,
    int_param,
    list_param,
)
from backprop_core.viewer.responses import ApiJSON, api_error
from backprop_core.viewer.runs_query import parse_runs_query, run_query
from backprop_core.viewer.serialize import (
    load_run_detail,
    run_summary,
    series_dict,
    session_marks,
    snapshot_dict,
)
from backprop_core.viewer.state import viewer_state


async def health(request: Request) -> Response:
    """Liveness of the viewer and its store: ``{"ok": true, "version": …, "runs": N}``."""
    state = viewer_state(request)
    runs = await state.gateway.call(lambda s: s.count_runs(None))
    return ApiJSON({"ok": True, "version": __version__, "runs": runs, "time": time.time()})


async def list_runs(request: Request) -> Response:
    """Runs, filtered, sorted and paginated: ``{"total", "limit", "offset", "runs": [...]}``."""
    q = parse_runs_query(request.query_params, request.query_params.getlist("tag"))
    total, runs = await viewer_state(request).gateway.call(lambda s: run_query(s, q))
    return ApiJSON(
        {
            "total": total,
            "limit": q.limit,
            "offset": q.offset,
            "sort": q.sort,
            "order": q.order,
            "runs": [run_summary(r) for r in runs],
        }
    )


async def get_run(request: Request) -> Response:
    """One run: record, sessions (with pauses), checkpoints, summary, environment, metric keys."""
    ref = request.path_params["run_id"]
    return ApiJSON(
        await viewer_state(request).gateway.call(lambda s: load_run_detail(s, s.resolve(ref)))
    )


async def get_metrics(request: Request) -> Response:
    """Metric series of one run, several keys at once, each downsampled to ``max_points``
    keeping every bucket's min and max: ``{"run_id", "seq", "keys", "groups", "sessions",
    "series": {key: {...}}}``. Points a later session superseded are left out unless
    ``all_sessions``."""
    ref = request.path_params["run_id"]
    wanted = list_param(request.query_params, "keys")
    max_points = int_param(
        request.query_params,
        "max_points",
        DEFAULT_MAX_POINTS,
        low=MIN_MAX_POINTS,
        high=MAX_MAX_POINTS,
    )
    if len(wanted) > MAX_KEYS:
        raise ParamError("keys", f"at most {MAX_KEYS} keys at once")
    all_sessions = bool_param(request.query_params, "all_sessions")

    def read(store: Store) -> dict[str, Any]:
        run = store.resolve(ref)
        all_keys = store.metric_keys(run.id)
        keys = wanted or all_keys[:MAX_KEYS]
        # The seq is read before the series: points logged in between come again through the
        # stream, and the page drops the ones it already has (by step).
        seq = store.last_event_seq(run.id)
        series = {
            k: series_dict(store.metric_series(run.id, k, max_points, all_sessions=all_sessions))
            for k in keys
        }
        return {
            "run_id": run.id,
            "seq": seq,
            "keys": all_keys,
            "groups": chart_groups(all_keys),
            "sessions": session_marks(store.sessions(run.id)),
            "all_sessions": all_sessions,
            "max_points": max_points,
            "series": series,
        }

    return ApiJSON(await viewer_state(request).gateway.call(read))


async def get_logs(request: Request) -> Response:
    """A session's log from byte ``offset`` (or its tail):
    ``{"text", "offset", "next_offset", …}``."""
    state = viewer_state(request)
    ref = request.path_params["run_id"]
    session = int_param(request.query_params, "session", None, low=1)
    offset = int_param(request.query_params, "offset", None, low=0)
    limit = int_param(request.query_params, "limit", None, low=1, high=MAX_READ_BYTES)
    run: RunRecord = await state.gateway.call(lambda s: s.resolve(ref))
    chunk = read_log(state.home, run.id, session_number(run, session), offset, limit)
    return ApiJSON({"run_id": run.id, "sessions": run.session_count, **chunk.as_dict()})


def gpu_holders(store: Store) -> dict[str, list[dict[str, Any]]]:
    """GPU index or uuid -> the active runs whose current session holds it."""
    holders: dict[str, list[dict[str, Any]]] = {}
    for run in store.active_runs():
        sessions = store.sessions(run.id)
        if not sessions:
            continue
        for gpu in sessions[-1].gpus:
            holders.setdefault(str(gpu), []).append(
                {"id": run.id, "name": run.name, "status": run.status.value}
            )
    return holders


async def machine(request: Request) -> Response:
    """The machine now (host, each GPU) and which active runs hold which GPU."""
    state = viewer_state(request)
    snapshot = await state.snapshot()
    holders = await state.gateway.call(gpu_holders)
    return ApiJSON(snapshot_dict(snapshot, holders))


async def openapi(request: Request) -> Response:
    """This API as an OpenAPI 3.1 document."""
    return ApiJSON(openapi_document())


async def api_not_found(request: Request) -> Response:
    return api_error(404, f"no API endpoint {request.url.path}", "see /api/openapi.json")


api_routes = [
    Route("/api/health", health, methods=["GET"]),
    Route("/api/openapi.json", openapi, methods=["GET"]),
    Route("/api/machine", machine, methods=["GET"]),
    Route("/api/runs", list_runs, methods=["GET"]),
    Route("/api/runs/stream", runs_stream, methods=["GET"]),
    Route("/api/runs/{run_id}", get_run, methods=["GET"]),
    Route("/api/runs/{run_id}/metrics", get_metrics, methods=["GET"]),
    Route("/api/runs/{run_id}/logs", get_logs, methods=["GET"]),
    Route("/api/runs/{run_id}/stream", run_stream, methods=["GET"]),
    Route("/api/{rest:path}", api_not_found),
]
