"""Run ids: sortable by creation time and short to type (``20261122-153012-a1b2``).

The random suffix comes from the OS's CSPRNG, so ids made by many processes in the same second
differ with overwhelming probability; stores still refuse a duplicate id
(``DuplicateRun``) and ``Store.create_run_unique`` draws a new one when that happens.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
SUFFIX_LENGTH = 4


def new_run_id(now: float | None = None) -> str:
    """A new id for a run created at ``now`` (unix seconds, default: now), in UTC."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    # os.urandom rather than ``secrets``: the same CSPRNG without importing OpenSSL's hashlib
    # (~4 ms on the SDK's start-up path). 64 random bits modulo 36**4 has no visible bias.
    number = int.from_bytes(os.urandom(8), "big")
    suffix = ""
    for _ in range(SUFFIX_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        suffix += _ALPHABET[digit]
    return f"{stamp}-{suffix}"
