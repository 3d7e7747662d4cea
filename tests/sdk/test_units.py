"""Small pure functions of the SDK: value coercion, the deadline margin, git status parsing."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from backprop_core.sdk.environment import installed_distributions, parse_git_status
from backprop_core.sdk.run import near_deadline_margin
from backprop_core.sdk.values import coerce_metrics, coerce_step, non_finite_losses


class FakeScalar:
    """Duck-typed like a numpy scalar / 0-d torch tensor."""

    def __init__(self, value: object, count: int = 1) -> None:
        self.value = value
        self.count = count

    def numel(self) -> int:
        return self.count

    def item(self) -> object:
        return self.value


def test_coerce_metrics_accepts_numbers_and_scalar_likes() -> None:
    out = coerce_metrics({"a": 1, "b": 2.5, "c": True, "d": FakeScalar(0.5), "e": math.nan})
    assert out["a"] == 1 and out["b"] == 2.5 and out["c"] == 1 and out["d"] == 0.5
    assert math.isnan(out["e"])


@pytest.mark.parametrize(
    ("value", "error", "text"),
    [
        ("0.5", TypeError, "metric 'm' must be a number"),
        (None, TypeError, "NoneType"),
        (Fraction(1, 3), TypeError, "Fraction"),
        (FakeScalar(1.0, count=4), ValueError, "4 elements"),
        (FakeScalar("x"), TypeError, "holding str"),
    ],
)
def test_coerce_metrics_rejects_non_numbers_naming_the_key(
    value: object, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        coerce_metrics({"m": value})


def test_coerce_metrics_rejects_non_string_keys_and_non_dicts() -> None:
    with pytest.raises(TypeError, match="names must be strings"):
        coerce_metrics({1: 1.0})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="dict of name"):
        coerce_metrics([("a", 1.0)])  # type: ignore[arg-type]


def test_coerce_step() -> None:
    assert coerce_step(5) == 5
    assert coerce_step(FakeScalar(7)) == 7
    assert coerce_step(3.0) == 3
    with pytest.raises(TypeError, match="step must be an integer"):
        coerce_step(2.5)
    with pytest.raises(TypeError):
        coerce_step("3")


def test_non_finite_losses_only_names_loss_like_keys() -> None:
    data = {"loss": math.nan, "val_LOSS": math.inf, "grad_norm": math.inf, "ok_loss": 1.0}
    assert non_finite_losses(data) == ["loss", "val_LOSS"]


@pytest.mark.parametrize(
    ("box", "margin"), [(60, 30), (600, 60), (3600, 360), (20, 10), (0, 0), (-5, 0)]
)
def test_near_deadline_margin(box: float, margin: float) -> None:
    assert near_deadline_margin(box) == margin


def test_parse_git_status() -> None:
    text = "# branch.oid abc123\n# branch.head main\n# branch.upstream origin/main\n"
    assert parse_git_status(text) == {"commit": "abc123", "branch": "main", "dirty": False}
    dirty = text + "1 .M N... 100644 100644 100644 aa bb train.py\n"
    assert parse_git_status(dirty)["dirty"] is True
    fresh = "# branch.oid (initial)\n# branch.head (detached)\n"
    assert parse_git_status(fresh) == {"commit": None, "branch": None, "dirty": False}


def test_installed_distributions_lists_this_environment() -> None:
    dists = installed_distributions()
    assert "pytest" in dists and dists["pytest"][0].isdigit()


def test_event_lines_encoded_together_read_back_as_each_record_alone() -> None:
    """Metrics data is encoded a slice at a time and cut apart; every line must decode to
    the record it came from, whatever the keys hold."""
    import json

    from backprop_core.sdk.writer import _lines

    records = [
        ("metrics", 1.5, 0, {"loss": 0.1, "acc": 3}),
        ("metrics", 1.625, None, {}),
        ("checkpoint_saved", 1.75, 2, {"path": "/x"}),
        ("metrics", 1.875, 3, {"loss": math.nan, "g": math.inf, 7: 1.0}),
        ("metrics", 2.0, 4, {'a"},{"b': 1.0, "}": -2.5}),
        ("metrics", 2.125, 5, {(1, 2): 1.0}),
    ]
    # Together (the last record's key makes its slice fall back to one call per record),
    # and without that record (the slice is encoded in one call).
    for part in (records, records[:5]):
        lines = _lines(part)
        assert all(line is not None for line in lines)
        decoded = [json.loads(line or "") for line in lines]
        assert [d["event"] for d in decoded] == [r[0] for r in part]
        assert [d["time"] for d in decoded] == [r[1] for r in part]
        assert [d.get("step") for d in decoded] == [r[2] for r in part]
        assert decoded[0]["data"] == {"loss": 0.1, "acc": 3} and decoded[1]["data"] == {}
        assert decoded[2]["path"] == "/x"
        nan_line = decoded[3]["data"]
        assert math.isnan(nan_line["loss"]) and nan_line["g"] == math.inf
        assert nan_line["7"] == 1.0
        assert decoded[4]["data"] == {'a"},{"b': 1.0, "}": -2.5}
    assert json.loads(_lines(records)[5] or "")["data"] == {"(1, 2)": 1.0}
