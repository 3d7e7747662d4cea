"""backprop's start-up bootstrap: caps GPU memory when the framework is imported.

Put on PYTHONPATH by the pytorch/tensorflow adapters. It imports nothing heavy itself: an import
hook waits for ``torch`` or ``tensorflow`` to finish importing and then applies the cap from
``BACKPROP_GPU_MEMORY_LIMIT`` (bytes). Any other ``sitecustomize`` further down the path still runs.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _warn(message: str) -> None:
    sys.stderr.write(f"backprop: warning: {message}\n")


def _cap_torch(module: object) -> None:
    torch = module
    limit = int(os.environ.get("BACKPROP_GPU_MEMORY_LIMIT", "0") or 0)
    if limit <= 0 or not torch.cuda.is_available():  # type: ignore[attr-defined]
        return
    for i in range(torch.cuda.device_count()):  # type: ignore[attr-defined]
        total = torch.cuda.get_device_properties(i).total_memory  # type: ignore[attr-defined]
        torch.cuda.set_per_process_memory_fraction(min(1.0, limit / total), i)  # type: ignore[attr-defined]


def _cap_tensorflow(module: object) -> None:
    tf = module
    limit = int(os.environ.get("BACKPROP_GPU_MEMORY_LIMIT", "0") or 0)
    if limit <= 0:
        return
    config = getattr(tf, "config", None)
    if config is None:  # ``import tensorflow`` is still partially initialised
        return
    for gpu in config.list_physical_devices("GPU"):
        config.set_logical_device_configuration(
            gpu, [config.LogicalDeviceConfiguration(memory_limit=limit // (1024 * 1024))]
        )


_HOOKS = {"torch": _cap_torch, "tensorflow": _cap_tensorflow}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds the real module spec and runs the cap right after the module has executed."""

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        hook = _HOOKS.get(fullname)
        if hook is None:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):  # type: ignore[no-untyped-def]
            original(module)
            try:
                hook(module)
            except Exception as exc:  # a cap that fails must not break training
                _warn(f"could not cap GPU memory for {fullname}: {type(exc).__name__}: {exc}")

        loader.exec_module = exec_module
        return spec


def _chain_next_sitecustomize() -> None:
    """Run the ``sitecustomize`` that this one shadows, if any."""
    rest = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        _warn(f"sitecustomize {spec.origin} failed: {type(exc).__name__}: {exc}")


if os.environ.get("BACKPROP_BOOTSTRAP_FRAMEWORK"):
    sys.meta_path.insert(0, _AfterImport())
_chain_next_sitecustomize()
