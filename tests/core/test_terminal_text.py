"""``terminal_text``: every character that can steer a terminal is shown as an escape; the rest
of Unicode is left alone."""

from __future__ import annotations

import json

from backprop_core.render.terminal import terminal_json, terminal_text


def test_controls_become_visible_escapes() -> None:
    assert terminal_text("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert terminal_text("tab\there\nnew\rline") == "tab\\there\\nnew\\rline"
    assert terminal_text("c1\x9b31m del\x7f nul\x00") == "c1\\x9b31m del\\x7f nul\\x00"
    assert terminal_text("abc\u202edcba") == "abc\\u202edcba"  # a right-to-left override


def test_ordinary_text_is_unchanged() -> None:
    for text in ("resnet-50 lr=3e-4", "café · 日本語 · ñ", "emoji 🚀", ""):
        assert terminal_text(text) == text


def test_json_keeps_its_value_and_loses_its_teeth() -> None:
    value = {"name": "x\x9b2J\u202ey\x7f", "plain": "café"}
    text = terminal_json(json.dumps(value, ensure_ascii=False))
    assert "\x9b" not in text and "\u202e" not in text and "\x7f" not in text
    assert json.loads(text) == value
