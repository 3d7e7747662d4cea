"""``backprop config show|validate|schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from backprop_core.cli.options import echo_json, echo_warnings, json_option, settings_options
from backprop_core.render.terminal import terminal_text


@click.group("config")
def config_group() -> None:
    """Show, validate or print the schema of the settings.

    Sources, lowest to highest: built-in defaults, the user config, the project's
    backprop.config.json (or [tool.backprop] in pyproject.toml, or --config FILE),
    BACKPROP_* environment variables, command-line flags.
    """


@config_group.command("show")
@settings_options
@json_option
def show(as_json: bool, **options: Any) -> None:
    """Print the effective settings and where each value came from."""
    from backprop_core.cli.options import settings_from_options
    from backprop_core.render.runs import flat_items

    settings = settings_from_options(options)
    sources = {k: settings.source(k) for k, _ in flat_items(settings.config)}
    print_settings(dict(settings.config), sources, as_json)


def print_settings(config: dict[str, Any], sources: dict[str, str], as_json: bool) -> None:
    """``config show``'s output, for this machine's settings or another's."""
    from backprop_core.render.runs import flat_items

    if as_json:
        echo_json({"settings": config, "sources": sources})
        return
    rows = [(k, v, sources.get(k, "default")) for k, v in flat_items(config)]
    shown = [(k, v if isinstance(v, str) else json.dumps(v), s) for k, v, s in rows]
    key_width = max(len(k) for k, _, _ in shown)
    value_width = max(len(v) for _, v, _ in shown)
    for key, value, source in shown:
        click.echo(terminal_text(f"{key:<{key_width}}  {value:<{value_width}}  ({source})"))


@config_group.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def validate(file: Path | None) -> None:
    """Validate FILE, or every settings source in effect here. Exit 2 when invalid."""
    from backprop_core.settings import resolve_with_warnings

    _, warnings = resolve_with_warnings(config_file=file)
    echo_warnings(warnings)
    click.echo(f"{file}: valid" if file else "settings are valid")


@config_group.command("schema")
def schema() -> None:
    """Print the JSON Schema of backprop.config.json."""
    from backprop_core.settings.schemas import CONFIG_SCHEMA, schema_path

    click.echo(schema_path(CONFIG_SCHEMA).read_text(encoding="utf-8"), nl=False)
