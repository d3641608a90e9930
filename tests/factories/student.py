"""The student factory's test data: a tiny student config, 50 memorisable sums, their training texts
and a byte-level tokenizer trained on them (tests/unit/test_student.py, tests/integration/test_student.py)."""

from __future__ import annotations

from models.student import format_prompt, format_target, train_tokenizer
from tests.factories import TINY_STUDENT

TINY = TINY_STUDENT.model_copy(update={"warm_start_steps": 10, "learning_rate": 1e-2, "batch_size": 16})
SUMS = [(f"What is {a} + {b}?", str(a + b)) for a in range(10) for b in range(5)]  # 50 pairs


def corpus(pairs: list[tuple[str, str]]) -> list[str]:
    return [format_prompt(q) + format_target(a) for q, a in pairs]


def sums_tokenizer():
    """A tokenizer trained on the sums and one capitals line, vocabulary 300."""
    return train_tokenizer(corpus(SUMS) + ["Q: Capital of France?\nA: Paris"], vocab_size=300)
