"""``python -m backprop_core.cli`` runs the CLI (used by tests and benchmarks)."""

from __future__ import annotations

from backprop_core.cli.entry import main

if __name__ == "__main__":
    main()
