"""The ``backprop`` root command: lazy sub-commands, plugin commands, and the error boundary."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any, NoReturn

import click

from backprop_core.__about__ import __version__
from backprop_core.cli.options import setting_option
from backprop_core.env_vars import env_flag

# command name -> "module:attribute"; modules are imported only when the command runs, so
# ``backprop --version`` and ``backprop status`` stay fast. Each command's help text lives in
# its own docstring, the one source for ``backprop --help``, ``backprop CMD --help`` and
# docs/cli.md.
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
    "store": "backprop_core.cli.store_cmd:store_group",
    "ui": "backprop_core.cli.ui:ui_command",
    "artifacts": "backprop_core.cli.artifacts:artifacts_group",
    "lineage": "backprop_core.cli.lineage:lineage_command",
    "manifest": "backprop_core.cli.manifest:manifest_command",
    "rerun": "backprop_core.cli.rerun:rerun_command",
    "pull": "backprop_core.cli.pull:pull_command",
}

# Not listed in the help or the reference: what backprop on another machine runs for
# ``--remote``, ``ui --ssh`` and ``pull``, and what a job submitted by a scheduler's launcher runs.
INTERNAL_COMMANDS: dict[str, str] = {
    "remote-helper": "backprop_core.cli.remote_helper:helper_group",
    "supervise": "backprop_core.cli.supervise:supervise_command",
}


def _available(spec: str) -> bool:
    module = spec.split(":", 1)[0]
    return importlib.util.find_spec(module) is not None


def builtin_docstring(name: str) -> str:
    """The docstring of a built-in command's function, read from its source file without
    importing the module (whose imports ``backprop --help`` does not need)."""
    import ast

    module, attr = BUILTIN_COMMANDS[name].split(":", 1)
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), spec.origin)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            return ast.get_docstring(node) or ""
    return ""


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
        command = self._command(cmd_name)
        if command is not None and ctx.params.get("remote"):
            from backprop_core.cli.remote_cmds import HOST_DEFAULTED, remote_variant

            if cmd_name not in HOST_DEFAULTED:
                return remote_variant(cmd_name, command)
        return command

    def _command(self, cmd_name: str) -> click.Command | None:
        spec = BUILTIN_COMMANDS.get(cmd_name) or INTERNAL_COMMANDS.get(cmd_name)
        if spec is not None and _available(spec):
            module_name, attr = spec.split(":", 1)
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            return command
        self._load_plugin_commands()
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            from backprop_core.errors import UsageError

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            raise UsageError(
                f"no such command '{name}'",
                hint=f"did you mean: backprop {close[0]}?" if close else "see: backprop --help",
            )
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(n) for n in names), default=0)
        rows = []
        for name in names:
            if name in BUILTIN_COMMANDS:
                # Click's own first-line rule, applied to the docstring it would read.
                text = click.Command(name, help=builtin_docstring(name)).get_short_help_str(limit)
                rows.append((name, text))
            else:
                cmd = self.commands.get(name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="backprop")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (or BACKPROP_DEBUG=1).")
@click.option(
    "--remote",
    metavar="HOST",
    envvar="BACKPROP_REMOTE",
    help="Run list, show, logs, status, stop or config show on HOST over SSH (user@host or an "
    "alias from ~/.ssh/config; or BACKPROP_REMOTE). See docs/remote.md.",
)
@setting_option("remote_command")
@click.pass_context
def cli(ctx: click.Context, debug: bool, remote: str | None, remote_command: str | None) -> None:
    """Short, safe, recorded and resumable training runs.

    \b
    Start with:  backprop status          can this machine take a run now?
                 backprop run train.py    run it, governed and time-boxed
                 backprop list            what ran, and how it ended
    """
    if debug:
        os.environ["BACKPROP_DEBUG"] = "1"


def _usage_error(exc: click.UsageError) -> NoReturn:
    """Click's own usage errors in the ``backprop: error: …; hint`` form, exit 2."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):  # bare ``backprop``: the help
        exc.show()
        sys.exit(exc.exit_code)
    suggest = isinstance(exc, click.NoSuchOption) and exc.possibilities
    # Click appends its own "Did you mean" to format_message(); the hint below says it instead.
    message = (exc.message if suggest else exc.format_message()).strip().rstrip(".")
    message = message[:1].lower() + message[1:]
    if isinstance(exc, click.NoSuchOption) and exc.possibilities:
        hint = f"did you mean {' or '.join(exc.possibilities)}?"
    elif exc.ctx is not None:
        hint = f"see: {exc.ctx.command_path} --help"
    else:
        hint = "see: backprop --help"
    click.echo(f"backprop: error: {message}; {hint}", err=True)
    sys.exit(2)


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
    except click.UsageError as exc:
        _usage_error(exc)
    except click.ClickException as exc:
        click.echo(f"backprop: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except BackpropError as exc:
        if env_flag("BACKPROP_DEBUG"):
            raise
        from backprop_core.cli.entry import report

        report(exc)
    except KeyboardInterrupt:
        click.echo("backprop: interrupted", err=True)
        sys.exit(130)
