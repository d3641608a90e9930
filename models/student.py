"""The student factory: tokenizer, tiny Llama, warm start, save and load.

The text formats the student is trained and served with (prompt template, target format, answer
marker, special tokens) live in ``models.formats`` and are re-exported here. A student directory
loads offline with ``from_pretrained`` and records in ``student.json`` how it was made; the warm
start (``models.train``) is the only part that needs TRL.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from academy.config import StudentConfig
from models.formats import (
    ANSWER_MARKER,
    BOS,
    EOS,
    PAD,
    PROMPT_TEMPLATE,
    SPECIAL_TOKENS,
    UNK,
    extract_answer,
    format_prompt,
    format_target,
    split_generation,
)

if TYPE_CHECKING:  # torch/transformers load lazily: the server imports this module to load students
    import torch
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

__all__ = [  # the formats are re-exported: callers take them from here or from models.formats
    "ANSWER_MARKER",
    "BOS",
    "EOS",
    "METADATA_FILE",
    "MLMODEL_FILE",
    "MODEL_BUILD_LOCK",
    "PAD",
    "PROMPT_TEMPLATE",
    "REHEARSAL_FILE",
    "SPECIAL_TOKENS",
    "TINY_STUDENT",
    "UNK",
    "build_student",
    "count_parameters",
    "create_student",
    "extract_answer",
    "format_prompt",
    "format_target",
    "load_student",
    "split_generation",
    "train_tokenizer",
]

REHEARSAL_FILE = "rehearsal.jsonl"  # the warm-start pairs, kept beside the weights
METADATA_FILE = "student.json"
MLMODEL_FILE = "MLmodel"  # marks an MLflow model directory (a registry version, downloaded)

# transformers builds a model under process-wide state (a meta-device context, tied weights tied
# after loading): two threads building at once can leave lm_head.weight on the meta device. Every
# student built or loaded in this process takes this lock.
MODEL_BUILD_LOCK = threading.RLock()


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts``.

    Digits are split one per token so numbers of any length share the same ten embeddings (the
    arithmetic domains depend on it). The full 256-byte alphabet is always included so any text,
    newlines and unseen characters included, round-trips exactly; hence the effective vocabulary
    is at least ``256 + 4`` even when ``vocab_size`` is smaller. Batched generation needs left
    padding, and every encoding starts with ``<bos>``.
    """
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(BPE(unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_strings(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="left",
        add_bos_token=True,
    )


def _strings(texts: Iterable[str]) -> Iterator[str]:
    return (t for t in texts if isinstance(t, str) and t)


# The smallest student shape that still learns (~20k parameters). Tests and the load benchmark use it:
# they measure the machinery around a student, not its answers.
TINY_STUDENT = StudentConfig(
    hidden_size=32,
    num_layers=2,
    num_heads=4,
    intermediate_size=64,
    vocab_size=300,
    max_length=64,
    warm_start_steps=20,
    warm_start_examples=200,
    learning_rate=3e-3,
    batch_size=16,
)


def build_student(config: StudentConfig, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """A randomly initialised tiny Llama sized by ``config`` for ``tokenizer``'s vocabulary.

    Embeddings are tied to the LM head: at these sizes the embedding matrix is a large share of
    all parameters, and tying halves it.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    if config.hidden_size % config.num_heads:
        raise ValueError(
            f"student.hidden_size ({config.hidden_size}) must be divisible by "
            f"student.num_heads ({config.num_heads})"
        )
    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_length,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with MODEL_BUILD_LOCK:
        model = LlamaForCausalLM(llama)
    generation = model.generation_config
    generation.pad_token_id = tokenizer.pad_token_id
    generation.bos_token_id = tokenizer.bos_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    generation.do_sample = False
    return model


def count_parameters(model: torch.nn.Module) -> int:
    """Unique parameters (tied embeddings counted once, as ``model.parameters()`` does)."""
    return sum(p.numel() for p in model.parameters())


def create_student(
    path: Path,
    config: StudentConfig,
    corpus: Iterable[str],
    warm_start: list[tuple[str, str]] | list[tuple[str, str, str | None]] | None = None,
    seed: int = 0,
    callbacks: Sequence[Any] = (),
) -> Path:
    """Create a student directory loadable offline with ``from_pretrained``; returns ``path``.

    The tokenizer is trained on ``corpus`` plus the formatted warm-start examples (so the template
    tokens are in the vocabulary). With ``warm_start`` pairs (or (query, answer, reasoning) triples:
    the student then learns to write the reasoning first) and ``config.warm_start_steps > 0``
    the fresh model is fine-tuned on them, so a new student answers something on day one instead
    of emitting noise. The caller chooses the pairs (``config.warm_start_examples`` is their
    intended count). ``student.json`` records how the student was made. ``callbacks`` (transformers
    ``TrainerCallback``s, e.g. progress) go to the warm start's trainer.
    """
    from transformers import set_seed

    path = Path(path)
    set_seed(seed)
    warm_start = list(warm_start or [])
    templated = (format_prompt(q) + format_target(a, *r) for q, a, *r in warm_start)
    tokenizer = train_tokenizer(chain(corpus, templated), config.vocab_size)
    tokenizer.model_max_length = config.max_length
    model = build_student(config, tokenizer)
    stats = _warm_start(model, tokenizer, config, warm_start, seed, callbacks)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    metadata = _metadata(model, config, seed, warm_start, stats)
    (path / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    if warm_start:  # what the student already knows: nightly runs rehearse it against forgetting
        lines = (
            json.dumps({"query": q, "answer": a} | ({"reasoning": r[0]} if r and r[0] else {}))
            for q, a, *r in warm_start
        )
        (path / REHEARSAL_FILE).write_text("\n".join(lines) + "\n")
    return path


def _warm_start(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    config: StudentConfig,
    pairs: list[tuple[str, str]],
    seed: int,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any] | None:
    if not pairs or config.warm_start_steps == 0:
        return None
    from models.train import sft_train  # TRL is only needed when there is something to train

    with tempfile.TemporaryDirectory(prefix="academy-warm-start-") as scratch:
        return sft_train(
            model,
            tokenizer,
            pairs,
            output_dir=Path(scratch),
            steps=config.warm_start_steps,
            learning_rate=config.learning_rate,
            batch_size=config.batch_size,
            seed=seed,
            max_length=config.max_length,
            callbacks=callbacks,
        )


def _metadata(
    model: LlamaForCausalLM,
    config: StudentConfig,
    seed: int,
    warm_start: list[tuple[str, str]],
    stats: dict[str, Any] | None,
) -> dict[str, Any]:
    stats = dict(stats or {})
    stats.pop("history", None)
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.model_dump(),
        "seed": seed,
        "params": count_parameters(model),
        "vocab_size": model.config.vocab_size,
        "warm_start_steps": stats.get("steps", 0),
        "warm_start_examples": len(warm_start) if stats else 0,
        "warm_start": stats or None,
        "prompt_template": PROMPT_TEMPLATE,
        "answer_marker": ANSWER_MARKER,
    }


def load_student(path: str | Path) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """Load a student offline (never touches the Hub), in eval mode.

    ``path`` is a student directory (``save_pretrained``) or a downloaded MLflow transformers-flavor
    model (an ``MLmodel`` file at its root, as the registry stores versions).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if (path / MLMODEL_FILE).is_file():
        import mlflow.transformers

        with MODEL_BUILD_LOCK:
            components = mlflow.transformers.load_model(str(path), return_type="components")
        model, tokenizer = components["model"], components["tokenizer"]
    elif (path / "config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        with MODEL_BUILD_LOCK:
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    else:
        raise FileNotFoundError(f"no student model at {path} (config.json missing)")
    model.eval()
    return model, tokenizer
