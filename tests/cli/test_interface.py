"""The command-line interface reads one way everywhere: one help text per command, one ``--json``,
one table of flags to settings keys, and every usage error as ``backprop: error: …; hint``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from backprop_core.cli.main import BUILTIN_COMMANDS, cli
from backprop_core.cli.options import SETTING_FLAGS, overrides_from_options
from tests.conftest import REPO, run_cli

# Commands that print data but not as --json, each for the reason docs/cli.md gives.
WITHOUT_JSON = {"export", "ui", "config validate", "config schema"}


def _commands() -> Iterator[tuple[str, click.Command]]:
    root = click.Context(cli, info_name="backprop")
    for name in sorted(BUILTIN_COMMANDS):
        command = cli.get_command(root, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            ctx = click.Context(command, info_name=name, parent=root)
            for sub in command.list_commands(ctx):
                sub_command = command.get_command(ctx, sub)
                assert sub_command is not None
                yield f"{name} {sub}", sub_command
        else:
            yield name, command


def _help_rows() -> dict[str, str]:
    result = run_cli("--help", env={"BACKPROP_DISABLE_PLUGINS": "example"})
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split("Commands:\n", 1)[1]
    rows = {}
    for line in listing.splitlines():
        name, _, text = line.strip().partition(" ")
        rows[name] = text.strip()
    return rows


def test_backprop_help_shows_each_command_s_own_first_line() -> None:
    rows = _help_rows()
    root = click.Context(cli, info_name="backprop")
    assert set(rows) == set(BUILTIN_COMMANDS)
    for name in BUILTIN_COMMANDS:
        command = cli.get_command(root, name)
        assert command is not None
        own = command.get_short_help_str(limit=200)
        assert rows[name] == own, f"backprop --help says {rows[name]!r} for {name}, not {own!r}"
        assert len(own) <= 60, f"the first line of {name}'s help is too long for the listing"


@pytest.mark.parametrize("name", sorted(n for n, _ in _commands()))
def test_every_command_that_prints_data_has_the_one_json_option(name: str) -> None:
    command = dict(_commands())[name]
    options = [p for p in command.params if "--json" in getattr(p, "opts", ())]
    if name in WITHOUT_JSON:
        assert not options, f"{name} has --json now: drop it from the exceptions in docs/cli.md"
        return
    assert len(options) == 1, f"backprop {name} has no --json"
    (option,) = options
    assert option.name == "as_json" and option.help == "Print JSON on stdout instead of text."


def test_the_cli_reference_names_the_commands_without_json() -> None:
    header = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").split("## backprop", 1)[0]
    for name in WITHOUT_JSON:
        assert f"`{name}`" in header or f"`{name.split()[0]}`" in header, name


def test_every_flag_in_the_settings_table_names_a_schema_key_and_an_option() -> None:
    schema = json.loads((REPO / "schemas" / "backprop.config.schema.json").read_text())
    commands = [("backprop", cli), *_commands()]  # the root group's options too
    params = {p.name: p for _, command in commands for p in command.params}
    for name, flag in SETTING_FLAGS.items():
        node = schema
        for part in flag.key:
            assert part in node["properties"], f"{name} maps to {flag.key}, not a settings key"
            node = node["properties"][part]
        assert name in params, f"SETTING_FLAGS has {name}, which no command takes"
        option = params[name]
        assert isinstance(option, click.Option)
        assert tuple(option.opts) == flag.decls and option.help == flag.help, name


def test_run_flags_become_their_settings_keys() -> None:
    given = {
        "max_run_minutes": 2.0,
        "gpu_memory_limit": 12.0,
        "gpus": 0,
        "wait_timeout": 5.0,
        "grace": 3.0,
        "stop_on_nan": True,
        "stall_minutes": None,  # not given: left to the other sources
        "gpu_max_temp": 80.0,
    }
    overrides, labels = overrides_from_options(given)
    assert overrides == {
        "maxRunMinutes": 2.0,
        "gpuMemoryLimit": 12.0,
        "gpu": {"count": 0, "maxTempC": 80.0},
        "wait": {"timeoutMinutes": 5.0},
        "stop": {"graceSeconds": 3.0},
        "monitors": {"stopOnNan": True},
    }
    assert labels["stop.graceSeconds"] == "flag --grace"


def test_a_flag_overrides_the_environment_in_config_show(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    result = run_cli("config", "show", "--json", "--home", str(home))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["settings"]["home"] == str(home) and shown["sources"]["home"] == "flag --home"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["show"], "backprop: error: missing argument 'RUN'; see: backprop show --help"),
        (["lst"], "backprop: error: no such command 'lst'; did you mean: backprop list?"),
        (
            ["list", "--limit", "0"],
            "backprop: error: invalid value for '--limit': 0 is not in the range x>=1;"
            " see: backprop list --help",
        ),
        (
            ["config", "frobnicate"],
            "backprop: error: no such command 'frobnicate'; see: backprop config --help",
        ),
        (
            ["list", "--jsn"],
            "backprop: error: no such option '--jsn'; did you mean --json?",
        ),
    ],
)
def test_click_usage_errors_read_like_backprop_s_own(args: list[str], expected: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.strip() == expected
    assert "Usage:" not in result.stderr and "Try '" not in result.stderr


def test_a_hint_follows_its_message_after_a_semicolon_never_in_parentheses(
    tmp_path: Path,
) -> None:
    (tmp_path / "home").mkdir()
    result = run_cli("show", "nosuchrun", "--home", str(tmp_path / "home"))
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line == (
        "backprop: error: no run matches 'nosuchrun'; give a run id, a unique id prefix or"
        " suffix, or a run name, as backprop list shows them"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["list", "--json"],
        ["show", "r1"],
        ["logs", "r1"],
        ["export", "r1"],
        ["rm", "r1", "--yes"],
        ["gc"],
        ["ui", "--no-open", "--port", "0"],
    ],
)
def test_read_commands_never_create_a_home_they_say_it_does_not_exist(
    tmp_path: Path, args: list[str]
) -> None:
    home = tmp_path / "mistyped-home"
    result = run_cli(*args, "--home", str(home))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"backprop: error: the backprop home {home} does not exist; check --home and"
        " BACKPROP_HOME, or start a run, which creates it"
    )
    assert not home.exists()
