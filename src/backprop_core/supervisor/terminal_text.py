"""What a terminal would finally show of an output stream, for the session log.

A progress bar redraws its line with ``\\r`` (tqdm, Keras, Lightning) or moves the cursor up to
redraw several lines (nested bars, live displays). A terminal shows only the last frame; the
session log should too, so a 30-iteration bar is one line there, not every frame. This applies
``\\r``, backspace, erase-in-line (``ESC[K``), cursor movement within a line and up/down
(``ESC[A``/``B``/``C``/``D``/``E``/``F``/``G``) and erase-below (``ESC[J``); colours and styles
(SGR, ``ESC[…m``) are kept; every other escape sequence (cursor visibility, titles, hyperlink
markers…) is dropped.

It streams and holds little: lines without control characters pass through as bytes untouched
(the common case costs a few scans at C speed per chunk); the unfinished line is held until its
newline (up to ``MAX_ROW_CHARS``, then written as it is); rows are held back only once the
stream has moved the cursor up, and then at most ``HELD_ROWS`` of them. Invalid UTF-8 and other
bytes pass through exactly (decoded with ``surrogateescape``).
"""

from __future__ import annotations

import re

HELD_ROWS = 32
MAX_ROW_CHARS = 1 << 16
_MAX_ESCAPE = 256

_CONTROL = re.compile(rb"[\r\x08\x1b]")
_PIECE = re.compile(rb"[^\n]*\n|[^\n]+")
_SGR_ONLY = re.compile(rb"\x1b\[[0-9;:]*m")
# One token: a CSI sequence, an OSC string (ended by BEL or ESC \), a two-byte escape, an
# unfinished escape at the end of the data, a control the emulation applies, or plain text.
_TOKEN = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[@-Z\\-_]"
    r"|\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*)?\Z"
    r"|\x1b"
    r"|[\r\n\x08]"
    r"|[^\x1b\r\n\x08]+"
)


class _Row:
    __slots__ = ("cells", "tail")

    def __init__(self) -> None:
        self.cells: list[str] = []  # one character each, with the SGR codes that precede it
        self.tail = ""  # SGR codes after the last character

    def text(self) -> str:
        return "".join(self.cells) + self.tail


class TerminalText:
    """Feed raw output with ``feed``; what it returns is final and goes to the log."""

    def __init__(self) -> None:
        self._tail = b""  # the unfinished line while nothing needs emulating
        self._rows: list[_Row] | None = None  # the emulated rows, while emulation is needed
        self._row = 0
        self._col = 0
        self._sgr = ""  # SGR codes waiting for the next character
        self._escape = ""  # an escape sequence cut by the end of the previous chunk
        self._cursor_up = False  # the stream moves the cursor up: rows are held back
        self._since_up = 0  # newlines since it last did

    def feed(self, data: bytes) -> bytes:
        """The part of the log that ``data`` completes."""
        if self._rows is None:
            # Three scans at memchr speed settle the common case: nothing to emulate.
            if b"\r" not in data and b"\x1b" not in data and b"\x08" not in data:
                return self._plain(data)
            first = _CONTROL.search(data)
            assert first is not None
            # Lines before the first one needing emulation pass through as they are.
            cut = data.rfind(b"\n", 0, first.start()) + 1
            out = [self._plain(data[:cut])]
            data = data[cut:]
        else:
            out = []
        for match in _PIECE.finditer(data):
            piece = match.group()
            if self._rows is None:
                if _simple(piece):
                    out.append(self._plain(piece))
                    continue
                self._rows = [_Row()]
                self._row = self._col = 0
                piece, self._tail = self._tail + piece, b""
            out.append(self._emulate(piece))
            if (
                not self._cursor_up
                and not self._escape
                and len(self._rows) == 1
                and not self._rows[0].cells
                and not self._rows[0].tail
                and not self._sgr
            ):
                self._rows = None  # nothing held: back to passing bytes through
        return b"".join(out)

    def finish(self) -> bytes:
        """Everything still held, at the end of the stream (no newline added)."""
        out = self._tail
        if self._rows is not None:
            texts = [row.text() for row in self._rows]
            out += _encode("\n".join(texts))
        self._tail, self._rows = b"", None
        return out

    def _plain(self, data: bytes) -> bytes:
        cut = data.rfind(b"\n")
        if cut < 0:
            self._tail += data
            if len(self._tail) > MAX_ROW_CHARS:  # never hold an endless line: write it on
                out, self._tail = self._tail, b""
                return out
            return b""
        out = self._tail + data[: cut + 1] if self._tail else data[: cut + 1]
        self._tail = data[cut + 1 :]
        return out

    def _emulate(self, piece: bytes) -> bytes:
        text = self._escape + piece.decode("utf-8", "surrogateescape")
        self._escape = ""
        out: list[bytes] = []
        for match in _TOKEN.finditer(text):
            token = match.group()
            first = token[0]
            if first == "\x1b":
                if match.end() == len(text) and not _complete(token):
                    if len(token) < _MAX_ESCAPE:
                        self._escape = token  # finished by the next chunk
                    continue
                self._escape_sequence(token)
            elif first == "\r":
                self._col = 0
            elif first == "\n":
                self._newline(out)
            elif first == "\x08":
                self._col = max(0, self._col - 1)
            else:
                self._write(token, out)
        return b"".join(out)

    def _write(self, text: str, out: list[bytes]) -> None:
        assert self._rows is not None
        row = self._rows[self._row]
        cells = row.cells
        if self._col + len(text) >= len(cells):
            row.tail = ""  # codes after the old last character: this text is the end now
        if self._col > len(cells):
            cells.extend(" " * (self._col - len(cells)))
        chars = list(text)
        if self._sgr:
            chars[0] = self._sgr + chars[0]
            self._sgr = ""
        cells[self._col : self._col + len(chars)] = chars
        self._col += len(chars)
        if len(cells) > MAX_ROW_CHARS:  # an endless row is written as it is, and goes on
            out.append(self._emit_all(newline=False))

    def _newline(self, out: list[bytes]) -> None:
        assert self._rows is not None
        self._col = 0
        if self._sgr:  # codes after the last character stay with the line
            self._rows[self._row].tail += self._sgr
            self._sgr = ""
        if self._row < len(self._rows) - 1:
            self._row += 1
            return
        self._since_up += 1
        if not self._cursor_up or self._since_up > HELD_ROWS:
            # Nothing can come back to these rows any more (or the stream stopped moving up).
            self._cursor_up = False
            out.append(self._emit_all(newline=True))
            return
        self._rows.append(_Row())
        self._row += 1
        if len(self._rows) > HELD_ROWS:
            out.append(_encode(self._rows.pop(0).text() + "\n"))
            self._row -= 1

    def _emit_all(self, newline: bool) -> bytes:
        assert self._rows is not None
        text = "\n".join(row.text() for row in self._rows) + ("\n" if newline else "")
        self._rows = [_Row()]
        self._row = self._col = 0
        return _encode(text)

    def _escape_sequence(self, token: str) -> None:
        assert self._rows is not None
        if not token.startswith("\x1b[") or len(token) < 3:
            return  # a two-byte escape, an OSC string or a lone ESC: dropped
        final, params = token[-1], token[2:-1]
        row = self._rows[self._row]
        if final == "m":
            if self._col >= len(row.cells):
                row.tail += self._sgr + token
                self._sgr = ""
            else:
                self._sgr += token
            return
        if params and not params.replace(";", "").isdigit():
            return  # private modes (ESC[?25l…) and the like
        numbers = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        n = max(1, numbers[0])
        if final in "AF":  # up (F: and to the first column)
            self._cursor_up = True
            self._since_up = 0
            self._row = max(0, self._row - n)
            self._col = 0 if final == "F" else self._col
        elif final in "BE":  # down (E: and to the first column)
            self._row = min(len(self._rows) - 1, self._row + n)
            self._col = 0 if final == "E" else self._col
        elif final == "C":
            self._col += n
        elif final == "D":
            self._col = max(0, self._col - n)
        elif final == "G":
            self._col = n - 1
        elif final == "K":
            if numbers[0] == 0:
                del row.cells[self._col :]
            elif numbers[0] == 1:
                keep = min(self._col + 1, len(row.cells))
                row.cells[:keep] = " " * keep
            else:
                row.cells.clear()
        elif final == "J" and numbers[0] == 0:
            del row.cells[self._col :]
            del self._rows[self._row + 1 :]


def _simple(piece: bytes) -> bool:
    """A line that a terminal shows as it is: no ``\\r``, backspace or escape but colours."""
    if b"\r" in piece or b"\x08" in piece:
        return False
    return b"\x1b" not in piece or b"\x1b" not in _SGR_ONLY.sub(b"", piece)


def _complete(token: str) -> bool:
    """Whether an escape token at the very end of the data is a finished sequence."""
    if token.startswith("\x1b["):
        return len(token) > 2 and "@" <= token[-1] <= "~"
    if token.startswith("\x1b]"):
        return token.endswith(("\x07", "\x1b\\"))
    return len(token) > 1


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")
