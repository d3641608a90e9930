"""Peer knowledge transfer: a candidate student learns from a promoted peer's logits.

SFT (``models.train``) gives the candidate one right token per position; a promoted peer's whole
next-token distribution also ranks the near misses. Every academy student shares one tokenizer, so
the peer's logits line up with the candidate's id for id (``shares_tokenizer`` checks it, and
``logit_distill`` refuses a peer that does not share it).

``logit_distill`` trains off-policy on the dataset's completions (the winners' tokens, tokenized
exactly as ``SFTTrainer`` tokenizes them; nothing is sampled from the student) and minimises, over
the completion tokens only (prompt and padding never count)::

    L = alpha * T^2 * KL(softmax(z_peer / T) || softmax(z_student / T))
        + (1 - alpha) * CE(winner token, softmax(z_student))

It runs on TRL's ``DistillationTrainer`` (frozen teacher, vocabulary check, seeded sampler,
per-step logging, a generalised JSD that never builds the full logits). ``_PeerDistillationTrainer``
overrides two private TRL hooks: batches come from the dataset instead of on-policy samples, and
the ground-truth term is added. Mapping onto ``DistillationConfig``: ``temperature`` is
``DistillationConfig.temperature`` (TRL divides both models' logits by it); ``beta=0.0`` makes TRL's
generalised JSD the forward KL(peer || student); ``alpha`` is the subclass's own, and the soft term
is scaled by ``T^2`` so that ``alpha`` keeps its meaning when ``T`` changes. The ground-truth term
always uses ``T = 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from trl import DistillationConfig, DistillationTrainer
from trl.data_utils import common_prefix_length

from models.train import Pair, build_sft_dataset, cpu_training_args, run_training

_SPECIAL_IDS = ("pad_token_id", "bos_token_id", "eos_token_id", "unk_token_id")


def shares_tokenizer(a: PreTrainedTokenizerBase, b: PreTrainedTokenizerBase) -> bool:
    """True when ``a`` and ``b`` have the same vocabulary (token -> id, added tokens included) and
    the same special-token ids: the precondition for comparing two models' logits id by id.

    Merges are not compared. The academy trains one tokenizer and copies it to every student.
    """
    if a is b:
        return True
    if len(a) != len(b) or any(getattr(a, name) != getattr(b, name) for name in _SPECIAL_IDS):
        return False
    return a.get_vocab() == b.get_vocab()


def logit_distill(
    student: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    peer: PreTrainedModel,
    peer_tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair] | datasets.Dataset,
    output_dir: Path,
    steps: int,
    learning_rate: float,
    batch_size: int,
    temperature: float = 1.0,
    alpha: float = 0.5,
    seed: int = 0,
    max_length: int = 96,
    weights: list[float] | None = None,
) -> dict[str, Any]:
    """Train ``student`` in place for ``steps`` optimizer steps on CPU against the frozen ``peer``.

    ``pairs`` and ``weights`` mean what they mean for :func:`models.train.sft_train`, and the data is
    built by the same ``build_sft_dataset`` (same prompt/target format, eos, weighted resampling).
    ``alpha`` weights the peer's soft targets against the winners' tokens (1 = peer only, 0 = plain
    SFT). ``temperature`` softens both distributions in the soft term. See the module docstring for
    the loss and how these map onto ``DistillationConfig``.

    Returns the stats of ``sft_train`` (``train_loss``, ``first_loss``, ``mean_loss``, ``steps``,
    ``train_seconds``, ``examples``, ``history``, where the losses are the mixed loss ``L``) plus
    ``distill_history`` (the per-step KL, unscaled) and ``ce_history`` (the per-step ground-truth
    loss, empty when ``alpha == 1``).

    Raises ``ValueError`` when the peer's tokenizer is not the student's (their logits would not
    line up), or when ``alpha`` is outside [0, 1] or ``temperature`` is not positive.
    """
    if not shares_tokenizer(tokenizer, peer_tokenizer):
        raise ValueError(
            "logit distillation needs the peer to share the student's tokenizer (same vocabulary and "
            f"special-token ids); student has {len(tokenizer)} tokens, peer has {len(peer_tokenizer)}, "
            "or their token->id maps differ"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    sft_dataset = build_sft_dataset(pairs, tokenizer.eos_token, weights=weights, seed=seed)
    dataset = tokenize_completions(sft_dataset, tokenizer, max_length)
    args = build_distill_config(output_dir, steps, learning_rate, batch_size, seed, temperature)
    trainer = _PeerDistillationTrainer(
        model=student,
        teacher_model=peer,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        alpha=alpha,
    )
    stats = run_training(trainer, examples=len(dataset))
    logs = trainer.state.log_history
    stats["distill_history"] = [float(log["distill_loss"]) for log in logs if "distill_loss" in log]
    stats["ce_history"] = [float(log["ce_loss"]) for log in logs if "ce_loss" in log]
    return stats


def build_distill_config(
    output_dir: Path, steps: int, learning_rate: float, batch_size: int, seed: int, temperature: float
) -> DistillationConfig:
    """:func:`models.train.cpu_training_args` plus the divergence: forward KL (``beta=0``) at
    ``temperature``. Dropout is off in the student (the tiny Llamas have none anyway)."""
    return DistillationConfig(
        **cpu_training_args(output_dir, steps, learning_rate, batch_size, seed),
        beta=0.0,
        temperature=temperature,
        disable_dropout=True,
        log_completions=False,
    )


def tokenize_completions(
    dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> datasets.Dataset:
    """``prompt_ids``/``completion_ids`` for a prompt/completion dataset, split as ``SFTTrainer`` splits.

    The prompt and prompt+completion are tokenized separately, and the completion starts where they
    diverge. The sequence is cut at ``max_length``, keeping the start, and an example with nothing
    left of its completion is dropped. The completion ids are exactly the tokens SFT trains on.
    """
    prompt_ids: list[list[int]] = []
    completion_ids: list[list[int]] = []
    for prompt, completion in zip(dataset["prompt"], dataset["completion"], strict=True):
        prompt_only = tokenizer(text=prompt)["input_ids"]
        full = tokenizer(text=prompt + completion)["input_ids"][:max_length]
        cut = common_prefix_length(prompt_only, full)
        if cut < len(full):
            prompt_ids.append(full[:cut])
            completion_ids.append(full[cut:])
    if not completion_ids:
        raise ValueError(f"no example has a completion token within max_length={max_length}")
    return datasets.Dataset.from_dict({"prompt_ids": prompt_ids, "completion_ids": completion_ids})


class _PeerDistillationTrainer(DistillationTrainer):
    """``DistillationTrainer`` trained off-policy on the dataset's completions, with a ground-truth
    term. The two overrides are private hooks of TRL 1.16 (see the module docstring)."""

    def __init__(self, *args: Any, alpha: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alpha = alpha

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """Batch the dataset's own completions where TRL would sample from the student. Prompts are
        left-padded and completions right-padded, the layout ``_compute_loss`` expects."""
        pad_id = self._tokenizer.pad_token_id
        prompts = [torch.tensor(example["prompt_ids"]) for example in inputs]
        completions = [torch.tensor(example["completion_ids"]) for example in inputs]
        prompt_ids, prompt_mask = _pad(prompts, pad_id, "left")
        completion_ids, completion_mask = _pad(completions, pad_id, "right")
        device = self.accelerator.device
        return {
            "prompt_ids": prompt_ids.to(device),
            "prompt_mask": prompt_mask.to(device),
            "completion_ids": completion_ids.to(device),
            "completion_mask": completion_mask.to(device),
            "num_items_in_batch": self.accelerator.gather(completion_mask.sum().to(device)).sum(),
        }

    def _compute_loss(
        self, unwrapped_student: PreTrainedModel, inputs: dict[str, Any], num_items_in_batch: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        distill, entropy_sum, num_valid = super()._compute_loss(unwrapped_student, inputs, num_items_in_batch)
        loss = self.alpha * self.temperature**2 * distill
        metrics = self._metrics["train" if self.model.training else "eval"]
        metrics["distill_loss"].append(distill.item())
        if self.alpha < 1.0:
            ce = self._ground_truth_loss(unwrapped_student, inputs, num_items_in_batch)
            loss = loss + (1.0 - self.alpha) * ce
            metrics["ce_loss"].append(ce.item())
        return loss, entropy_sum, num_valid

    def _ground_truth_loss(
        self, student: PreTrainedModel, inputs: dict[str, Any], num_items_in_batch: Any
    ) -> torch.Tensor:
        """Token cross-entropy of the winners' completions, reduced like the divergence: the sum
        over completion tokens divided by their count."""
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        logits = student(
            input_ids=torch.cat([inputs["prompt_ids"], completion_ids], dim=1),
            attention_mask=torch.cat([inputs["prompt_mask"], completion_mask], dim=1),
            logits_to_keep=completion_ids.size(1) + 1,
            use_cache=False,
        ).logits[:, :-1]  # position i predicts completion token i
        nll = F.cross_entropy(logits.flatten(0, 1).float(), completion_ids.flatten(), reduction="none")
        total = (nll * completion_mask.flatten()).sum()
        if num_items_in_batch is None:
            return total / completion_mask.sum().clamp(min=1)
        return total / num_items_in_batch


def _pad(sequences: list[torch.Tensor], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    ids = pad_sequence(sequences, batch_first=True, padding_value=pad_id, padding_side=side)
    ones = [torch.ones_like(seq) for seq in sequences]
    mask = pad_sequence(ones, batch_first=True, padding_value=0, padding_side=side)
    return ids, mask
