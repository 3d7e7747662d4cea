"""Framework adapters (SPEC §5 step 4): pytorch, tensorflow, jax and generic.

``detect`` reads the script's imports with ``ast`` (never importing anything); ``prepare``
says how the GPU memory cap is enforced for that framework.
"""

from __future__ import annotations

from backprop_core import hookimpl
from backprop_frameworks.adapters import (
    GenericAdapter,
    JaxAdapter,
    PyTorchAdapter,
    TensorFlowAdapter,
    imported_modules,
)

__all__ = [
    "GenericAdapter",
    "JaxAdapter",
    "PyTorchAdapter",
    "TensorFlowAdapter",
    "imported_modules",
]


@hookimpl
def backprop_register_frameworks() -> list[type]:
    return [PyTorchAdapter, TensorFlowAdapter, JaxAdapter, GenericAdapter]
