"""Parsing of what ``nvidia-smi`` prints: ``--query-gpu``/``--query-compute-apps`` CSV and ``-L``.

Columns are found by their header name, never by position (drivers add and move columns). Units
may sit in the header (``memory.total [MiB]``), in each value (``81559 MiB``), or in both, so
``--format=csv`` with or without ``nounits``/``noheader``-free output parses the same way. Cells the
driver cannot fill (``[N/A]``, ``N/A``, ``[Not Supported]``, ``[Requested functionality has been
deprecated]``, ``[Function Not Found]``, an empty cell) become ``None``; they never drop a GPU.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from backprop_core import ProbeError

# Fields asked of ``--query-gpu``; the probe reads these by name.
GPU_FIELDS: tuple[str, ...] = (
    "index",
    "uuid",
    "name",
    "pci.bus_id",
    "memory.total",
    "memory.used",
    "memory.free",
    "temperature.gpu",
    "utilization.gpu",
    "mig.mode.current",
    "driver_version",
)
APP_FIELDS: tuple[str, ...] = ("gpu_uuid", "pid", "process_name", "used_gpu_memory")

_UNIT_IN_HEADER = re.compile(r"^(?P<name>.*?)\s*\[(?P<unit>[^\]]*)\]$")
_NUMBER = re.compile(r"^(?P<number>[-+]?\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z%/]+)?$")
_BYTES_PER_UNIT = {
    "b": 1,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
}
_PLACEHOLDERS = {"", "n/a", "not supported", "unknown", "unknown error"}
_MIG_LINE = re.compile(
    r"^\s+MIG\s+(?P<profile>\S+)\s+Device\s+(?P<device>\d+):\s*\(UUID:\s*(?P<uuid>[^)\s]+)\)"
)
_GPU_LINE = re.compile(r"^GPU\s+(?P<index>\d+):")


@dataclass
class Table:
    """A parsed CSV answer: column name → unit, and rows of raw cell text keyed by column name."""

    units: dict[str, str | None]
    rows: list[dict[str, str]]
    warnings: list[str] = field(default_factory=list)


def is_placeholder(cell: str) -> bool:
    """True for every "no value" spelling nvidia-smi uses (any ``[...]`` text, ``N/A``, empty)."""
    text = cell.strip()
    return text.lower() in _PLACEHOLDERS or (text.startswith("[") and text.endswith("]"))


def split_header(cell: str) -> tuple[str, str | None]:
    """``"memory.total [MiB]"`` → ``("memory.total", "MiB")``; ``"index"`` → ``("index", None)``."""
    text = cell.strip()
    match = _UNIT_IN_HEADER.match(text)
    if match:
        return match.group("name").strip(), match.group("unit").strip() or None
    return text, None


def _split_row(line: str, width: int, wide_column: int) -> list[str] | None:
    """Split one CSV row into ``width`` cells.

    nvidia-smi never quotes, so a value holding a comma (a Windows process path, in theory a
    GPU name) yields extra pieces; they all belong to ``wide_column``, the one free-text column,
    so the row is split from both ends around it.
    """
    parts = line.split(",")
    if len(parts) < width:
        return None
    if len(parts) > width:
        right = width - wide_column - 1
        middle = ",".join(parts[wide_column : len(parts) - right])
        parts = [*parts[:wide_column], middle, *parts[len(parts) - right :]]
    return [p.strip() for p in parts]


def parse_table(text: str, wanted: Sequence[str], wide: str, command: str) -> Table:
    """Parse a ``--format=csv`` answer holding at least the ``wanted`` columns.

    The header is the first line naming every wanted column; lines before it (driver warnings)
    are kept as warnings. ``wide`` names the free-text column that may contain commas.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    position = _header_position(lines, wanted)
    if position is None:
        first = lines[0].strip() if lines else "nothing"
        raise ProbeError(f"{command} printed unexpected output: {printable(first)}")
    header = [split_header(cell) for cell in lines[position].split(",")]
    names = [name for name, _unit in header]
    warnings = [f"{command}: {printable(line.strip())}" for line in lines[:position]]
    units = dict(header)
    wide_column = names.index(wide)
    rows: list[dict[str, str]] = []
    for line in lines[position + 1 :]:
        cells = _split_row(line, len(names), wide_column)
        if cells is None:
            warnings.append(f"{command}: skipped unreadable line: {printable(line.strip())}")
            continue
        rows.append(dict(zip(names, cells)))
    return Table(units, rows, warnings)


def _header_position(lines: Sequence[str], wanted: Sequence[str]) -> int | None:
    for position, line in enumerate(lines):
        names = {split_header(cell)[0] for cell in line.split(",")}
        if all(w in names for w in wanted):
            return position
    return None


def text_value(cell: str | None) -> str | None:
    if cell is None or is_placeholder(cell):
        return None
    return cell.strip()


def number_value(cell: str | None, header_unit: str | None = None) -> tuple[float, str | None]:
    """A numeric cell and its unit (the value's own, else the header's).

    Raises ``ValueError`` for text that is neither a number nor a placeholder; callers check
    ``is_placeholder`` first.
    """
    if cell is None:
        raise ValueError("missing cell")
    match = _NUMBER.match(cell.strip())
    if not match:
        raise ValueError(f"not a number: {cell.strip()!r}")
    return float(match.group("number")), match.group("unit") or header_unit


def bytes_value(number: float, unit: str | None) -> int:
    """Memory in bytes; nvidia-smi reports MiB, which is also assumed when no unit is given."""
    factor = _BYTES_PER_UNIT.get((unit or "MiB").lower())
    if factor is None:
        raise ValueError(f"unknown memory unit {unit!r}")
    return round(number * factor)


def parse_mig_list(text: str) -> dict[int, list[tuple[str, str, int]]]:
    """``nvidia-smi -L`` → GPU index → ``[(profile, mig_uuid, device_number), ...]``.

    MIG lines (``  MIG 3g.40gb     Device  0: (UUID: MIG-…)``) belong to the GPU line above them.
    """
    found: dict[int, list[tuple[str, str, int]]] = {}
    current: int | None = None
    for line in text.splitlines():
        gpu = _GPU_LINE.match(line)
        if gpu:
            current = int(gpu.group("index"))
            found.setdefault(current, [])
            continue
        mig = _MIG_LINE.match(line)
        if mig and current is not None:
            found[current].append(
                (mig.group("profile"), mig.group("uuid"), int(mig.group("device")))
            )
    return found


def printable(text: str, limit: int = 120) -> str:
    """Driver text made fit for a one-line message: control bytes replaced, length capped."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
