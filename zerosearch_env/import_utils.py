"""Every optional-dependency check in one place (heavy packages are never imported here)."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from .errors import MissingDependencyError

_EXTRA_OF = {"torch": "hf", "transformers": "hf", "accelerate": "hf", "peft": "hf", "datasets": "hf", "filelock": "hf", "vllm": "vllm", "gguf": "gguf"}


def is_available(package: str) -> bool:
    """True if ``package`` can be imported (checked without importing it)."""
    return importlib.util.find_spec(package) is not None


def is_torch_available() -> bool:
    return is_available("torch")


def is_transformers_available() -> bool:
    return is_available("transformers")


def is_vllm_available() -> bool:
    return is_available("vllm")


def require(package: str, feature: str) -> None:
    """Raise :class:`MissingDependencyError` with the pip line if ``package`` is missing."""
    if not is_available(package):
        extra = _EXTRA_OF.get(package)
        line = f'pip install "zerosearch-env[{extra}]"' if extra else f"pip install {package}"
        raise MissingDependencyError(f"{feature} needs the {package!r} package: {line}")


def cuda_device_count() -> int:
    """Visible CUDA devices, 0 when torch is missing (torch is imported only if installed)."""
    if not is_torch_available():
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def load_entry_point(spec: str) -> Any:
    """The object named by ``"package.module:attribute"``, imported now (Gymnasium's
    ``entry_point`` convention): a caller names what it needs without importing it first.

    >>> load_entry_point("zerosearch_env.errors:ConfigError").__name__
    'ConfigError'
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"entry point expects 'package.module:attribute', got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target
