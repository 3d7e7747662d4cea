"""The ``backprop`` root command: lazy sub-commands, plugin commands, and the error boundary."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

import click

from backprop_core.__about__ import __version__
from backprop_core.env_vars import env_flag

# command name -> "module:attribute"; modules are imported only when the command runs, so
# ``backprop --version`` and ``backprop status`` stay fast.
BUILTIN_COMMANDS: dict[str, str] = {
    "run": "backprop_core.cli.run:run_command",
    "resume": "backprop_core.cli.resume:resume_command",
    "stop": "backprop_core.cli.stop:stop_command",
    "status": "backprop_core.cli.status:status_command",
    "list": "backprop_core.cli.list_runs:list_command",
    "show": "backprop_core.cli.show:show_command",
    "logs": "backprop_core.cli.logs:logs_command",
    "rm": "backprop_core.cli.rm:rm_command",
    "gc": "backprop_core.cli.gc:gc_command",
    "import": "backprop_core.cli.import_runs:import_command",
    "export": "backprop_core.cli.export:export_command",
    "plugins": "backprop_core.cli.plugins_cmd:plugins_command",
    "config": "backprop_core.cli.config_cmd:config_group",
    "ui": "backprop_core.cli.ui:ui_command",
}

# Not listed in the help or the reference: what a job submitted by a scheduler's launcher runs.
HIDDEN_COMMANDS: dict[str, str] = {
    "supervise": "backprop_core.cli.supervise:supervise_command",
}

SHORT_HELP: dict[str, str] = {
    "run": "Run a training script, governed and time-boxed.",
    "resume": "Start the next session of a run from its last checkpoint.",
    "stop": "Stop an active run gracefully (or at once with --now).",
    "status": "Show the machine and whether a run would be admitted now.",
    "list": "List recorded runs, newest first.",
    "show": "Show one run: record, sessions, checkpoints, metrics.",
    "logs": "Print (or follow) a run's output.",
    "rm": "Remove runs and their folders.",
    "gc": "Prune old checkpoints and orphaned run folders.",
    "import": "Import runs from a Node-tool experiments.json.",
    "export": "Export runs to CSV or JSON.",
    "plugins": "List installed plugins and the hooks they implement.",
    "config": "Show, validate or print the schema of the settings.",
    "ui": "Open the web viewer.",
}


def _available(spec: str) -> bool:
    module = spec.split(":", 1)[0]
    return importlib.util.find_spec(module) is not None


class LazyGroup(click.Group):
    """Imports built-in command modules on demand; plugin commands register on first listing."""

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from backprop_core.plugin.manager import get_plugins

        get_plugins().register_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        names = set(self.commands) | {n for n, s in BUILTIN_COMMANDS.items() if _available(s)}
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = BUILTIN_COMMANDS.get(cmd_name) or HIDDEN_COMMANDS.get(cmd_name)
        if spec is not None and _available(spec):
            module_name, attr = spec.split(":", 1)
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            return command
        self._load_plugin_commands()
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every command module.
        rows = []
        for name in self.list_commands(ctx):
            if name in BUILTIN_COMMANDS:
                rows.append((name, SHORT_HELP.get(name, "")))
            else:
                cmd = self.commands.get(name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit=70)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="backprop")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (or BACKPROP_DEBUG=1).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Short, safe, recorded and resumable training runs.

    \b
    Start with:  backprop status          can this machine take a run now?
                 backprop run train.py    run it, governed and time-boxed
                 backprop list            what ran, and how it ended
    """
    if debug:
        os.environ["BACKPROP_DEBUG"] = "1"


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: runs the CLI and turns ``BackpropError`` into one line."""
    from backprop_core.errors import BackpropError

    try:
        return cli.main(args=argv, prog_name="backprop", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("backprop: aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BackpropError as exc:
        if env_flag("BACKPROP_DEBUG"):
            raise
        click.echo(f"backprop: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("backprop: interrupted", err=True)
        sys.exit(130)
