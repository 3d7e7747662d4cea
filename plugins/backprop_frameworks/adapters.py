"""The four built-in adapters and the import scanner they share."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

from backprop_core import FrameworkAdapter, LaunchSpec, Preparation

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "bootstrap"


def imported_modules(script: Path) -> set[str]:
    """Top-level names of every module the script imports (``import a.b`` gives ``a``).

    Unreadable or unparsable scripts give an empty set: detection then falls to ``generic``.
    """
    try:
        tree = ast.parse(Path(script).read_bytes(), filename=str(script))
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".", 1)[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".", 1)[0])
    return names


def _cap_env(spec: LaunchSpec) -> dict[str, str]:
    env: dict[str, str] = {}
    if spec.gpu_memory_limit_bytes:
        env["BACKPROP_GPU_MEMORY_LIMIT"] = str(spec.gpu_memory_limit_bytes)
    return env


def _no_gpu(spec: LaunchSpec) -> bool:
    return not spec.gpus or not spec.gpu_memory_limit_bytes


class _ImportDetecting(FrameworkAdapter):
    modules: ClassVar[frozenset[str]] = frozenset()

    def detect(self, script: Path) -> bool:
        return bool(imported_modules(script) & self.modules)


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
    package = "torch"
    cap_call = "torch.cuda.set_per_process_memory_fraction(limit/total)"


class TensorFlowAdapter(_BootstrapCapped):
    name = "tensorflow"
    priority = 20
    modules = frozenset({"tensorflow", "keras", "tf_keras"})
    package = "tensorflow"
    cap_call = "tf.config.set_logical_device_configuration(memory_limit)"
    extra_env = {"TF_FORCE_GPU_ALLOW_GROWTH": "false"}


class JaxAdapter(_ImportDetecting):
    name = "jax"
    priority = 30
    modules = frozenset({"jax", "flax", "optax"})

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
