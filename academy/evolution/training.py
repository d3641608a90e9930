"""``distill_student``: sequence-level distillation (TRL ``SFTTrainer`` on the winners' answers or
reasoning, weighted by the judge's confidence or not), then, when a promoted peer shares the
student's tokenizer, logit distillation from that peer (TRL ``DistillationTrainer``,
``models.distill``). Which of these a candidate gets is configuration (``DistillConfig.aspects``,
turned into rows by ``dataset.training_examples``): the nightly flow and ``academy bench distill``
run this same function. The base is the student's current production version, so every night
builds on the last; a spawned student starts from fresh weights with the shared tokenizer, so it
can learn from its peers' logits too.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from academy.config import DistillConfig, StudentConfig
from academy.evolution.dataset import TrainingExamples
from models.student import load_student


def spawn_student_dir(template_dir: Path, out_dir: Path, config: StudentConfig, seed: int = 0) -> Path:
    """A fresh student with ``template_dir``'s tokenizer (shared vocabulary: peers can teach it)."""
    from transformers import set_seed

    from models.student import build_student

    set_seed(seed)
    _, tokenizer = load_student(template_dir)
    model = build_student(config, tokenizer)
    _save(model, tokenizer, out_dir, {"spawned_from_tokenizer_of": str(template_dir), "seed": seed})
    return out_dir


def distill_student(
    base_dir: Path,
    out_dir: Path,
    examples: TrainingExamples,
    config: DistillConfig,
    max_length: int,
    peer_dir: Path | None = None,
) -> dict[str, Any]:
    """Train a candidate from ``base_dir`` into ``out_dir``: ``config.steps`` of SFT on
    ``examples.sft``, then ``config.peer_steps`` of logit distillation on ``examples.peer``.

    Returns training statistics: ``sft`` (steps, losses, seconds; None when ``steps`` is 0) and
    ``peer`` (None when no peer was used, else the logit-distillation statistics or why it was
    skipped), plus ``train_seconds`` (both stages).
    """
    from models.train import sft_train

    if config.steps and len(examples.sft) == 0:
        raise ValueError("no SFT examples left (every winner was judged below the confidence threshold?)")
    model, tokenizer = load_student(base_dir)
    model.train()
    with tempfile.TemporaryDirectory(prefix="academy-distill-") as scratch:
        sft = None
        if config.steps:
            sft = sft_train(
                model,
                tokenizer,
                examples.sft,
                output_dir=Path(scratch),
                steps=config.steps,
                learning_rate=config.learning_rate,
                batch_size=config.batch_size,
                seed=config.seed,
                max_length=max_length,
            )
        peer = _peer_distill(model, tokenizer, examples.peer, config, max_length, peer_dir, Path(scratch))
    seconds = sum(stage.get("train_seconds", 0.0) for stage in (sft or {}, peer or {}))
    stats = {"sft": sft, "peer": peer, "base": str(base_dir), "examples": len(examples.sft)}
    _save(
        model,
        tokenizer,
        out_dir,
        {"distilled_from": str(base_dir), "peer": str(peer_dir) if peer_dir else None},
    )
    return stats | {"train_seconds": round(seconds, 3)}


def _peer_distill(
    model, tokenizer, train, config: DistillConfig, max_length, peer_dir, scratch
) -> dict | None:
    if peer_dir is None or config.peer_steps == 0 or len(train) == 0:
        return None
    from models.distill import logit_distill, shares_tokenizer

    peer, peer_tokenizer = load_student(peer_dir)
    if not shares_tokenizer(tokenizer, peer_tokenizer):
        return {"skipped": f"peer {peer_dir} has a different tokenizer"}
    return logit_distill(
        model,
        tokenizer,
        peer,
        peer_tokenizer,
        train,
        output_dir=scratch / "peer",
        steps=config.peer_steps,
        learning_rate=config.peer_learning_rate,
        batch_size=config.batch_size,
        temperature=config.peer_temperature,
        alpha=config.peer_alpha,
        seed=config.seed,
        max_length=max_length,
    )


def _save(model: Any, tokenizer: Any, out_dir: Path, metadata: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "student.json").write_text(json.dumps(metadata, indent=2) + "\n")
