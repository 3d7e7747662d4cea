"""The lineage graph (docs/artifacts.md, "Lineage"): runs and artifact versions, linked by
"produced" (run → version) and "used" (version → run), followed upstream (what a node came
from) and downstream (what came from it) from one focus, breadth first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from backprop_core.artifacts.records import ArtifactVersion
from backprop_core.errors import ArtifactNotFound, RunNotFound, UsageError
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord

NodeKind = Literal["run", "artifact"]


def run_node_id(run_id: str) -> str:
    return f"run:{run_id}"


def artifact_node_id(name: str, version: int) -> str:
    return f"artifact:{name}:v{version}"


@dataclass
class Node:
    """A run or an artifact version on the graph; ``depth`` < 0 upstream of the focus, > 0
    downstream, 0 the focus itself. ``ref`` is what ``lineage`` takes to refocus on it."""

    id: str
    kind: NodeKind
    ref: str
    label: str
    depth: int
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Edge:
    """An arrow of the graph: a run ``produced`` an artifact version, or ``used`` one."""

    source: str
    target: str
    kind: Literal["produced", "used"]


@dataclass
class Lineage:
    """The graph around ``focus``: its nodes and edges, as ``lineage`` prints and the viewer
    draws it."""

    focus: str
    nodes: list[Node]
    edges: list[Edge]

    def to_dict(self) -> dict[str, Any]:
        return {
            "focus": self.focus,
            "nodes": [vars(n) for n in self.nodes],
            "edges": [{"source": e.source, "target": e.target, "kind": e.kind} for e in self.edges],
        }


class _Graph:
    """Who produced and who read each version, asked of the store node by node (by indexed
    queries), so a walk costs what its graph holds, not what the store holds."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.versions: dict[str, ArtifactVersion] = {}
        self._names: set[str] = set()

    def version(self, node: str) -> ArtifactVersion | None:
        name = node[len("artifact:") :].rpartition(":")[0]
        if name not in self._names:
            self._names.add(name)
            self._remember(self.store.artifact_versions(name))
        return self.versions.get(node)

    def _remember(self, versions: list[ArtifactVersion]) -> list[str]:
        nodes = []
        for v in versions:
            assert v.version is not None
            node = artifact_node_id(v.name, v.version)
            self.versions[node] = v
            nodes.append(node)
        return nodes

    def upstream(self, node: str) -> list[tuple[str, Edge]]:
        if node.startswith("run:"):
            uses = self.store.artifact_uses(run_id=node[4:])
            found = [artifact_node_id(u.name, u.version) for u in uses]
            return [(v, Edge(v, node, "used")) for v in dict.fromkeys(found)]
        version = self.version(node)
        if version is None or not version.run_id:
            return []
        run = run_node_id(version.run_id)
        return [(run, Edge(run, node, "produced"))]

    def downstream(self, node: str) -> list[tuple[str, Edge]]:
        if node.startswith("run:"):
            made = self._remember(self.store.artifact_versions(run_id=node[4:]))
            return [(v, Edge(node, v, "produced")) for v in made]
        name, _, number = node[len("artifact:") :].rpartition(":")
        uses = self.store.artifact_uses(name=name, version=int(number[1:]))
        runs = dict.fromkeys(run_node_id(u.run_id) for u in uses)
        return [(r, Edge(node, r, "used")) for r in runs]


def focus_of(store: Store, ref: str) -> str:
    """The node ``ref`` names: ``NAME:VERSION`` an artifact version, else a run (any form
    ``backprop show`` takes), else an artifact's latest version."""
    from backprop_core.artifacts.lookup import resolve_ref
    from backprop_core.artifacts.records import is_valid_name

    if ":" in ref:
        version = resolve_ref(store, ref)
        assert version.version is not None
        return artifact_node_id(version.name, version.version)
    try:
        run = store.resolve(ref)
    except RunNotFound:
        if not is_valid_name(ref):
            raise
        try:
            version = resolve_ref(store, ref)
        except ArtifactNotFound:
            raise RunNotFound(
                f"no run or artifact matches '{ref}'",
                hint="give a run (as backprop list shows it) or NAME[:VERSION]",
            ) from None
        assert version.version is not None
        return artifact_node_id(version.name, version.version)
    if store.artifact_versions(ref):
        raise UsageError(
            f"'{ref}' names both run {run.id} and an artifact",
            hint=f"write {ref}:latest for the artifact, or the run's full id",
        )
    return run_node_id(run.id)


def node_focus(store: Store, node: str) -> str:
    """``node`` (a node id, as the viewer links them) if it exists; ``RunNotFound`` or
    ``ArtifactNotFound`` otherwise."""
    from backprop_core.artifacts.lookup import find_version

    kind, _, rest = node.partition(":")
    if kind == "run":
        return run_node_id(store.get_run(rest).id)
    name, _, selector = rest.rpartition(":")
    if kind != "artifact" or not name:
        raise UsageError(f"not a lineage node: {node!r}", hint="use run:ID or artifact:NAME:vN")
    version = find_version(store, name, selector)
    assert version.version is not None
    return artifact_node_id(version.name, version.version)


def build(store: Store, ref: str, max_depth: int | None = None) -> Lineage:
    """The lineage of ``ref`` (``RUN`` or ``NAME[:VERSION]``): every node upstream and
    downstream of it, up to ``max_depth`` steps each way."""
    return walk(store, focus_of(store, ref), max_depth)


def walk(store: Store, focus: str, max_depth: int | None = None) -> Lineage:
    """The lineage of the node ``focus`` (see ``build``)."""
    graph = _Graph(store)
    depth: dict[str, int] = {focus: 0}
    edges: list[Edge] = []
    for sign, step in ((-1, graph.upstream), (1, graph.downstream)):
        queue = deque([focus])
        while queue:
            node = queue.popleft()
            here = depth[node] if node != focus else 0
            if max_depth is not None and abs(here) >= max_depth:
                continue
            for other, edge in step(node):
                edges.append(edge)
                if other not in depth:
                    depth[other] = here + sign
                    queue.append(other)
    runs = {n[4:]: _run(store, n[4:]) for n in depth if n.startswith("run:")}
    nodes = [_node(n, d, graph, runs) for n, d in depth.items()]
    unique = list(dict.fromkeys(edges))
    return Lineage(focus, nodes, unique)


def _run(store: Store, run_id: str) -> RunRecord | None:
    try:
        return store.get_run(run_id)
    except RunNotFound:
        return None


def _node(node: str, depth: int, graph: _Graph, runs: dict[str, RunRecord | None]) -> Node:
    if node.startswith("run:"):
        run_id = node[4:]
        run = runs.get(run_id)
        if run is None:
            return Node(node, "run", run_id, run_id, depth, {"removed": True})
        info: dict[str, Any] = {
            "name": run.name,
            "status": run.status.value,
            "created_at": run.created_at,
        }
        return Node(node, "run", run_id, run.name or run_id, depth, info)
    version = graph.version(node)
    label = node[len("artifact:") :]
    if version is None:  # a use of a version since removed
        return Node(node, "artifact", label, label, depth, {"removed": True})
    facts: dict[str, Any] = {
        "type": version.type,
        "size": version.size,
        "files": version.files,
        "aliases": version.aliases,
        "digest": version.digest,
    }
    return Node(node, "artifact", label, label, depth, facts)
