"""Runs rendered for people and programs: strict JSON for ``--json``, exporters and the viewer,
and the time and duration formats shared by the CLI and the viewer."""
