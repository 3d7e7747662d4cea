"""Write docs/cli.md from the commands' own help texts: ``python scripts/gen_cli_docs.py``.

A test checks that docs/cli.md matches what this prints, so the reference never drifts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

HEADER = """# CLI reference

Generated from the commands' help texts by `python scripts/gen_cli_docs.py`; do not edit by hand.
Every command that prints records or state takes `--json` (one option, the same everywhere); the
exceptions are `export`, whose `--format json` writes the runs as JSON, `ui`, and
`config validate` and `config schema` (the schema is JSON already). Exit codes: `0` completed or
time-boxed as designed, `1` the training process failed, `2` usage or configuration error, `3`
refused by the governor or the wait for resources timed out, `130` stopped by the user. Errors
are one line on stderr, `backprop: error: what went wrong; what to do`.
"""


def render() -> str:
    # Only the built-in commands: a developer's extra plugins must not leak into the docs.
    os.environ["BACKPROP_DISABLE_PLUGINS"] = "example"
    from backprop_core.cli.main import BUILTIN_COMMANDS, cli

    parts = [HEADER]
    root = click.Context(cli, info_name="backprop", terminal_width=100, **cli.context_settings)
    parts.append("## backprop\n\n```text\n" + cli.get_help(root) + "\n```\n")
    for name in sorted(BUILTIN_COMMANDS):
        command = cli.get_command(root, name)
        if command is None:
            continue
        ctx = click.Context(command, info_name=name, parent=root, **command.context_settings)
        parts.append(f"## backprop {name}\n\n```text\n{command.get_help(ctx)}\n```\n")
        if isinstance(command, click.Group):
            for sub_name in sorted(command.list_commands(ctx)):
                sub = command.get_command(ctx, sub_name)
                if sub is None:
                    continue
                sub_ctx = click.Context(sub, info_name=sub_name, parent=ctx)
                parts.append(
                    f"### backprop {name} {sub_name}\n\n```text\n{sub.get_help(sub_ctx)}\n```\n"
                )
    return "\n".join(parts)


def main() -> None:
    target = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    if "--check" in sys.argv:
        sys.exit(0 if target.read_text(encoding="utf-8") == render() else 1)
    target.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
