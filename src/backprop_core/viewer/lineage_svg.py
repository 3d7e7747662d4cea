"""The lineage graph laid out for the viewer's SVG (templates ``_lineage.html``): one column
per step from the focus (upstream on the left), nodes stacked in the order they were reached,
curved edges from each node's right side to the next column's left side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backprop_core.artifacts.lineage import Lineage, Node
from backprop_core.render.artifacts import human_size

WIDTH, HEIGHT = 190, 50  # a node's box
COLUMN_GAP, ROW_GAP, MARGIN = 56, 18, 10
LABEL_CHARS = 25


@dataclass(frozen=True)
class Box:
    """A node placed in the SVG: where, what it says, and where a click goes."""

    node: Node
    x: int
    y: int
    title: str
    detail: str
    href: str  # refocus the graph on it
    page: str  # its own page

    @property
    def focus(self) -> bool:
        return self.node.depth == 0


def _clip(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def node_page(node: Node) -> str:
    if node.kind == "run":
        return f"/runs/{node.ref}"
    name, _, version = node.ref.rpartition(":")
    return f"/artifacts/{name}/{version}"


def _detail(node: Node) -> str:
    info = node.info
    if info.get("removed"):
        return "removed"
    if node.kind == "run":
        return f"run · {info['status']}" + (f" · {node.ref[-4:]}" if info.get("name") else "")
    aliases = (
        f" · {','.join(a for a in info['aliases'] if a != 'latest')}" if info["aliases"] else ""
    )
    return f"{info['type']} · {human_size(info['size'])}{aliases}".rstrip(" ·")


def layout(lineage: Lineage) -> dict[str, Any]:
    """Boxes and edge paths for ``lineage``, and the drawing's size."""
    from urllib.parse import quote

    depths = sorted({n.depth for n in lineage.nodes})
    column = {d: i for i, d in enumerate(depths)}
    rows: dict[int, int] = {}
    boxes: dict[str, Box] = {}
    for node in lineage.nodes:
        row = rows.get(node.depth, 0)
        rows[node.depth] = row + 1
        boxes[node.id] = Box(
            node=node,
            x=MARGIN + column[node.depth] * (WIDTH + COLUMN_GAP),
            y=MARGIN + row * (HEIGHT + ROW_GAP),
            title=_clip(node.label),
            detail=_clip(_detail(node)),
            href=f"/lineage?node={quote(node.id, safe='')}",
            page=node_page(node),
        )
    edges = []
    for edge in lineage.edges:
        a, b = boxes.get(edge.source), boxes.get(edge.target)
        if a is None or b is None:
            continue
        x1, y1 = a.x + WIDTH, a.y + HEIGHT // 2
        x2, y2 = b.x, b.y + HEIGHT // 2
        bend = max(30, (x2 - x1) // 2)
        edges.append(
            {
                "d": f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}",
                "kind": edge.kind,
                "source": edge.source,
                "target": edge.target,
            }
        )
    width = MARGIN * 2 + len(depths) * WIDTH + (len(depths) - 1) * COLUMN_GAP
    height = MARGIN * 2 + max(rows.values(), default=1) * (HEIGHT + ROW_GAP) - ROW_GAP
    return {
        "boxes": list(boxes.values()),
        "edges": edges,
        "width": width,
        "height": height,
        "box_width": WIDTH,
        "box_height": HEIGHT,
    }
