"""The cached index of ``backprop`` entry points: used when valid, rebuilt when anything is
installed, removed or reinstalled, and never the reason a plugin goes missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from backprop_core.plugin.entry_index import (
    cache_file,
    fingerprint,
    plugin_entries,
    scan_entry_points,
)
from tests.conftest import run_cli
from tests.core.test_plugin_loading import make_dist, plugin_names, with_site

# Loads the plugins in a fresh interpreter; with NO_METADATA it forbids importing
# importlib.metadata, which only a valid cached index makes possible.
LOAD = """
import json, os, sys
if os.environ.get("NO_METADATA"):
    sys.modules["importlib.metadata"] = None
from backprop_core.plugin.manager import get_plugins
print(json.dumps(sorted(p.name for p in get_plugins().plugins())))
"""


def load_names(
    env: dict[str, str], *, no_metadata: bool = False
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    if no_metadata:
        full["NO_METADATA"] = "1"
    return subprocess.run(
        [sys.executable, "-c", LOAD], capture_output=True, text=True, env=full, timeout=60
    )


def test_second_load_uses_the_index_without_reading_metadata() -> None:
    first = load_names({})
    assert first.returncode == 0, first.stderr
    assert cache_file().is_file()
    second = load_names({}, no_metadata=True)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert "example" in json.loads(second.stdout)


def test_cold_cache_needs_metadata() -> None:
    # The control for the test above: without an index, importlib.metadata is required.
    result = load_names({}, no_metadata=True)
    assert result.returncode != 0


def test_cached_listing_names_the_same_distributions_and_versions() -> None:
    fresh = json.loads(run_cli("plugins", "--json").stdout)
    cached = json.loads(run_cli("plugins", "--json").stdout)
    assert cached == fresh
    assert {p["name"]: p["version"] for p in cached}["example"] == "0.1.0"


def test_a_newly_installed_plugin_is_found_with_a_warm_index(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    env = with_site(site)
    assert "late" not in plugin_names(run_cli("plugins", "--json", env=env).stdout)
    make_dist(site, "backprop-late", "backprop_late", "", "late")
    assert "late" in plugin_names(run_cli("plugins", "--json", env=env).stdout)


def test_a_reinstall_with_new_entry_points_is_seen(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_dist(site, "backprop-late", "backprop_late", "", "late")
    env = with_site(site)
    assert "late" in plugin_names(run_cli("plugins", "--json", env=env).stdout)
    # What pip does: remove the old metadata folder, write a new one (same name and version).
    info = site / "backprop_late-1.2.3.dist-info"
    shutil.rmtree(info)
    (site / "backprop_late.py").unlink()
    make_dist(site, "backprop-late", "backprop_renamed", "", "renamed")
    names = plugin_names(run_cli("plugins", "--json", env=env).stdout)
    assert "renamed" in names and "late" not in names


def test_an_uninstalled_plugin_disappears(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_dist(site, "backprop-late", "backprop_late", "", "late")
    env = with_site(site)
    assert "late" in plugin_names(run_cli("plugins", "--json", env=env).stdout)
    shutil.rmtree(site / "backprop_late-1.2.3.dist-info")
    (site / "backprop_late.py").unlink()
    result = run_cli("plugins", "--json", env=env)
    assert result.returncode == 0 and result.stderr == ""
    assert "late" not in plugin_names(result.stdout)


def test_an_entry_that_no_longer_imports_triggers_a_rescan_not_a_warning() -> None:
    entries, _ = plugin_entries()
    file = cache_file()
    data = json.loads(file.read_text(encoding="utf-8"))
    assert data["fingerprint"] == fingerprint()
    data["entries"].append(
        {"name": "ghost", "value": "backprop_ghost_xyz", "distribution": "x", "version": "1"}
    )
    file.write_text(json.dumps(data), encoding="utf-8")
    result = run_cli("plugins", "--json")
    assert result.returncode == 0
    assert result.stderr == ""
    assert "ghost" not in plugin_names(result.stdout)
    assert {e.name for e in entries} == plugin_names(result.stdout)
    # ...and the index was rewritten from the real metadata.
    rebuilt = json.loads(file.read_text(encoding="utf-8"))
    assert "ghost" not in {e["name"] for e in rebuilt["entries"]}


def test_a_corrupt_index_is_rebuilt() -> None:
    file = cache_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("{not json", encoding="utf-8")
    entries, cached = plugin_entries()
    assert not cached
    assert entries == scan_entry_points()
    assert plugin_entries() == (entries, True)


def test_an_unwritable_cache_folder_only_costs_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    result = run_cli("plugins", "--json", env={"XDG_CACHE_HOME": str(blocker)})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "example" in plugin_names(result.stdout)


def test_the_cache_can_be_turned_off() -> None:
    result = run_cli("plugins", "--json", env={"BACKPROP_PLUGIN_CACHE": "0"})
    assert result.returncode == 0
    assert "example" in plugin_names(result.stdout)
    assert not cache_file().exists()


def test_fingerprint_follows_metadata_folders_and_zip_files(tmp_path: Path) -> None:
    site, archive = tmp_path / "site", tmp_path / "plugins.zip"
    site.mkdir()
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip archive
    path = [str(site), str(archive), str(tmp_path / "missing")]
    before = fingerprint(path)
    assert fingerprint(path) == before
    (site / "unrelated.txt").write_text("x", encoding="utf-8")
    assert fingerprint(path) == before  # only metadata folders count
    make_dist(site, "backprop-late", "backprop_late", "", "late")
    after_install = fingerprint(path)
    assert after_install != before
    os.utime(archive, ns=(1, 1))
    assert fingerprint(path) != after_install
