"""Text from recorded data, made safe to print on a terminal.

Names, tags, metric keys, reasons and paths come from training scripts and imported files. Printed
raw, a control character in them is a command to the terminal: ESC and C1 sequences move the
cursor, rewrite or hide lines, set the window title; a newline forges a line; bidirectional
overrides make a text read as something else. Every view that builds terminal text from recorded
data passes it through ``terminal_text``, which shows such characters as visible escapes
(``\\x1b``, ``\\n``, ``\\u202e``) instead. A script's own output (``backprop logs``, the teed
output of a run) is printed as the script wrote it, which is the point of it.
"""

from __future__ import annotations

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# C0 controls, DEL, C1 controls: their escapes as Python writes them.
_CONTROLS = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}")
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))
}
# Bidirectional marks, embeddings, overrides and isolates.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_TERMINAL = {**_CONTROLS, **{code: f"\\u{code:04x}" for code in _BIDI}}
# In JSON text the C0 controls are escaped already; the rest are legal raw, so escape them.
_JSON = {code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0), *_BIDI)}


def terminal_text(value: object) -> str:
    """``value`` as text with every control character shown as an escape."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the usual case, and no control character is printable
        return text
    return text.translate(_TERMINAL)


def terminal_lines(text: str) -> str:
    """``terminal_text`` for each line of a message that is meant to have several."""
    return "\n".join(terminal_text(line) for line in text.split("\n"))


def terminal_json(text: str) -> str:
    """JSON text (``json.dumps`` output) with DEL, C1 and bidirectional characters written as
    ``\\uXXXX`` escapes: the same JSON value, harmless on a terminal."""
    if text.isascii() and "\x7f" not in text:
        return text
    return text.translate(_JSON)
