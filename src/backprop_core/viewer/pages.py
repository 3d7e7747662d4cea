"""Server-rendered pages: runs table, run, compare and machine (templates in ``templates/``).

The runs table renders its page of rows on the server, so it appears at once; the scripts in
``static/`` then add charts, live updates and selection.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from backprop_core.__about__ import __version__
from backprop_core.errors import AmbiguousRun, RunNotFound
from backprop_core.render.runs import LOCAL_HOST, flat_items, human_duration, human_time
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, is_system_metric, json_safe
from backprop_core.viewer.params import SORT_KEYS, list_param
from backprop_core.viewer.responses import dumps
from backprop_core.viewer.runs_query import RunsQuery, parse_runs_query, run_query
from backprop_core.viewer.serialize import load_run_detail, run_summary
from backprop_core.viewer.state import viewer_state

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_COMPARE = 12
PARAM_COLUMNS = 6  # parameter columns of the runs table at most
METRICS_SHOWN = 4  # last metrics per row of the runs table at most


def fmt_time(value: float | None) -> str:
    return human_time(value, unknown="—")


def fmt_duration(seconds: float | None) -> str:
    return human_duration(seconds, unknown="—", sep=" ")


def fmt_value(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):  # JSON, as the script logged it
        return json.dumps(json_safe(value), ensure_ascii=False, default=str)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def fmt_param(value: Any) -> str:
    """A parameter as it was given: ``true``, ``0.0003``, ``adamw``, ``[0.9, 0.99]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return dumps(value)


def own_metrics(last_metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    """A run's own last metrics for its row: the script's, not the sampled ``sys/…`` ones."""
    own = [(k, v) for k, v in last_metrics.items() if not is_system_metric(k)]
    return own[:METRICS_SHOWN]


def param_columns(runs: list[RunRecord]) -> list[str]:
    """The parameters worth a column for these runs: those whose values differ between them
    first, then those most runs have."""
    counts: dict[str, int] = {}
    values: dict[str, set[str]] = {}
    for run in runs:
        for key, value in run.params.items():
            counts[key] = counts.get(key, 0) + 1
            values.setdefault(key, set()).add(dumps(value))
    ranked = sorted(counts, key=lambda k: (len(values[k]) < 2, -counts[k], k))
    return ranked[:PARAM_COLUMNS]


def json_script(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block, with ``<`` escaped so that
    no data can close it."""
    return Markup(
        dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=fmt_time,
        duration=fmt_duration,
        value=fmt_value,
        json_script=json_script,
        flat=flat_items,
        own_metrics=own_metrics,
        param=fmt_param,
    )
    env.globals.update(version=__version__, statuses=[s.value for s in RunStatus])
    return env


_ENV = _environment()


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("page", name.split(".")[0])
    html = _ENV.get_template(name).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def error_page(
    request: Request, status_code: int, title: str, message: str, hint: str | None = None
) -> HTMLResponse:
    return render(
        request, "error.html", status_code=status_code, title=title, message=message, hint=hint
    )


def _page_url(q: RunsQuery, **changes: Any) -> str:
    params = {**q.as_params(), **changes}
    pairs = [(k, v) for k, v in params.items() if k != "tag" and v not in ("", None)]
    pairs += [("tag", t) for t in params["tag"]]
    return "/?" + urlencode(pairs)


async def runs_page(request: Request) -> Response:
    q = parse_runs_query(request.query_params, request.query_params.getlist("tag"))
    total, runs = await viewer_state(request).gateway.call(lambda s: run_query(s, q))
    filtered = bool(q.flt.statuses or q.flt.name or q.flt.tags or q.flt.origin is not None)
    pages = {
        "prev": _page_url(q, offset=max(0, q.offset - q.limit)) if q.offset > 0 else None,
        "next": _page_url(q, offset=q.offset + q.limit) if q.offset + q.limit < total else None,
        "first": q.offset + 1,
        "last": q.offset + len(runs),
    }
    sort_urls = {
        key: _page_url(
            q, sort=key, offset=0, order="asc" if q.sort == key and q.order == "desc" else "desc"
        )
        for key in SORT_KEYS
    }
    return render(
        request,
        "runs.html",
        runs=[run_summary(r) for r in runs],
        total=total,
        q=q,
        params=q.as_params(),
        param_names=param_columns(runs),
        with_host=any(r.origin for r in runs) or q.flt.origin is not None,
        local_host=LOCAL_HOST,
        filtered=filtered,
        pages=pages,
        sort_urls=sort_urls,
        rendered_at=time.time(),
        live=not filtered and q.sort == "created" and q.order == "desc" and q.offset == 0,
    )


async def run_page(request: Request) -> Response:
    ref = request.path_params["run_id"]
    run = await viewer_state(request).gateway.call(lambda s: load_run_detail(s, s.resolve(ref)))
    return render(request, "run.html", run=run, title=run["name"] or run["id"])


async def compare_page(request: Request) -> Response:
    refs = list_param(request.query_params, "ids")[:MAX_COMPARE]

    def load(store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        found: dict[str, dict[str, Any]] = {}  # by id: a run named twice is drawn once
        unresolved = []
        for ref in refs:
            try:
                run = store.resolve(ref)
            except AmbiguousRun as exc:
                unresolved.append({"ref": ref, "candidates": exc.candidates})
                continue
            except RunNotFound:
                unresolved.append({"ref": ref, "candidates": []})
                continue
            if run.id not in found:
                found[run.id] = {**run_summary(run), "metric_keys": store.metric_keys(run.id)}
        return list(found.values()), unresolved

    runs, unresolved = await viewer_state(request).gateway.call(load)
    keys = sorted(
        {k for r in runs for k in r["metric_keys"]}, key=lambda k: (is_system_metric(k), k)
    )
    names = sorted({k for r in runs for k in r["params"]})
    differing = {n for n in names if len({dumps(r["params"].get(n)) for r in runs}) > 1}
    return render(
        request,
        "compare.html",
        runs=runs,
        unresolved=unresolved,
        keys=keys,
        param_names=names,
        differing=differing,
        title="Compare runs",
    )


async def machine_page(request: Request) -> Response:
    return render(request, "machine.html", title="Machine")


page_routes = [
    Route("/", runs_page, methods=["GET"]),
    Route("/runs/{run_id}", run_page, methods=["GET"]),
    Route("/compare", compare_page, methods=["GET"]),
    Route("/machine", machine_page, methods=["GET"]),
]
