"""Student models: a tiny Llama with its own tokenizer, built, warm-started and saved locally.

``models.student`` owns the text formats (prompt, target, answer marker) that training and serving
must agree on; ``models.train`` is the generic SFT / sequence-level distillation step the nightly
flow wraps.

The re-exports are lazy (PEP 562) on purpose: ``models.train`` pulls in TRL and ``datasets``, which
the server (``academy.backends.hf``) never needs, so ``import models`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ANSWER_MARKER": "models.student",
    "PROMPT_TEMPLATE": "models.student",
    "build_student": "models.student",
    "create_student": "models.student",
    "extract_answer": "models.student",
    "format_prompt": "models.student",
    "format_target": "models.student",
    "load_student": "models.student",
    "split_generation": "models.student",
    "train_tokenizer": "models.student",
    "sft_train": "models.train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
