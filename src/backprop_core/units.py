"""Byte units, in a module of their own so that light modules need not import ``resources``."""

from __future__ import annotations

MIB = 1024 * 1024
GIB = 1024 * MIB
