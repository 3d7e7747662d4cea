"""Settings precedence, deep merge, validation messages and file discovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backprop_core.errors import ConfigError
from backprop_core.settings import resolve_settings, resolve_with_warnings, user_config_path


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_defaults_match_the_spec(tmp_path: Path) -> None:
    s = resolve_settings(cwd=tmp_path, env={})
    assert s.max_run_minutes == 10
    assert s.max_parallel == 2
    assert s.gpu_memory_limit == "80%"
    assert s.min_free_ram_gb == 4
    assert s.max_cpu_load is None
    assert s.gpu.probe == "auto"
    assert s.gpu.min_free_vram_mb == 2500
    assert s.gpu.max_temp_c == 85
    assert s.gpu.count == 1
    assert s.governor.poll_seconds == 5
    assert s.stop.grace_seconds == 30 and s.stop.signal == "SIGTERM"
    assert s.wait.timeout_minutes == 60
    assert s.store == "sqlite"
    assert s.source("maxRunMinutes") == "default"


def test_each_level_overrides_the_one_below(tmp_path: Path) -> None:
    write_json(
        user_config_path(),
        {"maxRunMinutes": 1, "maxParallel": 3, "minFreeRamGB": 1, "store": "json"},
    )
    project = tmp_path / "proj"
    write_json(
        project / "backprop.config.json", {"maxParallel": 4, "minFreeRamGB": 2, "framework": "jax"}
    )
    env = {"BACKPROP_MIN_FREE_RAM_GB": "3", "BACKPROP_FRAMEWORK": "pytorch"}
    s = resolve_settings({"framework": "generic"}, cwd=project, env=env)
    assert s.max_run_minutes == 1 and s.source("maxRunMinutes").startswith("user config")
    assert s.max_parallel == 4 and s.source("maxParallel").startswith("project config")
    assert s.min_free_ram_gb == 3 and s.source("minFreeRamGB") == "env BACKPROP_MIN_FREE_RAM_GB"
    assert s.framework == "generic" and s.source("framework") == "flag"
    assert s.store == "json"


def test_nested_objects_merge_deeply(tmp_path: Path) -> None:
    write_json(tmp_path / "backprop.config.json", {"gpu": {"minFreeVramMB": 1000, "count": 2}})
    s = resolve_settings(
        {"gpu": {"probe": "none"}}, cwd=tmp_path, env={"BACKPROP_GPU__MAX_TEMP_C": "70"}
    )
    assert s.gpu.min_free_vram_mb == 1000
    assert s.gpu.count == 2
    assert s.gpu.max_temp_c == 70
    assert s.gpu.probe == "none"
    assert s.source("gpu.maxTempC") == "env BACKPROP_GPU__MAX_TEMP_C"


def test_project_config_found_in_nearest_ancestor(tmp_path: Path) -> None:
    write_json(tmp_path / "backprop.config.json", {"maxRunMinutes": 7})
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert resolve_settings(cwd=deep, env={}).max_run_minutes == 7


def test_pyproject_tool_section(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.backprop]\nmaxRunMinutes = 5\n\n'
        "[tool.backprop.gpu]\nmaxTempC = 80\n",
        encoding="utf-8",
    )
    s = resolve_settings(cwd=tmp_path, env={})
    assert s.max_run_minutes == 5 and s.gpu.max_temp_c == 80
    assert "pyproject.toml" in s.source("gpu.maxTempC")


def test_explicit_config_file_wins_over_discovery(tmp_path: Path) -> None:
    write_json(tmp_path / "backprop.config.json", {"maxRunMinutes": 7})
    other = write_json(tmp_path / "other.json", {"maxRunMinutes": 2})
    assert resolve_settings(config_file=other, cwd=tmp_path, env={}).max_run_minutes == 2


def test_explicit_missing_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_settings(config_file=tmp_path / "nope.json", cwd=tmp_path, env={})
    assert info.value.exit_code == 2
    assert "nope.json: config file not found" in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write_json(
        tmp_path / "backprop.config.json",
        {
            "maxRunMinute": 1,
            "gpu": {"maxTemp": 80, "count": -1},
            "stop": {"signal": "SIGFOO"},
            "gpuMemoryLimit": "lots",
            "maxParallel": "two",
        },
    )
    with pytest.raises(ConfigError) as info:
        resolve_settings(cwd=tmp_path, env={"BACKPROP_MAX_RUN_MINUTES": "soon"})
    problems = info.value.problems
    text = "\n".join(problems)
    assert len(problems) == 7, text
    assert "$.maxRunMinute: unknown key 'maxRunMinute' (did you mean 'maxRunMinutes'?" in text
    assert "$.gpu.maxTemp: unknown key 'maxTemp' (did you mean 'maxTempC'?" in text
    assert "$.gpu.count: -1 is out of range (allowed: integer >= 0)" in text
    assert "$.stop.signal: 'SIGFOO' is not allowed (allowed: one of 'SIGTERM'" in text
    assert "$.gpuMemoryLimit: 'lots' is not valid here (allowed: GPU memory cap" in text
    assert "$.maxParallel: 'two' is not of type 'integer'" in text
    assert "env BACKPROP_MAX_RUN_MINUTES: $.maxRunMinutes: 'soon' is not of type 'number'" in text
    assert all(str(tmp_path) in p for p in problems if not p.startswith("env "))


def test_invalid_json_names_file_and_position(tmp_path: Path) -> None:
    (tmp_path / "backprop.config.json").write_text('{"maxRunMinutes": 1,,}', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve_settings(cwd=tmp_path, env={})
    assert "invalid JSON at line 1 column 21" in str(info.value)


def test_config_must_be_an_object(tmp_path: Path) -> None:
    write_json(tmp_path / "backprop.config.json", [1, 2])
    with pytest.raises(ConfigError, match=r"must be a JSON object"):
        resolve_settings(cwd=tmp_path, env={})


def test_node_tool_config_is_accepted_as_is(tmp_path: Path) -> None:
    node = {
        "maxRunMinutes": 10,
        "maxParallel": 2,
        "gpuMemoryLimit": "80%",
        "minFreeRamGB": 4,
        "checkpointEveryMinutes": 2,
        "framework": "pytorch",
    }
    write_json(tmp_path / "backprop.config.json", node)
    s = resolve_settings(cwd=tmp_path, env={})
    assert s.checkpoint_every_seconds == 120 and s.framework == "pytorch"


def test_relative_home_is_relative_to_its_config_file(tmp_path: Path) -> None:
    write_json(tmp_path / "backprop.config.json", {"home": ".bp"})
    sub = tmp_path / "sub"
    sub.mkdir()
    assert resolve_settings(cwd=sub, env={}).home == tmp_path / ".bp"


def test_env_typo_gets_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    _, warnings = resolve_with_warnings(cwd=tmp_path, env={"BACKPROP_MAX_RUN_MINUTE": "3"})
    assert warnings == [
        "ignoring unknown environment variable BACKPROP_MAX_RUN_MINUTE "
        "(did you mean BACKPROP_MAX_RUN_MINUTES?)"
    ]


def test_switches_and_the_childs_contract_are_never_unknown_variables(tmp_path: Path) -> None:
    from backprop_core.env_vars import CONTRACT_VARS, SWITCH_VARS

    env = dict.fromkeys((*SWITCH_VARS, *CONTRACT_VARS), "1")
    env["BACKPROP_FRAMEWORK"] = "pytorch"
    _, warnings = resolve_with_warnings(cwd=tmp_path, env=env)
    assert warnings == []
    _, warnings = resolve_with_warnings(cwd=tmp_path, env={"BACKPROP_PLUGIN_CACHE": "0"})
    assert warnings == []


def test_child_contract_variables_do_not_become_settings(tmp_path: Path) -> None:
    env = {
        "BACKPROP_RUN_ID": "r1",
        "BACKPROP_GPU_MEMORY_LIMIT": "8589934592",
        "BACKPROP_FRAMEWORK": "pytorch",
    }
    s = resolve_settings(cwd=tmp_path, env=env)
    assert s.gpu_memory_limit == "80%" and s.framework == "auto"
    # Outside a supervised run the same variable is the setting.
    assert (
        resolve_settings(cwd=tmp_path, env={"BACKPROP_GPU_MEMORY_LIMIT": "12GB"}).gpu_memory_limit
        == "12GB"
    )


@pytest.mark.parametrize(
    ("limit", "total", "expected"),
    [
        ("80%", 10 * 1024**3, 8 * 1024**3),
        ("12GB", None, 12 * 1024**3),
        (2, None, 2 * 1024**3),
        ("50%", None, None),
    ],
)
def test_gpu_memory_limit_bytes(
    tmp_path: Path, limit: object, total: int | None, expected: int | None
) -> None:
    s = resolve_settings({"gpuMemoryLimit": limit}, cwd=tmp_path, env={})
    assert s.gpu_memory_limit_bytes(total) == expected


def test_boolean_and_nullable_env_values(tmp_path: Path) -> None:
    env = {"BACKPROP_MONITORS__STOP_ON_NAN": "yes", "BACKPROP_MAX_CPU_LOAD": "0.9"}
    s = resolve_settings(cwd=tmp_path, env=env)
    assert s.monitors.stop_on_nan is True and s.max_cpu_load == 0.9


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"maxRunMinutes": 0},
        {"maxRunMinutes": -1},
        {"maxParallel": 1.5},
        {"maxParallel": True},
        {"maxCpuLoad": None},
        {"maxCpuLoad": 0},
        {"gpu": {"maxTempC": 151}},
        {"gpu": {"count": 2.0}},
        {"gpu": {"probe": 3}},
        {"gpu": []},
        {"stop": {"signal": "SIGKILL"}},
        {"gpuMemoryLimit": "80%"},
        {"gpuMemoryLimit": "lots"},
        {"gpuMemoryLimit": "120%"},
        {"gpuMemoryLimit": "12 GB"},
        {"gpuMemoryLimit": 0},
        {"gpuMemoryLimit": 12.5},
        {"home": "/x"},
        {"monitors": {"stopOnNan": 1}},
        {"home": ""},
        {"nope": 1},
        {"outputScalars": {"enabled": False, "patterns": ["(?P<loss>[0-9.]+)"]}},
        {"outputScalars": {"patterns": "loss"}},
        {"outputScalars": {"patterns": [""]}},
        {"outputScalars": {"ignoreKeys": ["v_num", 1]}},
        {"outputScalars": {"enabled": "yes"}},
        {"outputScalars": {"builtin": True}},
    ],
)
def test_fast_validation_never_accepts_what_jsonschema_rejects(data: dict[str, object]) -> None:
    from jsonschema import Draft202012Validator

    from backprop_core.settings.schemas import CONFIG_SCHEMA, load_schema
    from backprop_core.settings.validate import _obviously_valid

    schema = load_schema(CONFIG_SCHEMA)
    errors = list(Draft202012Validator(schema).iter_errors(data))
    # Exact: the fast check agrees with jsonschema both ways on the keywords it handles.
    assert _obviously_valid(data, schema) == (not errors)


def test_output_scalars_settings_from_files_and_variables(tmp_path: Path) -> None:
    s = resolve_settings(cwd=tmp_path, env={})
    assert s.output_scalars.enabled and s.output_scalars.builtin_rules
    assert s.output_scalars.patterns == () and "v_num" in s.output_scalars.ignore_keys
    env = {
        "BACKPROP_OUTPUT_SCALARS__ENABLED": "0",
        "BACKPROP_OUTPUT_SCALARS__PATTERNS": '["fid=(?P<fid>[0-9.]+)"]',
    }
    s = resolve_settings(cwd=tmp_path, env=env)
    assert not s.output_scalars.enabled
    assert s.output_scalars.patterns == ("fid=(?P<fid>[0-9.]+)",)
    with pytest.raises(ConfigError) as caught:
        resolve_settings(cwd=tmp_path, env={"BACKPROP_OUTPUT_SCALARS__PATTERNS": '["(x"]'})
    assert str(caught.value).startswith(
        "invalid configuration: env BACKPROP_OUTPUT_SCALARS__PATTERNS: $.outputScalars.patterns[0]"
    )
    assert "'(x' is not a valid regular expression" in str(caught.value)
