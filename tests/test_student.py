"""The student factory: text formats, tokenizer, model sizing, save/load, and SFT training."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach the Hub

import datasets  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl import SFTTrainer  # noqa: E402

from academy.config import StudentConfig  # noqa: E402
from models.student import (  # noqa: E402
    ANSWER_MARKER,
    REHEARSAL_FILE,
    build_student,
    create_student,
    extract_answer,
    format_prompt,
    format_target,
    load_student,
    split_generation,
    train_tokenizer,
)
from models.train import build_sft_config, build_sft_dataset, sft_train  # noqa: E402
from tests.conftest import TINY_STUDENT  # noqa: E402

TINY = TINY_STUDENT.model_copy(update={"warm_start_steps": 10, "learning_rate": 1e-2, "batch_size": 16})
SUMS = [(f"What is {a} + {b}?", str(a + b)) for a in range(10) for b in range(5)]  # 50 pairs


def corpus(pairs: list[tuple[str, str]]) -> list[str]:
    return [format_prompt(q) + format_target(a) for q, a in pairs]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors gain nothing from a second thread, and on a busy 2-core box OpenMP spin-waits
    made 2 threads ~5x slower than 1 (see tests/test_hf_backend.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(corpus(SUMS) + ["Q: Capital of France?\nA: Paris"], vocab_size=300)


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


def test_create_student_saves_reproducibly_and_reloads_offline(tmp_path: Path) -> None:
    paths = [
        create_student(tmp_path / name, TINY, corpus(SUMS), warm_start=SUMS[:20], seed=seed)
        for name, seed in [("a", 0), ("b", 0), ("c", 1)]
    ]
    batch = AutoTokenizer.from_pretrained(paths[0], local_files_only=True)(
        [format_prompt("What is 4 + 3?")], return_tensors="pt"
    )
    logits = []
    for path in paths:
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
        with torch.no_grad():
            logits.append(model(**batch).logits)
    assert torch.allclose(logits[0], logits[1])  # same seed, same student
    assert not torch.allclose(logits[0], logits[2])
    model, tok = load_student(paths[0])
    assert not model.training and tok.padding_side == "left"
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, logits[0])
    meta = json.loads((paths[0] / "student.json").read_text())
    assert meta["seed"] == 0 and meta["warm_start_steps"] == TINY.warm_start_steps
    assert meta["warm_start_examples"] == 20 and meta["config"]["hidden_size"] == 32
    assert meta["params"] == sum(p.numel() for p in model.parameters())
    assert meta["warm_start"]["train_loss"] < meta["warm_start"]["first_loss"]
    kept = [json.loads(line) for line in (paths[0] / REHEARSAL_FILE).read_text().splitlines()]
    assert [(r["query"], r["answer"]) for r in kept] == SUMS[:20]  # for rehearsal


def test_students_loaded_by_threads_at_once_are_whole(tmp_path: Path) -> None:
    """Prefect's thread pools and the router's reloads build students concurrently; without
    MODEL_BUILD_LOCK every concurrent load here left lm_head.weight on the meta device."""
    from concurrent.futures import ThreadPoolExecutor

    path = create_student(tmp_path / "s", TINY, corpus(SUMS))
    with ThreadPoolExecutor(max_workers=4) as pool:
        models = list(pool.map(lambda _: load_student(path)[0], range(12)))
    reference = load_student(path)[0].state_dict()
    for model in models:
        state = model.state_dict()
        assert all(t.device.type == "cpu" for t in state.values())
        assert all(torch.equal(state[k], reference[k]) for k in reference)


def test_create_student_without_warm_start(tmp_path: Path) -> None:
    path = create_student(tmp_path / "cold", TINY, corpus(SUMS))
    meta = json.loads((path / "student.json").read_text())
    assert meta["warm_start_steps"] == 0 and meta["warm_start"] is None
    assert not (path / REHEARSAL_FILE).exists()


def test_load_student_missing_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_student(tmp_path / "nowhere")


# ---- training ---------------------------------------------------------------------------------


def test_sft_train_changes_weights_and_lowers_loss(tokenizer, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_student(TINY, tokenizer)
    before = model.model.layers[0].mlp.up_proj.weight.detach().clone()
    stats = sft_train(model, tokenizer, SUMS, tmp_path, steps=30, learning_rate=3e-3, batch_size=16)
    after = model.model.layers[0].mlp.up_proj.weight.detach()
    assert not torch.allclose(before, after)
    assert stats["steps"] == 30 and len(stats["history"]) == 30
    assert stats["train_loss"] < stats["first_loss"]
    assert stats["train_seconds"] > 0 and stats["examples"] == len(SUMS)
    assert not model.training
    assert not any(p.name.startswith("checkpoint") for p in tmp_path.iterdir())


def test_sft_train_shares_the_cores_and_recounts_while_training(tokenizer, tmp_path, monkeypatch) -> None:
    """With another live trainer in its share directory (as in a local Dask worker), SFT trains on
    half the cores, re-counts the trainers every 10 steps, and leaves the share when it is done."""
    import socket

    import models.threads as threads

    counted: list[int] = []
    count = threads.thread_count
    monkeypatch.setattr(threads, "thread_count", lambda share: counted.append(count(share)) or counted[-1])
    share = tmp_path / "share"
    other = share / f"{socket.gethostname()}-{os.getppid()}.trainer"
    share.mkdir()
    other.touch()
    monkeypatch.setenv("ACADEMY_TRAIN_SHARE", str(share))
    model = build_student(TINY, tokenizer)
    sft_train(model, tokenizer, SUMS, tmp_path / "out", steps=12, learning_rate=3e-3, batch_size=16)
    assert counted == [max(1, (os.cpu_count() or 1) // 2)] * 3  # on entry, then at steps 0 and 10
    assert list(share.iterdir()) == [other]


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
