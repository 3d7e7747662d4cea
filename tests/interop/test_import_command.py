"""``backprop import``: one command for every format, the format detected or named, importers
added by plugins like any other, and imported runs that never own files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from backprop_core.events.event import Event
from tests.conftest import run_cli
from tests.core.test_plugin_loading import make_dist, with_site
from tests.interop.conftest import RUN_ID, cli_in, hard_run, import_report, open_store

LINES_PLUGIN = textwrap.dedent(
    '''
    """A third-party importer: ``.bplines`` files of ``key step value`` lines."""
    from __future__ import annotations

    from pathlib import Path
    from typing import ClassVar

    from backprop_core import Importer, RunRecord, RunStatus, SessionRecord, hookimpl
    from backprop_core.plugin_kit import (
        ImportedRun, ImportReport, MetricBatcher, batches_of, imported_run_id, imported_tags,
        write_run,
    )


    class LinesImporter(Importer):
        name: ClassVar[str] = "lines"
        description: ClassVar[str] = "key step value lines"

        @classmethod
        def detect(cls, path: Path) -> bool:
            return path.suffix == ".bplines"

        def import_into(self, store, path: Path) -> ImportReport:
            points = []
            for n, line in enumerate(path.read_text().splitlines()):
                key, step, value = line.split()
                points.append((1_700_000_000.0 + n, int(step), {key: float(value)}))
            run_id = imported_run_id("lines", path.stem, str(path.resolve()))
            run = RunRecord(run_id, RunStatus.COMPLETED, 1_700_000_000.0, name=path.stem,
                            tags=imported_tags("lines"))
            session = SessionRecord(run_id, 1, RunStatus.COMPLETED, 1_700_000_000.0)
            report = ImportReport()
            write_run(store, ImportedRun(run, [session], batches_of(MetricBatcher(1), points)),
                      report)
            return report


    @hookimpl
    def backprop_register_importers() -> list[type[Importer]]:
        return [LinesImporter]
    '''
)


def test_hook_register_importers(tmp_path: Path) -> None:
    """backprop_register_importers: an importer from an installed plugin is detected and used
    by ``backprop import`` like the built-in ones."""
    site = tmp_path / "site"
    make_dist(site, "backprop-lines", "backprop_lines", LINES_PLUGIN, "lines")
    source = tmp_path / "losses.bplines"
    source.write_text("loss 0 0.5\nloss 1 0.25\nacc 1 0.75\n")
    env = with_site(site, BACKPROP_HOME=str(tmp_path / "home"))

    result = run_cli("import", str(source), "--json", env=env)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "lines" and len(report["imported"]) == 1
    shown = json.loads(run_cli("show", "losses", "--json", env=env).stdout)
    assert shown["metric_keys"] == ["acc", "loss"] and shown["tags"]["imported-from"] == "lines"
    listed = run_cli("import", str(source), "--format", "nope", env=env)
    assert listed.returncode == 2 and "lines" in listed.stderr


def test_a_node_tool_file_is_detected_and_imported_as_before(tmp_path: Path) -> None:
    path = tmp_path / "experiments.json"
    path.write_text(json.dumps({"a1": {"id": "a1", "status": "completed", "lastStep": 3}}))
    report = import_report(tmp_path / "home", str(path))
    assert report["format"] == "node" and report["imported"] == ["a1"]


def test_what_cannot_be_imported_says_what_to_do(tmp_path: Path) -> None:
    env = {"BACKPROP_HOME": str(tmp_path / "home")}
    missing = run_cli("import", str(tmp_path / "nowhere"), env=env)
    assert missing.returncode == 2
    assert missing.stderr.startswith("backprop: error: ") and "does not exist" in missing.stderr
    blob = tmp_path / "notes.txt"
    blob.write_text("nothing to see")
    unknown = run_cli("import", str(blob), env=env)
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "cannot tell what format" in unknown.stderr and "--format" in unknown.stderr
    bad = run_cli("import", str(blob), "--format", "parquet", env=env)
    assert bad.returncode == 2 and "tensorboard" in bad.stderr and "mlflow" in bad.stderr


def test_checkpoints_of_an_imported_run_are_only_ever_forgotten(tmp_path: Path) -> None:
    source = tmp_path / "source"
    kept = tmp_path / "model.pt"
    kept.write_bytes(b"weights")
    with open_store(source) as store:
        hard_run(store)
        store.append_events(
            RUN_ID, [Event("checkpoint_saved", 1_790_000_001.0, 5, {"path": str(kept)}, 1)]
        )
    out = tmp_path / "export.json"
    cli_in(source, "export", RUN_ID, "--format", "json", "-o", str(out))
    dest = tmp_path / "dest"
    import_report(dest, str(out))

    result = run_cli("gc", "--keep-last", "0", "--yes", "--json", env={"BACKPROP_HOME": str(dest)})

    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)["items"]
    assert item["action"] == "forget" and item["reason"] == "imported runs own no files"
    assert kept.read_bytes() == b"weights"
