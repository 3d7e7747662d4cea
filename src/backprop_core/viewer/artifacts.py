"""The viewer's artifact pages and API: the Artifacts page (versions, filtered by type), one
version's page, and the lineage graph (docs/viewer.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backprop_core.artifacts.lineage import Lineage, node_focus, walk
from backprop_core.artifacts.records import ArtifactVersion
from backprop_core.render.artifacts import use_view, version_view
from backprop_core.store.contract import Store
from backprop_core.viewer.pages import render
from backprop_core.viewer.params import ParamError, int_param
from backprop_core.viewer.responses import ApiJSON
from backprop_core.viewer.state import viewer_state

PAGE_SIZE = 200
#: Steps the lineage page follows each way unless asked for more (a chain of a thousand
#: runs would make an unreadable drawing).
LINEAGE_DEPTH = 4


def _type_param(request: Request) -> str | None:
    return request.query_params.get("type") or None


def list_versions(store: Store, type_: str | None) -> tuple[list[ArtifactVersion], list[str]]:
    """Versions of ``type_`` (all without), by name, newest version first; and every type."""
    versions = store.artifact_versions()
    types = sorted({v.type for v in versions})
    if type_ is not None:
        versions = [v for v in versions if v.type == type_]
    versions.sort(key=lambda v: (v.name, -(v.version or 0)))
    return versions, types


def version_detail(store: Store, name: str, selector: str) -> dict[str, Any]:
    """One version with its files and the runs that read it."""
    from backprop_core.artifacts.checkout import entries_of
    from backprop_core.artifacts.lookup import find_version
    from backprop_core.artifacts.objects import ObjectStore

    version = find_version(store, name, selector)
    assert version.version is not None
    data = version_view(version)
    try:
        files = entries_of(ObjectStore(store.home.root), version)
        data["contents"] = [vars(e) for e in files]
    except Exception as exc:  # the page still shows the record of a damaged version
        data["contents"] = []
        data["problem"] = getattr(exc, "message", str(exc))
    data["used_by"] = [use_view(u) for u in store.artifact_uses(name=name, version=version.version)]
    return data


def _lineage(store: Store, node: str, depth: int | None) -> Lineage:
    return walk(store, node_focus(store, node), depth)


def _depth(request: Request) -> int:
    return int_param(request.query_params, "depth", LINEAGE_DEPTH, low=1, high=1000) or 1


# --- API --------------------------------------------------------------------------------------
async def api_artifacts(request: Request) -> Response:
    """Artifact versions, optionally of one ``type``: ``{"types", "versions": [...]}``."""
    type_ = _type_param(request)
    versions, types = await viewer_state(request).gateway.call(lambda s: list_versions(s, type_))
    return ApiJSON({"types": types, "versions": [version_view(v) for v in versions]})


async def api_artifact(request: Request) -> Response:
    """One version (``vN`` or an alias) with its files and the runs that read it."""
    name, selector = request.path_params["name"], request.path_params["version"]
    return ApiJSON(
        await viewer_state(request).gateway.call(lambda s: version_detail(s, name, selector))
    )


async def api_lineage(request: Request) -> Response:
    """The lineage graph around ``node`` (``run:ID`` or ``artifact:NAME:vN``), ``depth``
    steps each way: ``{"focus", "nodes", "edges"}``."""
    node = request.query_params.get("node")
    if not node:
        raise ParamError("node", "give run:ID or artifact:NAME:vN")
    depth = _depth(request)
    lineage = await viewer_state(request).gateway.call(lambda s: _lineage(s, node, depth))
    return ApiJSON(lineage.to_dict())


# --- pages ------------------------------------------------------------------------------------
async def artifacts_page(request: Request) -> Response:
    type_ = _type_param(request)
    offset = int_param(request.query_params, "offset", 0, low=0) or 0
    versions, types = await viewer_state(request).gateway.call(lambda s: list_versions(s, type_))
    shown = versions[offset : offset + PAGE_SIZE]
    base = {"type": type_} if type_ else {}
    pages = {
        "prev": "/artifacts?" + urlencode({**base, "offset": max(0, offset - PAGE_SIZE)})
        if offset > 0
        else None,
        "next": "/artifacts?" + urlencode({**base, "offset": offset + PAGE_SIZE})
        if offset + PAGE_SIZE < len(versions)
        else None,
    }
    return render(
        request,
        "artifacts.html",
        title="Artifacts",
        versions=[version_view(v) for v in shown],
        total=len(versions),
        offset=offset,
        types=types,
        type=type_,
        pages=pages,
    )


async def artifact_page(request: Request) -> Response:
    from backprop_core.artifacts.lineage import artifact_node_id
    from backprop_core.viewer.lineage_svg import layout

    name, selector = request.path_params["name"], request.path_params["version"]

    def load(store: Store) -> tuple[dict[str, Any], Lineage]:
        detail = version_detail(store, name, selector)
        return detail, _lineage(store, artifact_node_id(name, detail["version"]), 2)

    detail, lineage = await viewer_state(request).gateway.call(load)
    return render(
        request,
        "artifact.html",
        title=detail["label"],
        v=detail,
        graph=layout(lineage),
        node=lineage.focus,
    )


async def lineage_page(request: Request) -> Response:
    from backprop_core.viewer.lineage_svg import layout

    node = request.query_params.get("node")
    if not node:
        raise ParamError("node", "give run:ID or artifact:NAME:vN")
    depth = _depth(request)
    lineage = await viewer_state(request).gateway.call(lambda s: _lineage(s, node, depth))
    focus = next(n for n in lineage.nodes if n.id == lineage.focus)
    return render(
        request,
        "lineage.html",
        title=f"Lineage of {focus.label}",
        focus=focus,
        graph=layout(lineage),
        depth=depth,
        deeper=f"/lineage?{urlencode({'node': lineage.focus, 'depth': depth * 2})}",
    )


api_artifact_routes = [
    Route("/api/artifacts", api_artifacts, methods=["GET"]),
    Route("/api/artifacts/{name}/{version}", api_artifact, methods=["GET"]),
    Route("/api/lineage", api_lineage, methods=["GET"]),
]
artifact_page_routes = [
    Route("/artifacts", artifacts_page, methods=["GET"]),
    Route("/artifacts/{name}/{version}", artifact_page, methods=["GET"]),
    Route("/lineage", lineage_page, methods=["GET"]),
]
