"""How ``pull`` frames its messages: JSON lines, except that an ``events`` message is a JSON
line of columns followed by the events' payloads as raw bytes.

Payloads are JSON text already (``Store.event_rows``). Inside a JSON line each would travel as
a string, escaped on one side and unescaped on the other before being parsed again; raw, they
are one JSON array the puller parses once, and slices each payload's text out of unchanged.

    {"events": {"seq": [...], "kind": [...], "time": [...], "step": [...], "session": [...],
                "sizes": [...], "bytes": N, "wide": false}}
    [payload,payload,...]          <- exactly N bytes (UTF-8), no newline after them

``sizes`` are the payloads' lengths in characters, once those N bytes are decoded. ``wide``
says whether the payloads may hold an integer of 19 digits or more (which orjson would read
as a float): the sender looks, since the puller is the busier side; when it is missing, the
puller looks itself.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Sequence
from functools import cached_property
from itertools import accumulate
from typing import IO, Any

from backprop_core.errors import RemoteError
from backprop_core.store.contract import EventRow

#: Compact JSON text, anything else written through ``str`` (both sides' own encoder).
dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
#: Every digit as "0", and every byte a JSON number may follow as "|", so that the integers
#: orjson would read as floats (beyond 64 bits: 19 digits or more) are found by one substring
#: search. What else matches (digits in a string, a float's integer part) only costs time.
_MARKED = bytes.maketrans(b"123456789[,:- \t\r\n", b"000000000||||||||")
_LONG_INTEGER = b"|" + b"0" * 19


#: Lines shorter than this are read by Python's reader alone (see ``loads``).
SHORT = 256


def _long_integer(data: bytes) -> bool:
    """Whether ``data`` may hold an integer of 19 digits or more."""
    return _LONG_INTEGER in data.translate(_MARKED)


def loads(data: bytes, *, long_integers: bool = True) -> Any:
    """``json.loads``, several times faster (orjson) on what both read alike: Python's reader
    takes what orjson refuses (NaN, ±Infinity, lone surrogates) and integers beyond 64 bits,
    which orjson would turn into floats (``long_integers=False``: the sender looked for them
    and found none). Short lines, where the difference is nothing, are read without
    loading orjson (which takes longer to load than a no-change pull's lines to read)."""
    if len(data) < SHORT or (long_integers and _long_integer(data)):
        return json.loads(data)
    import orjson

    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def widen_pipe(stream: IO[bytes], size: int = 1 << 20) -> None:
    """Let the pipe under ``stream`` hold ``size`` bytes instead of 64 KiB (Linux, where 1 MiB
    is the most an unprivileged process may ask): the side writing then goes on while the
    side reading is busy applying what came before. Anything but a pipe is left as it is."""
    import fcntl

    option = getattr(fcntl, "F_SETPIPE_SZ", None)
    if option is not None:
        with contextlib.suppress(OSError, ValueError):
            fcntl.fcntl(stream.fileno(), option, size)


def encode(message: dict[str, Any]) -> bytes:
    """One message as a JSON line."""
    return dumps(message).encode() + b"\n"


def encode_events(rows: Sequence[EventRow]) -> bytes:
    """An ``events`` message for ``rows``: its JSON line of columns, then the payloads."""
    seqs, kinds, times, steps, sessions, texts = zip(*rows)
    blob = ("[" + ",".join(texts) + "]").encode()
    header = {
        "seq": seqs,
        "kind": kinds,
        "time": times,
        "step": steps,
        "session": sessions,
        "sizes": list(map(len, texts)),
        "bytes": len(blob),
        "wide": _long_integer(blob),  # looked for here, where there is time to spare
    }
    return _columns_line(header, times) + blob


def _columns_line(header: dict[str, Any], times: Sequence[float]) -> bytes:
    """The events message's JSON line. orjson writes its numbers several times faster (the
    times are most of the line), as exactly; but it writes NaN and infinities as null, and
    refuses integers beyond 64 bits: those lines are left to ``encode``."""
    if math.isfinite(sum(times)):
        import orjson

        with contextlib.suppress(orjson.JSONEncodeError):
            return orjson.dumps({"events": header}) + b"\n"
    return encode({"events": header})


class Events:
    """One ``events`` message as read: the columns, and each payload's text and value, parsed
    (one parse for all of them) when first asked for: a batch of the store is read before it
    is applied, and only the batch being applied needs them in memory."""

    def __init__(self, header: dict[str, Any], blob: bytes) -> None:
        self.seqs: list[int] = header["seq"]
        self.kinds: list[str] = header["kind"]
        self.times: list[float] = header["time"]
        self.steps: list[int | None] = header["step"]
        self.sessions: list[int | None] = header["session"]
        self._sizes: list[int] = header["sizes"]
        self._blob = blob
        self._wide = header.get("wide") is not False  # not said: look for long integers here
        if not (
            len(self.seqs)
            == len(self.kinds)
            == len(self.times)
            == len(self.steps)
            == len(self.sessions)
            == len(self._sizes)
        ):
            raise RemoteError("a pull message was garbled", hint="run the pull again")

    def __len__(self) -> int:
        return len(self.seqs)

    @cached_property
    def texts(self) -> list[str]:
        text = self._blob.decode()
        sizes = self._sizes
        starts = accumulate((n + 1 for n in sizes), initial=1)  # past "[" and each ","
        return [text[a : a + n] for a, n in zip(starts, sizes)]

    @cached_property
    def payloads(self) -> list[Any]:
        payloads = loads(self._blob, long_integers=self._wide)
        if not isinstance(payloads, list) or len(payloads) != len(self.seqs):
            raise RemoteError("a pull message was garbled", hint="run the pull again")
        return payloads

    def rows(self) -> Iterator[tuple[int, str, float, int | None, int | None, str, Any]]:
        """Each event: seq, kind, time, step, session, payload text, payload."""
        return zip(
            self.seqs,
            self.kinds,
            self.times,
            self.steps,
            self.sessions,
            self.texts,
            self.payloads,
        )


def read_messages(stream: IO[bytes]) -> Iterator[tuple[dict[str, Any], int]]:
    """The messages on ``stream`` until it ends, each with its size in bytes; an ``events``
    message's value is ``Events``. A stream cut off inside a message ends without it."""
    while True:
        line = stream.readline()
        if not line:
            return
        message = loads(line)
        size = len(line)
        if "events" in message:
            header = message["events"]
            length = int(header["bytes"])
            blob = stream.read(length)
            if len(blob) < length:
                return
            message["events"] = Events(header, blob)
            size += length
        yield message, size
