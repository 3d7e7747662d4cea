"""Resolving the effective settings: defaults < user config < project config (or ``--config``)
< ``BACKPROP_*`` environment < flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backprop_core.errors import ConfigError
from backprop_core.settings.model import Settings
from backprop_core.settings.schemas import CONFIG_SCHEMA, load_schema
from backprop_core.settings.sources import (
    PROJECT_FILE,
    Source,
    deep_merge,
    find_project_config,
    leaf_keys,
    read_env,
    read_file,
)
from backprop_core.settings.validate import validate_data


def defaults() -> dict[str, Any]:
    """The built-in defaults, read from the schema so they are defined once."""
    out: dict[str, Any] = {}
    for key, sub in load_schema(CONFIG_SCHEMA)["properties"].items():
        if "default" in sub:
            out[key] = sub["default"]
        elif sub.get("type") == "object":
            out[key] = {k: v["default"] for k, v in sub["properties"].items() if "default" in v}
    return out


def default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("backprop", appauthor=False))


def user_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("backprop", appauthor=False)) / PROJECT_FILE


def collect_sources(
    overrides: Mapping[str, Any] | None,
    config_file: Path | None,
    cwd: Path,
    env: Mapping[str, str],
    problems: list[str],
    labels: Mapping[str, str] | None = None,
) -> tuple[list[Source], list[str]]:
    """Every source in precedence order, lowest first, and warnings (unknown env vars)."""
    sources: list[Source] = []
    user = user_config_path()
    if user.is_file():
        found = read_file(user, "user config", problems)
        if found:
            sources.append(found)
    if config_file is not None:
        path = Path(config_file).expanduser()
        if not path.is_absolute():
            path = cwd / path
        if not path.exists():
            problems.append(f"{path}: config file not found (given with --config)")
        else:
            found = read_file(path, "config", problems)
            if found:
                sources.append(found)
    else:
        project = find_project_config(cwd)
        if project is not None:
            found = read_file(project, "project config", problems)
            if found:
                sources.append(found)
    env_source, warnings = read_env(env, load_schema(CONFIG_SCHEMA))
    sources.append(env_source)
    if overrides:
        sources.append(
            Source(
                "flag", "command line", dict(overrides), base_dir=cwd, key_labels=dict(labels or {})
            )
        )
    return sources, warnings


def _absolute_home(source: Source) -> None:
    home = source.data.get("home")
    if isinstance(home, str) and source.base_dir is not None:
        path = Path(home).expanduser()
        source.data["home"] = str(path if path.is_absolute() else source.base_dir / path)


def resolve_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """The effective settings. Raises ``ConfigError`` listing every problem of every source."""
    settings, _ = resolve_with_warnings(overrides, config_file=config_file, cwd=cwd, env=env)
    return settings


def resolve_with_warnings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> tuple[Settings, list[str]]:
    """``resolve_settings`` and the warnings to show (unknown variables). ``labels`` names where
    each dotted key of ``overrides`` came from (``flag --grace``); unnamed ones are ``flag``."""
    cwd = Path(cwd) if cwd is not None else Path.cwd()
    env = os.environ if env is None else env
    problems: list[str] = []
    sources, warnings = collect_sources(overrides, config_file, cwd, env, problems, labels)
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    # The defaults are checked like any source: a schema edit cannot slip a bad value through.
    for source in [Source("default", "defaults", defaults()), *sources]:
        for problem in validate_data(source.data):
            where = source.origin
            if source.key_labels:  # variables and flags: name them, not only the JSON path
                where = _key_label(problem, source.key_labels) or where
            problems.append(f"{where}: {problem}")
        _absolute_home(source)
        merged = deep_merge(merged, source.data)
        for key in leaf_keys(source.data):
            origins[key] = source.key_labels.get(key, source.label)
    if problems:
        raise ConfigError("invalid configuration", problems)
    home = Path(merged["home"]) if merged.get("home") else default_home()
    merged["home"] = str(home)
    origins.setdefault("home", "default")
    return Settings.from_config(merged, home=home, sources=origins), warnings


def _key_label(problem: str, labels: Mapping[str, str]) -> str | None:
    path = problem.split(":", 1)[0].removeprefix("$.")
    return labels.get(path) or labels.get(path.split("[", 1)[0])
