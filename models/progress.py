"""Progress with an estimate of the time left, for long training runs (the demo's warm start).

The estimate is measured, not promised: after each reported step, the mean time per step so far
times the steps left. A line is printed about every tenth of the run.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

from transformers.trainer_callback import TrainerCallback


def eta_seconds(step: int, total: int, elapsed: float) -> float | None:
    """Seconds left after ``step`` of ``total`` steps took ``elapsed`` seconds (None before a step)."""
    if step <= 0:
        return None
    return max(total - step, 0) * elapsed / step


def milestones(total: int, fraction: float = 0.1) -> list[int]:
    """The steps after which progress is reported: about every ``fraction`` of ``total``, the last included."""
    if total <= 0:
        return []
    parts = max(1, round(1 / fraction))
    return sorted({min(total, max(1, math.ceil(total * k / parts))) for k in range(1, parts + 1)})


def progress_line(label: str, step: int, total: int, elapsed: float) -> str:
    eta = eta_seconds(step, total, elapsed)
    left = "done" if step >= total else f"~{eta:.0f} s left" if eta is not None else "estimating"
    return f"{label}: step {step}/{total}, {elapsed:.0f} s so far, {left}"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class TrainingProgress(TrainerCallback):
    """Reports ``label: step i/n, ~X s left`` about every tenth of the run (stderr by default)."""

    def __init__(
        self,
        label: str = "training",
        report: Callable[[str], None] = _stderr,
        fraction: float = 0.1,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.label, self.report, self.fraction, self.clock = label, report, fraction, clock
        self.started = 0.0
        self.marks: set[int] = set()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = self.clock()
        self.marks = set(milestones(int(state.max_steps), self.fraction))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = int(state.global_step)
        if step in self.marks:
            self.marks.discard(step)
            self.report(progress_line(self.label, step, int(state.max_steps), self.clock() - self.started))
