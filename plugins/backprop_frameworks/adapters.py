"""The four built-in adapters and the import scanner they share."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import ClassVar

from backprop_core import FrameworkAdapter, LaunchSpec, Preparation

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "bootstrap"


def _parse(script: Path) -> ast.Module | None:
    try:
        return ast.parse(Path(script).read_bytes(), filename=str(script))
    except (OSError, SyntaxError, ValueError):
        return None


def imported_modules(script: Path) -> set[str]:
    """Top-level names of every module the script imports (``import a.b`` gives ``a``).

    Unreadable or unparsable scripts give an empty set: detection then falls to ``generic``.
    """
    tree = _parse(script)
    names: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".", 1)[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".", 1)[0])
    return names


def _backend_set_in(script: Path) -> tuple[str | None, str | None]:
    """What the script itself does to ``KERAS_BACKEND`` before importing Keras:
    ``os.environ["KERAS_BACKEND"] = "torch"`` (forced) or ``os.environ.setdefault(...)``
    (a default), as ``(forced, default)``."""
    forced = default = None
    tree = _parse(script)
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and _is_backend_key(target.slice):
                    forced = str(node.value.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and len(node.args) == 2
            and _is_backend_key(node.args[0])
            and isinstance(node.args[1], ast.Constant)
        ):
            default = str(node.args[1].value)
    return forced, default


def _is_backend_key(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == "KERAS_BACKEND"


def keras_backend(script: Path) -> str:
    """The backend Keras 3 will run this script on, as Keras decides it: ``KERAS_BACKEND``
    (set by the script, else inherited), else ``backend`` in ``keras.json`` (under
    ``KERAS_HOME`` or ``~/.keras``), else ``tensorflow``."""
    forced, default = _backend_set_in(script)
    if forced:
        return forced
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    if default:
        return default
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        config = json.loads((home / "keras.json").read_text())
    except (OSError, ValueError):
        config = None
    backend = config.get("backend") if isinstance(config, dict) else None
    return backend if isinstance(backend, str) and backend else "tensorflow"


def _cap_env(spec: LaunchSpec) -> dict[str, str]:
    env: dict[str, str] = {}
    if spec.gpu_memory_limit_bytes:
        env["BACKPROP_GPU_MEMORY_LIMIT"] = str(spec.gpu_memory_limit_bytes)
    return env


def _no_gpu(spec: LaunchSpec) -> bool:
    return not spec.gpus or not spec.gpu_memory_limit_bytes


class _ImportDetecting(FrameworkAdapter):
    modules: ClassVar[frozenset[str]] = frozenset()
    #: The ``KERAS_BACKEND`` that makes a Keras 3 script this framework's.
    keras_backend: ClassVar[str | None] = None

    def detect(self, script: Path) -> bool:
        imported = imported_modules(script)
        if imported & self.modules:
            return True
        return "keras" in imported and keras_backend(script) == self.keras_backend


class _BootstrapCapped(_ImportDetecting):
    """A framework whose memory cap the ``sitecustomize`` bootstrap applies right after the
    script imports it (``BACKPROP_BOOTSTRAP_FRAMEWORK`` names which)."""

    package: ClassVar[str]  # the import that triggers the cap
    cap_call: ClassVar[str]  # how the cap is applied, for --dry-run
    extra_env: ClassVar[dict[str, str]] = {}

    def prepare(self, spec: LaunchSpec) -> Preparation:
        if _no_gpu(spec):
            return Preparation(
                note=f"{self.name}: no GPU handed to the run, no memory cap to apply"
            )
        return Preparation(
            env={**_cap_env(spec), "BACKPROP_BOOTSTRAP_FRAMEWORK": self.name, **self.extra_env},
            pythonpath=(str(BOOTSTRAP_DIR),),
            note=(
                f"{self.name}: {self.cap_call} applied when {self.package} is imported "
                f"(sitecustomize bootstrap), limit {spec.gpu_memory_limit_bytes} bytes"
            ),
        )


class PyTorchAdapter(_BootstrapCapped):
    name = "pytorch"
    priority = 10
    modules = frozenset({"torch", "lightning", "pytorch_lightning", "transformers", "accelerate"})
    keras_backend = "torch"
    package = "torch"
    cap_call = "torch.cuda.set_per_process_memory_fraction(limit/total)"


class TensorFlowAdapter(_BootstrapCapped):
    name = "tensorflow"
    priority = 20
    modules = frozenset({"tensorflow", "tf_keras"})
    keras_backend = "tensorflow"
    package = "tensorflow"
    cap_call = "tf.config.set_logical_device_configuration(memory_limit)"
    extra_env = {"TF_FORCE_GPU_ALLOW_GROWTH": "false"}


class JaxAdapter(_ImportDetecting):
    name = "jax"
    priority = 30
    modules = frozenset({"jax", "flax", "optax"})
    keras_backend = "jax"

    def prepare(self, spec: LaunchSpec) -> Preparation:
        total = spec.gpu_memory_total_bytes
        if _no_gpu(spec) or not total or spec.gpu_memory_limit_bytes is None:
            return Preparation(note="jax: no GPU handed to the run, no memory cap to apply")
        fraction = max(0.01, min(1.0, spec.gpu_memory_limit_bytes / total))
        return Preparation(
            env={
                **_cap_env(spec),
                "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{fraction:.3f}",
                "XLA_PYTHON_CLIENT_PREALLOCATE": "true",
            },
            note=f"jax: XLA_PYTHON_CLIENT_MEM_FRACTION={fraction:.3f}",
        )


class GenericAdapter(FrameworkAdapter):
    name = "generic"
    priority = 1000

    def detect(self, script: Path) -> bool:
        return True

    def prepare(self, spec: LaunchSpec) -> Preparation:
        if _no_gpu(spec):
            return Preparation(note="generic: no framework-specific memory cap")
        return Preparation(
            env=_cap_env(spec),
            note=(
                "generic: the cap is only advertised in BACKPROP_GPU_MEMORY_LIMIT; the script "
                "must honour it"
            ),
        )
