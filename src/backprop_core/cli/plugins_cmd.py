"""``backprop plugins``: what is installed and which hooks each plugin implements."""

from __future__ import annotations

from dataclasses import asdict

import click

from backprop_core.cli.options import echo_json, json_option


@click.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """List installed plugins and the hooks they implement.

    Each plugin's name, distribution and version, then its hooks.
    """
    from backprop_core.plugin.manager import get_plugins

    infos = get_plugins().plugins()
    if as_json:
        echo_json([asdict(i) | {"hooks": list(i.hooks)} for i in infos])
        return
    for info in infos:
        dist = f"{info.distribution or '?'} {info.version or ''}".strip()
        click.echo(f"{info.name}  ({dist})")
        for hook in info.hooks:
            click.echo(f"    {hook}")
