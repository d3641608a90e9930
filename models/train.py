"""Supervised fine-tuning of a student on (query, answer) pairs: the step nightly distillation wraps.

Sequence-level distillation is plain SFT on the teacher's outputs, so one generic function serves
both the warm start and the nightly run. It uses TRL's ``SFTTrainer`` on a prompt/completion
dataset: TRL then computes the loss on the completion tokens only (``completion_only_loss``
defaults to on for that format in TRL 1.16), so the student learns to answer, not to echo questions.

Per-example weights (e.g. judge confidence) are applied by seeded resampling with replacement:
TRL's SFT loss has no per-example weight, and resampling gives the same expected gradient without
touching trainer internals.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer
from transformers.trainer_callback import PrinterCallback, TrainerCallback
from trl import SFTConfig, SFTTrainer

from models.formats import format_prompt, format_target
from models.threads import training_threads

Pair = tuple[str, str] | tuple[str, str, str | None]


def sft_train(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair] | datasets.Dataset,
    output_dir: Path,
    steps: int,
    learning_rate: float,
    batch_size: int,
    seed: int = 0,
    weights: list[float] | None = None,
    max_length: int = 96,
    callbacks: Sequence[TrainerCallback] = (),
    pack: bool = True,
) -> dict[str, Any]:
    """Fine-tune ``model`` in place on ``pairs`` for ``steps`` optimizer steps on CPU.

    ``pairs`` is a list of ``(query, answer)`` or ``(query, answer, reasoning)`` tuples, or a
    ``datasets.Dataset`` with ``query``/``answer`` (optional ``reasoning``, ``weight``) columns or
    already formatted ``prompt``/``completion`` columns. ``weights`` (or a ``weight`` column)
    resample the examples in proportion to their weight. Nothing is written to ``output_dir``
    except what the Trainer insists on (no checkpoints). ``callbacks`` are added to the trainer's
    (e.g. ``models.progress.TrainingProgress``). ``pack``: batches are packed rows
    (:class:`PackingCollator`), the same loss on fewer positions.

    Returns ``train_loss`` (last logged step loss), ``first_loss``, ``mean_loss``, ``steps``,
    ``train_seconds``, ``examples`` and ``history`` (the loss of every step).
    """
    dataset = build_sft_dataset(pairs, tokenizer.eos_token, weights=weights, seed=seed)
    args = build_sft_config(output_dir, steps, learning_rate, batch_size, seed, max_length)
    with _quiet_datasets():
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=list(callbacks) or None,
            data_collator=PackingCollator(tokenizer.pad_token_id, max_length) if pack else None,
        )
    return run_training(trainer, examples=len(dataset))


class PackingCollator:
    """Packs a batch's tokenized examples into rows of at most ``max_length`` tokens instead of
    padding each to the longest (first-fit decreasing), so a step computes on fewer positions.

    Each example attends only to itself: a block-diagonal causal mask (4-D, additive) and position
    ids that restart per example, so the loss is the one the unpacked batch gives (tested). Not
    TRL's ``packing``/``padding_free``: those isolate examples only under FlashAttention, and
    flattening a batch into one row makes CPU attention quadratic in the batch's length. Why pack
    at all: school examples average 54 tokens against a batch maximum near 100, so a padded batch
    of 64 spends about a third of its positions on padding (1.5x more than packed).
    """

    def __init__(self, pad_token_id: int, max_length: int) -> None:
        self.pad_token_id, self.max_length = pad_token_id, max_length

    def rows(self, lengths: Sequence[int]) -> list[list[int]]:
        """Example indices per row, longest first into the first row with room."""
        rows: list[list[int]] = []
        room: list[int] = []
        for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
            slot = next((r for r, free in enumerate(room) if free >= lengths[i]), None)
            if slot is None:
                rows.append([])
                room.append(self.max_length)
                slot = len(rows) - 1
            rows[slot].append(i)
            room[slot] -= lengths[i]
        return rows

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        ids = [list(e["input_ids"])[: self.max_length] for e in examples]
        labels = [list(e.get("labels", e["input_ids"]))[: self.max_length] for e in examples]
        rows = self.rows([len(x) for x in ids])
        width = max(sum(len(ids[i]) for i in row) for row in rows)
        shape = (len(rows), width)
        input_ids = torch.full(shape, self.pad_token_id, dtype=torch.long)
        targets = torch.full(shape, -100, dtype=torch.long)
        positions = torch.zeros(shape, dtype=torch.long)
        segment = torch.full(shape, -1, dtype=torch.long)
        for r, row in enumerate(rows):
            start = 0
            for k, i in enumerate(row):
                end = start + len(ids[i])
                input_ids[r, start:end] = torch.tensor(ids[i])
                targets[r, start:end] = torch.tensor(labels[i])
                positions[r, start:end] = torch.arange(len(ids[i]))
                segment[r, start:end] = k
                start = end
        causal = torch.tril(torch.ones(width, width, dtype=torch.bool))
        allowed = (segment[:, :, None] == segment[:, None, :]) & causal & (segment[:, :, None] >= 0)
        allowed |= torch.eye(width, dtype=torch.bool)  # padding attends to itself: no empty softmax row
        mask = torch.zeros(len(rows), 1, width, width).masked_fill(
            ~allowed[:, None], torch.finfo(torch.float32).min
        )
        return {"input_ids": input_ids, "labels": targets, "position_ids": positions, "attention_mask": mask}


def run_training(trainer: Trainer, examples: int) -> dict[str, Any]:
    """Train quietly (no per-step printing), leave the model in eval mode, return the stats every
    student trainer reports: ``train_loss`` (last step), ``first_loss``, ``mean_loss``, ``steps``,
    ``train_seconds``, ``examples`` and ``history`` (the loss of every step)."""
    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    with training_threads() as rebalance:
        trainer.add_callback(Rebalance(rebalance))
        output = trainer.train()
    seconds = time.perf_counter() - started
    trainer.model.eval()
    history = [float(log["loss"]) for log in trainer.state.log_history if "loss" in log]
    return {
        "train_loss": history[-1] if history else float(output.training_loss),
        "first_loss": history[0] if history else float(output.training_loss),
        "mean_loss": float(output.training_loss),
        "steps": int(trainer.state.global_step),
        "train_seconds": round(seconds, 3),
        "examples": examples,
        "history": history,
    }


class Rebalance(TrainerCallback):
    """Every ``every`` steps, re-count the trainers sharing this machine and take this process's
    share of the cores: when one Dask worker's student is done, the other trains on both cores."""

    def __init__(self, rebalance: Callable[[], int], every: int = 10) -> None:
        self.rebalance, self.every = rebalance, every

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step % self.every == 0:
            self.rebalance()


def cpu_training_args(
    output_dir: Path, steps: int, learning_rate: float, batch_size: int, seed: int
) -> dict[str, Any]:
    """The ``TrainingArguments`` fields every student trainer shares (SFT and peer distillation).

    CPU-only, fp32, no activation checkpointing, no checkpoints, no reporting (the nightly job owns
    tracking in MLflow), no progress bars, one log entry per step, linear LR decay without warmup.
    Batches are drawn at random, not grouped by length: a length-grouped batch is mostly one
    domain, which trades held-out accuracy for speed.
    """
    return {
        "output_dir": str(output_dir),
        "max_steps": steps,
        "learning_rate": learning_rate,
        "per_device_train_batch_size": batch_size,
        "gradient_accumulation_steps": 1,
        "lr_scheduler_type": "linear",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "seed": seed,
        "data_seed": seed,
        "bf16": False,  # TRL configs default bf16 on
        "fp16": False,
        "use_cpu": True,
        "activation_checkpointing": False,  # TRL defaults it on; transformers 5 renamed gradient_checkpointing
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": False,
        "save_strategy": "no",
        "report_to": "none",
        "logging_strategy": "steps",
        "logging_steps": 1,
        "disable_tqdm": True,
    }


def build_sft_config(
    output_dir: Path, steps: int, learning_rate: float, batch_size: int, seed: int, max_length: int
) -> SFTConfig:
    """:func:`cpu_training_args` plus SFT's own: loss on the completion only
    (``completion_only_loss=True``), no packing, truncation at ``max_length``."""
    return SFTConfig(
        **cpu_training_args(output_dir, steps, learning_rate, batch_size, seed),
        max_length=max_length,
        completion_only_loss=True,
        packing=False,
        dataset_num_proc=None,
    )


def build_sft_dataset(
    pairs: Sequence[Pair] | datasets.Dataset,
    eos_token: str,
    weights: Sequence[float] | None = None,
    seed: int = 0,
) -> datasets.Dataset:
    """A TRL prompt/completion dataset; the completion ends with ``eos_token`` so the student learns to stop."""
    prompts, completions, column_weights = _examples(pairs)
    weights = weights if weights is not None else column_weights
    if not prompts:
        raise ValueError("sft_train needs at least one example")
    if weights is not None:
        order = _resample(weights, len(prompts), seed)
        prompts = [prompts[i] for i in order]
        completions = [completions[i] for i in order]
    completions = [c if c.endswith(eos_token) else c + eos_token for c in completions]
    return datasets.Dataset.from_dict({"prompt": prompts, "completion": completions})


def _examples(pairs: Sequence[Pair] | datasets.Dataset) -> tuple[list[str], list[str], list[float] | None]:
    if isinstance(pairs, datasets.Dataset):
        return _examples_from_dataset(pairs)
    prompts, completions = [], []
    for pair in pairs:
        query, answer, *rest = pair
        prompts.append(format_prompt(query))
        completions.append(format_target(answer, rest[0] if rest else None))
    return prompts, completions, None


def _examples_from_dataset(ds: datasets.Dataset) -> tuple[list[str], list[str], list[float] | None]:
    weights = [float(w) for w in ds["weight"]] if "weight" in ds.column_names else None
    if {"prompt", "completion"} <= set(ds.column_names):
        return list(ds["prompt"]), list(ds["completion"]), weights
    if not {"query", "answer"} <= set(ds.column_names):
        raise ValueError(f"dataset needs query/answer or prompt/completion columns, has {ds.column_names}")
    reasoning = ds["reasoning"] if "reasoning" in ds.column_names else [None] * len(ds)
    prompts = [format_prompt(q) for q in ds["query"]]
    completions = [format_target(a, r) for a, r in zip(ds["answer"], reasoning, strict=True)]
    return prompts, completions, weights


def _resample(weights: Sequence[float], n: int, seed: int) -> list[int]:
    """``n`` indices with copies in proportion to weight, by systematic resampling.

    Why systematic and not i.i.d. draws: drawing n of n with replacement leaves out ~37% of the
    examples even when all weights are equal, and the Trainer then sees only the rest, every epoch.
    Systematic resampling keeps every example whose weight is at least the mean, and gives the
    others copies in proportion (seeded, shuffled).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {n} finite non-negative numbers with a positive sum")
    rng = np.random.default_rng(seed)
    positions = (rng.random() + np.arange(n)) / n
    picks = np.searchsorted(np.cumsum(w / w.sum()), positions, side="right").clip(max=n - 1)
    return rng.permutation(picks).tolist()


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Hide the per-map progress bars TRL's dataset preparation prints, then restore the setting."""
    was_disabled = datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.utils.enable_progress_bars()
