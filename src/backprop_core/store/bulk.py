"""Writing or sending a great many events at once (``import``, both sides of ``pull``).

Python's cycle collector runs after every few hundred new objects, and each full collection
walks every object the process holds. A bulk write makes millions of small objects (points,
rows, parsed messages) that hold no cycles, so the collector only costs time there: up to a
fifth of an import's time, more in a process that has imported TensorBoard or PyTorch.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off for the block (as it was again after it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
