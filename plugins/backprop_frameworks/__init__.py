"""Framework adapters (lifecycle step 4 in docs/architecture.md): pytorch, tensorflow, jax,
generic.

``detect`` reads the script's imports with ``ast`` (never importing anything); ``prepare``
says how the GPU memory cap is enforced for that framework. The adapters live in
``backprop_frameworks.adapters``, imported only when a run asks for them.
"""

from __future__ import annotations

from backprop_core import hookimpl


@hookimpl
def backprop_register_frameworks() -> list[type]:
    from backprop_frameworks.adapters import (
        GenericAdapter,
        JaxAdapter,
        PyTorchAdapter,
        TensorFlowAdapter,
    )

    return [PyTorchAdapter, TensorFlowAdapter, JaxAdapter, GenericAdapter]
