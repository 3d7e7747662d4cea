"""Hyperparameters read from a script's arguments, as `backprop run` records them."""

from __future__ import annotations

import pytest

from backprop_core.store.params import ParamCondition, flatten, params_from_argv, typed


def test_argparse_style_options_with_and_without_equals() -> None:
    assert params_from_argv(["--lr", "3e-4", "--batch-size=64", "--opt", "adamw"]) == {
        "lr": 3e-4,
        "batch_size": 64,
        "opt": "adamw",
    }


def test_nanogpt_configurator_style_keeps_the_config_file_an_argument() -> None:
    argv = ["config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "lr=6e-4"]
    assert params_from_argv(argv) == {"device": "cpu", "compile": False, "lr": 6e-4}


def test_a_flag_without_a_value_is_true_and_negative_numbers_are_values() -> None:
    argv = ["--amp", "--warmup", "-5", "--verbose", "--seed", "1", "--fast"]
    assert params_from_argv(argv) == {
        "amp": True,
        "warmup": -5,
        "verbose": True,
        "seed": 1,
        "fast": True,
    }


def test_short_options_positionals_and_everything_after_a_double_dash_are_not_params() -> None:
    argv = ["-v", "data/", "https://x.org/?a=b", "--epochs", "3", "--", "--lr", "1"]
    assert params_from_argv(argv) == {"epochs": 3}


def test_the_last_value_given_wins() -> None:
    assert params_from_argv(["--lr", "1", "--lr=2"]) == {"lr": 2}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("TRUE", True),
        ("false", False),
        ("12", 12),
        ("-3", -3),
        ("3e-4", 3e-4),
        ("1.", 1.0),
        (".5", 0.5),
        ("nan", "nan"),
        ("inf", "inf"),
        ("1e999", "1e999"),
        ("None", "None"),
        ("0x10", "0x10"),
        (" resume ", "resume"),
    ],
)
def test_values_are_typed(text: str, value: object) -> None:
    got = typed(text)
    assert got == value and type(got) is type(value)


def test_nested_config_is_flattened_with_dots() -> None:
    assert flatten({"optim": {"lr": 1, "betas": [0.9, 0.99]}, "seed": 0, "empty": {}}) == {
        "optim.lr": 1,
        "optim.betas": [0.9, 0.99],
        "seed": 0,
        "empty": {},
    }


@pytest.mark.parametrize("raw", ["lr", "=3", "lr<", ""])
def test_a_filter_that_is_not_name_op_value_is_refused(raw: str) -> None:
    if raw == "lr<":  # an empty value is allowed: it compares with the empty string
        assert ParamCondition.parse(raw) == ParamCondition("lr", "<", "")
        return
    with pytest.raises(ValueError, match="NAME=VALUE"):
        ParamCondition.parse(raw)


def test_filter_operators_are_read_longest_first() -> None:
    assert ParamCondition.parse("lr<=1e-3") == ParamCondition("lr", "<=", "1e-3")
    assert ParamCondition.parse("opt!=sgd") == ParamCondition("opt", "!=", "sgd")
    assert ParamCondition.parse("x>=2").matches(2) and not ParamCondition.parse("x>2").matches(2)
