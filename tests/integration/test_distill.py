"""Peer knowledge transfer: a fresh candidate learns a trained peer's logits (models/distill.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer
from trl import SFTTrainer

from academy.school import School
from models.distill import logit_distill, shares_tokenizer, tokenize_completions
from models.student import build_student, load_student, train_tokenizer
from models.train import build_sft_config, build_sft_dataset, sft_train
from tests.factories import TINY_STUDENT
from tests.factories.distill import kl_to_peer, nll

TRAIN = [(e.query, e.reference) for e in School(seed=2).generate_domain("capitals", 200)]
_SEEN = {query for query, _ in TRAIN}
HELD_OUT = [
    (e.query, e.reference)
    for e in School(seed=2).generate_domain("capitals", 200, seed=99)
    if e.query not in _SEEN
][:40]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors gain nothing from a second thread (see tests/integration/test_student.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def peer(tiny_student_dir: Path, tmp_path_factory):
    """The shared tiny student, SFT-trained on one domain: a peer that knows capitals."""
    model, tokenizer = load_student(tiny_student_dir)
    sft_train(
        model, tokenizer, TRAIN, tmp_path_factory.mktemp("peer"), steps=60, learning_rate=1e-2, batch_size=16
    )
    return model, tokenizer


def fresh_student(tokenizer, seed: int = 0):
    torch.manual_seed(seed)
    return build_student(TINY_STUDENT, tokenizer)


# ---- the precondition -------------------------------------------------------------------------


def test_shares_tokenizer(peer, tiny_student_dir: Path) -> None:
    _, tokenizer = peer
    assert shares_tokenizer(tokenizer, tokenizer)
    assert shares_tokenizer(tokenizer, AutoTokenizer.from_pretrained(tiny_student_dir, local_files_only=True))
    other = train_tokenizer(["Q: entirely different text\nA: zebra"] * 20, vocab_size=270)
    assert len(other) != len(tokenizer) and not shares_tokenizer(tokenizer, other)


def test_logit_distill_refuses_foreign_tokenizer_and_bad_knobs(peer, tmp_path: Path) -> None:
    model, tokenizer = peer
    student = fresh_student(tokenizer)
    other = train_tokenizer(["Q: entirely different text\nA: zebra"] * 20, vocab_size=270)
    kwargs = {"output_dir": tmp_path, "steps": 1, "learning_rate": 1e-3, "batch_size": 4}
    with pytest.raises(ValueError, match="share the student's tokenizer"):
        logit_distill(student, tokenizer, model, other, TRAIN[:4], **kwargs)
    with pytest.raises(ValueError, match="alpha"):
        logit_distill(student, tokenizer, model, tokenizer, TRAIN[:4], alpha=1.5, **kwargs)
    with pytest.raises(ValueError, match="temperature"):
        logit_distill(student, tokenizer, model, tokenizer, TRAIN[:4], temperature=0.0, **kwargs)
    assert not any(tmp_path.iterdir())  # refused before any trainer was built


# ---- the data and the loss ---------------------------------------------------------------------


def test_completions_are_the_tokens_sft_trains_on(peer, tmp_path: Path) -> None:
    model, tokenizer = peer
    pairs = [("What is 4 + 3?", "7"), ("Capital of Peru?", "Lima", "Peru's capital is Lima"), *TRAIN[:6]]
    data = build_sft_dataset(pairs, tokenizer.eos_token)
    ours = tokenize_completions(data, tokenizer, max_length=64)
    args = build_sft_config(tmp_path, steps=1, learning_rate=1e-3, batch_size=1, seed=0, max_length=64)
    sft = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer).train_dataset
    for mine, theirs in zip(ours, sft, strict=True):
        assert mine["prompt_ids"] + mine["completion_ids"] == theirs["input_ids"]
        assert mine["completion_ids"] == [t for t in theirs["labels"] if t != -100]
    assert tokenizer.decode(ours[0]["completion_ids"]) == " 7<eos>"
    prompt_length = len(ours[0]["prompt_ids"])
    cut = tokenize_completions(data.select([0]), tokenizer, max_length=prompt_length + 1)
    assert cut[0]["completion_ids"] == ours[0]["completion_ids"][:1]  # keeps the start, like SFT
    with pytest.raises(ValueError, match="max_length"):
        tokenize_completions(data.select([0]), tokenizer, max_length=prompt_length)  # no completion left


@pytest.mark.parametrize(("alpha", "temperature"), [(0.25, 2.0), (1.0, 1.0)])
def test_first_step_loss_is_forward_kl_and_cross_entropy_on_completions(
    peer, tmp_path: Path, alpha: float, temperature: float
) -> None:
    """One batch holding every example: the first logged losses are computed before any update,
    so they must equal the same losses computed here, one unpadded sequence at a time."""
    model, tokenizer = peer
    pairs = TRAIN[:8]
    student = fresh_student(tokenizer)
    expected_kl = kl_to_peer(student, model, tokenizer, pairs, temperature)
    expected_ce = nll(student, tokenizer, pairs)
    stats = logit_distill(
        student, tokenizer, model, tokenizer, pairs, tmp_path, steps=1, learning_rate=1e-3,
        batch_size=len(pairs), alpha=alpha, temperature=temperature,
    )  # fmt: skip
    assert stats["distill_history"][0] == pytest.approx(expected_kl, rel=1e-4)
    if alpha < 1:
        assert stats["ce_history"][0] == pytest.approx(expected_ce, rel=1e-4)
    else:
        assert stats["ce_history"] == []  # the ground-truth term is skipped, not weighted by zero
    mixed = alpha * temperature**2 * expected_kl + (1 - alpha) * expected_ce
    assert stats["first_loss"] == pytest.approx(mixed, rel=1e-4)


# ---- the transfer -------------------------------------------------------------------------------


def test_logit_distill_moves_a_fresh_student_towards_the_peer(peer, tmp_path: Path) -> None:
    model, tokenizer = peer
    student = fresh_student(tokenizer, seed=1)
    assert nll(model, tokenizer, HELD_OUT) < nll(student, tokenizer, HELD_OUT)  # the peer knows more
    kl_before = kl_to_peer(student, model, tokenizer, HELD_OUT)
    student_before = student.model.layers[0].mlp.up_proj.weight.detach().clone()
    peer_before = {name: p.detach().clone() for name, p in model.named_parameters()}

    stats = logit_distill(
        student, tokenizer, model, tokenizer, TRAIN, tmp_path, steps=30, learning_rate=1e-2, batch_size=16
    )

    assert not torch.allclose(student_before, student.model.layers[0].mlp.up_proj.weight)
    assert all(torch.equal(p, peer_before[name]) for name, p in model.named_parameters())  # frozen
    assert not student.training
    assert stats["steps"] == 30 and stats["examples"] == len(TRAIN) and stats["train_seconds"] > 0
    assert len(stats["history"]) == len(stats["distill_history"]) == len(stats["ce_history"]) == 30
    distill = stats["distill_history"]
    assert sum(distill[-5:]) / 5 < 0.5 * sum(distill[:5]) / 5
    assert stats["train_loss"] < stats["first_loss"]
    assert kl_to_peer(student, model, tokenizer, HELD_OUT) < 0.5 * kl_before
    assert not any(p.name.startswith("checkpoint") for p in tmp_path.iterdir())
