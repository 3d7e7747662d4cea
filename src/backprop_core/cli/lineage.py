"""``backprop lineage RUN|NAME[:VERSION]``: runs and artifact versions upstream and downstream."""

from __future__ import annotations

from typing import Any

import click

from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import open_from_options

#: Deeper levels are not indented further, only numbered, so long chains stay readable.
MAX_INDENT = 16


def describe(node: Any) -> str:
    """One node in words: ``run ID (name), status`` or ``NAME:vN (type, size, aliases)``."""
    from backprop_core.render.artifacts import human_size

    info = node.info
    if node.kind == "run":
        if info.get("removed"):
            return f"run {node.ref} (removed)"
        name = f" ({info['name']})" if info.get("name") else ""
        return f"run {node.ref}{name}, {info['status']}"
    if info.get("removed"):
        return f"{node.label} (removed)"
    aliases = f", {','.join(info['aliases'])}" if info.get("aliases") else ""
    return f"{node.label} ({info['type']}, {human_size(info['size'])}{aliases})"


def _tree(lineage: Any, direction: int) -> list[str]:
    """The nodes on one side of the focus as an indented tree; a node reached again is
    named, not expanded again."""
    by_id = {n.id: n for n in lineage.nodes}
    children: dict[str, list[str]] = {}
    for edge in lineage.edges:
        parent, child = (edge.target, edge.source) if direction < 0 else (edge.source, edge.target)
        children.setdefault(parent, []).append(child)
    arrow = "<-" if direction < 0 else "->"
    lines: list[str] = []
    seen = {lineage.focus}
    stack = [(c, 1) for c in reversed(children.get(lineage.focus, []))]
    while stack:
        node_id, level = stack.pop()
        node = by_id.get(node_id)
        if node is None or (node.depth * direction) <= 0:
            continue
        indent = "  " * min(level, MAX_INDENT)
        depth = f"[{level}] " if level > MAX_INDENT else ""
        again = node_id in seen
        lines.append(f"{indent}{depth}{arrow} {describe(node)}{' (see above)' if again else ''}")
        if not again:
            seen.add(node_id)
            stack.extend((c, level + 1) for c in reversed(children.get(node_id, [])))
    return lines


@click.command("lineage")
@click.argument("ref", metavar="RUN|NAME[:VERSION]")
@click.option(
    "--depth", type=click.IntRange(min=1), help="Follow at most this many steps each way."
)
@settings_options
@json_option
def lineage_command(ref: str, depth: int | None, as_json: bool, **options: Any) -> None:
    """Show what a run or artifact version came from and led to.

    Upstream: the versions it read (or, for a version, the run that made it), what made
    those, and so on; downstream: what it made and the runs that read that. --json prints
    the graph as nodes and edges.
    """
    from backprop_core.artifacts.lineage import build

    _, store = open_from_options(options)
    with store:
        lineage = build(store, ref, depth)
    if as_json:
        echo_json(lineage.to_dict())
        return
    focus = next(n for n in lineage.nodes if n.id == lineage.focus)
    click.echo(describe(focus))
    for title, direction in (("upstream", -1), ("downstream", 1)):
        lines = _tree(lineage, direction)
        click.echo(f"\n{title}")
        click.echo("\n".join(lines) if lines else "  (nothing)")
