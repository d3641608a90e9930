"""Distillation data and measures: a frozen dataset in the nightly schema, and the per-token
cross-entropy and KL to a peer that SFT and logit distillation are checked against."""

from __future__ import annotations

import datasets
import pandas as pd
import torch
import torch.nn.functional as F

from academy.evolution.dataset import to_dataset
from models.train import build_sft_dataset


def frozen_rows(rows: list[tuple[str, str, str | None, float, str]]) -> datasets.Dataset:
    """A distillation dataset in the nightly schema from (query, answer, reasoning, score, domain)."""
    frame = pd.DataFrame(rows, columns=["query", "answer", "reasoning", "weight", "domain"])
    frame = frame.assign(
        query_id=[f"q{i}" for i in range(len(frame))],
        cluster=0,
        gap=0,
        student="",
        source_model="teacher",
        order=range(len(frame)),
    )
    return to_dataset(frame)


def completion_log_probs(model, tokenizer, pairs, temperature: float = 1.0):
    """(log-probs over the vocabulary, target ids) at each completion position, one unpadded sequence
    at a time, formatted as SFT formats them."""
    data = build_sft_dataset(pairs, tokenizer.eos_token)
    out = []
    with torch.no_grad():
        for prompt, completion in zip(data["prompt"], data["completion"], strict=True):
            cut = len(tokenizer(text=prompt)["input_ids"])
            ids = tokenizer(text=prompt + completion)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0, cut - 1 : -1] / temperature
            out.append((F.log_softmax(logits.float(), dim=-1), torch.tensor(ids[cut:])))
    return out


def kl_to_peer(student, peer, tokenizer, pairs, temperature: float = 1.0) -> float:
    """Mean per-token KL(peer || student) over the completion tokens."""
    total, tokens = 0.0, 0
    for (log_s, targets), (log_p, _) in zip(
        completion_log_probs(student, tokenizer, pairs, temperature),
        completion_log_probs(peer, tokenizer, pairs, temperature),
        strict=True,
    ):
        total += (log_p.exp() * (log_p - log_s)).sum().item()
        tokens += len(targets)
    return total / tokens


def nll(model, tokenizer, pairs) -> float:
    """Mean per-token cross-entropy of the gold completions."""
    scored = completion_log_probs(model, tokenizer, pairs)
    total = sum(-log_p.gather(1, targets[:, None]).sum().item() for log_p, targets in scored)
    return total / sum(len(targets) for _, targets in scored)
