"""The nightly cycle's training step on a real tiny student: SFT on the winners, then logit
distillation from a peer (academy/evolution/training.py). The cycle's pure functions:
tests/unit/test_evolution.py; the whole night: tests/integration/test_nightly.py."""

from __future__ import annotations

from academy.school import School


def test_distill_student_learns_from_a_peer_that_shares_the_tokenizer(tiny_student_dir, tmp_path):
    """SFT on the winners, then logit distillation from the peer; a foreign tokenizer is skipped."""
    import datasets as hf_datasets

    from academy.config import DistillConfig
    from academy.evolution.dataset import TrainingExamples
    from academy.evolution.training import distill_student, spawn_student_dir
    from models.student import create_student, load_student
    from tests.factories import TINY_STUDENT

    examples = School(seed=5).generate_domain("units", 64)
    rows = hf_datasets.Dataset.from_dict(
        {"prompt": [f"Q: {e.query}\nA:" for e in examples], "completion": [f" {e.reference}" for e in examples],
         "weight": [1.0] * len(examples)}
    )  # fmt: skip
    train = TrainingExamples(sft=rows, peer=rows)
    config = DistillConfig(steps=3, batch_size=8, peer_steps=3)
    base = spawn_student_dir(tiny_student_dir, tmp_path / "base", TINY_STUDENT)
    stats = distill_student(base, tmp_path / "out", train, config, max_length=64, peer_dir=tiny_student_dir)
    assert stats["sft"]["steps"] == 3 and stats["peer"]["steps"] == 3
    before, after = load_student(base)[0], load_student(tmp_path / "out")[0]
    assert any((a != b).any() for a, b in zip(before.parameters(), after.parameters()))
    foreign = create_student(
        tmp_path / "foreign", TINY_STUDENT.model_copy(update={"vocab_size": 280}), ["zzz yyy"] * 50
    )
    skipped = distill_student(base, tmp_path / "out2", train, config, max_length=64, peer_dir=foreign)
    assert "different tokenizer" in skipped["peer"]["skipped"]
