"""Packed batches (models/train.py:PackingCollator): fewer rows, the same loss as padding each example."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from models.train import PackingCollator


def examples(seed: int, n: int = 24) -> list[dict[str, list[int]]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        prompt, completion = (
            int(torch.randint(3, 12, (1,), generator=g)),
            int(torch.randint(2, 20, (1,), generator=g)),
        )
        ids = torch.randint(1, 50, (prompt + completion,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


def test_packing_keeps_the_loss_of_the_padded_batch_on_fewer_rows():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64)  # fmt: skip
    model = LlamaForCausalLM(config).eval()
    batch = examples(1)
    packed = PackingCollator(pad_token_id=0, max_length=64)(batch)
    assert packed["input_ids"].shape[0] < len(batch) and packed["input_ids"].shape[1] <= 64
    width = max(len(e["input_ids"]) for e in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    labels = torch.full((len(batch), width), -100)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e["input_ids"])
        ids[i, :n], labels[i, :n], mask[i, :n] = torch.tensor(e["input_ids"]), torch.tensor(e["labels"]), 1
    with torch.no_grad():
        padded_loss = model(input_ids=ids, labels=labels, attention_mask=mask).loss
        packed_loss = model(**packed).loss
    assert torch.allclose(packed_loss, padded_loss, atol=1e-5)
    # every labelled token is still there, exactly once
    assert int((packed["labels"] != -100).sum()) == int((labels != -100).sum())


def test_rows_fill_first_fit_decreasing_and_never_overflow():
    collator = PackingCollator(pad_token_id=0, max_length=10)
    rows = collator.rows([6, 5, 4, 3, 2, 10])
    assert sorted(i for row in rows for i in row) == list(range(6))
    assert all(sum([6, 5, 4, 3, 2, 10][i] for i in row) <= 10 for row in rows)
    assert len(rows) == 3  # [10], [6, 4], [5, 3, 2]
