"""The session log holds what a terminal would finally show (``TerminalText``)."""

from __future__ import annotations

from backprop_core.supervisor.terminal_text import HELD_ROWS, MAX_ROW_CHARS, TerminalText


def shown(*chunks: bytes) -> bytes:
    text = TerminalText()
    return b"".join(text.feed(chunk) for chunk in chunks) + text.finish()


def tqdm_frames(n: int) -> bytes:
    frames = [
        b"\r%3d%%|%-10s| %d/%d [00:0%d<00:00, 9.87it/s]"
        % (i * 100 // n, b"#" * (i * 10 // n), i, n, i % 10)
        for i in range(n + 1)
    ]
    return b"".join(frames) + b"\n"


def test_plain_output_passes_through_byte_for_byte() -> None:
    data = b"hello\n" + b"invalid \xff\xfe utf-8\n" + bytes(range(14, 27)) + b"\n" + b"no end"
    assert shown(data) == data
    assert shown(data[:7], data[7:20], data[20:]) == data


def test_a_thirty_iteration_bar_is_one_line_its_last_frame() -> None:
    bar = tqdm_frames(30)
    assert len(bar) > 1000
    out = shown(b"before\n", bar, b"after\n")
    assert out == b"before\n100%|##########| 30/30 [00:00<00:00, 9.87it/s]\nafter\n"
    # Frames split anywhere across reads give the same log.
    pieces = [bar[i : i + 7] for i in range(0, len(bar), 7)]
    assert shown(b"before\n", *pieces, b"after\n") == out


def test_a_shorter_frame_leaves_the_end_of_a_longer_one_as_a_terminal_does() -> None:
    assert shown(b"loss 1.2345\rloss 2\n") == b"loss 2.2345\n"
    assert shown(b"loss 1.2345\r\x1b[Kloss 2\n") == b"loss 2\n"
    assert shown(b"abc\x08\x08X\n") == b"aXc\n"


def test_colours_are_kept_and_other_escape_sequences_dropped() -> None:
    coloured = b"\x1b[32mok\x1b[0m plain\n"
    assert shown(coloured) == coloured
    assert shown(b"\x1b[?25lhidden cursor\x1b]0;a title\x07 done\x1b[?25h\n") == (
        b"hidden cursor done\n"
    )
    assert shown(b"\r\x1b[32m 50%\x1b[0m\r\x1b[32m100%\x1b[0m\n") == b"\x1b[32m100%\x1b[0m\n"
    # An escape sequence cut between two reads is still recognised.
    assert shown(b"abc\x1b[", b"2K\rdef\n") == b"def\n"


def test_cursor_up_redraws_rows_held_back_in_a_bounded_window() -> None:
    # Two bars redrawn in place, as nested tqdm bars or live displays do.
    out = [b"start\n", b"outer 0/2\ninner 0/3"]
    for outer in range(3):
        for inner in range(4):
            out.append(b"\x1b[A\r\x1b[Kouter %d/2\n\r\x1b[Kinner %d/3" % (outer, inner))
    out.append(b"\n")
    log = shown(*out)
    assert log.endswith(b"outer 2/2\ninner 3/3\n"), log
    assert log.count(b"inner") == 1
    # Once the stream stops moving up, rows are no longer held back.
    text = TerminalText()
    text.feed(b"a\n\x1b[Ab\n")
    released = b"".join(text.feed(b"line %d\n" % i) for i in range(HELD_ROWS + 2))
    assert b"line 0\n" in released and len(text._rows or []) <= 1


def test_an_endless_line_is_passed_on_and_never_held_whole() -> None:
    text = TerminalText()
    written = 0
    for _ in range(200):
        written += len(text.feed(b"x" * 50_000))
        assert len(text._tail) <= MAX_ROW_CHARS
    frames = TerminalText()
    for i in range(20_000):
        frames.feed(b"\r%d/20000 " % i + b"#" * 40)
        assert frames._rows is None or all(len(r.cells) <= MAX_ROW_CHARS for r in frames._rows)
    assert written + len(text.finish()) == 200 * 50_000
    assert frames.finish().startswith(b"19999/20000")
