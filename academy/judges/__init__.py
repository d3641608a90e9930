"""Supervisors (judges) behind one interface. ``JUDGE_CLS.get(name)`` finds the class for a config name."""

from academy.judges.base import JUDGE_CLS, Judge, Judgement, JudgeRequest, build_judge

__all__ = ["JUDGE_CLS", "Judge", "JudgeRequest", "Judgement", "build_judge"]


def _import_judges() -> None:
    """Import every built-in judge module, so each registers its class: lazily, on the first
    ``JUDGE_CLS`` lookup (they pull in the backends)."""
    from academy.judges import cheap, llm, recorded, reference  # noqa: F401


JUDGE_CLS.discover_with(_import_judges)
