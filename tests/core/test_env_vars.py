"""``BACKPROP_*`` on/off variables all read the same way."""

from __future__ import annotations

import pytest

from backprop_core.env_vars import env_flag


@pytest.mark.parametrize(
    ("raw", "default", "expected"),
    [
        (None, False, False), (None, True, True), ("", True, True), ("  ", False, False),
        ("1", False, True), ("yes", False, True), ("TRUE", False, True),
        ("0", True, False), ("false", True, False), (" No ", True, False), ("OFF", True, False),
    ],
)  # fmt: skip
def test_env_flag(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, default: bool, expected: bool
) -> None:
    if raw is None:
        monkeypatch.delenv("BACKPROP_SOME_SWITCH", raising=False)
    else:
        monkeypatch.setenv("BACKPROP_SOME_SWITCH", raw)
    assert env_flag("BACKPROP_SOME_SWITCH", default) is expected
