"""Exported runs imported back give the same metrics: CSV and JSON exactly (NaN, ±Inf, -0.0,
steps and times included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.conftest import RUN_ID, cli_in, import_report, open_store, series_of


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_then_import_gives_back_every_value_exactly(
    homes: tuple[Path, Path], tmp_path: Path, fmt: str
) -> None:
    source, dest = homes
    out = tmp_path / f"export.{fmt}"
    cli_in(source, "export", RUN_ID, "--format", fmt, "-o", str(out))

    report = import_report(dest, str(out))  # the format is detected

    assert report["format"] == fmt and report["imported"] == [RUN_ID]
    with open_store(source) as a, open_store(dest) as b:
        assert series_of(b, RUN_ID) == series_of(a, RUN_ID)
        run = b.get_run(RUN_ID)
        assert run.name == "hard values"
        assert run.tags["imported-from"] == fmt
        assert run.environment["imported_from"]["path"] == str(out.resolve())


def test_json_import_keeps_the_record_and_its_sessions(
    homes: tuple[Path, Path], tmp_path: Path
) -> None:
    source, dest = homes
    out = tmp_path / "export.json"
    cli_in(source, "export", RUN_ID, "--format", "json", "-o", str(out))
    import_report(dest, str(out), "--format", "json")
    with open_store(source) as a, open_store(dest) as b:
        before, after = a.get_run(RUN_ID), b.get_run(RUN_ID)
        assert (after.status, after.created_at, after.ended_at) == (
            before.status,
            before.created_at,
            before.ended_at,
        )
        assert [(s.number, s.status, s.started_at) for s in b.sessions(RUN_ID)] == [
            (s.number, s.status, s.started_at) for s in a.sessions(RUN_ID)
        ]
        assert after.last_step == before.last_step
        assert str(after.last_metrics) == str(before.last_metrics)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_importing_an_export_into_its_own_home_adds_nothing(
    homes: tuple[Path, Path], tmp_path: Path, fmt: str
) -> None:
    source, _ = homes
    out = tmp_path / f"export.{fmt}"
    cli_in(source, "export", RUN_ID, "--format", fmt, "-o", str(out))
    report = import_report(source, str(out))
    assert report["imported"] == [] and report["skipped"] == [RUN_ID]
