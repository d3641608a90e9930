"""Supervisors (judges) behind one interface. ``JUDGE_CLS.get(name)`` finds the class for a config name."""

from academy.judges.base import JUDGE_CLS, Judge, Judgement, JudgeRequest, build_judge

__all__ = ["JUDGE_CLS", "Judge", "JudgeRequest", "Judgement", "build_judge"]
