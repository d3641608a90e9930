"""The student factory on real students: save/load, concurrent loads, and SFT training. Formats,
tokenizer and model sizing: tests/unit/test_student.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach the Hub

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from models.student import (  # noqa: E402
    REHEARSAL_FILE,
    build_student,
    create_student,
    format_prompt,
    load_student,
)
from models.train import sft_train  # noqa: E402
from tests.factories.student import SUMS, TINY, corpus, sums_tokenizer  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors gain nothing from a second thread, and on a busy 2-core box OpenMP spin-waits
    made 2 threads ~5x slower than 1 (see tests/integration/test_hf_backend.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer():
    return sums_tokenizer()


# ---- saving and loading -----------------------------------------------------------------------


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
