"""The student factory's parts: text formats, tokenizer, model sizing, the SFT dataset and its
completion-only loss (models/student.py, models/train.py). Saving, loading and training real
students: tests/integration/test_student.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach the Hub

import datasets  # noqa: E402
from trl import SFTTrainer  # noqa: E402

from academy.config import StudentConfig  # noqa: E402
from models.student import (  # noqa: E402
    ANSWER_MARKER,
    build_student,
    extract_answer,
    format_prompt,
    format_target,
    load_student,
    split_generation,
    train_tokenizer,
)
from models.train import build_sft_config, build_sft_dataset  # noqa: E402
from tests.factories.student import TINY, sums_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return sums_tokenizer()


# ---- formats ----------------------------------------------------------------------------------


def test_prompt_and_target_formats() -> None:
    assert format_prompt("What is 47 + 35?") == "Q: What is 47 + 35?\nA:"
    assert format_prompt("  padded \n") == "Q: padded\nA:"
    assert format_target("82") == " 82"
    assert format_target("82", reasoning="47 + 35 = 82") == f" 47 + 35 = 82 {ANSWER_MARKER} 82"
    assert (
        format_target("a b", reasoning="two\nlines") == " two lines => a b"
    )  # one line: newline stops generation
    assert format_target("82", reasoning="  ") == " 82"


def test_extract_answer_handles_marker_newline_and_eos() -> None:
    assert extract_answer(" 82") == "82"
    assert extract_answer(" 47 + 35 = 82 => 82") == "82"
    assert extract_answer(" a => b => c\nQ: next => wrong") == "c"  # last marker of the first line only
    assert extract_answer(" Paris\nQ: Capital of Peru?\nA: Lima") == "Paris"
    assert extract_answer(" Paris<eos><pad><pad>") == "Paris"
    assert extract_answer("") == ""
    assert split_generation(" 4 + 3 = 7 => 7\n") == ("7", "4 + 3 = 7")
    assert split_generation(" 7") == ("7", None)


# ---- tokenizer --------------------------------------------------------------------------------


def test_tokenizer_splits_digits_and_round_trips(tokenizer) -> None:
    tokens = tokenizer.tokenize("12345 and 907")
    for digit in "12345907":
        assert digit in tokens
    assert not any(len(t) > 1 and any(c.isdigit() for c in t) for t in tokens)
    for text in ["Q: What is 47 + 35?\nA: 82", "Q: Zürich, naïve  café!\n\nA: 1000000", "  x\ty "]:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_tokenizer_specials_and_left_padding(tokenizer) -> None:
    assert tokenizer.padding_side == "left"
    ids = {tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id}
    assert len(ids) == 4 and None not in ids
    batch = tokenizer(["Q: 1\nA:", "Q: What is 47 + 35?\nA:"], padding=True)
    short, long_ = batch["input_ids"]
    assert short[0] == tokenizer.pad_token_id and long_[0] == tokenizer.bos_token_id
    assert short[batch["attention_mask"][0].index(1)] == tokenizer.bos_token_id
    assert 260 <= len(tokenizer) <= 300  # full byte alphabet + 4 specials + merges


# ---- model ------------------------------------------------------------------------------------


def test_default_student_has_about_a_million_parameters() -> None:
    config = StudentConfig()
    texts = [f"Q: What is {a} + {b}?\nA: {a + b}" for a in range(100) for b in range(0, 100, 7)]
    texts += [
        f"Q: Capital of {w}?\nA: {w[::-1]}" for w in ["France", "Germany", "Italy", "Spain", "Portugal"]
    ]
    tok = train_tokenizer(texts, config.vocab_size)
    model = build_student(config, tok)
    params = sum(p.numel() for p in model.parameters())
    assert len(tok) <= config.vocab_size
    assert 500_000 <= params <= 2_000_000
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied
    assert model.config.max_position_embeddings == config.max_length
    assert model.config.eos_token_id == tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id


def test_build_student_rejects_heads_that_do_not_divide_hidden(tokenizer) -> None:
    with pytest.raises(ValueError, match="divisible"):
        build_student(TINY.model_copy(update={"num_heads": 3}), tokenizer)


def test_load_student_missing_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_student(tmp_path / "nowhere")


# ---- training data ----------------------------------------------------------------------------


def test_loss_is_on_the_completion_only(tokenizer, tmp_path: Path) -> None:
    """Guards TRL's prompt/completion masking, which the student's training relies on."""
    model = build_student(TINY, tokenizer)
    dataset = build_sft_dataset([("What is 4 + 3?", "7")], tokenizer.eos_token)
    args = build_sft_config(tmp_path, steps=1, learning_rate=1e-3, batch_size=1, seed=0, max_length=64)
    example = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer
    ).train_dataset[0]
    trained = [t for t, label in zip(example["input_ids"], example["labels"]) if label != -100]
    assert tokenizer.decode(trained) == " 7<eos>"
    assert tokenizer.decode(example["input_ids"], skip_special_tokens=True) == "Q: What is 4 + 3?\nA: 7"


def test_sft_dataset_formats_reasoning_and_resamples_by_weight() -> None:
    ds = datasets.Dataset.from_dict(
        {"query": ["a?", "b?"], "answer": ["1", "2"], "reasoning": ["x", None], "weight": [1.0, 0.0]}
    )
    built = build_sft_dataset(ds, "<eos>")
    assert built["prompt"] == ["Q: a?\nA:", "Q: a?\nA:"]  # weight 0 is never drawn
    assert built["completion"] == [" x => 1<eos>", " x => 1<eos>"]
    unweighted = build_sft_dataset([("a?", "1"), ("b?", "2", "y")], "<eos>")
    assert unweighted["completion"] == [" 1<eos>", " y => 2<eos>"]
    heavy = build_sft_dataset([("a?", "1"), ("b?", "2")], "<eos>", weights=[0.0, 5.0])
    assert set(heavy["completion"]) == {" 2<eos>"}
    with pytest.raises(ValueError, match="weights"):
        build_sft_dataset([("a?", "1")], "<eos>", weights=[-1.0])
