"""LoRA adapters on a transformers model (``peft``): one place for both trainers.

peft (0.21) asks the model ``is_gradient_checkpointing``, a property transformers (5.25)
deprecates with a ``FutureWarning`` on every call. The warning is about that pair of
libraries, not about anything a user can change, so it is silenced here, for that one
message and that one call.
"""

from __future__ import annotations

import warnings
from typing import Any

from .import_utils import require


def add_lora(model: Any, **lora_config: Any) -> Any:
    """``model`` with LoRA adapters (``peft.LoraConfig(**lora_config)``), as a peft model."""
    require("peft", "LoRA adapters")
    from peft import LoraConfig, get_peft_model

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        return get_peft_model(model, LoraConfig(**lora_config))
