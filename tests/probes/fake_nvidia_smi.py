"""A stand-in ``nvidia-smi`` that answers from a real capture file.

Run as a program (through the launcher ``install`` writes), it reads the capture named by
``FAKE_NVIDIA_SMI_CAPTURE`` and prints, for the arguments it is given, what that GPU printed:

- ``--query-gpu=F1,F2,... --format=csv[,noheader][,nounits]``: the listed columns of the
  ``<phase> :: query-gpu`` section, in the order asked, with or without header and units;
- ``--query-compute-apps=...``: the same for the ``<phase> :: query-compute-apps`` section;
- ``-L``: the ``capabilities :: list (-L)`` section.

``FAKE_NVIDIA_SMI_PHASE`` picks ``idle`` (default) or ``load``. ``FAKE_NVIDIA_SMI_MODE`` makes it
misbehave: ``hang`` (sleeps forever), ``garbage`` (prints noise), ``fail`` (driver error, exit 9),
``hang-apps`` / ``fail-apps`` (only the process query misbehaves). ``FAKE_NVIDIA_SMI_REVERSE=1``
answers with the columns in reverse order. ``FAKE_NVIDIA_SMI_LOG`` names a
file that gets one line per call with the arguments.

Imported, it offers the capture-reading helpers the tests use to compute expected values.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BANNER = "#" * 80


def sections(capture: Path) -> dict[str, tuple[str, str]]:
    """Section label → (command line, raw output) for one capture file."""
    lines = capture.read_text(encoding="utf-8").split("\n")
    found: dict[str, tuple[str, str]] = {}
    i = 0
    while i < len(lines):
        if (
            lines[i] == BANNER
            and i + 3 < len(lines)
            and lines[i + 1].startswith("# ")
            and lines[i + 2].startswith("# $ ")
        ):
            label = lines[i + 1][2:].strip()
            command = lines[i + 2][4:].strip()
            j = i + 3
            while j < len(lines) and lines[j] != BANNER:
                j += 1  # extra banner lines (e.g. a library hash) up to the closing banner
            k = j + 1
            while k < len(lines) and lines[k] != BANNER:
                k += 1
            body = [line for line in lines[j + 1 : k] if not line.startswith("# (exit code:")]
            found[label] = (command, "\n".join(body).strip("\n"))
            i = k
        else:
            i += 1
    return found


def query_gpu_csv(capture: Path, phase: str) -> str:
    return sections(capture)[f"{phase} :: query-gpu (csv, what the exporter parses)"][1]


def compute_apps_csv(capture: Path, phase: str) -> str:
    return sections(capture)[f"{phase} :: query-compute-apps (per-process)"][1]


def list_output(capture: Path) -> str:
    return sections(capture)["capabilities :: list (-L)"][1]


def _header_name(cell: str) -> str:
    return cell.split(" [", 1)[0].strip()


def _strip_unit(value: str) -> str:
    parts = value.rsplit(" ", 1)
    if len(parts) == 2 and not value.startswith("["):
        try:
            float(parts[0])
        except ValueError:
            return value
        return parts[0]
    return value


def _project(csv_text: str, fields: list[str], options: set[str], wide: str | None) -> str:
    """The answer nvidia-smi gives for ``fields``, cut out of a full capture table."""
    lines = [line for line in csv_text.split("\n") if line.strip()]
    header = [cell.strip() for cell in lines[0].split(",")]
    names = [_header_name(cell) for cell in header]
    for f in fields:
        if f not in names:
            print(f'Field "{f}" is not a valid field to query.', file=sys.stdout)
            sys.exit(2)
    wide_at = names.index(wide) if wide in names else None
    if os.environ.get("FAKE_NVIDIA_SMI_REVERSE"):
        fields = list(reversed(fields))  # a driver that orders columns its own way
    out = []
    if "noheader" not in options:
        out.append(", ".join(header[names.index(f)] for f in fields))
    for line in lines[1:]:
        parts = line.split(", ")
        if len(parts) > len(names) and wide_at is not None:
            right = len(names) - wide_at - 1
            parts = [
                *parts[:wide_at],
                ", ".join(parts[wide_at : len(parts) - right]),
                *parts[len(parts) - right :],
            ]
        row = dict(zip(names, parts))
        cells = [row[f] for f in fields]
        if "nounits" in options:
            cells = [_strip_unit(c) for c in cells]
        out.append(", ".join(cells))
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    log = os.environ.get("FAKE_NVIDIA_SMI_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(" ".join(argv) + "\n")
    mode = os.environ.get("FAKE_NVIDIA_SMI_MODE", "ok")
    is_apps = any(a.startswith("--query-compute-apps=") for a in argv)
    if mode == "hang" or (mode == "hang-apps" and is_apps):
        # Like a driver stuck mid-call: a child holding stdout open, and no answer.
        child = subprocess.Popen(["sleep", "600"])
        if log:
            Path(log + ".child").write_text(str(child.pid), encoding="utf-8")
        while True:
            time.sleep(60)
    if mode == "garbage":
        sys.stdout.write("\x00\x17garbage ~~ 12,,34\nsegmentation fault? 0xdeadbeef\n")
        return 0
    if mode == "fail" or (mode == "fail-apps" and is_apps):
        print(
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
            "Make sure that the latest NVIDIA driver is installed and running."
        )
        return 9
    capture = Path(os.environ["FAKE_NVIDIA_SMI_CAPTURE"])
    phase = os.environ.get("FAKE_NVIDIA_SMI_PHASE", "idle")
    options: set[str] = set()
    for a in argv:
        if a.startswith("--format="):
            options = set(a.split("=", 1)[1].split(","))
    for a in argv:
        if a.startswith("--query-gpu="):
            fields = a.split("=", 1)[1].split(",")
            sys.stdout.write(_project(query_gpu_csv(capture, phase), fields, options, "name"))
            return 0
        if a.startswith("--query-compute-apps="):
            fields = a.split("=", 1)[1].split(",")
            text = compute_apps_csv(capture, phase)
            sys.stdout.write(_project(text, fields, options, "process_name"))
            return 0
    if argv == ["-L"]:
        sys.stdout.write(list_output(capture) + "\n")
        return 0
    print(f"fake nvidia-smi: unsupported arguments {argv}", file=sys.stderr)
    return 2


def install(bin_dir: Path) -> Path:
    """Write an executable ``nvidia-smi`` into ``bin_dir`` that runs this module; return it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    launcher = bin_dir / "nvidia-smi"
    launcher.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n',
        encoding="utf-8",
    )
    launcher.chmod(0o755)
    return launcher


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
