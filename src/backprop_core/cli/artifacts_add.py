"""``backprop artifacts add``: a file, a folder, or a run's checkpoint as a new version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from backprop_core.cli.options import echo_json, json_option, settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.errors import UsageError
from backprop_core.render.artifacts import human_size, version_view

_EXAMPLE = "e.g. --metadata '{\"lr\": 3e-4}'"
_HOW = {
    "hardlink": "linked, not copied",
    "reflink": "cloned copy-on-write, not copied",
    "copy": "copied",
    "existing": "already stored: only hashed",
}


def _metadata(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--metadata is not JSON: {exc}", hint=_EXAMPLE) from None
    if not isinstance(data, dict):
        raise UsageError("--metadata must be a JSON object", hint=_EXAMPLE)
    return data


def _run_and_step(text: str) -> tuple[str, int | None]:
    ref, sep, step = text.rpartition(":")
    if sep and step.lstrip("-").isdigit():
        return ref, int(step)
    return text, None


@click.command("add")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--name", metavar="NAME", help="The artifact's name (default: the file name).")
@click.option("--type", "type_", metavar="TYPE", help="model, dataset, … (default: file).")
@click.option("--run", "run_ref", metavar="RUN", help="The run that produced it.")
@click.option("--alias", "aliases", multiple=True, metavar="ALIAS", help="Alias (repeatable).")
@click.option("--metadata", metavar="JSON", help="A JSON object kept with the version.")
@click.option(
    "--from-checkpoint",
    "checkpoint",
    metavar="RUN[:STEP]",
    help="Promote RUN's checkpoint at STEP (default: its newest that exists) instead of PATH.",
)
@click.option(
    "--link",
    is_flag=True,
    help="Hand the file over: hard-link it into the store and make it read-only instead of "
    "copying it (where no copy-on-write clone is possible). Never edit it in place after.",
)
@settings_options
@json_option
def add_command(
    path: Path | None,
    name: str | None,
    type_: str | None,
    run_ref: str | None,
    aliases: tuple[str, ...],
    metadata: str | None,
    checkpoint: str | None,
    link: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Add a file or folder as the next version of an artifact.

    The content is stored once under the home, by its SHA-256: on the same filesystem it is
    cloned copy-on-write where the filesystem can, linked with --link or when it lies in an
    ended run's folder, and otherwise copied (bytes already stored cost only their hash).
    """
    from backprop_core.artifacts.recording import add_path, checkpoint_to_promote
    from backprop_core.artifacts.records import check_alias, check_name, name_from_path

    if (path is None) == (checkpoint is None):
        raise UsageError("give PATH or --from-checkpoint RUN[:STEP]", hint="not both, not neither")
    wanted = [check_alias(a) for a in aliases]
    meta = _metadata(metadata)
    _, store = open_from_options(options, create=True)
    with store:
        run_id = store.resolve(run_ref).id if run_ref is not None else None
        step = None
        if checkpoint is not None:
            ref, at = _run_and_step(checkpoint)
            run = store.resolve(ref)
            if run_id is not None and run_id != run.id:
                raise UsageError(f"--run {run_ref} is not the run of --from-checkpoint {ref}")
            record, path = checkpoint_to_promote(store, run, at)
            run_id, step = run.id, record.step
            meta = {
                "checkpoint": {"run": run.id, "step": record.step, "path": record.path},
                **({"metrics": record.metrics} if record.metrics else {}),
                **meta,
            }
            type_ = type_ or "checkpoint"
        assert path is not None
        version, content = add_path(
            store,
            path,
            name=check_name(name) if name is not None else name_from_path(str(path.absolute())),
            type=type_ or "file",
            aliases=wanted,
            metadata=meta,
            run_id=run_id,
            link=link,
            step=step,
        )
    if as_json:
        echo_json({**version_view(version), "stored": content.stored})
        return
    click.echo(
        f"added {version.label} ({version.kind}, {human_size(version.size)}, "
        f"{version.digest}; {_HOW[content.stored]})"
    )
