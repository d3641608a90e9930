"""Student models: a tiny Llama with its own tokenizer, built, warm-started and saved locally.

``models.formats`` owns the text formats (prompt, target, answer marker) that training and serving
must agree on; ``models.student`` builds, warm-starts, saves and loads students; ``models.train``
is the generic SFT / sequence-level distillation step the nightly flow wraps, and
``models.distill`` the peer-logit variant. Imports go one way: ``formats`` <- ``train`` <-
``student`` and ``distill``.

The re-exports are lazy (PEP 562) on purpose: ``models.train`` pulls in TRL and ``datasets``, which
the server (``academy.backends.hf``) never needs, so ``import models`` stays cheap.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "ANSWER_MARKER": "formats",
    "PROMPT_TEMPLATE": "formats",
    "build_student": "student",
    "create_student": "student",
    "extract_answer": "formats",
    "format_prompt": "formats",
    "format_target": "formats",
    "load_student": "student",
    "split_generation": "formats",
    "train_tokenizer": "student",
    "sft_train": "train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    if _EXPORTS[name] == "formats":
        from models import formats as module
    elif _EXPORTS[name] == "student":
        from models import student as module
    else:
        from models import train as module
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
