"""``backprop manifest RUN``: what a run needs to be run again, in one document."""

from __future__ import annotations

from typing import Any

import click

from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import open_from_options


@click.command("manifest")
@click.argument("run_ref", metavar="RUN")
@settings_options
@json_option
def manifest_command(run_ref: str, as_json: bool, **options: Any) -> None:
    """Print a run's manifest: what it takes to run it again.

    The command and arguments, the effective settings, the interpreter and its packages,
    the git commit with a hash of the uncommitted changes, and the artifact versions the
    run read and made, with their content hashes. --json prints run-manifest v1
    (schemas/run-manifest.v1.schema.json).
    """
    from backprop_core.render.artifacts import human_size
    from backprop_core.run.manifest import build_manifest

    _, store = open_from_options(options)
    with store:
        doc = build_manifest(store, store.resolve(run_ref))
    if as_json:
        echo_json(doc)
        return
    run = doc["run"]
    click.echo(f"run {run['id']}" + (f" ({run['name']})" if run["name"] else ""))
    rows = [
        ("command", " ".join(doc["command"]) or "-"),
        ("folder", doc["cwd"] or "-"),
        ("python", " ".join(str(v) for v in doc["interpreter"].values()) or "-"),
        ("packages", f"{len(doc['packages'])} recorded"),
    ]
    git = doc["git"]
    if git:
        dirty = ", uncommitted changes " + str(git["diff_sha256"])[:19] if git["dirty"] else ""
        rows.append(("git", f"{git['branch'] or 'detached'} at {git['commit'] or '?'}{dirty}"))
    else:
        rows.append(("git", "not recorded, or not a git repository"))
    if doc["resumed_from"]:
        rows.append(("started from", doc["resumed_from"]))
    if run["rerun_of"]:
        rows.append(("rerun of", run["rerun_of"]))
    for label, value in rows:
        click.echo(f"  {label:<13}{value}")
    for title, key in (("inputs", "inputs"), ("outputs", "outputs")):
        click.echo(f"\n{title}")
        for v in doc[key]:
            size = human_size(v["size"]) if v.get("size") is not None else "missing"
            click.echo(f"  {v['name']}:v{v['version']}  {size}  {v['digest']}")
        if not doc[key]:
            click.echo("  none")
    click.echo("\nsettings and packages in full: backprop manifest --json " + run["id"])
