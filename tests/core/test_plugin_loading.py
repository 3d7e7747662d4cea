"""Plugin discovery through real entry-point metadata, in real subprocesses (docs/plugins.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from backprop_core.errors import PluginError
from backprop_core.plugin.manager import PluginManager
from tests.conftest import run_cli

BUILTINS = {
    "host", "nvml", "nvidia_smi", "none_probe", "policies", "frameworks", "json_events",
    "sqlite", "json_store", "local_launcher", "slurm_launcher", "exporters", "monitors", "slots",
    "checkpoint_watch",
}  # fmt: skip


def make_dist(site: Path, dist: str, module: str, code: str, entry_name: str) -> None:
    """A minimal installed distribution: a module and a .dist-info with an entry point."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(code, encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[backprop]\n{entry_name} = {module}\n", encoding="utf-8"
    )


def with_site(site: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path, **extra}


def plugin_names(stdout: str) -> set[str]:
    return {p["name"] for p in json.loads(stdout)}


def test_builtins_and_example_load_from_entry_points() -> None:
    result = run_cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert set(plugins) >= BUILTINS
    example = plugins["example"]
    assert example["distribution"] == "backprop-example"
    assert example["version"] == "0.1.0"
    assert example["hooks"] == ["backprop_register_commands", "backprop_register_probes"]
    assert plugins["host"]["distribution"] == "backprop"


def test_plugin_command_shows_in_help_and_runs() -> None:
    help_text = run_cli("--help").stdout
    assert "example-hello" in help_text
    result = run_cli("example-hello", "tester")
    assert result.returncode == 0
    assert result.stdout.strip() == "hello, tester, from backprop-example"


def test_text_listing_names_distribution_and_hooks() -> None:
    out = run_cli("plugins").stdout
    assert "example  (backprop-example 0.1.0)" in out
    assert "    backprop_register_probes" in out


def test_broken_plugin_warns_once_and_the_rest_load(tmp_path: Path) -> None:
    make_dist(
        tmp_path, "backprop-broken", "backprop_broken", "import no_such_module_xyz\n", "broken"
    )
    result = run_cli("plugins", "--json", env=with_site(tmp_path))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "broken" in line]
    assert warnings == [
        "backprop: warning: plugin 'broken' from backprop-broken failed to load: "
        "ModuleNotFoundError: No module named 'no_such_module_xyz' (skipped)"
    ]
    assert BUILTINS | {"example"} <= plugin_names(result.stdout)


def test_strict_mode_turns_a_broken_plugin_into_an_error(tmp_path: Path) -> None:
    make_dist(
        tmp_path, "backprop-broken", "backprop_broken", "raise RuntimeError('boom')\n", "broken"
    )
    result = run_cli("plugins", env=with_site(tmp_path, BACKPROP_STRICT_PLUGINS="1"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "backprop: error: plugin 'broken' from backprop-broken failed to load: RuntimeError: boom"
    )
    assert "Traceback" not in result.stderr


def test_two_plugins_with_one_name_is_an_error(tmp_path: Path) -> None:
    make_dist(tmp_path, "backprop-dupe", "backprop_dupe", "", "example")
    result = run_cli("plugins", env=with_site(tmp_path))
    assert result.returncode == 2
    assert "two plugins are named 'example'" in result.stderr


def test_misspelled_hook_implementation_is_caught(tmp_path: Path) -> None:
    code = (
        "from backprop_core import hookimpl\n\n"
        "@hookimpl\n"
        "def backprop_register_probe():\n"
        "    return []\n"
    )
    make_dist(tmp_path, "backprop-typo", "backprop_typo", code, "typo")
    result = run_cli("plugins", env=with_site(tmp_path))
    assert result.returncode == 2
    assert "backprop_register_probe" in result.stderr
    assert "unknown hook" in result.stderr


def test_allow_list_loads_only_named_plugins() -> None:
    result = run_cli("plugins", "--json", env={"BACKPROP_LOAD_PLUGINS": "example,host"})
    assert plugin_names(result.stdout) == {"example", "host"}


def test_empty_allow_list_loads_none() -> None:
    result = run_cli("plugins", "--json", env={"BACKPROP_LOAD_PLUGINS": ""})
    assert result.returncode == 0
    assert json.loads(result.stdout) == []
    assert "example-hello" not in run_cli("--help", env={"BACKPROP_LOAD_PLUGINS": ""}).stdout


def test_block_list_skips_named_plugins() -> None:
    env = {"BACKPROP_DISABLE_PLUGINS": "example, nvml"}
    names = plugin_names(run_cli("plugins", "--json", env=env).stdout)
    assert "example" not in names and "nvml" not in names and "host" in names
    assert "example-hello" not in run_cli("--help", env=env).stdout


def test_in_process_registration_and_duplicate_names() -> None:
    from backprop_core import GpuProbe, hookimpl

    class Plugin:
        @hookimpl
        def backprop_register_probes(self) -> list[type[GpuProbe]]:
            from backprop_example import ExampleGpuProbe

            return [ExampleGpuProbe]

    pm = PluginManager(load_entry_points=False)
    pm.register(Plugin(), "mine")
    assert list(pm.gpu_probes()) == ["example-gpu"]
    with pytest.raises(PluginError, match="two plugins are named 'mine'"):
        pm.register(Plugin(), "mine")
    info = pm.plugins()
    assert [(i.name, i.hooks) for i in info] == [("mine", ("backprop_register_probes",))]


def test_a_failing_notification_hook_never_breaks_the_caller(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from backprop_core import hookimpl
    from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

    class Noisy:
        @hookimpl
        def backprop_run_started(self, run: RunRecord, session: SessionRecord) -> None:
            raise ValueError("listener broke")

        @hookimpl
        def backprop_run_finished(self, run: RunRecord, session: SessionRecord) -> None:
            raise ValueError("listener broke at the end")

    pm = PluginManager(load_entry_points=False)
    pm.register(Noisy(), "noisy")
    run = RunRecord(id="r", status=RunStatus.RUNNING, created_at=0.0)
    session = SessionRecord(run_id="r", number=1, status=RunStatus.RUNNING, started_at=0.0)
    pm.run_started(run, session)
    pm.run_finished(run, session)
    err = capsys.readouterr().err
    assert "backprop_run_started failed: ValueError: listener broke" in err
    assert "backprop_run_finished failed: ValueError: listener broke at the end" in err
