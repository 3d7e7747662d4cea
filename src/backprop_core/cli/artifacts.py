"""``backprop artifacts``: list, show, get, add, alias and rm artifact versions
(docs/artifacts.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from backprop_core.artifacts.lookup import resolve_ref
from backprop_core.artifacts.records import ArtifactVersion, check_alias, parse_ref, version_number
from backprop_core.cli.artifacts_add import add_command
from backprop_core.cli.options import echo_json, is_terminal, json_option, settings_options
from backprop_core.cli.run_views import open_from_options, print_table
from backprop_core.errors import UsageError
from backprop_core.render.artifacts import human_size, short_digest, use_view, version_view
from backprop_core.render.runs import human_time

HEADER = ("NAME", "VERSION", "TYPE", "ALIASES", "SIZE", "FILES", "CREATED", "RUN", "DIGEST")


@click.group("artifacts")
def artifacts_group() -> None:
    """Named, versioned files and folders runs produce and read.

    Each version's content is stored once under the home, by its SHA-256; versions are v0,
    v1, … per name, and aliases (latest, best, production, any word) point at one version.
    NAME[:VERSION] takes vN or an alias; without one it means latest.
    """


def _row(v: ArtifactVersion) -> list[str]:
    return [
        v.name,
        f"v{v.version}",
        v.type,
        ",".join(v.aliases) or "-",
        human_size(v.size),
        str(v.files),
        human_time(v.created_at),
        v.run_id or "-",
        short_digest(v.digest),
    ]


@artifacts_group.command("list")
@click.option("--type", "type_", metavar="TYPE", help="Only versions of this type.")
@click.option("--name", metavar="NAME", help="Only versions of this artifact.")
@settings_options
@json_option
def list_command(type_: str | None, name: str | None, as_json: bool, **options: Any) -> None:
    """List artifact versions, by name then version.

    On a terminal this is a table; otherwise one tab-separated line per version with the
    columns name, version, type, aliases, size, files, created, run, digest.
    """
    _, store = open_from_options(options)
    with store:
        versions = store.artifact_versions(name, type=type_)
    if as_json:
        echo_json([version_view(v) for v in versions])
        return
    terminal = is_terminal()
    if not versions and terminal:
        click.echo("no artifacts" + (f" of type {type_}" if type_ else ""))
        return
    print_table(HEADER, [_row(v) for v in versions], terminal)


@artifacts_group.command("show")
@click.argument("ref", metavar="NAME[:VERSION]")
@settings_options
@json_option
def show_command(ref: str, as_json: bool, **options: Any) -> None:
    """Show a version: content, aliases, maker and readers."""
    from backprop_core.artifacts.checkout import entries_of
    from backprop_core.artifacts.objects import ObjectStore

    _, store = open_from_options(options)
    with store:
        version = resolve_ref(store, ref)
        assert version.version is not None
        uses = store.artifact_uses(name=version.name, version=version.version)
        files = entries_of(ObjectStore(store.home.root), version)
    if as_json:
        data = version_view(version)
        data["contents"] = [
            {"path": e.path, "digest": e.digest, "size": e.size, "executable": e.executable}
            for e in files
        ]
        data["used_by"] = [use_view(u) for u in uses]
        echo_json(data)
        return
    click.echo(f"{version.label}  ({version.type})")
    rows = [
        ("aliases", ", ".join(version.aliases) or "-"),
        (
            "content",
            f"{version.kind}, {human_size(version.size)}, {version.files} file(s), "
            f"{version.digest}",
        ),
        ("created", human_time(version.created_at)),
        ("run", (version.run_id or "-") + (f" at step {version.step}" if version.step else "")),
        ("source", version.source or "-"),
    ]
    rows += [(f"metadata.{k}", str(v)) for k, v in version.metadata.items()]
    for label, value in rows:
        click.echo(f"  {label:<12}{value}")
    if version.kind == "folder":
        click.echo("\nfiles")
        for entry in files[:20]:
            click.echo(f"  {entry.path}  {human_size(entry.size)}")
        if len(files) > 20:
            click.echo(f"  … {len(files) - 20} more (all of them with --json)")
    click.echo("\nread by")
    for use in uses:
        click.echo(f"  run {use.run_id} (asked for {use.ref}) at {human_time(use.time)}")
    if not uses:
        click.echo("  no run")


@artifacts_group.command("get")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the files into (created; existing files are never overwritten).",
)
@settings_options
@json_option
def get_command(ref: str, output: Path, as_json: bool, **options: Any) -> None:
    """Write a version's files into a folder, verifying hashes.

    Every byte is hashed on the way out; if the stored content no longer matches its
    hash, nothing is left written and the command fails (exit 1).
    """
    from backprop_core.artifacts.checkout import export
    from backprop_core.artifacts.objects import ObjectStore

    _, store = open_from_options(options)
    with store:
        version = resolve_ref(store, ref)
    written = export(ObjectStore(store.home.root), version, output)
    if as_json:
        echo_json({**version_view(version), "written": [str(p) for p in written]})
        return
    for path in written:
        click.echo(str(path))
    size = human_size(version.size)
    click.echo(f"{version.label}: {len(written)} file(s), {size}, verified", err=True)


@artifacts_group.command("alias")
@click.argument("ref", metavar="NAME:VERSION")
@click.argument("alias")
@settings_options
@json_option
def alias_command(ref: str, alias: str, as_json: bool, **options: Any) -> None:
    """Point an alias (best, production, …) at a version.

    ALIAS is any word; it moves from the version of the name that had it.

    latest is not set by hand: it always names the newest version.
    """
    check_alias(alias)
    _, store = open_from_options(options)
    with store:
        version = resolve_ref(store, ref)
        assert version.version is not None
        store.set_artifact_alias(version.name, version.version, alias)
        moved = resolve_ref(store, f"{version.name}:v{version.version}")
    if as_json:
        echo_json(version_view(moved))
        return
    click.echo(f"{version.name}:{alias} is now v{version.version}")


@artifacts_group.command("rm")
@click.argument("ref", metavar="NAME:VERSION")
@settings_options
@json_option
def rm_command(ref: str, as_json: bool, **options: Any) -> None:
    """Forget an artifact version (VERSION as vN).

    A version some run read is kept, for lineage and reruns: remove those runs first. The
    content is deleted by the next backprop gc, unless another version holds the same bytes.
    """
    name, selector = parse_ref(ref)
    number = version_number(selector) if ":" in ref else None
    _, store = open_from_options(options)
    with store:
        version = resolve_ref(store, ref)
        if number is None:
            raise UsageError(
                f"give the version number to remove: {ref} is {version.label}",
                hint=f"backprop artifacts rm {version.label}",
            )
        users = sorted({u.run_id for u in store.artifact_uses(name=name, version=number)})
        if users:
            shown = ", ".join(users[:5]) + (" …" if len(users) > 5 else "")
            raise UsageError(
                f"{version.label} is an input of run(s) {shown}; it is kept for lineage",
                hint="remove those runs first (backprop rm RUN)",
            )
        store.delete_artifact_version(name, number)
    if as_json:
        echo_json({"removed": version_view(version)})
        return
    click.echo(f"removed {version.label}; backprop gc deletes its content if nothing else holds it")


artifacts_group.add_command(add_command)
